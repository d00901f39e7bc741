"""The CalDAV side: users' calendars, read and written through Radicale's own storage API.

Rules kept here: reads hold Radicale's shared lock only while copying item texts out (parsing
happens after the lock is released, so a slow parse never blocks a client); a partial read
(`events_at`) opens only the files it is asked for, and `signatures` costs one `stat` per
collection (see `bridge.worklist` for why that signal); imports go through
`Collection.upload` under one exclusive lock, so the storage plugin records them exactly like a
client's PUT, and a 10,000-event file costs one lock instead of 10,000 requests.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
        self.configuration = configuration  # the pull writes through the same storage
        self._storage = radicale_storage.load(configuration)
        self._root = os.path.join(
            configuration.get("storage", "filesystem_folder"), "collection-root"
        )
        # What the passes opened: collection path -> files read (tests and `make bench` look).
        self.files_read: Counter[str] = Counter()

    @contextmanager
    def read_lock(self) -> Iterator[None]:
        """Radicale's shared storage lock (writers wait; the plugin journals under the
        exclusive one, so what is read under this lock agrees with the ``changes`` rows)."""
        with self._storage.acquire_lock("r"):
            yield

    def signatures(self, users: Sequence[str]) -> dict[str, dict[str, str]]:
        """user -> {collection path: signature of its folder}; call under `read_lock`.

        The signature is the folder's inode and mtime: every write Radicale makes in the folder
        (an item or the props, written as a temporary file renamed into place, or a removal)
        moves it. No file inside is opened.
        """
        found: dict[str, dict[str, str]] = {}
        for user in users:
            home = pathutils.sanitize_path(f"/{user}/").strip("/")
            collections: dict[str, str] = {}
            try:
                entries = list(os.scandir(os.path.join(self._root, home)))
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            for entry in entries:
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                collections[f"{home}/{entry.name}"] = f"{stat.st_ino}:{stat.st_mtime_ns}"
            found[user] = collections
        return found

    def events_at(self, user: str, places: Iterable[tuple[str, str]]) -> list[CalendarEvent]:
        """The events stored at these (collection path, href) places of `user`'s calendars.

        A place with no file is left out (the event was deleted or moved); a file Radicale
        cannot read is reported with ``text=None``, as `events` does. Places outside the user's
        home or in a collection that is not a calendar are ignored.
        """
        home = pathutils.sanitize_path(f"/{user}/").strip("/")
        wanted: dict[str, list[str]] = {}
        for collection, href in places:
            if collection.split("/", 1)[0] == home and collection != home:
                wanted.setdefault(collection, []).append(href)
        result: list[CalendarEvent] = []
        with self._storage.acquire_lock("r", user):
            for path, hrefs in sorted(wanted.items()):
                found = list(self._storage.discover(f"/{path}/", depth="0"))
                target = found[0] if found else None
                if not isinstance(target, radicale_storage.BaseCollection) or (
                    target.tag != "VCALENDAR"
                ):
                    continue
                result.extend(_read_hrefs(target, sorted(set(hrefs))))
                self.files_read[target.path] += len(set(hrefs))
        return result

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
                items = _read_items(collection)
                self.files_read[collection.path] += len(items)
                result.extend(items)
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


def _read_hrefs(
    collection: radicale_storage.BaseCollection, hrefs: list[str]
) -> list[CalendarEvent]:
    folder = getattr(collection, "_filesystem_path", None)
    found = {href: item for href, item in collection.get_multi(hrefs)}
    events = []
    for href in hrefs:
        item = found.get(href)
        if item is not None:
            events.append(CalendarEvent(collection.path, href, item.etag, item.serialize()))
        elif (
            folder is not None
            and pathutils.is_safe_filesystem_path_component(href)
            and os.path.isfile(os.path.join(folder, href))
        ):
            logger.warning("cannot read %s/%s: kept as it was on Exchange", collection.path, href)
            events.append(CalendarEvent(collection.path, href, None, None))
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
