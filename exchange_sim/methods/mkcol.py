"""MKCOL: create a folder, optionally with a `propertyupdate` body (davmail-client §2.5).

Rules kept here: 201 with `Location` on success; 405 when something exists at the URL (reference
§9 and DavMail: "405 means the folder already exists"); 409 when the parent folder is missing
(store `Conflict`); a body that is not a `DAV:propertyupdate` is 415 (RFC 2518 §8.3.1); a
read-only or ill-typed property in the body is 409 and nothing is created. Nothing can be created
under the submission URI, which is not a folder (409).
"""

from __future__ import annotations

from exchange_sim.http import Request, Response
from exchange_sim.methods import HttpError, location_headers, parse_propertyupdate
from exchange_sim.store import AlreadyExists, Conflict, Store
from exchange_sim.xml import DAV, XmlError, parse_xml

__all__ = ["handle"]


def handle(request: Request, store: Store) -> Response:
    props: dict[str, object] = {}
    if request.body.strip():
        root = parse_xml(request.body)
        if root.tag != f"{{{DAV}}}propertyupdate":
            raise HttpError(415, "MKCOL takes a DAV:propertyupdate body or none.")
        try:
            update = parse_propertyupdate(root)
        except XmlError as error:
            raise HttpError(415, str(error)) from error
        if update.failed:
            raise HttpError(409, "A property in the body cannot be set.")
        props = update.set
    if store.get(request.path) is not None:
        raise AlreadyExists(request.path)
    if store.is_submission(request.path) or store.is_submission(request.path.rsplit("/", 1)[0]):
        raise Conflict(request.path)
    item = store.mkcol(request.path, props)
    return Response(201, b"", location_headers(request, store, item.path))
