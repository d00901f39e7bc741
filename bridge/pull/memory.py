"""A mailbox's `PullMemory` kept in the state database, and what the pull records there.

Rules kept here (design §4b, bridge/state/pull.py):

- **Idle reads one row.** `StoredMemory` is made at the start of each pass from the mailbox's
  tags row only; a folder's per-item map (10,000 rows for a large calendar) is read when the
  pass says that folder's tag moved (`load`) and written back once the folder is handled
  (`save`, one transaction). Nothing is kept in RAM between passes, so a restart starts from
  exactly what the last pass saved and fetches no unchanged item again.
- **Every event the pull writes has its `pulled` row**, with the user's own PARTSTAT read from
  the text that went into CalDAV (the master VEVENT's ATTENDEE line of the user; None when the
  user has none, e.g. an appointment they made in OWA), one transaction per write batch, right
  after the batch is stored: an organizer's update that resets the answer to NEEDS-ACTION
  resets the row in the same pass. A removed event loses its row (and its rooms' declines).
  An answer the user gave in the client and the engine has not sent yet is not overwritten:
  the event keeps it and the row keeps Exchange's (`PulledCalendar.upsert`), so the
  difference the engine answers from survives an organizer's update that lands first.
- **Problems** are noted per UID and cleared when that UID is taken later.
- **A room's answer** to the user's meeting is kept for `status` when it is a decline: the
  attendee is a room when its line says ``CUTYPE=ROOM`` or its address is one of the configured
  rooms (``gal.rooms``, the same list the GAL uses; galfind cannot tell a room).
"""

from __future__ import annotations

from collections.abc import Iterable

import icalendar

from bridge.pull import contenttag, decide, mapping
from bridge.pull.mailbox_pass import Folder, PullMemory
from bridge.state import State

__all__ = ["StoredMemory", "own_partstat", "room_of_reply"]


class StoredMemory(PullMemory):
    """`PullMemory` backed by the state database for one mailbox (one pass's lifetime)."""

    def __init__(self, state: State, mailbox: str, address: str, *,
                 rooms: Iterable[str] = ()) -> None:
        tags = state.pull_tags(mailbox)
        super().__init__(tags=None if tags is None else contenttag.FolderTags(*tags))
        self._state = state
        self._mailbox = mailbox
        self._address = address.lower()
        self._rooms = frozenset(r.lower() for r in rooms)

    def load(self, folder: Folder) -> None:
        seen = self._state.pull_seen(self._mailbox, folder)
        if folder == "calendar":
            self.calendar = {url: (etag, uid or "") for url, (etag, uid) in seen.items()}
        else:
            self.inbox = {url: etag for url, (etag, _) in seen.items()}

    def save(self, folder: Folder, tag: str | None) -> None:
        seen: dict[str, tuple[str, str | None]]
        if folder == "calendar":
            seen = {url: (etag, uid) for url, (etag, uid) in self.calendar.items()}
        else:
            seen = {url: (etag, None) for url, etag in self.inbox.items()}
        self._state.save_pull_folder(self._mailbox, folder, tag, seen)

    def answers(self, uids: list[str]) -> dict[str, str | None]:
        rows = (self._state.pulled(self._mailbox, uid) for uid in uids)
        return {row.uid: row.partstat for row in rows if row is not None}

    def taken(self, pulled: list[mapping.Pulled], unsent: frozenset[str] = frozenset()) -> None:
        if not pulled:
            return
        with self._state.transaction():  # one commit per write batch, not per event
            for event in pulled:
                url, partstat = _url_and_partstat(event.text, self._address)
                sequence = event.sequence
                held = self._state.pulled(self._mailbox, event.uid) if event.uid in unsent \
                    else None
                if held is not None:
                    # The unsent answer is about the version the row names: the row keeps it
                    # whole (answer and SEQUENCE), so the answer, once sent or found sent on
                    # recovery, is recorded against it (`State.answered` matches the SEQUENCE).
                    partstat, sequence = held.partstat, held.sequence
                self._state.record_pulled(self._mailbox, event.uid, exchange_url=url,
                                          sequence=sequence, partstat=partstat)
                self._state.clear_pull_problem(self._mailbox, event.uid)

    def removed(self, uid: str) -> None:
        self._state.forget_pulled(self._mailbox, uid)
        self._state.forget_room_declines(self._mailbox, uid)
        self._state.clear_pull_problem(self._mailbox, uid)

    def replied(self, reply: decide.Reply) -> None:
        self._state.clear_pull_problem(self._mailbox, reply.uid)
        room = room_of_reply(reply, self._rooms)
        if room is not None:
            self._state.note_room_answer(self._mailbox, reply.uid, room, reply.partstat,
                                         summary=_summary(reply.text))

    def problem(self, uid: str, reason: str) -> None:
        self._state.note_pull_problem(self._mailbox, uid, reason)

    def known_sequence(self, uid: str) -> int | None:
        row = self._state.pulled(self._mailbox, uid)
        return None if row is None else row.sequence


def own_partstat(text: str, address: str) -> str | None:
    """The PARTSTAT of `address`'s ATTENDEE line in the master VEVENT of `text`."""
    return _url_and_partstat(text, address.lower())[1]


def room_of_reply(reply: decide.Reply, rooms: Iterable[str] = ()) -> str | None:
    """The replying attendee's address when it is a room (see the module rule), else None."""
    attendee = reply.attendee.lower().removeprefix("mailto:")
    if attendee in {r.lower() for r in rooms}:
        return attendee
    for line in _attendees(_master(reply.text)):
        if _address(line) == attendee and str(line.params.get("CUTYPE", "")).upper() == "ROOM":
            return attendee
    return None


def _url_and_partstat(text: str, address: str) -> tuple[str | None, str | None]:
    master = _master(text)
    if master is None:
        return None, None
    url = master.get(mapping.EXCHANGE_URL)
    for line in _attendees(master):
        if _address(line) == address:
            return (None if url is None else str(url),
                    str(line.params.get("PARTSTAT") or "NEEDS-ACTION").upper())
    return None if url is None else str(url), None


def _master(text: str) -> icalendar.cal.Component | None:
    try:
        events = icalendar.Calendar.from_ical(text).walk("VEVENT")
    except Exception:  # icalendar raises many types; the pull wrote this text itself
        return None
    return next((e for e in events if e.get("RECURRENCE-ID") is None),
                events[0] if events else None)


def _attendees(event: icalendar.cal.Component | None) -> list[icalendar.vCalAddress]:
    if event is None:
        return []
    found = event.get("ATTENDEE")
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _address(value: object) -> str:
    return str(value).strip().lower().removeprefix("mailto:")


def _summary(text: str) -> str:
    master = _master(text)
    return "" if master is None else str(master.get("SUMMARY") or "")
