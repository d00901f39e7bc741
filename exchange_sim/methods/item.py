"""GET/HEAD (`Translate: f`), PUT, WebDAV POST, DELETE and BDELETE of items (reference §2.3, §3.2).

Rules kept here:
- GET with `Translate: f` returns the item as `message/rfc822` (`calendar_mime.render`: the stored
  PUT body byte for byte, else built from the properties) with `ETag`; a folder is 405 (the
  reference does not say what a raw GET of a folder gives).
- PUT takes `message/rfc822` (no Content-Type is read as that); any other type is 415. The body's
  calendar is promoted to properties and the item replaced whole. `If-Match` / `If-None-Match`
  give 412; `Overwrite: f` on an existing item gives 412 only when no `If-Match` was sent (DavMail
  sends `Overwrite: f` together with `If-Match` on updates and gets 200, observed-traffic step 3).
  201 on create, 200 on replace, both with `GetETag` (DavMail reads only this) and `ETag`.
  A PUT on a folder is 405; bodies over `calendar_mime.MAX_BODY_BYTES` are 413.
- PUT or POST (`message/rfc822`, also `message/rfc821` there) to the submission URI sends the
  message and answers 200 (reference §3.2). A `message/rfc821` envelope's `RCPT TO` lines are
  recipients too; those the headers do not show get it as Bcc (§3.2: the only way to get Bcc).
  A `Translate: f` POST to a folder stores the message
  under a server-chosen unique name (201 + Location).
- DELETE answers 200 (observed), 404 when missing; a folder goes with its contents; vroots,
  mailbox roots and well-known folders are 403. BDELETE deletes each `<D:target>`; one target
  answers that target's status, several a 207 with one `a:status` per href.
"""

from __future__ import annotations

import re

from exchange_sim import calendar_mime, responses, transport
from exchange_sim.http import Request, Response
from exchange_sim.methods import (
    HttpError,
    check_access,
    conditions,
    flag,
    is_protected,
    location_headers,
    status_of,
    target_paths,
    user_of,
)
from exchange_sim.store import NotFound, Store, StoreError
from exchange_sim.xml import DAV, MultiStatus, XmlError, parse_xml

__all__ = ["handle_delete", "handle_delete_batch", "handle_get", "handle_post", "handle_put"]

_SUBMISSION_TYPES = ("message/rfc822", "message/rfc821")
_RCPT = re.compile(r"(?i)^RCPT TO:\s*<([^<>]*)>")
_TO, _CC, _BCC = (f"urn:schemas:mailheader:{f}" for f in ("to", "cc", "bcc"))


def _media_type(request: Request) -> str:
    return (request.header("Content-Type") or "message/rfc822").split(";")[0].strip().lower()


def _promote(raw: bytes) -> dict[str, object]:
    if len(raw) > calendar_mime.MAX_BODY_BYTES:
        raise HttpError(413, "The message is too large.")
    try:
        return calendar_mime.promote(raw)
    except calendar_mime.MimeError as error:
        raise HttpError(400, f"The message could not be read: {error}") from error


def handle_get(request: Request, store: Store) -> Response:
    item = store.get(request.path)
    if item is None:
        raise NotFound(request.path)
    if item.is_folder:
        return responses.method_not_allowed(["OPTIONS", "PROPFIND", "SEARCH"])
    body = calendar_mime.render(dict(item.props), item.body)
    return Response(200, body, [("Content-Type", "message/rfc822"), ("ETag", item.etag)])


