"""The CalDAV side: users' calendars, read and written through Radicale's own storage API.

Rules kept here: reads hold Radicale's shared lock only while copying item texts out (parsing
happens after the lock is released, so a slow parse never blocks a client); imports go through
`Collection.upload` under one exclusive lock, so the storage plugin records them exactly like a
client's PUT, and a 10,000-event file costs one lock instead of 10,000 requests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage

import radicale_plugin

__all__ = ["CalendarEvent", "CalendarStore", "ImportOutcome"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CalendarEvent:
    collection: str  # e.g. "alice/calendar"
    href: str
    etag: str | None
    text: str | None  # None: the file exists but Radicale cannot read it (damaged, too big)


@dataclass(frozen=True)
class ImportOutcome:
    uid: str
    outcome: str  # imported | updated | unchanged | rejected
    reason: str = ""


class CalendarStore:
    """One Radicale storage (the same folder the CalDAV server serves)."""

    def __init__(self, configuration: radicale_config.Configuration) -> None:
        self._storage = radicale_storage.load(configuration)

    def calendars(self, user: str) -> list[str]:
        """Paths (`user/name`) of the user's calendar collections."""
        home = pathutils.sanitize_path(f"/{user}/").strip("/")
        with self._storage.acquire_lock("r", user):
            found = list(self._storage.discover(f"/{home}/", depth="1"))
        return [
            c.path
            for c in found
            if isinstance(c, radicale_storage.BaseCollection)
            and c.path != home
            and c.tag == "VCALENDAR"
        ]

    def events(self, user: str) -> list[CalendarEvent]:
        """Every event item of every calendar of `user` (texts copied under a shared lock)."""
        result: list[CalendarEvent] = []
        home = pathutils.sanitize_path(f"/{user}/").strip("/")
        with self._storage.acquire_lock("r", user):
            for collection in self._storage.discover(f"/{home}/", depth="1"):
                if (
                    not isinstance(collection, radicale_storage.BaseCollection)
                    or collection.path == home
                    or collection.tag != "VCALENDAR"
                ):
                    continue
                result.extend(_read_items(collection))
        return result

    def ensure_calendar(self, user: str, name: str = "calendar") -> str:
        path = pathutils.sanitize_path(f"/{user}/{name}/").strip("/")
        with self._storage.acquire_lock("w", user):
            existing = list(self._storage.discover(f"/{path}/", depth="0"))
            if not existing:
                self._storage.create_collection(
                    f"/{path}/", props={"tag": "VCALENDAR", "D:displayname": name}
                )
        return path

    def import_events(
        self, user: str, calendar: str, events: Iterable[tuple[str, str]]
    ) -> list[ImportOutcome]:
        """Store `(uid, vcalendar_text)` pairs, one item per UID, under one write lock.

        An existing item with the same UID is replaced in place (same href); identical text is
        left alone, so re-importing a file changes nothing.
        """
        path = self.ensure_calendar(user, calendar)
        outcomes: list[ImportOutcome] = []
        with self._storage.acquire_lock("w", user), radicale_plugin.bulk_upload():
            (collection,) = self._storage.discover(f"/{path}/", depth="0")
            assert isinstance(collection, radicale_storage.BaseCollection)
            by_uid = {i.uid: i for i in collection.get_all() if i.href is not None}
            for uid, text in events:
                try:
                    vobject_item = vobject.readOne(text)
                    new_item = radicale_item.Item(
                        collection_path=collection.path, vobject_item=vobject_item
                    )
                    new_item.prepare()
                except Exception as error:  # vobject raises many unrelated types
                    outcomes.append(ImportOutcome(uid, "rejected", f"Radicale refused it: {error}"))
                    continue
                old = by_uid.get(uid)
                if old is not None and old.serialize() == new_item.serialize():
                    outcomes.append(ImportOutcome(uid, "unchanged"))
                    continue
                href = old.href if old is not None and old.href else _href_for(uid, by_uid)
                collection.upload(href, new_item)
                outcomes.append(ImportOutcome(uid, "updated" if old is not None else "imported"))
        return outcomes


def _read_items(collection: radicale_storage.BaseCollection) -> list[CalendarEvent]:
    """Every file of a collection, readable or not.

    Radicale's `get_all()` silently leaves out a file it cannot read (`skip_broken_item`), which
    would look like a deleted event and cancel a meeting; so the file names are listed first
    and a file without an item is reported as unreadable instead.
    """
    list_files = getattr(collection, "_list", None)  # multifilesystem and its subclasses
    if list_files is None:
        return [
            CalendarEvent(collection.path, i.href, i.etag, i.serialize())
            for i in collection.get_all()
            if i.href is not None
        ]
    hrefs = list(list_files())
    found = {href: item for href, item in collection.get_multi(hrefs)}
    events = []
    for href in hrefs:
        item = found.get(href)
        if item is None:
            logger.warning("cannot read %s/%s: kept as it was on Exchange", collection.path, href)
            events.append(CalendarEvent(collection.path, href, None, None))
        else:
            events.append(CalendarEvent(collection.path, href, item.etag, item.serialize()))
    return events


def _href_for(uid: str, existing: dict[str, radicale_item.Item]) -> str:
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in uid)[:100].strip(".")
    href = f"{safe or 'event'}.ics"
    taken = {i.href for i in existing.values()}
    number = 1
    while href in taken or not pathutils.is_safe_filesystem_path_component(href):
        number += 1
        href = f"{safe or 'event'}-{number}.ics"
    return href
