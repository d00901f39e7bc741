"""Plain request and response values passed between the router and the handlers.

Rule kept here: handlers never see WSGI. The router (`app.py`) builds a `Request` (decoded path,
case-insensitive headers, lower-cased query keys, the authenticated mailbox) and turns the
`Response` a handler returns into bytes on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from exchange_sim.store import Mailbox

__all__ = ["Request", "Response", "text_response"]


class Headers(dict[str, str]):
    """Case-insensitive header lookup (keys stored lower-case)."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__()
        for key, value in (items or {}).items():
            self[key.lower()] = value

    # Narrower than dict.get's overloads on purpose: keys and values are always text here.
    def get(self, key: str, default: str | None = None) -> str | None:  # type: ignore[override]  # see above
        return super().get(key.lower(), default)


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, as sent (may end in "/")
    query: dict[str, list[str]]  # keys lower-cased ("cmd", "u", ...)
    headers: Headers
    body: bytes
    base_url: str  # scheme://host[:port] the client used, for absolute URLs
    user: Mailbox | None = None
    raw_query: str = ""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name, default)

    def arg(self, name: str) -> str | None:
        values = self.query.get(name.lower())
        return values[0] if values else None

    @property
    def is_ie(self) -> bool:
        """OWA answers XML to clients that claim MSIE (reference §1, §7.1)."""
        return "MSIE" in (self.header("User-Agent") or "")


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def text_response(status: int, text: str, content_type: str = "text/html") -> Response:
    return Response(status, text.encode("utf-8"), [("Content-Type", content_type)])
