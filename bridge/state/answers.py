"""The ``answer_outbox`` table: the send journal of the user's answers to pulled invitations.

Rules kept here (the outbox journal's, design §4): an entry is written *before* its request
goes out and marked done after, so a crash between the two leaves a ``started`` entry that the
next pass resolves (`bridge.answer_run`). All entries of an item belong to one answer until
`clear_answer` (or `answered`); a second answer while one is unfinished is refused
(`JournalConflict`). Every entry needs its `pulled` row (foreign key): an event the pull has
not recorded cannot be answered, and forgetting the row drops its journal (cascade).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.state.base import StateBase, parse_ts, parse_ts_required
from bridge.state.errors import JournalConflict, StateError, UnknownJournalEntry
from bridge.state.rows import JournalState

__all__ = ["AnswerEntry", "StatePartAnswers"]


@dataclass(frozen=True)
class AnswerEntry:
    """One step of an answer: written before the request, done after."""

    id: int
    mailbox: str
    uid: str
    step: str
    target_url: str | None
    marker: str | None
    state: JournalState
    payload: Any = field(hash=False)  # decoded JSON (on the first entry), or None
    created_at: datetime
    completed_at: datetime | None

    @property
    def done(self) -> bool:
        return self.state == "done"


class StatePartAnswers(StateBase):
    """Journal, finish, list and clear the steps of answers."""

    def answer_start(
        self,
        mailbox: str,
        uid: str,
        step: str,
        *,
        target_url: str | None = None,
        marker: str | None = None,
        payload: Any = None,
        now: datetime | None = None,
    ) -> int:
        """Journal one step *before* making it; returns the entry id.

        Raises:
            StateError: no `pulled` row for (mailbox, uid).
            JournalConflict: another answer's entries are still there (another payload).
        """
        if not step:
            raise ValueError("a journal entry needs a step")
        with self.transaction():
            first = self._select(
                "SELECT payload FROM answer_outbox WHERE mailbox = ? AND uid = ? "
                "ORDER BY id LIMIT 1", (mailbox, uid))
            if first and payload is not None and json.loads(first[0]["payload"] or "null") \
                    != payload:
                raise JournalConflict(f"{mailbox}/{uid} has an unfinished answer; finish or "
                                      "clear it before journaling another")
            try:
                cursor = self._execute(
                    "INSERT INTO answer_outbox (mailbox, uid, step, target_url, marker, state, "
                    "payload, created_at) VALUES (?, ?, ?, ?, ?, 'started', ?, ?)",
                    (mailbox, uid, step, target_url, marker,
                     json.dumps(payload) if payload is not None else None, self._now_ts(now)))
            except sqlite3.IntegrityError as error:
                raise StateError(f"cannot journal answer/{step} for {mailbox}/{uid}: the pull "
                                 "has not recorded this event") from error
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def answer_done(self, entry_id: int, marker: str | None = None, *,
                    now: datetime | None = None) -> AnswerEntry:
        """The step happened: mark its entry done (and store the marker read back)."""
        with self.transaction():
            cursor = self._execute(
                "UPDATE answer_outbox SET state = 'done', marker = COALESCE(?, marker), "
                "completed_at = COALESCE(completed_at, ?) WHERE id = ?",
                (marker, self._now_ts(now), entry_id))
            if cursor.rowcount == 0:
                raise UnknownJournalEntry(f"no answer_outbox entry {entry_id}")
            (row,) = self._select("SELECT * FROM answer_outbox WHERE id = ?", (entry_id,))
        return _entry(row)

    def answer_journal(self, mailbox: str, uid: str) -> list[AnswerEntry]:
        """The unfinished answer of this event, its steps in journal order (empty: none)."""
        return [_entry(r) for r in self._select(
            "SELECT * FROM answer_outbox WHERE mailbox = ? AND uid = ? ORDER BY id",
            (mailbox, uid))]

    def open_answers(self, mailbox: str | None = None) -> list[tuple[str, str]]:
        """(mailbox, uid) of every event with an unfinished answer (to resume after a crash)."""
        return [(r["mailbox"], r["uid"]) for r in self._select(
            "SELECT DISTINCT mailbox, uid FROM answer_outbox WHERE ? IS NULL OR mailbox = ? "
            "ORDER BY 1, 2", (mailbox, mailbox))]

    def clear_answer(self, mailbox: str, uid: str) -> int:
        """The answer is finished (or abandoned): forget its steps. Returns how many."""
        return self._execute("DELETE FROM answer_outbox WHERE mailbox = ? AND uid = ?",
                             (mailbox, uid)).rowcount

    def answered(self, mailbox: str, uid: str, *, sequence: int, partstat: str,
                 now: datetime | None = None) -> bool:
        """An accept or tentative went out: Exchange now holds `partstat` for the version
        `sequence` of the meeting. One transaction records it and clears the journal. A row
        the pull moved to another version meanwhile keeps its own answer (the user must
        answer the new version); returns whether the row took this one."""
        with self.transaction():
            cursor = self._execute(
                "UPDATE pulled SET partstat = ?, updated_at = ? "
                "WHERE mailbox = ? AND uid = ? AND sequence = ?",
                (partstat.upper(), self._now_ts(now), mailbox, uid, int(sequence)))
            self._execute("DELETE FROM answer_outbox WHERE mailbox = ? AND uid = ?",
                          (mailbox, uid))
        return cursor.rowcount > 0


def _entry(r: Mapping[str, Any]) -> AnswerEntry:
    return AnswerEntry(
        id=r["id"], mailbox=r["mailbox"], uid=r["uid"], step=r["step"],
        target_url=r["target_url"], marker=r["marker"], state=r["state"],
        payload=json.loads(r["payload"]) if r["payload"] is not None else None,
        created_at=parse_ts_required(r["created_at"]), completed_at=parse_ts(r["completed_at"]))
