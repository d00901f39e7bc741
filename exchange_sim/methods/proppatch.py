"""PROPPATCH and BPROPPATCH: create or update an item from typed properties (reference §2, §5.5).

Rules kept here:
- PROPPATCH on a URL that does not exist creates the item (SDK, KB 308373; DavMail's Drafts
  PROPPATCH relies on it), else merges into it. `If-Match` / `If-None-Match` fail with 412.
- All or nothing: if any property is read-only or its value does not fit its type, that property
  gets 409 and every other one 424 Failed Dependency, and nothing is stored (424 is not in the
  reference; it is RFC 2518's status for this case).
- Success answers 207 with one `200` propstat for every property (created or updated: the SDK
  shows 200; DavMail accepts 200 or 201 inside). `Brief: t` with full success answers without a
  body: 201 when the item was created, 200 when it was updated (reference §9 lists both for
  PROPPATCH). A create carries `Location` and `Repl-UID` headers (reference §2.2).
- PROPPATCH of the submission URI sends the properties as a message (`transport.submit`).
- BPROPPATCH applies the same update to each `<D:target>` in the folder, each target on its own.
"""

from __future__ import annotations

from exchange_sim import responses, transport
from exchange_sim.http import Request, Response
from exchange_sim.methods import (
    HttpError,
    Update,
    check_access,
    conditions,
    flag,
    location_headers,
    parse_propertyupdate,
    status_of,
    target_paths,
    user_of,
)
from exchange_sim.store import NotFound, Store, StoreError
from exchange_sim.xml import MultiStatus, parse_xml

__all__ = ["handle", "handle_batch"]


def _failure(update: Update) -> list[tuple[int, dict[str, object]]]:
    groups: dict[int, dict[str, object]] = {}
    for name in update.names:
        groups.setdefault(update.failed.get(name, 424), {})[name] = None
    return sorted(groups.items())


def _success(update: Update) -> list[tuple[int, dict[str, object]]]:
    return [(200, dict.fromkeys(update.names))]


def handle(request: Request, store: Store) -> Response:
    update = parse_propertyupdate(parse_xml(request.body))
    brief = flag(request, "Brief", False)
    answer = MultiStatus(request.base_url)
    if update.failed:
        answer.add(request.path, _failure(update))
        return responses.multistatus(answer.render())
    if store.is_submission(request.path):
        transport.submit(store, user_of(request), None, props=update.set,
                         save_in_sent=flag(request, "Saveinsent", True),
                         mailbox=store.owner_of(request.path))
        if brief:
            return Response(200)
        answer.add(request.path, _success(update))
        return responses.multistatus(answer.render())
    if_match, if_none_match = conditions(request)
    item, created = store.write(request.path, update.set, update.remove,
                                if_match=if_match, if_none_match=if_none_match)
    headers = location_headers(request, store, item.path) if created else []
    if brief:
        return Response(201 if created else 200, b"", headers)
    answer.add(item.path, _success(update), folder=item.is_folder)
    return responses.multistatus(answer.render(), headers)


def handle_batch(request: Request, store: Store) -> Response:
    root = parse_xml(request.body)
    update = parse_propertyupdate(root)
    targets = target_paths(request, store, root)
    folder = store.get(request.path)
    if folder is None:
        raise NotFound(request.path)
    if not folder.is_folder:
        raise HttpError(400, "BPROPPATCH goes to a folder.")
    brief = flag(request, "Brief", False)
    if_match, if_none_match = conditions(request)
    answer = MultiStatus(request.base_url)
    all_ok = True
    for _, path in targets:
        try:
            check_access(request, store, path, write=True)
            if update.failed:
                answer.add(path, _failure(update))
                all_ok = False
                continue
            item, _ = store.write(path, update.set, update.remove,
                                  if_match=if_match, if_none_match=if_none_match)
        except (HttpError, StoreError, transport.SendError) as error:
            answer.add_status(path, status_of(error))
            all_ok = False
            continue
        if not brief:
            answer.add(item.path, _success(update), folder=item.is_folder)
    if brief and all_ok:
        return Response(200)
    return responses.multistatus(answer.render())