def _submit(request: Request, store: Store, raw: bytes) -> Response:
    media = _media_type(request)
    if media not in _SUBMISSION_TYPES:
        raise HttpError(415, "The submission URI takes message/rfc822.")
    envelope: list[str] = []
    if media == "message/rfc821":  # MAIL FROM / RCPT TO envelope lines, blank line, message
        parts = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)
        envelope, raw = _rcpt_to(parts[0]) if len(parts) > 1 else [], parts[-1]
    props = _promote(raw)
    if media != "message/rfc821":
        # Reference §3.2: a PUT of message/rfc821 is "the only way to get Bcc"; a Bcc header
        # of a message/rfc822 submission reaches nobody.
        props.pop(_BCC, None)
    if envelope:
        # The envelope names the recipients (reference §3.2: "the only way to get Bcc"); those
        # the headers do not show are Bcc (delivered, never shown)
        shown = {a.lower() for _, a in transport.parse_addresses(
            [props.get(_TO), props.get(_CC)])}
        hidden = [a for a in envelope if a.lower() not in shown]
        if hidden:
            props[_BCC] = ", ".join(hidden)
    transport.submit(store, user_of(request), None, props=props,
                     body=raw, save_in_sent=flag(request, "Saveinsent", True),
                     mailbox=store.owner_of(request.path))
    return Response(200)


def _rcpt_to(head: bytes) -> list[str]:
    """The ``RCPT TO:<address>`` lines of a message/rfc821 envelope."""
    found = []
    for line in head.decode("utf-8", errors="replace").splitlines():
        match = _RCPT.match(line.strip())
        if match:
            found.append(match.group(1).strip())
    return found


def handle_put(request: Request, store: Store) -> Response:
    if store.is_submission(request.path):
        return _submit(request, store, request.body)
    if _media_type(request) != "message/rfc822":
        raise HttpError(415, "PUT takes message/rfc822.")
    existing = store.get(request.path)
    if existing is not None and existing.is_folder:
        return responses.method_not_allowed(["OPTIONS", "PROPFIND", "PROPPATCH", "SEARCH"])
    if_match, if_none_match = conditions(request)
    if existing is not None and if_match is None and not flag(request, "Overwrite", True):
        raise HttpError(412, "The item exists and Overwrite is F.")
    props = _promote(request.body)
    item, created = store.write(request.path, props, body=request.body, replace=True,
                                if_match=if_match, if_none_match=if_none_match)
    headers = [("GetETag", item.etag), ("ETag", item.etag),
               *(location_headers(request, store, item.path) if created else [])]
    return Response(201 if created else 200, b"", headers)


def handle_post(request: Request, store: Store) -> Response:
    """A WebDAV POST (`Translate: f`, or any POST to the submission URI)."""
    if store.is_submission(request.path):
        return _submit(request, store, request.body)
    folder = store.get(request.path)
    if folder is None:
        raise NotFound(request.path)
    if not folder.is_folder:
        return responses.method_not_allowed(["GET", "PUT", "DELETE", "PROPFIND", "PROPPATCH"])
    if _media_type(request) != "message/rfc822":
        raise HttpError(415, "POST takes message/rfc822.")
    props = _promote(request.body)
    stem = str(props.get("urn:schemas:httpmail:subject") or "Untitled")
    path = store.unique_name(folder.path, stem)
    item, _ = store.write(path, props, body=request.body, replace=True, if_none_match="*")
    return Response(201, b"", [("GetETag", item.etag), ("ETag", item.etag),
                               *location_headers(request, store, item.path)])


def _delete(request: Request, store: Store, path: str, if_match: str | None) -> None:
    check_access(request, store, path, write=True)
    if store.get(path) is None:
        raise NotFound(path)
    if is_protected(store, path):
        raise HttpError(403, "This folder cannot be deleted.")
    store.delete(path, if_match=if_match)


def handle_delete(request: Request, store: Store) -> Response:
    _delete(request, store, request.path, request.header("If-Match"))
    return Response(200)


def handle_delete_batch(request: Request, store: Store) -> Response:
    root = parse_xml(request.body)
    if root.tag != f"{{{DAV}}}delete":
        raise XmlError("expected DAV:delete")
    targets = target_paths(request, store, root)
    results = []
    for _, path in targets:
        try:
            _delete(request, store, path, None)
            results.append((path, 200))
        except (HttpError, StoreError) as error:
            results.append((path, status_of(error)))
    if len(results) == 1:
        status = results[0][1]
        return Response(200) if status == 200 else responses.error(status)
    answer = MultiStatus(request.base_url)
    for path, status in results:
        answer.add_status(path, status)
    return responses.multistatus(answer.render())
