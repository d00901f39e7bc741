"""The ``changes`` table: writes the Radicale plugin saw, a queue of hints for the engine.

Rules kept here: the plugin appends with its own connection (`radicale_plugin.recorder`, the
same table text with ``IF NOT EXISTS``); the bridge reads the queue and deletes what it has
acknowledged. A row is a hint, never the truth: the reconcile pass diffs every calendar against
the items table, so a lost row costs latency, not data. The bridge's own writes carry the
``bridge-`` prefix and are not user changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bridge.state.base import StateBase, parse_ts_required
from bridge.state.rows import BRIDGE_OP_PREFIX, CHANGE_OPS, ChangeRow

__all__ = ["StatePartChanges"]


class StatePartChanges(StateBase):
    """Append, list and acknowledge plugin changes."""

    def record_change(
        self,
        user: str | None,
        collection: str,
        op: str,
        *,
        href: str | None = None,
        uid: str | None = None,
        now: datetime | None = None,
    ) -> int:
        """Append one change: a single INSERT in its own transaction, no reads, no checks of the
        schema. `op` is a `ChangeOp`, optionally prefixed with ``bridge-`` (the bridge's own
        write, §4b). Returns the change id."""
        if op.removeprefix(BRIDGE_OP_PREFIX) not in CHANGE_OPS:
            raise ValueError(f"unknown change op {op!r}")
        cursor = self._execute(
            "INSERT INTO changes (ts, user, collection, href, uid, op) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self._now_ts(now), user, collection, href, uid, op),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending_changes(
        self, since_id: int = 0, *, user: str | None = None, include_bridge: bool = False
    ) -> list[ChangeRow]:
        """Unacknowledged changes with ``id > since_id``, oldest first; the bridge's own writes
        only with `include_bridge`."""
        sql = "SELECT * FROM changes WHERE id > ?"
        params: list[Any] = [since_id]
        if user is not None:
            sql += " AND user = ?"
            params.append(user)
        if not include_bridge:
            sql += " AND op NOT LIKE 'bridge-%'"
        return [_change(r) for r in self._select(sql + " ORDER BY id", params)]

    def ack_changes(self, upto_id: int, *, user: str | None = None) -> int:
        """Delete changes with ``id <= upto_id`` (of one user, or all): the journal is a queue of
        hints, not a history. Changes recorded after the caller read `upto_id` stay."""
        sql = "DELETE FROM changes WHERE id <= ?"
        params: tuple[Any, ...] = (upto_id,)
        if user is not None:
            sql += " AND user = ?"
            params = (upto_id, user)
        return self._execute(sql, params).rowcount


def _change(r: Mapping[str, Any]) -> ChangeRow:
    return ChangeRow(
        id=r["id"],
        ts=parse_ts_required(r["ts"]),
        user=r["user"],
        collection=r["collection"],
        href=r["href"],
        uid=r["uid"],
        op=r["op"],
    )
