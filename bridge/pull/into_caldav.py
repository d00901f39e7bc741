"""Writing pulled events into the user's CalDAV calendar, echo-free.

Rules kept here (design §4b):

- **Echo-free.** Every write goes through Radicale's storage in-process, inside
  ``radicale_plugin.bridge_write()``: the plugin journals it with a ``bridge-`` op, does not wake
  the engine, and the engine (which selects ``op NOT LIKE 'bridge-%'``) never takes it for a
  user change. So a pull never sends anything.
- **Which calendar.** Pulled events go into ``<user>/calendar``, the calendar calbridge already
  creates and the user already syncs (created here if missing): no second subscription, and the
  user sees Exchange and their own events side by side, told apart by ``X-CALBRIDGE-ORIGIN``.
- **By UID, never over the user's own event.** An event is found by its UID across the
  collection (one index per batch, under one write lock, so 1,000 pulled events cost one lock).
  The user's own event with the same UID is never replaced (`guards.may_write`); the refusal is
  returned with its reason.
- **Zones stay per event**: vobject's TZID registry is emptied before each event is parsed
  (`bridge.zone_registry`), as the CalDAV front door does per request.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import icalendar
import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage

import radicale_plugin
from bridge import zone_registry
from bridge.pull import guards, mapping

__all__ = ["PulledCalendar", "WriteOutcome"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WriteOutcome:
    uid: str
    outcome: str  # created | updated | unchanged | refused | deleted | absent
    reason: str = ""
    kept_answer: bool = False  # the user's answer not yet sent was kept over Exchange's


class PulledCalendar:
    """One user's calendar as the pull writes it."""

    def __init__(self, configuration: radicale_config.Configuration, user: str,
                 calendar: str = "calendar") -> None:
        zone_registry.install()
        self._storage = radicale_storage.load(configuration)
        self.user = user
        self.path = pathutils.sanitize_path(f"/{user}/{calendar}/").strip("/")
        self._name = calendar

    def _collection(self) -> radicale_storage.BaseCollection:
        found = list(self._storage.discover(f"/{self.path}/", depth="0"))
        if not found:
            with radicale_plugin.bridge_write():
                self._storage.create_collection(
                    f"/{self.path}/", props={"tag": "VCALENDAR", "D:displayname": self._name})
            found = list(self._storage.discover(f"/{self.path}/", depth="0"))
        (collection,) = found
        assert isinstance(collection, radicale_storage.BaseCollection)
        return collection

    def get(self, uid: str) -> str | None:
        """The stored text of the event with `uid`, None when there is none."""
        with self._storage.acquire_lock("r", self.user):
            found = list(self._storage.discover(f"/{self.path}/", depth="0"))
            if not found:
                return None
            collection = found[0]
            assert isinstance(collection, radicale_storage.BaseCollection)
            for item in collection.get_all():
                if item.uid == uid:
                    return str(item.serialize())
        return None

    def upsert(self, events: Iterable[mapping.Pulled], *, address: str,
               exchange_answers: Mapping[str, str | None] | None = None) -> list[WriteOutcome]:
        """Create or replace each pulled event by UID; `address` is the user's own e-mail.

        `exchange_answers` maps a UID to the user's answer as Exchange holds it (the `pulled`
        row). When the stored event shows another answer, the user gave it in their client and
        it is not sent yet: a new version that does not reset the answer (an organizer's update
        that keeps the time) keeps the user's answer, decided under the collection's write lock
        so no client save can fall between the read and the write, and the outcome says so
        (`kept_answer`: the row keeps Exchange's answer, and the engine sends the user's)."""
        outcomes: list[WriteOutcome] = []
        with self._storage.acquire_lock("w", self.user), radicale_plugin.bridge_write(), \
                radicale_plugin.bulk_upload():
            collection = self._collection()
            by_uid = {i.uid: i for i in collection.get_all() if i.href is not None}
            for pulled in events:
                old = by_uid.get(pulled.uid)
                if old is not None:
                    old_text = str(old.serialize())
                    verdict = guards.may_write(
                        mapping.is_pulled(old_text), _organizer(old_text),
                        _organizer(pulled.text), address)
                    if not verdict.write:
                        outcomes.append(WriteOutcome(pulled.uid, "refused", verdict.reason))
                        continue
                    if mapping.is_pulled(old_text):
                        # A Calendar copy of someone else's meeting with the same UID (a
                        # mailbox that files invitations on arrival) never takes it over.
                        owner = guards.same_organizer("meeting", _address(_organizer(old_text)),
                                                      _address(_organizer(pulled.text)))
                        if not owner.write:
                            outcomes.append(WriteOutcome(pulled.uid, "refused", owner.reason))
                            continue
                    pulled, kept = _keep_unsent_answer(pulled, old_text, address,
                                                       (exchange_answers or {}), pulled.uid)
                else:
                    kept = False
                zone_registry.new_request()  # one event's zones never reach another's
                try:
                    new_item = radicale_item.Item(collection_path=collection.path,
                                                  vobject_item=vobject.readOne(pulled.text))
                    new_item.prepare()
                except Exception as error:  # vobject raises many unrelated types
                    outcomes.append(WriteOutcome(pulled.uid, "refused",
                                                 f"Radicale refused it ({type(error).__name__})"))
                    continue
                if old is not None and old.serialize() == new_item.serialize():
                    outcomes.append(WriteOutcome(pulled.uid, "unchanged", kept_answer=kept))
                    continue
                href = old.href if old is not None and old.href else _href_for(pulled.uid)
                collection.upload(href, new_item)
                by_uid[pulled.uid] = new_item
                outcomes.append(WriteOutcome(pulled.uid,
                                             "updated" if old is not None else "created",
                                             kept_answer=kept))
        return outcomes

    def record_reply(self, uid: str, text: str, *, address: str, based_on: str | None = None,
                     again: Callable[[str], str | None] | None = None) -> WriteOutcome:
        """Store the organizer's own event with an attendee's new PARTSTAT (`decide.Reply`).

        Only over an event with that UID that the user (`address`) organizes, made in CalDAV or
        pulled from OWA; never a new one: a reply changes what the organizer sees, it creates
        nothing. Written inside
        ``bridge_write()``, so the engine never reads it as the user's edit and sends no update.

        `text` was built from `based_on`; when the event changed since (the user saved it in
        their client meanwhile), the reply is laid again over what is stored now (`again`),
        under the write lock, so the user's edit is never overwritten by an older copy.
        """
        with self._storage.acquire_lock("w", self.user), radicale_plugin.bridge_write():
            collection = self._collection()
            old = next((i for i in collection.get_all() if i.uid == uid and i.href), None)
            if old is None:
                return WriteOutcome(uid, "absent", "the meeting is no longer in the calendar")
            current = str(old.serialize())
            if (_organizer(current) or address).lower() != address.lower():
                return WriteOutcome(uid, "refused", "not a meeting the user organizes")
            if based_on is not None and current != based_on:
                redone = again(current) if again is not None else None
                if redone is None:
                    return WriteOutcome(uid, "unchanged", "the event changed meanwhile and "
                                                          "already shows the answer")
                text = redone
            zone_registry.new_request()
            try:
                new_item = radicale_item.Item(collection_path=collection.path,
                                              vobject_item=vobject.readOne(text))
                new_item.prepare()
            except Exception as error:  # vobject raises many unrelated types
                return WriteOutcome(uid, "refused",
                                    f"Radicale refused it ({type(error).__name__})")
            assert old.href is not None
            collection.upload(old.href, new_item)
        return WriteOutcome(uid, "updated")

    def delete(self, uid: str) -> WriteOutcome:
        """Remove the pulled event with `uid` (a declined invitation); never the user's own."""
        with self._storage.acquire_lock("w", self.user), radicale_plugin.bridge_write():
            collection = self._collection()
            for item in collection.get_all():
                if item.uid != uid or item.href is None:
                    continue
                if not mapping.is_pulled(str(item.serialize())):
                    return WriteOutcome(uid, "refused", "the user's own event is never removed "
                                                        "by the pull")
                collection.delete(item.href)
                return WriteOutcome(uid, "deleted")
        return WriteOutcome(uid, "absent")


