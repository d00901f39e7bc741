"""A malformed `Authorization: Basic` header is bad input, not a server error.

Rule kept here: Radicale 3.9 decodes the Basic header itself and, when it is not base64 of
`name:password` (no colon, bad padding, a non-ASCII byte), raises inside its request handler:
a 500 and a traceback in the log for what is only a broken client or a probe. Radicale first asks
the auth plugin for an "external login" (`BaseAuth.get_external_login`); this mixin answers that
hook for a malformed header only, with the anonymous login, so the request goes on as anonymous
(403 on anything private) with one INFO line and no traceback. A well-formed header, or none,
is left to Radicale as before (401 challenges and all).
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from radicale import httputils, types
from radicale.auth import htpasswd

__all__ = ["HtpasswdAuth", "RefuseMalformedBasic", "htpasswd_auth", "is_malformed_basic"]

logger = logging.getLogger(__name__)


def is_malformed_basic(authorization: str, decode: Any = None) -> bool:
    """True when Radicale would fail to read this header as `Basic base64(name:password)`.

    ``decode`` turns the decoded bytes into text as Radicale does (default: UTF-8, else
    Latin-1, which always succeeds).
    """
    if not authorization.startswith("Basic"):
        return False  # Radicale does not read it: no login
    token = authorization[len("Basic"):].strip()
    try:
        raw = base64.b64decode(token.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error):
        return True
    try:
        text = decode(raw) if decode is not None else _text(raw)
    except UnicodeDecodeError:
        return True
    return ":" not in text


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso8859-1")


class RefuseMalformedBasic:
    """Mixin for a Radicale auth plugin (put it before the Radicale base class)."""

    configuration: Any

    def get_external_login(self, environ: types.WSGIEnviron) -> tuple[()] | tuple[str, str]:
        authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
        if is_malformed_basic(
            authorization, lambda raw: httputils.decode_request(self.configuration, environ, raw)
        ):
            logger.info("a malformed Basic Authorization header was ignored (anonymous request)")
            return ("", "")
        return ()


class HtpasswdAuth(RefuseMalformedBasic, htpasswd.Auth):
    """Radicale's htpasswd auth, with malformed Basic headers refused (see the module rule)."""


class _Named:
    """A plugin class under a short name: Radicale logs `[auth] type` with every login."""

    def __init__(self, cls: type, name: str) -> None:
        self.cls, self.name = cls, name

    def __call__(self, configuration: Any) -> Any:
        return self.cls(configuration)

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


def htpasswd_auth() -> _Named:
    """The value for Radicale's `[auth] type`: `HtpasswdAuth`, logged as "htpasswd"."""
    return _Named(HtpasswdAuth, "htpasswd")
