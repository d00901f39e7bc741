"""WebDAV method handlers, one module per method family, and what they share.

Rules kept here:
- A handler is `handle(request, store) -> Response`. It raises `HttpError` for a status decided by
  the request (the router renders it with `responses.error`), or lets the store's typed errors
  (`NotFound`, `Conflict`, `PreconditionFailed`, `AlreadyExists`) reach the router, which maps
  them to 404/409/412/405. Nothing here knows WSGI.
- Paths are percent-decoded exactly once. An encoded slash or backslash inside a segment, a NUL,
  invalid UTF-8, and `.`/`..` segments are refused with 400: IIS 6 (HTTP.sys) answers 400 to
  requests that try to climb out of the vroot, and no client legitimately sends dot segments, so
  the simulator does not canonicalize them.
- Secondary paths (Destination, batch targets, SEARCH scopes) pass the same access rule as the
  request URL (`auth.access_status`), and the write rule (`auth.write_status`) where they are
  changed (Destination, the sources of MOVE/BMOVE, BDELETE and BPROPPATCH targets).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # only the types; parsing goes through exchange_sim.xml
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes, urljoin, urlsplit

from exchange_sim import transport
from exchange_sim.auth import access_status, write_status
from exchange_sim.http import Request, Response
from exchange_sim.series import EXCEPTIONS
from exchange_sim.store import (
    ROLES,
    AlreadyExists,
    Conflict,
    Mailbox,
    NotFound,
    PreconditionFailed,
    Store,
    normalize_path,
)
from exchange_sim.xml import DAV, XmlError, children, local, parse_value, prop_name, url_for

__all__ = [
    "ERROR_STATUS",
    "READ_ONLY",
    "Handler",
    "HttpError",
    "Update",
    "check_access",
    "conditions",
    "decode_path",
    "destination",
    "flag",
    "is_protected",
    "location_headers",
    "parse_propertyupdate",
    "status_of",
    "target_paths",
    "user_of",
]

Handler = Callable[[Request, Store], Response]

_H = "urn:schemas:httpmail:"
# Properties the store computes; a PROPPATCH/MKCOL that sets or removes one fails with 409
# ("inappropriate value, e.g. read-only property", reference §2.2/§9). `instancetype` is NOT here:
# the SDK and KB 308373 samples set it to 0 on create and the server overrides it on commit.
READ_ONLY = frozenset({
    *(f"DAV:{n}" for n in ("getetag", "href", "isfolder", "iscollection", "creationdate",
                           "getlastmodified", "getcontentlength", "resourcetype", "hassubs",
                           "nosubs", "objectcount", "childcount", "visiblecount", "uid",
                           "parentname", "lockdiscovery", "supportedlock")),
    "http://schemas.microsoft.com/exchange/permanenturl",
    "http://schemas.microsoft.com/repl/repl-uid",
    "http://schemas.microsoft.com/repl/contenttag",
    "http://schemas.microsoft.com/mapi/proptag/x10f3001f",
    "http://schemas.microsoft.com/mapi/proptag/x0e230003",
    *(_H + n for n in (*ROLES, "sendmsg", "msgfolderroot", "unreadcount")),
    EXCEPTIONS,  # a master's exceptions come only with its iCalendar (PUT, meeting messages)
})


class HttpError(Exception):
    """A status the request itself earned (400, 403, 405, 415, 502, ...)."""

    def __init__(self, status: int, detail: str = "") -> None:
        super().__init__(detail or str(status))
        self.status, self.detail = status, detail


# Typed errors of the store and the transport → status (first match wins).
ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (PreconditionFailed, 412),
    (AlreadyExists, 405),
    (transport.NotAllowed, 403),  # sending as someone you may not (reference §3.2)
    (transport.NothingToSend, 422),
    (transport.SendError, 400),
)


def status_of(error: Exception) -> int:
    if isinstance(error, HttpError):
        return error.status
    return next((status for cls, status in ERROR_STATUS if isinstance(error, cls)), 500)


_BAD_ESCAPE = re.compile(r"%(2f|5c|00)", re.IGNORECASE)


def decode_path(raw: str) -> str:
    """Percent-decode a path once (UTF-8); refuse what could escape a segment or the vroot."""
    if _BAD_ESCAPE.search(raw):
        raise HttpError(400, "The URL contains an encoded slash or NUL.")
    try:
        data = raw.encode("latin-1")
    except UnicodeEncodeError:
        data = raw.encode("utf-8")
    try:
        path = unquote_to_bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        raise HttpError(400, "The URL is not valid UTF-8.") from error
    if any(ord(c) < 0x20 or c in "\x7f\\" for c in path):
        raise HttpError(400, "The URL contains a control character or backslash.")
    if any(s in (".", "..") for s in path.split("/")):
        raise HttpError(400, "The URL contains a dot segment.")
    if not path.startswith("/"):
        raise HttpError(400, "The URL path must be absolute.")
    return path


def _encoded(path: str) -> str:
    """A decoded path encoded again, to be joined with a raw (still encoded) reference."""
    return quote(path, safe="/:@!$&'()*+,;=-._~")


def flag(request: Request, name: str, default: bool) -> bool:
    """`T`/`F` headers (Overwrite, Brief, Allow-Rename, Saveinsent); anything else is 400."""
    value = (request.header(name) or "").strip().lower()
    if not value:
        return default
    if value in ("t", "true", "1"):
        return True
    if value in ("f", "false", "0"):
        return False
    raise HttpError(400, f"Bad {name} header.")


def conditions(request: Request) -> tuple[str | None, str | None]:
    return request.header("If-Match"), request.header("If-None-Match")


def user_of(request: Request) -> Mailbox:
    """The authenticated mailbox (the router authenticates before any handler runs)."""
    if request.user is None:
        raise HttpError(401, "Not authenticated.")
    return request.user


def check_access(request: Request, store: Store, path: str, *, write: bool = False) -> None:
    """Raise the refusal when the user may not open (or, with `write`, change) `path`."""
    rule = write_status if write else access_status
    status = rule(store, user_of(request), path)
    if status is not None:
        raise HttpError(status, "Not found." if status == 404 else "Access denied.")


def destination(request: Request, store: Store) -> str:
    """The decoded path of the `Destination` header (absolute URL on this host, or a path)."""
    value = (request.header("Destination") or "").strip()
    if not value:
        raise HttpError(400, "Destination header missing.")
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        if parts.netloc.lower() != urlsplit(request.base_url).netloc.lower():
            # RFC 2518 §8.9.4: the destination is on another server.
            raise HttpError(502, "The destination is on another server.")
        value = parts.path
    elif not value.startswith("/"):
        value = urljoin(_encoded(request.path), value.split("?")[0])
    path = normalize_path(decode_path(value.split("?")[0] or "/"))
    check_access(request, store, path, write=True)  # a destination is always written
    return path


def target_paths(request: Request, store: Store, root: ET.Element) -> list[tuple[str, str]]:
    """(href as sent, decoded path) for each `<D:target><D:href>` of a batch request.

    Relative hrefs are names inside the request folder (reference §5.5).
    """
    folder = _encoded(request.path if request.path.endswith("/") else request.path + "/")
    result = []
    for target in children(root, DAV, "target"):
        for href in children(target, DAV, "href"):
            text = (href.text or "").strip()
            if not text:
                raise XmlError("empty href")
            parts = urlsplit(text)
            raw = parts.path if parts.scheme or parts.netloc else text
            if not raw.startswith("/"):
                raw = folder + raw
            result.append((text, normalize_path(decode_path(raw))))
    if not result:
        raise XmlError("no target hrefs")
    return result


def is_protected(store: Store, path: str) -> bool:
    """Vroots, mailbox roots and well-known folders cannot be deleted or moved."""
    path = normalize_path(path)
    segments = [s for s in path.split("/") if s]
    if len(segments) <= 1:
        return True
    owner = store.owner_of(path)
    if owner is None:
        return False
    if len(segments) == 2:
        return True
    return any(path.lower() == store.folder_path(owner.alias, r).lower() for r in ROLES)


def location_headers(request: Request, store: Store, path: str) -> list[tuple[str, str]]:
    item = store.require(path)
    return [("Location", url_for(request.base_url, item.path, item.is_folder)),
            ("Repl-UID", f"rid:{item.pid}")]


@dataclass
class Update:
    """A parsed `propertyupdate`: values to set, names to remove, per-property failures."""

    set: dict[str, object] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [*self.set, *self.remove, *(n for n in self.failed
                                           if n not in self.set and n not in self.remove)]


def parse_propertyupdate(root: ET.Element) -> Update:
    """`<D:propertyupdate><D:set><D:prop>…</D:prop></D:set><D:remove>…</D:remove>`."""
    if root.tag != f"{{{DAV}}}propertyupdate":
        raise XmlError("expected DAV:propertyupdate")
    update = Update()
    for action in root:
        kind = local(action.tag) if action.tag.startswith(f"{{{DAV}}}") else ""
        if kind not in ("set", "remove"):
            continue
        for prop in children(action, DAV, "prop"):
            for child in prop:
                name = prop_name(child.tag)
                if name in READ_ONLY:
                    update.failed[name] = 409
                elif kind == "remove":
                    update.remove.append(name)
                else:
                    try:
                        update.set[name] = parse_value(child, name)
                    except (ValueError, OverflowError):
                        update.failed[name] = 409
    return update
