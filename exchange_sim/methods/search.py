"""SEARCH: the Exchange SQL subset over a folder scope, with row ranges (reference §5.1-5.2).

Rules kept here:
- Body `<D:searchrequest><D:sql>…</D:sql></D:searchrequest>`; anything else, or SQL that
  `sql.parse_sql` refuses, is 400 (the reference does not say what Exchange answers to bad SQL).
- Scope: `FROM ""` is the request URL; `SHALLOW TRAVERSAL OF "p"` the children of p (folders
  included: DavMail lists sub-folders that way); `DEEP` all descendants; `HIERARCHICAL` the
  descendant folders. A scope path may be a store path (as DavMail sends it, unencoded), an
  encoded path, or an absolute URL on this server; a relative one is taken inside the request URL.
  A scope the user may not open is 403; a missing one 404. Every traversal is filtered by the
  rights of the user asking: rows in mailboxes they may not open are left out, whatever the
  scope (`/exchange/` deep, shallow or hierarchical, `FROM ""` on it), as PROPFIND does.
- Rows are filtered by `sql.matches` over stored + computed properties, sorted by ORDER BY, then
  cut by `Range: rows=` (`Content-Range: rows a-b; total=N`; 416 when the rows asked for are past
  the end of a non-empty result). An EMPTY result is 207 with no rows and
  `Content-Range: rows 0-0; total=0` (inferred): Evolution, which always sends `Range`, handles a
  207 whose total is 0 (reference [E-CTX] `search_fetch`), and DavMail's `Range: rows=0-0` look-up
  of an item by `x10f3001f` (davmail-client §2.2, §4.4) can only read a 207 `text/xml` answer —
  a 416 there turns every GET of a missing event into a 503.
- The answer is 207 with `Content-Type: text/xml` exactly and `Accept-Ranges: rows`; each row has
  one `200` propstat holding the selected properties that have a value (a missing value is SQL
  NULL and is left out; DavMail reads only the 200 propstat). A `"p" AS alias` column is
  rendered under the alias as local name in p's namespace (the reference shows no example).
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from exchange_sim import sql
from exchange_sim.auth import access_status
from exchange_sim.http import Request, Response
from exchange_sim.methods import HttpError, check_access, decode_path
from exchange_sim.store import Item, NotFound, Store, normalize_path
from exchange_sim.xml import DAV, MultiStatus, XmlError, children, parse_xml, split_name

__all__ = ["handle"]


def _sql_text(body: bytes) -> str:
    root = parse_xml(body)
    if root.tag != f"{{{DAV}}}searchrequest":
        raise XmlError("expected DAV:searchrequest")
    found = children(root, DAV, "sql")
    if not found or not (found[0].text or "").strip():
        raise XmlError("expected DAV:sql with a statement")
    return found[0].text or ""


def _scope_path(request: Request, store: Store, scope: str) -> str:
    scope = scope.strip()
    if not scope:
        return normalize_path(request.path)
    parts = urlsplit(scope)
    if parts.scheme or parts.netloc:
        if parts.netloc.lower() != urlsplit(request.base_url).netloc.lower():
            raise HttpError(403, "The scope is on another server.")
        return normalize_path(decode_path(parts.path or "/"))
    if not scope.startswith("/"):
        base = request.path if request.path.endswith("/") else request.path + "/"
        scope = urljoin(base, scope)
    if any(s in (".", "..") for s in scope.split("/")) or "\x00" in scope:
        raise HttpError(400, "Bad scope path.")
    path = normalize_path(scope)
    if store.get(path) is None and "%" in path:
        path = normalize_path(decode_path(path))  # an encoded path: decode once
    return path


def _rows(request: Request, store: Store, query: sql.Query, path: str) -> list[Item]:
    """The items of the scope that the user asking may open."""
    assert request.user is not None
    depth = query.scope.depth.lower()
    items = store.children(path) if depth == "shallow" else store.descendants(path)
    if depth == "hierarchical":
        items = [i for i in items if i.is_folder]
    return [i for i in items if access_status(store, request.user, i.path) is None]


def handle(request: Request, store: Store) -> Response:
    query = sql.parse_sql(_sql_text(request.body))
    path = _scope_path(request, store, query.scope.path)
    check_access(request, store, path)
    if store.get(path) is None:
        raise NotFound(path)
    rows = []
    for item in _rows(request, store, query, path):
        props = store.all_props(item)
        if sql.matches(query.where, props.get):
            rows.append((item, props))
    rows = sql.sort_rows(rows, query.order_by, lambda row, name: row[1].get(name))
    headers = [("Accept-Ranges", "rows")]
    try:
        span = sql.parse_range(request.header("Range"), len(rows))
    except sql.RangeNotSatisfiable:
        if rows:
            raise
        headers.append(("Content-Range", "rows 0-0; total=0"))
    else:
        if span is not None:
            headers.append(("Content-Range", sql.content_range(span[0], span[1], len(rows))))
            rows = rows[span[0]: span[1] + 1]
    aliases = dict(query.aliases)
    answer = MultiStatus(request.base_url)
    for item, props in rows:
        selected: dict[str, object] = {}
        for name in query.select:
            if props.get(name) is not None:
                alias = aliases.get(name)
                selected[split_name(name)[0] + alias if alias else name] = props[name]
        answer.add(item.path, [(200, selected)], folder=item.is_folder)
    # 207 also for a ranged answer (reference §5.1-5.2 show no 206).
    return Response(207, answer.render(), [("Content-Type", "text/xml"), *headers])
