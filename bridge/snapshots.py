"""A mailbox's calendars as the planner's snapshots, parsing only what changed.

Rules kept here (design §1, "a pass costs what changed"; issue 8 item 1):
- A file whose etag matches its synced row reuses the stored meeting: no parse.
- A file that was rejected (cannot be read) or skipped (cannot be expressed) keeps its verdict
  while its (collection, href, etag) is unchanged: a hostile event that is expensive to parse
  costs one parse, not one per pass. The verdicts kept are those of the files seen in the last
  pass of the mailbox (bounded by the calendar; a restart parses each once again).
- A damaged file is never a deletion: it is tied to the UID it held, when that is known.
- The pull's own events are never snapshots (echo-free); the ones a read met are handed over
  (`take_pulled`) to the answers to invitations (`bridge.answering`), the only code that may
  send for them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from bridge import ical
from bridge.plan import Snapshot
from bridge.pull.mapping import is_pulled
from bridge.state import ItemRow

__all__ = ["CalendarSource", "Event", "SnapshotReader"]


class Event(Protocol):
    """One calendar file as read (`bridge.calendars.CalendarEvent` is one)."""

    @property
    def collection(self) -> str: ...
    @property
    def href(self) -> str: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def text(self) -> str | None: ...


class CalendarSource(Protocol):
    """What is read of the calendars (`bridge.calendars.CalendarStore`)."""

    def events(self, user: str) -> Sequence[Event]: ...

VerdictKey = tuple[str, str, str]  # (collection, href, etag)


class SnapshotReader:
    """Reads each user's events into `Snapshot`s (one reader per engine, thread-safe)."""

    def __init__(self, calendars: CalendarSource, default_tz: str,
                 pulled_uid: Callable[[str, str], bool] | None = None) -> None:
        """`pulled_uid(user, uid)`: does the pull know `uid` as Exchange's event of `user`
        (a `pulled` row)? A client that re-saves a pulled event without its X- marker must
        not make the push take it for the user's own meeting and invite everyone again."""
        self.calendars = calendars
        self.default_tz = default_tz
        self._pulled_uid = pulled_uid
        self._verdicts: dict[str, dict[VerdictKey, Snapshot]] = {}
        self._pulled: dict[str, list[Event]] = {}  # user -> the pull's events the read met
        self._lock = threading.Lock()
        self.parsed = 0  # how many files were parsed (for tests and benchmarks)

    def read(self, user: str, rows: list[ItemRow]) -> list[Snapshot]:
        known = {
            (r.collection, r.href): r
            for r in rows
            if r.status == "synced" and r.snapshot is not None and r.radicale_etag
        }
        located = {(r.collection, r.href): r.uid for r in rows if r.href}
        with self._lock:
            verdicts = self._verdicts.get(user, {})
        kept: dict[VerdictKey, Snapshot] = {}
        snapshots: list[Snapshot] = []
        pulled: list[Event] = []
        for event in self.calendars.events(user):
            if event.text is None:
                uid = located.get(
                    (event.collection, event.href), f"(unreadable: {event.collection}/{event.href})"
                )
                snapshots.append(
                    Snapshot(
                        uid,
                        None,
                        event.href,
                        None,
                        error="the calendar file cannot be read (damaged or too large)",
                        collection=event.collection,
                    )
                )
                continue
            if (event.collection, event.href) not in located and _pulled(event.text):
                pulled.append(event)  # Exchange's own event, written by the pull: never sent back
                continue
            row = known.get((event.collection, event.href))
            if row is not None and row.radicale_etag == event.etag:
                snapshots.append(
                    Snapshot(row.uid, row.snapshot, event.href, event.etag,
                             collection=event.collection)
                )
                continue
            key = (event.collection, event.href, event.etag) if event.etag else None
            snap = verdicts.get(key) if key is not None else None
            if snap is None:
                snap = self._parse(event.text, event.collection, event.href, event.etag)
            if ((event.collection, event.href) not in located and self._pulled_uid is not None
                    and self._pulled_uid(user, snap.uid)):
                pulled.append(event)  # the pull's event, its marker dropped by a client
                continue
            if key is not None and (snap.error is not None or snap.skipped is not None):
                kept[key] = snap
            snapshots.append(snap)
        with self._lock:
            self._verdicts[user] = kept
            self._pulled[user] = pulled
        return snapshots

    def take_pulled(self, user: str) -> list[Event]:
        """The pull's events that `user`'s last read met (once: they are handed over)."""
        with self._lock:
            return self._pulled.pop(user, [])

    def _parse(self, text: str, collection: str, href: str, etag: str | None) -> Snapshot:
        with self._lock:
            self.parsed += 1
        parsed = ical.parse_event(text, default_tz=self.default_tz)
        uid = parsed.uid or f"(no UID: {collection}/{href})"
        return Snapshot(
            uid,
            parsed.meeting,
            href,
            etag,
            skipped=parsed.skipped,
            error=parsed.error,
            collection=collection,
        )


def _pulled(text: str) -> bool:
    """An event the pull wrote (design §4b, echo-free): the push planner never sees it."""
    return "X-CALBRIDGE-ORIGIN" in text.upper() and is_pulled(text)
