"""The pull's hand on the user's own (pushed) events: reads, decides (`own_edits`), writes.

Rules kept here:

- **Which items.** A Calendar item is the user's own when the state has an ``items`` row for
  its UID, not cancelled, whose ``exchange_url`` is this item's URL (`claims`). Everything else
  stays with the pull's ordinary path.
- **Echo-free and sends nothing.** Exchange's version goes into the CalDAV event through
  Radicale's storage inside ``radicale_plugin.bridge_write()`` (a ``bridge-`` op the engine never
  takes for a user change), and the items row is brought level in the same breath (content
  hash, sent hash, snapshot, Radicale etag, Exchange etag and hash), so the next engine pass
  finds content equal to what was sent and plans nothing.
- **Decided under the write lock**: the CalDAV event is read, compared and replaced under
  Radicale's exclusive lock, so a client's PUT cannot slip between the decision and the write.
  The caller runs the pass while holding the mailbox's engine lock (`Engine._exclusive`), so no
  push pass reads the calendar between the CalDAV write and the row update. A crash between
  those two writes leaves a CalDAV event newer than its row: the next push then sends one
  update carrying Exchange's version (nothing is lost; the attendees hear it once more).
- **The losing version is kept**: a conflict stores Exchange's iCalendar whole
  (`State.record_conflict`) and logs one WARNING line naming the UID and the conflict's id.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from urllib.parse import unquote, urlsplit

import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import storage as radicale_storage

import radicale_plugin
from bridge import ical, zone_registry
from bridge.meeting import Meeting
from bridge.pull import own_edits, own_merge
from bridge.state import ItemRow, State

__all__ = ["OwnItems", "Settled"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settled:
    uid: str
    outcome: str  # taken | in-step | agree | conflict | left | refused (left, refused: logged
    #               as the pass's problems, with the reason)
    reason: str = ""


class OwnItems:
    """One user's pushed events, as the pull of their mailbox settles Exchange-side edits."""

    def __init__(self, state: State, configuration: radicale_config.Configuration, *,
                 user: str, mailbox: str, address: str, default_tz: str) -> None:
        zone_registry.install()
        self._state = state
        self._storage = radicale_storage.load(configuration)
        self.user, self.mailbox, self.address = user, mailbox, address.lower()
        self._tz = default_tz

    def claims(self, uid: str, url: str) -> ItemRow | None:
        """The items row of `uid` when the Exchange item at `url` is the one calbridge wrote."""
        row = self._state.get_item(self.mailbox, uid)
        if row is None or row.status == "cancelled" or not row.exchange_url:
            return None
        return row if _path(row.exchange_url) == _path(url) else None

    def settle(self, row: ItemRow, ics: str, etag: str) -> Settled:
        """Apply `own_edits.decide` to Exchange's `ics` (read at `etag`) for the event of `row`."""
        uid = row.uid
        try:
            exchange = own_merge.exchange_meeting(ics, default_tz=self._tz)
        except own_merge.MergeError as error:
            return Settled(uid, "refused", f"Exchange's version cannot be read: {error}")
        there = own_edits.shape_of(exchange, self.address)
        with self._storage.acquire_lock("w", self.user), radicale_plugin.bridge_write():
            found = self._find(row)
            current: Meeting | None = None
            if found is not None:
                parsed = ical.parse_event(str(found[1].serialize()), default_tz=self._tz)
                if parsed.meeting is None:
                    return Settled(uid, "left", "the CalDAV event cannot be read; Exchange "
                                                "keeps its edited version")
                current = parsed.meeting
            decision = own_edits.decide(
                sent=own_edits.shape_of(row.snapshot, self.address) if row.snapshot else None,
                exchange=there,
                caldav=own_edits.shape_of(current, self.address) if current else None,
                caldav_changed=current is not None and current.content_hash() != row.sent_hash,
                unfinished=bool(self._state.open_journal(self.mailbox, uid)),
            )
            digest = _shape_hash(there)
            if isinstance(decision, own_edits.TakeExchange):
                assert found is not None and current is not None
                return self._take(row, found, exchange, etag, digest)
        if isinstance(decision, own_edits.Leave):
            return Settled(uid, "left", decision.reason)
        if isinstance(decision, own_edits.KeepCalDAV):
            number = self._state.record_conflict(self.mailbox, uid, kept="caldav",
                                                 losing_text=ics, reason=decision.reason)
            logger.warning("conflict %d: %s %r: %s; Exchange's version is kept in the state "
                           "(calbridge status)", number, self.mailbox, uid[:120], decision.reason)
            return Settled(uid, "conflict", decision.reason)
        self._state.note_exchange_seen(self.mailbox, uid, exchange_etag=etag,
                                       exchange_hash=digest)
        return Settled(uid, "in-step" if isinstance(decision, own_edits.InStep) else "agree")

    def _find(self, row: ItemRow) -> tuple[radicale_storage.BaseCollection,
                                           radicale_item.Item] | None:
        """The CalDAV event of `row`: at its recorded place, else by UID in the user's
        calendars (a client may have moved it)."""
        places = list(self._storage.discover(f"/{self.user}/", depth="1"))
        collections = [c for c in places if isinstance(c, radicale_storage.BaseCollection)
                       and c.path != self.user and c.tag == "VCALENDAR"]
        collections.sort(key=lambda c: c.path != row.collection)
        for collection in collections:
            if collection.path == row.collection and row.href:
                for href, item in collection.get_multi([row.href]):
                    if href == row.href and item is not None and item.uid == row.uid:
                        return collection, item
            for item in collection.get_all():
                if item.uid == row.uid and item.href:
                    return collection, item
        return None

    def _take(self, row: ItemRow,
              found: tuple[radicale_storage.BaseCollection, radicale_item.Item],
              exchange: Meeting, etag: str, digest: str) -> Settled:
        collection, old = found
        try:
            text = own_merge.merged(str(old.serialize()), exchange, user=self.address)
            zone_registry.new_request()
            new_item = radicale_item.Item(collection_path=collection.path,
                                          vobject_item=vobject.readOne(text))
            new_item.prepare()
            parsed = ical.parse_event(str(new_item.serialize()), default_tz=self._tz)
        except Exception as error:  # vobject and icalendar raise many unrelated types
            return Settled(row.uid, "refused", f"Exchange's version cannot be written into the "
                                               f"CalDAV event ({type(error).__name__})")
        if parsed.meeting is None:
            return Settled(row.uid, "refused", f"the merged event does not read back: "
                                               f"{parsed.error or parsed.skipped}")
        assert old.href is not None
        stored, _ = collection.upload(old.href, new_item)
        self._state.mark_synced(
            self.mailbox, row.uid, meeting=parsed.meeting, kind=row.kind,
            sequence=max(row.sent_sequence or 0, exchange.sequence),
            collection=collection.path, href=old.href, radicale_etag=stored.etag,
            exchange_etag=etag, exchange_hash=digest)
        logger.info("pull: %s %r: edited in Exchange; the CalDAV event now holds that version "
                    "(nothing sent)", self.mailbox, row.uid[:120])
        return Settled(row.uid, "taken")


def _path(url: str) -> str:
    return unquote(urlsplit(url).path).rstrip("/").lower()


def _shape_hash(shape: own_edits.Shape) -> str:
    payload = json.dumps(asdict(shape), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
