"""MOVE, COPY, BMOVE and BCOPY, including the MOVE that sends (reference §3.1-3.2, §5.5).

Rules kept here:
- `Destination` is an absolute URL on this server or a path (DavMail sends a path), decoded once;
  another host is 502 (RFC 2518 §8.9.4). It must pass the same access rule as the request URL, so
  moves between mailboxes work only where the user may open both.
- `Overwrite` defaults to T; with F an existing destination is 412. A new destination answers
  201, an overwritten one 204 (RFC 2518). Same source and destination is 403; a folder into its
  own subtree 409; vroots, mailbox roots and well-known folders cannot be moved (403).
  `Allow-Rename: t` picks `name-2.EML`, … instead of failing on a name clash.
- MOVE or COPY whose destination is a submission URI sends the item (`transport.submit`, the
  draft is removed by a MOVE, kept by a COPY), honouring `Saveinsent: f`, and answers 201
  (observed-traffic §5; the Evolution docs say 200; DavMail accepts both).
- BMOVE/BCOPY go to the source folder; `Destination` is the target folder and each
  `<D:target>` keeps its name there. One target answers its own status, several a 207.
"""

from __future__ import annotations

from exchange_sim import responses, transport
from exchange_sim.http import Request, Response
from exchange_sim.methods import (
    HttpError,
    check_access,
    destination,
    flag,
    is_protected,
    status_of,
    target_paths,
    user_of,
)
from exchange_sim.store import NotFound, Store, StoreError
from exchange_sim.xml import DAV, MultiStatus, XmlError, parse_xml, url_for

__all__ = ["handle_copy", "handle_copy_batch", "handle_move", "handle_move_batch"]


def _transfer(request: Request, store: Store, source: str, target: str, *, move: bool
              ) -> tuple[int, str]:
    """Move or copy one resource; returns (status, final path)."""
    check_access(request, store, source, write=move)
    item = store.get(source)
    if item is None:
        raise NotFound(source)
    if store.is_submission(target):
        if item.is_folder:
            raise HttpError(422, "A folder cannot be sent.")
        save = flag(request, "Saveinsent", True)
        owner = store.owner_of(target)
        if move:
            transport.submit(store, user_of(request), item.path,
                             save_in_sent=save, mailbox=owner)
        else:
            transport.submit(store, user_of(request), None,
                             props=dict(item.props), body=item.body, save_in_sent=save,
                             mailbox=owner)
        return 201, target
    if target.lower() == item.path.lower():
        raise HttpError(403, "The source and destination are the same.")
    if target.lower().startswith(item.path.lower() + "/"):
        raise HttpError(409, "A folder cannot go into itself.")
    if move and is_protected(store, item.path):
        raise HttpError(403, "This folder cannot be moved.")
    if is_protected(store, target):
        raise HttpError(403, "This folder cannot be replaced.")
    overwrite = flag(request, "Overwrite", True)
    if store.get(target) is not None and flag(request, "Allow-Rename", False):
        folder, _, name = target.rpartition("/")
        stem, dot, ext = name.rpartition(".")
        target = store.unique_name(folder, stem if dot else name, "." + ext if dot else "")
    operation = store.move if move else store.copy
    moved, created = operation(item.path, target, overwrite=overwrite)
    return (201 if created else 204), moved.path


def _single(request: Request, store: Store, *, move: bool) -> Response:
    status, path = _transfer(request, store, request.path, destination(request, store), move=move)
    if store.is_submission(path):
        return Response(status)
    item = store.require(path)
    return Response(status, b"", [("Location", url_for(request.base_url, path, item.is_folder))])


def handle_move(request: Request, store: Store) -> Response:
    return _single(request, store, move=True)


def handle_copy(request: Request, store: Store) -> Response:
    return _single(request, store, move=False)


def _batch(request: Request, store: Store, *, move: bool) -> Response:
    root = parse_xml(request.body)
    if root.tag != f"{{{DAV}}}{'move' if move else 'copy'}":
        raise XmlError("expected DAV:move or DAV:copy")
    targets = target_paths(request, store, root)
    folder = destination(request, store)
    submission = store.is_submission(folder)
    if not submission and not store.is_folder(folder):
        raise HttpError(409, "The destination folder does not exist.")
    results = []
    for _, source in targets:
        name = source.rsplit("/", 1)[-1]
        try:
            status, _ = _transfer(request, store, source,
                                  folder if submission else f"{folder}/{name}", move=move)
            results.append((source, status))
        except (HttpError, StoreError, transport.SendError) as error:
            results.append((source, status_of(error)))
    if len(results) == 1:
        status = results[0][1]
        return Response(status) if status < 300 else responses.error(status)
    answer = MultiStatus(request.base_url)
    for path, status in results:
        answer.add_status(path, status)
    return responses.multistatus(answer.render())


def handle_move_batch(request: Request, store: Store) -> Response:
    return _batch(request, store, move=True)


def handle_copy_batch(request: Request, store: Store) -> Response:
    return _batch(request, store, move=False)
