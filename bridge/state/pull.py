"""The pull direction's tables (design §4b): memory between passes, pulled events, problems,
conflicts.

Rules kept here:

- **Idle costs nothing here either.** `pull_tags` reads one row; the per-item memory
  (`pull_seen`) is read only for a folder whose tag moved, and written back per folder in one
  transaction (`save_pull_folder`), so a pass that saw only the Inbox move never rewrites the
  10,000 calendar rows.
- **`pulled` is what Exchange knows.** One row per event the pull wrote: its Exchange URL, the
  meeting's SEQUENCE and the user's PARTSTAT as Exchange holds it (written by the pull, or by a
  finished answer). A PARTSTAT in the CalDAV event that differs from this row is the user's
  answer to send (`bridge.pull.answers`); the row, not the event, is the reference, so a client
  that drops X- properties still answers once.
- **Problems are kept per item, latest reason only**, and cleared when the item is taken
  (`clear_pull_problem`) or gone: `status` shows what the pull could not take right now, not a
  history (the log has that).
- **`status` reads two small things**: each mailbox's last pass (`note_pull_pass`: when, and
  why it failed), and the rooms that declined a booking of the user's meeting
  (`note_room_answer`; a later acceptance by the same room clears it).
- **The losing side of a conflict is kept whole** (`conflicts.losing_text`: the iCalendar text
  that was not applied), so a person can recover it; rows are never rewritten, and the same
  losing version is kept once however many passes see it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from bridge.redact import scrub
from bridge.state.base import StateBase, parse_ts, parse_ts_required

__all__ = ["ConflictRow", "PullFolder", "PullPass", "PulledRow", "RoomDecline", "StatePartPull"]

PullFolder = Literal["calendar", "inbox"]

_SAVE_TAG = {
    folder: f"INSERT INTO pull_folders (mailbox, {folder}_tag, updated_at) VALUES (?, ?, ?) "
            f"ON CONFLICT (mailbox) DO UPDATE SET {folder}_tag = excluded.{folder}_tag, "
            "updated_at = excluded.updated_at"
    for folder in ("calendar", "inbox")
}  # two fixed statements: a column name cannot be a parameter


@dataclass(frozen=True)
class PulledRow:
    mailbox: str
    uid: str
    exchange_url: str | None
    sequence: int
    partstat: str | None  # the user's answer as Exchange holds it
    updated_at: datetime


@dataclass(frozen=True)
class PullPass:
    pulled_at: datetime | None
    error: str | None  # None: the last pass succeeded


@dataclass(frozen=True)
class RoomDecline:
    mailbox: str
    uid: str
    room: str
    summary: str
    seen_at: datetime


@dataclass(frozen=True)
class ConflictRow:
    id: int
    mailbox: str
    uid: str
    kept: Literal["caldav", "exchange"]
    losing_text: str
    reason: str
    created_at: datetime


class StatePartPull(StateBase):
    """Read and write what the pull remembers."""

    # -- folder tags and the items seen ---------------------------------------------------

    def pull_tags(self, mailbox: str) -> tuple[str | None, str | None] | None:
        """(calendar tag, inbox tag) remembered for `mailbox`, None before its first pull."""
        rows = self._select(
            "SELECT calendar_tag, inbox_tag FROM pull_folders WHERE mailbox = ?", (mailbox,))
        return (rows[0]["calendar_tag"], rows[0]["inbox_tag"]) if rows else None

    def pull_seen(self, mailbox: str, folder: PullFolder) -> dict[str, tuple[str, str | None]]:
        """url -> (etag, uid) of the items of one folder as the last pass applied them."""
        return {
            r["url"]: (r["etag"], r["uid"])
            for r in self._select(
                "SELECT url, etag, uid FROM pull_seen WHERE mailbox = ? AND folder = ?",
                (mailbox, folder))
        }

    def save_pull_folder(
        self,
        mailbox: str,
        folder: PullFolder,
        tag: str | None,
        seen: Mapping[str, tuple[str, str | None]],
        *,
        now: datetime | None = None,
    ) -> None:
        """Replace one folder's memory (its tag and its items) in one transaction."""
        ts = self._now_ts(now)
        with self.transaction():
            self._execute(_SAVE_TAG[folder], (mailbox, tag, ts))
            self._execute("DELETE FROM pull_seen WHERE mailbox = ? AND folder = ?",
                          (mailbox, folder))
            self._db.conn.executemany(
                "INSERT INTO pull_seen (mailbox, folder, url, etag, uid) VALUES (?, ?, ?, ?, ?)",
                ((mailbox, folder, url, etag, uid) for url, (etag, uid) in seen.items()))

    # -- pulled events ---------------------------------------------------------------------

    def record_pulled(
        self,
        mailbox: str,
        uid: str,
        *,
        exchange_url: str | None,
        sequence: int,
        partstat: str | None,
        now: datetime | None = None,
    ) -> None:
        self._execute(
            "INSERT INTO pulled (mailbox, uid, exchange_url, sequence, partstat, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox, uid) DO UPDATE SET "
            "exchange_url = excluded.exchange_url, sequence = excluded.sequence, "
            "partstat = excluded.partstat, updated_at = excluded.updated_at",
            (mailbox, uid, exchange_url, int(sequence), partstat, self._now_ts(now)))

    def pulled(self, mailbox: str, uid: str) -> PulledRow | None:
        rows = self._select("SELECT * FROM pulled WHERE mailbox = ? AND uid = ?", (mailbox, uid))
        return _pulled_row(rows[0]) if rows else None

    def pulled_rows(self, mailbox: str) -> Iterator[PulledRow]:
        for row in self._select("SELECT * FROM pulled WHERE mailbox = ? ORDER BY uid",
                                (mailbox,)):
            yield _pulled_row(row)

    def forget_pulled(self, mailbox: str, uid: str) -> None:
        """The event is gone from both sides (its answer journal goes with it: cascade)."""
        self._execute("DELETE FROM pulled WHERE mailbox = ? AND uid = ?", (mailbox, uid))

    # -- problems ---------------------------------------------------------------------------

    def note_pull_problem(self, mailbox: str, uid: str, reason: str, *,
                          now: datetime | None = None) -> None:
        self._execute(
            "INSERT INTO pull_problems (mailbox, uid, reason, seen_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (mailbox, uid) DO UPDATE SET reason = excluded.reason, "
            "seen_at = excluded.seen_at",
            (mailbox, uid[:500], scrub(reason)[:1000], self._now_ts(now)))

    def clear_pull_problem(self, mailbox: str, uid: str) -> None:
        self._execute("DELETE FROM pull_problems WHERE mailbox = ? AND uid = ?", (mailbox, uid))

    def pull_problems(self, mailbox: str | None = None) -> list[tuple[str, str, str]]:
        """(mailbox, uid, reason), newest first."""
        return [(r["mailbox"], r["uid"], r["reason"]) for r in self._select(
            "SELECT mailbox, uid, reason FROM pull_problems WHERE ? IS NULL OR mailbox = ? "
            "ORDER BY seen_at DESC, uid", (mailbox, mailbox))]

    # -- conflicts --------------------------------------------------------------------------

    def record_conflict(self, mailbox: str, uid: str, *, kept: Literal["caldav", "exchange"],
                        losing_text: str, reason: str, now: datetime | None = None) -> int:
        """Keep the losing version; the same version lost again (a second pass saw the same
        conflict before the push settled it) is kept once: its first row's id is returned."""
        with self.transaction():
            same = self._select(
                "SELECT id FROM conflicts WHERE mailbox = ? AND uid = ? AND kept = ? AND "
                "losing_text = ? ORDER BY id DESC LIMIT 1", (mailbox, uid, kept, losing_text))
            if same:
                return int(same[0]["id"])
            return self._insert_conflict(mailbox, uid, kept, losing_text, reason, now)

    def _insert_conflict(self, mailbox: str, uid: str, kept: str, losing_text: str,
                         reason: str, now: datetime | None) -> int:
        cursor = self._execute(
            "INSERT INTO conflicts (mailbox, uid, kept, losing_text, reason, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (mailbox, uid, kept, losing_text, scrub(reason), self._now_ts(now)))
        return int(cursor.lastrowid or 0)

    def conflicts(self, mailbox: str | None = None, *, limit: int = 100) -> list[ConflictRow]:
        return [
            ConflictRow(r["id"], r["mailbox"], r["uid"], r["kept"], r["losing_text"],
                        r["reason"], parse_ts_required(r["created_at"]))
            for r in self._select(
                "SELECT * FROM conflicts WHERE ? IS NULL OR mailbox = ? ORDER BY id DESC LIMIT ?",
                (mailbox, mailbox, limit))
        ]

    # -- the last pass and the rooms' declines (migration 5; `calbridge status`) -------------

    def note_pull_pass(self, mailbox: str, *, error: str | None = None,
                       now: datetime | None = None) -> None:
        """A pull pass over `mailbox` ended (`error`: why it failed; None: it succeeded)."""
        ts = self._now_ts(now)
        self._execute(
            "INSERT INTO pull_folders (mailbox, updated_at, pulled_at, pull_error) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET "
            "pulled_at = excluded.pulled_at, pull_error = excluded.pull_error",
            (mailbox, ts, ts, None if error is None else scrub(error)[:1000]))

    def pull_passes(self) -> dict[str, PullPass]:
        """mailbox -> its last pull pass (mailboxes never pulled are absent)."""
        return {
            r["mailbox"]: PullPass(parse_ts(r["pulled_at"]), r["pull_error"])
            for r in self._select(
                "SELECT mailbox, pulled_at, pull_error FROM pull_folders "
                "WHERE pulled_at IS NOT NULL")
        }

    def note_room_answer(self, mailbox: str, uid: str, room: str, partstat: str, *,
                         summary: str, now: datetime | None = None) -> None:
        """A room answered the user's meeting `uid`: a decline is kept for `status`; any
        other answer (the meeting moved to a free slot, and the room took it) clears it."""
        if partstat.upper() != "DECLINED":
            self._execute("DELETE FROM room_declines WHERE mailbox = ? AND uid = ? AND room = ?",
                          (mailbox, uid, room.lower()))
            return
        self._execute(
            "INSERT INTO room_declines (mailbox, uid, room, summary, seen_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (mailbox, uid, room) DO UPDATE SET "
            "summary = excluded.summary, seen_at = excluded.seen_at",
            (mailbox, uid[:500], room.lower()[:320], scrub(summary)[:200], self._now_ts(now)))

    def room_declines(self, mailbox: str | None = None) -> list[RoomDecline]:
        """The rooms that declined a booking of the user's meeting, newest first."""
        return [
            RoomDecline(r["mailbox"], r["uid"], r["room"], r["summary"],
                        parse_ts_required(r["seen_at"]))
            for r in self._select(
                "SELECT * FROM room_declines WHERE ? IS NULL OR mailbox = ? "
                "ORDER BY seen_at DESC, uid, room", (mailbox, mailbox))
        ]

    def forget_room_declines(self, mailbox: str, uid: str) -> None:
        """The meeting is gone: its rooms' declines are no longer news."""
        self._execute("DELETE FROM room_declines WHERE mailbox = ? AND uid = ?", (mailbox, uid))


def _pulled_row(row: Mapping[str, object]) -> PulledRow:
    return PulledRow(str(row["mailbox"]), str(row["uid"]),
                     None if row["exchange_url"] is None else str(row["exchange_url"]),
                     int(str(row["sequence"])),
                     None if row["partstat"] is None else str(row["partstat"]),
                     parse_ts_required(str(row["updated_at"])))