def _keep_unsent_answer(pulled: mapping.Pulled, old_text: str, address: str,
                        exchange_answers: Mapping[str, str | None], uid: str
                        ) -> tuple[mapping.Pulled, bool]:
    """See `PulledCalendar.upsert`: (the event to write, whether the user's answer was kept)."""
    if uid not in exchange_answers or pulled.answer_reset:
        return pulled, False
    held = exchange_answers[uid]
    shown = mapping.own_partstat(old_text, address)
    if held is None or shown is None or shown == held:
        return pulled, False  # nothing unsent
    arriving = mapping.own_partstat(pulled.text, address)
    if arriving not in (held, shown):
        return pulled, False  # Exchange holds a third answer (given in OWA): Exchange's wins
    if arriving == shown:
        return pulled, True
    return mapping.with_partstat(pulled, address, shown), True


def _address(organizer: str | None) -> str | None:
    """`_organizer`'s value as a bare lower-cased address (it may carry a display name)."""
    if organizer is None:
        return None
    return email.utils.parseaddr(organizer)[1].strip().lower() or organizer.strip().lower()


def _href_for(uid: str) -> str:
    # The UID is the sender's text: the file name is derived from it, never made of it.
    return "exchange-" + hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:32] \
        + ".ics"


def _organizer(text: str) -> str | None:
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception:  # an unreadable event has no organizer we can read
        return None
    for event in calendar.walk("VEVENT"):
        organizer = event.get("ORGANIZER")
        if organizer is not None:
            return str(organizer).removeprefix("mailto:").removeprefix("MAILTO:")
    return None
