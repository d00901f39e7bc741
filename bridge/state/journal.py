"""The ``outbox`` table: the send journal of Exchange side effects (design §4).

Rules kept here: an entry is written *before* its request goes out and marked done after, so a
crash between the two leaves a ``started`` entry to resolve on the next pass. All entries of an
item belong to one operation until `clear_journal`; journaling a second operation while one is
unfinished is refused (`JournalConflict`). Every entry needs its item row (foreign key).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.state.base import StateBase, parse_ts, parse_ts_required
from bridge.state.errors import JournalConflict, StateError, UnknownJournalEntry
from bridge.state.rows import JOURNAL_OPS, JournalEntry, JournalOp

__all__ = ["StatePartJournal"]


class StatePartJournal(StateBase):
    """Journal, finish, list and clear the steps of Exchange operations."""

    def journal_start(
        self,
        mailbox: str,
        uid: str,
        op: JournalOp,
        step: str,
        *,
        target_url: str | None = None,
        marker: str | None = None,
        payload: Any = None,
        now: datetime | None = None,
    ) -> int:
        """Journal one Exchange side effect *before* making it; returns the entry id.

        The item row must exist (write it as ``pending`` first: foreign key). All entries of an
        item belong to one operation until `clear_journal`; starting another ``op`` while one is
        unfinished raises `JournalConflict` (finish or abandon the old one first).
        """
        if op not in JOURNAL_OPS:
            raise ValueError(f"unknown journal op {op!r}")
        if not step:
            raise ValueError("a journal entry needs a step")
        with self.transaction():
            ops = {
                r["op"]
                for r in self._select(
                    "SELECT DISTINCT op FROM outbox WHERE mailbox = ? AND uid = ?", (mailbox, uid)
                )
            }
            if ops - {op}:
                raise JournalConflict(
                    f"{mailbox}/{uid} has an unfinished {sorted(ops)[0]} journal; "
                    f"finish or clear it before journaling a {op}"
                )
            try:
                cursor = self._execute(
                    "INSERT INTO outbox (mailbox, uid, op, step, target_url, marker, state, "
                    "payload, created_at) VALUES (?, ?, ?, ?, ?, ?, 'started', ?, ?)",
                    (
                        mailbox,
                        uid,
                        op,
                        step,
                        target_url,
                        marker,
                        json.dumps(payload) if payload is not None else None,
                        self._now_ts(now),
                    ),
                )
            except sqlite3.IntegrityError as error:
                raise StateError(
                    f"cannot journal {op}/{step} for {mailbox}/{uid}: no item row "
                    "(upsert it as pending first)"
                ) from error
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def journal_touch(self, entry_id: int, *, now: datetime | None = None) -> None:
        """A started step is about to make another request (a step that sends several
        messages): its entry's time becomes now, so the settle time before its outcome is read
        back counts from the latest request, not from the first."""
        self._execute("UPDATE outbox SET created_at = ? WHERE id = ? AND state = 'started'",
                      (self._now_ts(now), entry_id))

    def journal_done(
        self, entry_id: int, marker: str | None = None, *, now: datetime | None = None
    ) -> JournalEntry:
        """The side effect happened: mark the entry done (and store the marker read back)."""
        with self.transaction():
            cursor = self._execute(
                "UPDATE outbox SET state = 'done', marker = COALESCE(?, marker), "
                "completed_at = COALESCE(completed_at, ?) WHERE id = ?",
                (marker, self._now_ts(now), entry_id),
            )
            if cursor.rowcount == 0:
                raise UnknownJournalEntry(f"no outbox entry {entry_id}")
            (row,) = self._select("SELECT * FROM outbox WHERE id = ?", (entry_id,))
        return _journal(row)

    def open_journal(self, mailbox: str, uid: str) -> list[JournalEntry]:
        """The unfinished operation on this item, its steps in the order they were journaled
        (done and started ones); empty when there is none."""
        rows = self._select(
            "SELECT * FROM outbox WHERE mailbox = ? AND uid = ? ORDER BY id", (mailbox, uid)
        )
        return [_journal(r) for r in rows]

    def open_journals(self, mailbox: str | None = None) -> list[tuple[str, str]]:
        """(mailbox, uid) of every item with an unfinished operation (to resume after a crash)."""
        sql = "SELECT DISTINCT mailbox, uid FROM outbox"
        params: tuple[str, ...] = ()
        if mailbox is not None:
            sql += " WHERE mailbox = ?"
            params = (mailbox,)
        return [(r["mailbox"], r["uid"]) for r in self._select(sql + " ORDER BY 1, 2", params)]

    def clear_journal(self, mailbox: str, uid: str) -> int:
        """The operation is finished (or abandoned): forget its steps. Returns how many."""
        return self._execute(
            "DELETE FROM outbox WHERE mailbox = ? AND uid = ?", (mailbox, uid)
        ).rowcount


def _journal(r: Mapping[str, Any]) -> JournalEntry:
    return JournalEntry(
        id=r["id"],
        mailbox=r["mailbox"],
        uid=r["uid"],
        op=r["op"],
        step=r["step"],
        target_url=r["target_url"],
        marker=r["marker"],
        state=r["state"],
        payload=json.loads(r["payload"]) if r["payload"] is not None else None,
        created_at=parse_ts_required(r["created_at"]),
        completed_at=parse_ts(r["completed_at"]),
    )
