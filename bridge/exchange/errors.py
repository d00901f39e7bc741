"""The typed errors of the Exchange client, organised by what the caller can do about them.

Rule kept here: callers catch a class, never parse a message. Every error carries the request's
``method``, its ``url`` with any userinfo removed, the HTTP ``status`` (None when no answer
came) and a short, control-character-free ``excerpt`` of the answer's body — and never
credentials, cookies or request bodies. The tree (modelled on requests' exception hierarchy)::

    ExchangeError
    ├── TransportError            no usable HTTP answer (connection refused/reset, TLS, ...)
    │   ├── ConnectTimeout        the connection was never made: safe to retry, whatever the method
    │   └── ReadTimeout           the request may have reached the server: NOT safe to retry a
    │                             non-idempotent call (POST sendappt, MOVE to the submission URI)
    ├── AuthFailed                401, or a forms login that ended on owalogon.asp?reason=N
    ├── SessionExpired            440 Login Timeout (forms auth): log in again, then replay once
    ├── Forbidden                 403
    ├── NotFound                  404
    ├── Conflict                  409
    ├── PreconditionFailed        412 (If-Match / If-None-Match)
    ├── RangeNotSatisfiable       416 (SEARCH paging past the end: "no more rows")
    ├── ServerBusy                502 / 503 / 504: the server or a gateway is (temporarily) unable
    └── ProtocolError             an answer we cannot understand: malformed XML, an XML bomb, an
                                  unexpected content type or shape (h11's "remote" protocol error)

What the caller can do, by class and status (`is_outage`, `is_permanent`): a transport failure
or a 502/503/504 is a condition of the server (wait, and ask again); a 400, 403 (on anything
but a read), 405, 411, 413, 414, 415 or 422 can never succeed as sent (a terminal failure);
everything else may succeed later (back off and retry).

`error_for_status` maps a status code to the right class (`STATUS_ERRORS` is the table). Codes
with no class of their own (other 4xx, 500, 501, 505, 507, ...) become a plain `ExchangeError`: a
500 from Exchange 2003 means the store refused the operation, not that it is busy, so it is not
retried automatically (reference §9 lists no Exchange meaning for 500/502/503).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bridge.redact import CONTROL_CHARACTERS, redact_url

__all__ = [
    "STATUS_ERRORS",
    "AuthFailed",
    "Conflict",
    "ConnectTimeout",
    "ExchangeError",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "ProtocolError",
    "RangeNotSatisfiable",
    "ReadTimeout",
    "ServerBusy",
    "SessionExpired",
    "TransportError",
    "error_for_status",
    "is_outage",
    "is_permanent",
    "make_excerpt",
    "redact_url",
]

EXCERPT_LIMIT = 200

_SPACES = re.compile(r"\s+")


def make_excerpt(body: bytes | str | None, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of ``body``, decoded leniently, controls and runs of blanks
    folded into single spaces."""
    if not body:
        return ""
    if isinstance(body, bytes):
        # Only the head is looked at: a 16 MiB answer must not be decoded whole for an excerpt.
        text = body[: limit * 4].decode("utf-8", errors="replace")
    else:
        text = body[: limit * 4]
    text = _SPACES.sub(" ", CONTROL_CHARACTERS.sub(" ", text)).strip()
    return text[:limit]


