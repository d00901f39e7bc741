"""The change journal the Radicale plugin appends to: one transaction per storage write.

Rule kept: recording a change is *one* SQLite transaction holding *one* INSERT statement
(executed once per row), and nothing else. No reads, no network, no imports beyond the stdlib
(``sqlite3``, ``threading``, ``datetime``), because it runs while Radicale holds its global
write lock. The journal is a hint for the sync engine, never the truth: the periodic reconcile
pass diffs every calendar against the state table, so a row lost here costs latency, not data.

Table (adopted verbatim by ``bridge/state/migrations.py``; both sides create it with
``IF NOT EXISTS``)::

    changes(id INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, user TEXT,
            collection TEXT NOT NULL, href TEXT, uid TEXT, op TEXT NOT NULL)

- ``ts``: ISO-8601 UTC with microseconds (``2025-01-31T12:00:00.123456+00:00``); all rows of one
  storage write share it.
- ``user``: the collection's owner, i.e. the first segment of its path.
- ``collection``: the collection path without slashes (``alice/calendar``).
- ``href``: the item's file name in the collection; NULL for a collection-level row.
- ``uid``: the iCalendar UID when known, else NULL.
- ``op``: one of ``OPS``; prefixed with ``BRIDGE_OP_PREFIX`` (``bridge-upload``) when the bridge
  itself made the write (see ``radicale_plugin.bridge_write``), so consumers select user changes
  with ``op NOT LIKE 'bridge-%'``.

Connection: one per recorder, shared by Radicale's request threads behind a lock (writes are
serialised by Radicale's storage write lock anyway; a connection per thread cost a ``connect``,
three PRAGMAs and the schema statement on every new client connection, ~0.4 ms CPU, against
~0.03 ms for the INSERT itself). Opened lazily, WAL mode, ``busy_timeout = 5000`` ms,
``synchronous = NORMAL`` (durable against process crashes; a power loss may drop the last rows,
which the reconcile pass tolerates by design). A connection that raised is discarded so the next
write reconnects.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import NamedTuple

__all__ = [
    "BRIDGE_OP_PREFIX",
    "BUSY_TIMEOUT_MS",
    "OPS",
    "OP_CREATE_COLLECTION",
    "OP_DELETE",
    "OP_DELETE_COLLECTION",
    "OP_UPLOAD",
    "SCHEMA",
    "Change",
    "ChangeRecorder",
    "is_damaged_file",
]

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "ts TEXT NOT NULL, user TEXT, collection TEXT NOT NULL, href TEXT, uid TEXT, "
    "op TEXT NOT NULL)"
)

OP_UPLOAD = "upload"
"""An item was created or replaced (PUT of one item, the target of a MOVE, an imported item)."""
OP_DELETE = "delete"
"""An item was removed (DELETE of one item, the source of a MOVE)."""
OP_CREATE_COLLECTION = "create_collection"
"""A collection was created or replaced as a whole (MKCALENDAR, MKCOL, whole-calendar PUT)."""
OP_DELETE_COLLECTION = "delete_collection"
"""A whole collection was removed (DELETE of a calendar)."""
OPS = (OP_UPLOAD, OP_DELETE, OP_CREATE_COLLECTION, OP_DELETE_COLLECTION)

BRIDGE_OP_PREFIX = "bridge-"
"""Prefix of ``op`` for writes the bridge made itself; they are never user changes."""

BUSY_TIMEOUT_MS = 5000

# SQLite's primary result codes for a corrupt file and for a file that is no database at all.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

_INSERT = "INSERT INTO changes (ts, user, collection, href, uid, op) VALUES (?, ?, ?, ?, ?, ?)"


class Change(NamedTuple):
    """One row of ``changes`` without its ``id`` and ``ts``."""

    user: str | None
    collection: str
    href: str | None
    uid: str | None
    op: str


def is_damaged_file(error: BaseException) -> bool:
    """Whether `error` is SQLite saying the file itself is corrupt (not busy, not missing)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    return isinstance(error, sqlite3.DatabaseError) and code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def utc_timestamp() -> str:
    """Return the current time as ISO-8601 UTC with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class ChangeRecorder:
    """Append rows to the ``changes`` table of the SQLite file at ``path``.

    Thread-safe: one connection, used under a lock. Errors (``sqlite3.Error``, ``OSError``)
    propagate; the caller decides whether to swallow them (the plugin does).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    @property
    def path(self) -> str:
        """The SQLite file this recorder writes to."""
        return self._path

    def record(self, user: str | None, collection: str, href: str | None, uid: str | None,
               op: str) -> None:
        """Append one change in one transaction."""
        self.record_many([Change(user, collection, href, uid, op)])

    def record_many(self, changes: Iterable[Change]) -> int:
        """Append ``changes`` in one transaction with one INSERT statement; return the count.

        All rows get the same ``ts``. Nothing is written (and no connection opened) when
        ``changes`` is empty.
        """
        ts = utc_timestamp()
        rows = [(ts, *change) for change in changes]
        if not rows:
            return 0
        with self._lock:
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    connection.executemany(_INSERT, rows)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            except BaseException:
                self._discard()
                raise
        return len(rows)

    def close(self) -> None:
        """Close the connection, if open (the next write reconnects)."""
        with self._lock:
            self._discard()

    def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except sqlite3.Error:
                pass

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        connection = sqlite3.connect(
            self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection
