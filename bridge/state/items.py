"""The ``items`` table: one row per mailbox and UID, the Radicale side beside the Exchange side.

Rule kept here: an item row is only ever merged (``INSERT … ON CONFLICT DO UPDATE``), never
deleted and re-inserted, so its outbox entries (foreign key, ``ON DELETE CASCADE``) survive every
update. Error texts and skip reasons pass through `scrub()` before they are stored, even though
callers are expected to have removed secrets already; the retry time comes from `bridge.backoff`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bridge.backoff import backoff_delay
from bridge.meeting import Meeting
from bridge.meeting_codec import decode_meeting, encode_meeting
from bridge.redact import scrub
from bridge.state.base import StateBase, format_ts, parse_ts
from bridge.state.errors import StateError
from bridge.state.rows import ITEM_KINDS, ItemKind, ItemRow

__all__ = ["StatePartItems"]

_ITEM_COLUMNS = (
    "collection",
    "href",
    "radicale_etag",
    "content_hash",
    "exchange_url",
    "exchange_etag",
    "exchange_uid",
    "exchange_hash",
    "sent_sequence",
    "sent_hash",
    "snapshot",
    "kind",
    "status",
    "attempts",
    "next_attempt_at",
    "last_error",
    "skip_reason",
)


class StatePartItems(StateBase):
    """Read and write item rows; record each outcome the engine reports."""

    def get_item(self, mailbox: str, uid: str) -> ItemRow | None:
        found = self._select("SELECT * FROM items WHERE mailbox = ? AND uid = ?", (mailbox, uid))
        return _item(found[0]) if found else None

    def items(self, mailbox: str) -> list[ItemRow]:
        """All rows of one mailbox, by UID (the planner's input beside the calendar)."""
        rows = self._select("SELECT * FROM items WHERE mailbox = ? ORDER BY uid", (mailbox,))
        return [_item(r) for r in rows]

    def upsert_item(self, row: ItemRow, *, now: datetime | None = None) -> ItemRow:
        """Write every field of `row` (insert or update); ``created_at`` of a stored row stays.

        An update keeps the row's outbox entries (it is an ``ON CONFLICT DO UPDATE``, never a
        delete and re-insert).
        """
        values = {name: getattr(row, name) for name in _ITEM_COLUMNS}
        values["snapshot"] = encode_meeting(row.snapshot) if row.snapshot is not None else None
        values["next_attempt_at"] = (
            format_ts(row.next_attempt_at) if row.next_attempt_at is not None else None
        )
        if values["last_error"] is not None:
            values["last_error"] = scrub(values["last_error"])
        created = format_ts(row.created_at) if row.created_at is not None else None
        with self.transaction():
            self._merge_item(row.mailbox, row.uid, values, now=now, created_at=created)
            stored = self.get_item(row.mailbox, row.uid)
        assert stored is not None
        return stored

    def mark_synced(
        self,
        mailbox: str,
        uid: str,
        *,
        meeting: Meeting,
        kind: ItemKind,
        sequence: int,
        collection: str | None = None,
        href: str | None = None,
        radicale_etag: str | None = None,
        exchange_url: str | None = None,
        exchange_etag: str | None = None,
        exchange_uid: str | None = None,
        exchange_hash: str | None = None,
        now: datetime | None = None,
    ) -> ItemRow:
        """Exchange now holds `meeting`: record it as sent and clear failure/skip bookkeeping.

        Optional location fields left as None keep their stored values.
        """
        if kind not in ITEM_KINDS:
            raise ValueError(f"unknown item kind {kind!r}")
        digest = meeting.content_hash()
        values: dict[str, Any] = {
            "collection": collection,
            "href": href,
            "radicale_etag": radicale_etag,
            "exchange_url": exchange_url,
            "exchange_etag": exchange_etag,
            "exchange_uid": exchange_uid,
            "exchange_hash": exchange_hash,
            "content_hash": digest,
            "sent_hash": digest,
            "sent_sequence": sequence,
            "snapshot": encode_meeting(meeting),
            "kind": kind,
            "status": "synced",
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "skip_reason": None,
        }
        keep = {"collection", "href", "radicale_etag", "exchange_url", "exchange_etag",
                "exchange_uid", "exchange_hash"}
        return self._write_item(mailbox, uid, values, keep_if_none=keep, now=now)

    def mark_cancelled(
        self,
        mailbox: str,
        uid: str,
        *,
        sequence: int | None = None,
        now: datetime | None = None,
    ) -> ItemRow:
        """The item is gone from Exchange on purpose (Cancel or Delete done). The row stays, so a
        re-created event gets a higher SEQUENCE and a held/finished cancel is never repeated."""
        values: dict[str, Any] = {
            "status": "cancelled",
            "sent_sequence": sequence,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": None,
            "skip_reason": None,
        }
        return self._write_item(mailbox, uid, values, keep_if_none={"sent_sequence"}, now=now)

    def mark_failed(
        self,
        mailbox: str,
        uid: str,
        error: str,
        now: datetime,
        *,
        jitter: float = 0.0,
        rng: random.Random | None = None,
    ) -> ItemRow:
        """Count a failure and schedule the retry at ``now + backoff_delay(attempts)``.

        See `bridge.backoff`: 30 s after the first failure, doubling up to 1 h; ``jitter`` (e.g.
        0.1) only ever lengthens the wait.
        """
        with self.transaction():
            found = self._select(
                "SELECT attempts FROM items WHERE mailbox = ? AND uid = ?", (mailbox, uid)
            )
            attempts = (int(found[0]["attempts"]) if found else 0) + 1
            delay = backoff_delay(attempts, jitter=jitter, rng=rng)
            values: dict[str, Any] = {
                "status": "failed",
                "attempts": attempts,
                "next_attempt_at": format_ts(now + delay),
                "last_error": scrub(error),
            }
            return self._write_item(mailbox, uid, values, now=now)

    def mark_skipped(
        self,
        mailbox: str,
        uid: str,
        reason: str,
        *,
        error: str | None = None,
        content_hash: str | None = None,
        radicale_etag: str | None = None,
        collection: str | None = None,
        href: str | None = None,
        kind: ItemKind | None = None,
        now: datetime | None = None,
    ) -> ItemRow:
        """Record that the calendar's version is not sent (a `Skip` or `Reject` from the plan).

        Stores ``skip_reason = reason`` and the Radicale side exactly as given (the planner
        compares them to skip the same content only once). The status becomes ``skipped`` only
        for an item never sent; one that Exchange holds keeps its status and snapshot.
        """
        with self.transaction():
            found = self._select(
                "SELECT sent_hash FROM items WHERE mailbox = ? AND uid = ?", (mailbox, uid)
            )
            values: dict[str, Any] = {
                "skip_reason": scrub(reason),
                "content_hash": content_hash,
                "radicale_etag": radicale_etag,
                "collection": collection,
                "href": href,
                "last_error": scrub(error) if error is not None else None,
            }
            keep = {"collection", "href", "last_error"}
            if not found or found[0]["sent_hash"] is None:
                values["status"] = "skipped"
                values["attempts"] = 0
                values["next_attempt_at"] = None
            if kind is not None:
                values["kind"] = kind
            return self._write_item(mailbox, uid, values, keep_if_none=keep, now=now)

    def note_seen(
        self,
        mailbox: str,
        uid: str,
        *,
        collection: str | None,
        href: str | None,
        radicale_etag: str | None,
        content_hash: str | None,
        now: datetime | None = None,
    ) -> bool:
        """Refresh the Radicale side of a stored item whose event reads fine and is expressible
        (e.g. after a DTSTAMP-only edit, for which the plan has no action) and drop a stale
        ``skip_reason``. Does nothing for an unknown item; returns whether a row was updated."""
        cursor = self._execute(
            "UPDATE items SET collection = ?, href = ?, radicale_etag = ?, content_hash = ?, "
            "skip_reason = NULL, updated_at = ? WHERE mailbox = ? AND uid = ?",
            (collection, href, radicale_etag, content_hash, self._now_ts(now), mailbox, uid),
        )
        return cursor.rowcount > 0

    def note_exchange_seen(
        self,
        mailbox: str,
        uid: str,
        *,
        exchange_etag: str,
        exchange_hash: str,
        now: datetime | None = None,
    ) -> bool:
        """The pull read the Exchange side of an item (`bridge.pull.own_edits`): its etag and
        the hash of what it holds. Nothing else of the row changes; False for an unknown item."""
        cursor = self._execute(
            "UPDATE items SET exchange_etag = ?, exchange_hash = ?, updated_at = ? "
            "WHERE mailbox = ? AND uid = ?",
            (exchange_etag, exchange_hash, self._now_ts(now), mailbox, uid),
        )
        return cursor.rowcount > 0

    def reset_retry(self, mailbox: str, uid: str | None = None) -> int:
        """`calbridge retry`: make failed items due now, with a fresh backoff. Returns the count."""
        sql = (
            "UPDATE items SET attempts = 0, next_attempt_at = NULL "
            "WHERE status = 'failed' AND mailbox = ?"
        )
        params: tuple[str, ...] = (mailbox,)
        if uid is not None:
            sql += " AND uid = ?"
            params = (mailbox, uid)
        return self._execute(sql, params).rowcount

    def _write_item(
        self,
        mailbox: str,
        uid: str,
        values: dict[str, Any],
        *,
        keep_if_none: Iterable[str] = (),
        now: datetime | None,
    ) -> ItemRow:
        with self.transaction():
            self._merge_item(mailbox, uid, values, keep_if_none=keep_if_none, now=now)
            stored = self.get_item(mailbox, uid)
        assert stored is not None
        return stored

    def _merge_item(
        self,
        mailbox: str,
        uid: str,
        values: Mapping[str, Any],
        *,
        keep_if_none: Iterable[str] = (),
        now: datetime | None,
        created_at: str | None = None,
    ) -> None:
        """INSERT the row, or UPDATE just the columns in `values` (one statement, no REPLACE).

        Columns named in `keep_if_none` keep the stored value when the new one is None.
        """
        unknown = set(values) - set(_ITEM_COLUMNS)
        if unknown:
            raise ValueError(f"not an item column: {sorted(unknown)}")
        keep = set(keep_if_none)
        stamp = self._now_ts(now)
        columns = ["mailbox", "uid", *values, "created_at", "updated_at"]
        params = [mailbox, uid, *values.values(), created_at or stamp, stamp]
        updates = [
            f"{c} = COALESCE(excluded.{c}, items.{c})" if c in keep else f"{c} = excluded.{c}"
            for c in values
        ]
        updates.append("updated_at = excluded.updated_at")
        # Column names come from _ITEM_COLUMNS (checked above), values are bound parameters.
        sql = (
            f"INSERT INTO items ({', '.join(columns)}) "  # noqa: S608
            f"VALUES ({', '.join('?' for _ in columns)}) "
            f"ON CONFLICT (mailbox, uid) DO UPDATE SET {', '.join(updates)}"
        )
        self._execute(sql, params)


def _item(r: Mapping[str, Any]) -> ItemRow:
    snapshot = None
    if r.get("snapshot"):
        try:
            snapshot = decode_meeting(r["snapshot"])
        except (ValueError, KeyError, TypeError) as error:
            raise StateError(
                f"the stored snapshot of {r['mailbox']}/{r['uid']} cannot be read: {error}"
            ) from error
    return ItemRow(
        mailbox=r["mailbox"],
        uid=r["uid"],
        collection=r["collection"],
        href=r["href"],
        radicale_etag=r["radicale_etag"],
        content_hash=r["content_hash"],
        exchange_url=r["exchange_url"],
        exchange_etag=r["exchange_etag"],
        exchange_uid=r["exchange_uid"],
        exchange_hash=r["exchange_hash"],
        sent_sequence=r["sent_sequence"],
        sent_hash=r["sent_hash"],
        snapshot=snapshot,
        kind=r["kind"],
        status=r["status"],
        attempts=r["attempts"],
        next_attempt_at=parse_ts(r["next_attempt_at"]),
        last_error=r["last_error"],
        skip_reason=r["skip_reason"],
        created_at=parse_ts(r["created_at"]),
        updated_at=parse_ts(r["updated_at"]),
    )
