"""The company directory refresh: Exchange's GAL read by galfind sweeps, written into Radicale.

Rules kept here:
- The address book is one shared, read-only collection, `GAL_COLLECTION` (``/gal/addressbook/``):
  every user reads the same cards (bridge/rights.py), nobody writes it over HTTP; only this
  refresh writes it, in-process, inside ``radicale_plugin.bridge_write()`` so the journal marks
  the writes as the bridge's own and they never look like user changes.
- A refresh changes what changed: cards whose text is the same keep their file (and ETag, so
  clients' sync-collection reports stay small); entries gone from the GAL are deleted. Writes
  go in batches, each under its own storage write lock, so clients never wait for a whole
  refresh.
- An answer is cleaned of XML-illegal control characters before it is read (`xml_legal`): one
  bad display name must not hide every entry that shares its prefix.
- A sweep that fails part-way (Exchange unreachable, an answer galfind cannot read) writes
  nothing: a half-read GAL would delete every entry it missed. The last good address book stays.
- Cost: one GET per prefix; `ALPHABET` (39) first-level prefixes, plus 39 for every prefix whose
  answer reaches the page limit.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import storage as radicale_storage

import radicale_plugin
from bridge import gal
from bridge.exchange import owa
from bridge.exchange.http import ExchangeSession

__all__ = ["GAL_COLLECTION", "GAL_OWNER", "StoreReport", "Sweep", "store_gal", "sweep_gal"]

logger = logging.getLogger(__name__)

GAL_OWNER = gal.GAL_OWNER
GAL_COLLECTION = gal.GAL_COLLECTION
DISPLAY_NAME = "Company directory"
BATCH = 100  # cards written per exclusive storage lock (~1 s of Radicale uploads)


@dataclass
class Sweep:
    contacts: dict[str, gal.Contact] = field(default_factory=dict)  # by address
    requests: int = 0
    incomplete: list[str] = field(default_factory=list)  # prefixes still at the limit
    seconds: float = 0.0


def sweep_gal(
    session: ExchangeSession,
    alias: str,
    *,
    rooms: Iterable[str] = (),
    page_limit: int = 100,
    max_length: int = 8,
) -> Sweep:
    """Every GAL entry, by ``GET /exchange/<alias>/?Cmd=galfind&AN=<prefix>`` sweeps.

    Raises the `bridge.exchange.errors` class of the first failed request (nothing partial).
    """
    began = time.monotonic()
    room_list = list(rooms)
    result = Sweep()
    base = session.url(f"/exchange/{quote(alias, safe='')}/")
    pending = list(gal.ALPHABET)
    while pending:
        prefix = pending.pop(0)
        response = session.request("GET", owa.command_url(base, "galfind", [("AN", prefix)]))
        result.requests += 1
        entries = owa.parse_galfind(xml_legal(response.content))
        for entry in entries:
            contact = gal.contact_from_entry(entry, room_list)
            if contact is not None:
                result.contacts.setdefault(contact.email, contact)
        deeper = gal.next_prefixes(prefix, len(entries), page_limit, max_length)
        if not deeper and len(entries) >= page_limit:
            result.incomplete.append(prefix)
        pending.extend(deeper)
    result.seconds = time.monotonic() - began
    if result.incomplete:
        logger.warning(
            "GAL: %d prefixes still answered %d entries at %d characters; entries past the "
            "server's limit under them are missing: %s",
            len(result.incomplete), page_limit, max_length, ", ".join(result.incomplete[:5]),
        )
    return result


# Characters XML 1.0 forbids (C0 controls but TAB, LF, CR), raw or as character references.
# In UTF-8 these bytes are never part of a longer character, so bytes can be cleaned.
_ILLEGAL_RAW = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_ILLEGAL_REF = re.compile(rb"&#(?:0*(?:[0-8]|1[124-9]|2[0-9]|3[01])|x0*(?:[0-8bcef]|1[0-9a-f]));",
                          re.IGNORECASE)


def xml_legal(body: bytes) -> bytes:
    """A galfind answer with XML-illegal control characters turned into spaces.

    A display name holding such a character (the directory's data, not ours) would otherwise
    make the whole answer unreadable and block every other entry under its prefix; the card
    then shows a space there (`gal.clean` drops the rest).
    """
    return _ILLEGAL_REF.sub(b" ", _ILLEGAL_RAW.sub(b" ", body))


@dataclass(frozen=True)
class StoreReport:
    written: int
    deleted: int
    unchanged: int
    longest_lock: float = 0.0  # seconds, the longest exclusive storage lock a batch held


def store_gal(
    configuration: radicale_config.Configuration,
    contacts: Iterable[gal.Contact],
    *,
    batch: int = BATCH,
) -> StoreReport:
    """Make `GAL_COLLECTION` hold exactly `contacts` (one vCard each), as the bridge's write.

    The current cards are read under Radicale's shared lock; the changes are written `batch`
    at a time, each batch under its own exclusive lock, so CalDAV clients wait at most one
    batch (~1 s), not a whole first refresh of thousands of cards. That is safe because nobody
    else writes this collection (bridge/rights.py).
    """
    storage = radicale_storage.load(configuration)
    wanted = {gal.href_for(c.email): gal.build_vcard(c) for c in contacts}
    with storage.acquire_lock("w", GAL_OWNER), radicale_plugin.bridge_write():
        if not list(storage.discover(f"/{GAL_COLLECTION}/", depth="0")):
            storage.create_collection(
                f"/{GAL_COLLECTION}/",
                props={"tag": "VADDRESSBOOK", "D:displayname": DISPLAY_NAME},
            )
    with storage.acquire_lock("r", GAL_OWNER):
        existing = {
            i.href: i.serialize() for i in _collection(storage).get_all() if i.href is not None
        }
    writes = [(href, text) for href, text in wanted.items() if not _same(existing.get(href), text)]
    deletions = sorted(existing.keys() - wanted.keys())
    longest = 0.0
    for start in range(0, max(len(writes), len(deletions)), batch):
        with storage.acquire_lock("w", GAL_OWNER), radicale_plugin.bridge_write(), \
                radicale_plugin.bulk_upload():
            locked = time.monotonic()
            collection = _collection(storage)
            for href, text in writes[start:start + batch]:
                item = radicale_item.Item(
                    collection_path=collection.path, vobject_item=vobject.readOne(text)
                )
                item.prepare()
                collection.upload(href, item)
            for href in deletions[start:start + batch]:
                collection.delete(href)
            longest = max(longest, time.monotonic() - locked)
    return StoreReport(len(writes), len(deletions), len(wanted) - len(writes), longest)


def _collection(storage: radicale_storage.BaseStorage) -> radicale_storage.BaseCollection:
    (collection,) = storage.discover(f"/{GAL_COLLECTION}/", depth="0")
    assert isinstance(collection, radicale_storage.BaseCollection)
    return collection


def _same(old: str | None, new: str) -> bool:
    if old is None:
        return False
    return old.replace("\r\n", "\n").strip() == new.replace("\r\n", "\n").strip()
