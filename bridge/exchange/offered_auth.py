"""Which logon modes an Exchange 2003 server offers, read from its answer to an anonymous GET.

Rule kept here (reference §8): a cookie-less, credential-less `GET /exchange/` is answered
- with a redirect to `/exchweb/bin/auth/owalogon.asp` when forms-based authentication is on
  (ISA Server's `CookieAuth.dll` counts too: it is a forms logon in front of OWA), and then HTTP
  Basic/NTLM are not honoured;
- with `401` and one challenge per `WWW-Authenticate` header otherwise: `Basic realm=...`,
  `NTLM`, `Negotiate` (Negotiate falls back to NTLM, so it counts as `ntlm`).
Pure: the caller does the request and passes the status, the header values and `Location`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.exchange.owa import is_logon_redirect

__all__ = ["OfferedAuth", "challenge_schemes", "offered_auth"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# A challenge list is `scheme [token68 | param=value, ...], scheme ...`; quoted values may hold
# commas. Each comma-separated piece that does not look like `name=value` starts a challenge.
_PIECE = re.compile(r'\s*((?:[^,"]|"(?:[^"\\]|\\.)*")*)\s*(?:,|$)')
_SCHEME_TO_MODE = {"basic": "basic", "ntlm": "ntlm", "negotiate": "ntlm"}


@dataclass(frozen=True)
class OfferedAuth:
    """What the server answered: the calbridge modes it allows and the raw scheme names."""

    modes: frozenset[str]  # subset of {"fba", "basic", "ntlm"}
    schemes: tuple[str, ...]  # WWW-Authenticate schemes as spelled: "Basic", "NTLM", "Negotiate"
    status: int

    def describe(self) -> str:
        """What the server answered, e.g. "HTTP 401 with NTLM, Basic"."""
        if "fba" in self.modes:
            return f"HTTP {self.status} to the forms logon page"
        if not self.schemes:
            return f"HTTP {self.status}, no logon asked for"
        return f"HTTP {self.status} with " + ", ".join(self.schemes)


def challenge_schemes(header_values: Iterable[str]) -> tuple[str, ...]:
    """The auth-scheme names in `WWW-Authenticate` values, in order, without duplicates."""
    schemes: list[str] = []
    for value in header_values:
        for piece in _PIECE.findall(value):
            piece = piece.strip()
            if not piece:
                continue
            first = piece.split(None, 1)[0]
            if "=" in first:
                continue  # a parameter of the previous challenge (realm="...", charset=...)
            if first.lower() not in (s.lower() for s in schemes):
                schemes.append(first)
    return tuple(schemes)


def offered_auth(status: int, www_authenticate: Iterable[str], location: str | None) -> OfferedAuth:
    """Read the answer to an anonymous `GET /exchange/` (see the module rule)."""
    if status in _REDIRECTS and location and is_logon_redirect(location):
        return OfferedAuth(frozenset({"fba"}), (), status)
    if status != 401:
        return OfferedAuth(frozenset(), (), status)
    schemes = challenge_schemes(www_authenticate)
    modes = frozenset(
        _SCHEME_TO_MODE[s.lower()] for s in schemes if s.lower() in _SCHEME_TO_MODE
    )
    return OfferedAuth(modes, schemes, status)
