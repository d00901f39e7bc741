"""What the last pass saw of each Radicale collection, and the cheap lookups a partial pass needs.

Rule kept here: a collection's stored signature is only ever one that was taken under Radicale's
storage lock together with the change rows that explain it (see `bridge.worklist`), and it is
written only after the pass over that collection succeeded; a pass that failed leaves the old
signature, so the next pass reads the collection again.

Own table, created with ``IF NOT EXISTS`` on the state file (safe beside the numbered migrations
of `bridge.state`, which never touch it)::

    collection_tokens(collection TEXT PRIMARY KEY, user TEXT NOT NULL, signature TEXT NOT NULL,
                      updated_at TEXT NOT NULL)

One more index on ``items``, on the place of an event (mailbox, collection, href), makes "which
row is at this file" a lookup instead of a scan of every row of every mailbox (1,000,000 rows
for 500 users × 2,000 events); the failed rows waiting for a retry use the state's own
``items_retry`` index.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlite_utils import Database

__all__ = ["CollectionTokens"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS collection_tokens (collection TEXT PRIMARY KEY, "
    "user TEXT NOT NULL, signature TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS collection_tokens_user ON collection_tokens (user)",
)
# (items_retry on (status, next_attempt_at) already exists: migration 1 of bridge.state.)
_ITEM_INDEXES = ("CREATE INDEX IF NOT EXISTS items_place ON items (mailbox, collection, href)",)


class CollectionTokens:
    """The ``collection_tokens`` table and a few indexed reads of ``items``, over one file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._open: Database | None = None
        with self._lock:
            db = self._connect()
            for statement in _SCHEMA:
                db.execute(statement)
            if db["items"].exists():
                for statement in _ITEM_INDEXES:
                    db.execute(statement)

    @property
    def _db(self) -> Database:
        return self._connect()

    def _connect(self) -> Database:
        """The connection, opened again after `close` (a pass may outlive a stopping service)."""
        if self._open is None:
            connection = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA busy_timeout = 30000")
            self._open = Database(connection)
        return self._open

    def close(self) -> None:
        with self._lock:
            if self._open is not None:
                self._open.conn.close()
                self._open = None

    # -- signatures ---------------------------------------------------------------------------

    def stored(self) -> dict[str, dict[str, str]]:
        """user -> {collection: signature} as the last successful passes left them."""
        with self._lock:
            rows = self._db.execute(
                "SELECT user, collection, signature FROM collection_tokens"
            ).fetchall()
        found: dict[str, dict[str, str]] = {}
        for user, collection, signature in rows:
            found.setdefault(user, {})[collection] = signature
        return found

    def replace(self, user: str, signatures: Mapping[str, str]) -> None:
        """After a successful pass over `user`: these are its collections now (others are gone)."""
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        with self._lock:
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM collection_tokens WHERE user = ?", (user,))
                conn.executemany(
                    "INSERT INTO collection_tokens (collection, user, signature, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    [(c, user, s, now) for c, s in signatures.items()],
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def ack(self, ids: Iterable[int]) -> int:
        """Delete exactly these ``changes`` rows (rows written since they were read stay)."""
        chosen = [(i,) for i in sorted(set(ids))]
        with self._lock:
            conn = self._db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.executemany("DELETE FROM changes WHERE id = ?", chosen)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return cursor.rowcount

    # -- indexed reads of items ---------------------------------------------------------------

    def uids_at(self, mailbox: str, places: Iterable[tuple[str, str]]) -> set[str]:
        """UIDs of the rows recorded at these (collection, href) places."""
        found: set[str] = set()
        with self._lock:
            for collection, href in places:
                for (uid,) in self._db.execute(
                    "SELECT uid FROM items WHERE mailbox = ? AND collection = ? AND href = ?",
                    (mailbox, collection, href),
                ).fetchall():
                    found.add(uid)
        return found

    def places_of(self, mailbox: str, uids: Iterable[str]) -> dict[str, tuple[str, str] | None]:
        """Where each UID's row says its event is (None: unknown, e.g. a create that failed)."""
        found: dict[str, tuple[str, str] | None] = {}
        with self._lock:
            for uid in uids:
                row = self._db.execute(
                    "SELECT collection, href FROM items WHERE mailbox = ? AND uid = ?",
                    (mailbox, uid),
                ).fetchone()
                if row is not None:
                    found[uid] = (row[0], row[1]) if row[0] and row[1] else None
        return found

    def due_retries(self, now: datetime) -> dict[str, set[str]]:
        """mailbox -> UIDs of failed rows whose retry time has come."""
        stamp = now.astimezone(UTC).isoformat(timespec="microseconds")
        with self._lock:
            rows = self._db.execute(
                "SELECT mailbox, uid FROM items WHERE status = 'failed' "
                "AND (next_attempt_at IS NULL OR next_attempt_at <= ?)",
                (stamp,),
            ).fetchall()
        found: dict[str, set[str]] = {}
        for mailbox, uid in rows:
            found.setdefault(mailbox, set()).add(uid)
        return found

    def busy_mailboxes(self) -> set[str]:
        """Mailboxes with an unfinished journaled operation (an answer too) or a held mass
        cancellation."""
        with self._lock:
            names = {r[0] for r in self._db.execute("SELECT DISTINCT mailbox FROM outbox")}
            if self._db["holds"].exists():
                names |= {r[0] for r in self._db.execute("SELECT mailbox FROM holds")}
            if self._db["answer_outbox"].exists():  # an answer to a pulled invitation
                names |= {r[0] for r in self._db.execute(
                    "SELECT DISTINCT mailbox FROM answer_outbox")}
        return names
