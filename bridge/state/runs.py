"""The ``runs`` and ``holds`` tables: what each sync pass did, and the cancellations held back.

Rules kept here: a run row is opened when a pass starts and closed with its counts and errors
(scrubbed) when it ends, so an unfinished row means a pass that died. A hold is one row per
mailbox, refreshed while the mass-cancellation guard keeps holding (``created_at`` stays) and
deleted when it is lifted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bridge.redact import scrub
from bridge.state.base import StateBase, parse_ts, parse_ts_required
from bridge.state.rows import HoldRow, RunRow

__all__ = ["StatePartRuns"]


class StatePartRuns(StateBase):
    """Record sync passes and held mass cancellations."""

    def start_run(self, mailbox: str | None, *, now: datetime | None = None) -> int:
        cursor = self._execute(
            "INSERT INTO runs (started_at, mailbox) VALUES (?, ?)",
            (self._now_ts(now), mailbox),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def finish_run(
        self,
        run_id: int,
        *,
        counts: Mapping[str, int],
        errors: Sequence[str] = (),
        now: datetime | None = None,
    ) -> None:
        self._execute(
            "UPDATE runs SET finished_at = ?, counts = ?, errors = ? WHERE id = ?",
            (
                self._now_ts(now),
                json.dumps(dict(counts), sort_keys=True),
                json.dumps([scrub(e) for e in errors]),
                run_id,
            ),
        )

    def last_run(self, mailbox: str | None) -> RunRow | None:
        if mailbox is None:
            found = self._select(
                "SELECT * FROM runs WHERE mailbox IS NULL ORDER BY id DESC LIMIT 1"
            )
        else:
            found = self._select(
                "SELECT * FROM runs WHERE mailbox = ? ORDER BY id DESC LIMIT 1", (mailbox,)
            )
        return _run(found[0]) if found else None

    # -- holds (mass-cancellation guard) -----------------------------------------------------

    def set_hold(
        self, mailbox: str, uids: Iterable[str], reason: str, *, now: datetime | None = None
    ) -> HoldRow:
        """Record (or refresh) the held cancellations of a mailbox; ``created_at`` stays."""
        held = tuple(sorted(set(uids)))
        stamp = self._now_ts(now)
        with self.transaction():
            self._execute(
                "INSERT INTO holds (mailbox, count, reason, uids, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET "
                "count = excluded.count, reason = excluded.reason, uids = excluded.uids, "
                "updated_at = excluded.updated_at",
                (mailbox, len(held), reason, json.dumps(held), stamp, stamp),
            )
            hold = self.get_hold(mailbox)
        assert hold is not None
        return hold

    def get_hold(self, mailbox: str) -> HoldRow | None:
        found = self._select("SELECT * FROM holds WHERE mailbox = ?", (mailbox,))
        return _hold(found[0]) if found else None

    def holds(self) -> list[HoldRow]:
        return [_hold(r) for r in self._select("SELECT * FROM holds ORDER BY mailbox")]

    def clear_hold(self, mailbox: str) -> bool:
        """Confirmation (`--allow-mass-cancel`) or a calendar back to normal lifts the hold."""
        return self._execute("DELETE FROM holds WHERE mailbox = ?", (mailbox,)).rowcount > 0


def _run(r: Mapping[str, Any]) -> RunRow:
    return RunRow(
        id=r["id"],
        mailbox=r["mailbox"],
        started_at=parse_ts_required(r["started_at"]),
        finished_at=parse_ts(r["finished_at"]),
        counts=json.loads(r["counts"]) if r["counts"] else {},
        errors=tuple(json.loads(r["errors"])) if r["errors"] else (),
    )


def _hold(r: Mapping[str, Any]) -> HoldRow:
    return HoldRow(
        mailbox=r["mailbox"],
        count=r["count"],
        reason=r["reason"],
        uids=tuple(json.loads(r["uids"])),
        created_at=parse_ts_required(r["created_at"]),
        updated_at=parse_ts_required(r["updated_at"]),
    )