class ExchangeError(Exception):
    """Root of every error the Exchange client raises.

    Attributes:
        method: the HTTP method of the failed request (None when raised by a pure parser).
        url: the request URL without userinfo.
        status: the HTTP status code, or None when no answer was received.
        excerpt: at most 200 characters of the answer's body, control characters removed.

    Construct with ``body=`` (the raw answer, reduced here) or ``excerpt=`` (a chosen text).
    """

    method: str | None
    url: str | None
    status: int | None
    excerpt: str

    def __init__(
        self,
        message: str = "",
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        body: bytes | str | None = None,
        excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = redact_url(url)
        self.status = status
        # ``excerpt`` (already chosen text) wins over ``body`` (the raw answer); both are cleaned.
        self.excerpt = make_excerpt(excerpt if excerpt is not None else body)

    def __str__(self) -> str:
        where = " ".join(str(p) for p in (self.method, self.url) if p)
        parts = [self.message or type(self).__name__]
        if where or self.status is not None:
            status = f" -> {self.status}" if self.status is not None else ""
            parts.append(f"[{where}{status}]")
        if self.excerpt:
            parts.append(f"body: {self.excerpt!r}")
        return " ".join(parts)


class TransportError(ExchangeError):
    """No usable HTTP answer: the connection failed, was reset, or TLS failed."""


class ConnectTimeout(TransportError):
    """The connection could not be made in time. Nothing reached the server: safe to retry."""


class ReadTimeout(TransportError):
    """The server did not answer in time after the request was sent.

    The request may have been carried out: NOT safe to retry a non-idempotent call (POST, MOVE
    to the submission URI) without first reading back the server state.
    """


class AuthFailed(ExchangeError):
    """401, or a forms-based login that ended on the logon page again (bad credentials)."""


class SessionExpired(ExchangeError):
    """440 Login Timeout: the forms-auth session cookie is missing or expired; log in again."""


class Forbidden(ExchangeError):
    """403: not allowed (rights, SSL required, a property that cannot be altered, a From we may
    not send as)."""


class NotFound(ExchangeError):
    """404: the item, folder or mailbox does not exist (or free/busy was never published)."""


class Conflict(ExchangeError):
    """409: inappropriate value, or a parent collection that does not exist."""


class PreconditionFailed(ExchangeError):
    """412: ``If-None-Match: *`` on an existing item, or ``If-Match`` on a missing/changed one."""


class RangeNotSatisfiable(ExchangeError):
    """416: a SEARCH ``Range: rows=`` beyond the result set — callers treat it as "no more rows"."""


class ServerBusy(ExchangeError):
    """502, 503 or 504: the server or a gateway cannot answer now; retry later with back-off."""


class ProtocolError(ExchangeError):
    """The server answered in a form we cannot understand (malformed or hostile XML, an unexpected
    content type or document shape). The peer misbehaved; retrying rarely helps."""


STATUS_ERRORS: Mapping[int, type[ExchangeError]] = {
    401: AuthFailed,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    416: RangeNotSatisfiable,
    440: SessionExpired,
    502: ServerBusy,
    503: ServerBusy,
    504: ServerBusy,
}


def error_for_status(
    status: int, *, method: str, url: str, body: bytes | str | None = None
) -> ExchangeError | None:
    """The error for an HTTP ``status``, or None when the status is not an error (< 400).

    1xx/2xx/3xx are not errors here (a 302 is a normal OWA answer; the caller interprets it).
    Listed codes map through `STATUS_ERRORS`; any other 4xx or 5xx (500 included) is a plain
    `ExchangeError`.
    """
    if status < 400:
        return None
    cls = STATUS_ERRORS.get(status, ExchangeError)
    return cls(f"HTTP {status}", method=method, url=url, status=status, body=body)


PERMANENT_STATUSES = frozenset({400, 403, 405, 411, 413, 414, 415, 422})
_READS = frozenset({"PROPFIND", "BPROPFIND", "SEARCH", "HEAD", "OPTIONS"})


def is_outage(error: BaseException) -> bool:
    """The server (or the way to it) does not answer: no connection, a time-out, 502/503/504."""
    return isinstance(error, TransportError | ServerBusy)


def is_permanent(error: BaseException) -> bool:
    """The request can never succeed as sent (e.g. 413 too large, 400, 422, 403 on a write)."""
    if not isinstance(error, ExchangeError) or error.status not in PERMANENT_STATUSES:
        return False
    return not (error.status == 403 and error.method in _READS)
