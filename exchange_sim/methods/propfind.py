"""PROPFIND and BPROPFIND (reference §5.3-5.5).

Rules kept here:
- Depth `0`, `1`, `1,noroot`, `infinity`, `infinity,noroot` (SDK Depth header); no header means
  `infinity` (RFC 2518 §8.1; Exchange's SDK lists infinity as valid for PROPFIND, so it is served,
  not refused with 403). Any other value is 400. Children the user may not open (other mailboxes
  under `/exchange/`) are left out of the listing.
- Named properties: found → one `200` propstat, missing → one `404` propstat, which `Brief: t`
  drops (SDK Brief header). `allprop` returns stored + computed properties except binary values
  over 64 KiB; `propname` returns the names as empty elements.
- PR_INTERNET_CONTENT (`proptag/x66590102`) is the item's stored MIME source, base64: served only
  when named in a PROPFIND/BPROPFIND, never in allprop or SEARCH (reference §2.3).
- BPROPFIND goes to a folder; `<D:target><D:href>` lists items (relative names allowed); each gets
  its own `a:response`, a missing or forbidden one a plain `a:status`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # only the types; parsing goes through exchange_sim.xml

from exchange_sim import responses
from exchange_sim.http import Request, Response
from exchange_sim.methods import HttpError, check_access, flag, target_paths
from exchange_sim.store import Item, NotFound, PathRef, Store
from exchange_sim.xml import DAV, MultiStatus, XmlError, children, parse_xml, prop_name

__all__ = ["INTERNET_CONTENT", "handle", "handle_batch"]

INTERNET_CONTENT = "http://schemas.microsoft.com/mapi/proptag/x66590102"
_HUGE = 64 * 1024
_DEPTHS = {"0", "1", "1,noroot", "infinity", "infinity,noroot"}


def _depth(request: Request) -> str:
    value = "".join((request.header("Depth") or "infinity").split()).lower()
    if value not in _DEPTHS:
        raise HttpError(400, "Unsupported Depth header.")
    return value


def _parse(body: bytes) -> tuple[str, list[str], ET.Element | None]:
    """(mode, names, root) where mode is prop | allprop | propname."""
    if not body.strip():
        return "allprop", [], None
    root = parse_xml(body)
    if root.tag != f"{{{DAV}}}propfind":
        raise XmlError("expected DAV:propfind")
    for prop in children(root, DAV, "prop"):
        return "prop", [prop_name(c.tag) for c in prop], root
    if children(root, DAV, "propname"):
        return "propname", [], root
    return "allprop", [], root


def _groups(store: Store, item: Item, mode: str, names: list[str], brief: bool
            ) -> list[tuple[int, dict[str, object]]]:
    props = store.all_props(item)
    props["DAV:href"] = PathRef(item.path + ("/" if item.is_folder else ""))
    if mode == "propname":
        return [(200, dict.fromkeys(props))]
    if mode == "allprop":
        props.pop("DAV:href")
        return [(200, {k: v for k, v in props.items()
                       if not (isinstance(v, bytes) and len(v) > _HUGE)})]
    if INTERNET_CONTENT in names and item.body is not None and not item.is_folder:
        props[INTERNET_CONTENT] = item.body
    found = {n: props[n] for n in names if n in props}
    missing: dict[str, object] = {n: None for n in names if n not in props}
    return [(200, found)] + ([] if brief else [(404, missing)])


def handle(request: Request, store: Store) -> Response:
    depth = _depth(request)
    mode, names, _ = _parse(request.body)
    brief = flag(request, "Brief", False)
    item = store.get(request.path)
    if item is None:
        raise NotFound(request.path)
    items = [] if depth.endswith("noroot") else [item]
    if item.is_folder and depth.startswith("1"):
        items += store.children(item.path)
    elif item.is_folder and depth.startswith("infinity"):
        items += store.descendants(item.path)
    answer = MultiStatus(request.base_url)
    for entry in items:
        if entry is not item and _forbidden(request, store, entry.path):
            continue
        answer.add(entry.path, _groups(store, entry, mode, names, brief), folder=entry.is_folder)
    return responses.multistatus(answer.render())


def _forbidden(request: Request, store: Store, path: str) -> bool:
    try:
        check_access(request, store, path)
    except HttpError:
        return True
    return False


def handle_batch(request: Request, store: Store) -> Response:
    mode, names, root = _parse(request.body)
    if root is None:
        raise XmlError("BPROPFIND needs a body with targets")
    folder = store.get(request.path)
    if folder is None:
        raise NotFound(request.path)
    if not folder.is_folder:
        raise HttpError(400, "BPROPFIND goes to a folder.")
    brief = flag(request, "Brief", False)
    answer = MultiStatus(request.base_url)
    for _, path in target_paths(request, store, root):
        if _forbidden(request, store, path):
            answer.add_status(path, 403)
            continue
        item = store.get(path)
        if item is None:
            answer.add_status(path, 404)
            continue
        answer.add(item.path, _groups(store, item, mode, names, brief), folder=item.is_folder)
    return responses.multistatus(answer.render())
