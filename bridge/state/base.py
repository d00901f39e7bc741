"""What every part of `State` shares: one connection, one lock, and the only doors to SQL.

Rules kept here:

- **Every statement goes through `_execute`, `_select` or `transaction`.** That is where the
  lock is taken and where damage is recognised; the parts never touch the connection directly.
- **Every write is one ``BEGIN IMMEDIATE`` transaction.** It takes SQLite's write lock before it
  reads, so two writers (threads with their own `State`, or two processes) queue on the busy
  timeout instead of failing with "database is locked" when a read lock cannot be upgraded.
  Nested use is a savepoint.
- **Threads.** A `State` holds one connection and a re-entrant lock; every public method holds
  the lock for its whole transaction, so one `State` may be shared by any number of threads
  (calls are serialised; they are short).
- **Damage is recognised once and then refused.** A `sqlite3.DatabaseError` other than a
  constraint failure runs ``PRAGMA quick_check``; when SQLite reports corruption (or the error
  itself is ``SQLITE_CORRUPT``/``SQLITE_NOTADB``) the call raises `StateDamaged`, and every later
  call raises it again at once without touching the file. Other errors pass through unchanged.
- **Timestamps** are ISO-8601 UTC strings with microseconds (``2025-01-31T12:00:00.123456+00:00``,
  the radicale_plugin's format), fixed width so they compare as text; the API takes and returns
  aware datetimes and refuses naive ones.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Self

from sqlite_utils import Database

from bridge.state.errors import StateDamaged

__all__ = ["StateBase", "format_ts", "parse_ts", "parse_ts_required", "system_clock"]

Params = Sequence[Any] | dict[str, Any]

_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
_DAMAGE_CODES = frozenset({_SQLITE_CORRUPT, _SQLITE_NOTADB})
_MAX_PROBLEMS = 10  # quick_check stops after this many findings: enough to say what is wrong


def system_clock() -> datetime:
    return datetime.now(UTC)


def format_ts(value: datetime) -> str:
    """The stored text of an aware instant; a naive one is refused (`ValueError`)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: calbridge stores aware UTC instants")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_ts_required(text: str) -> datetime:
    value = parse_ts(text)
    assert value is not None
    return value


class StateBase:
    """The shared attributes and SQL primitives of the `State` parts (see `bridge.state`)."""

    _db: Database
    _path: str
    _clock: Callable[[], datetime]
    _lock: threading.RLock
    _savepoints: int
    _damage: StateDamaged | None

    def __init__(self, db: Database, path: str, clock: Callable[[], datetime] = system_clock) -> None:
        """Use `State.open`; this only wraps an already configured connection."""
        self._db = db
        self._path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._savepoints = 0
        self._damage = None

    @property
    def path(self) -> str:
        return self._path

    @property
    def damage(self) -> StateDamaged | None:
        """The damage found so far (None: none seen); once set, every call raises it."""
        return self._damage

    def check_integrity(self) -> None:
        """Run ``PRAGMA quick_check`` (reads every page once; milliseconds for a state file).

        Raises:
            StateDamaged: SQLite reports corruption.
        """
        with self._lock:
            if self._damage is not None:
                raise self._damage.again()
            problems = self._quick_check()
            if problems:
                self._damage = StateDamaged(self._path, problems)
                raise self._damage

    # -- the doors to SQL --------------------------------------------------------------------

    def _execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        with self._lock, self._guard():
            return self._db.execute(sql, params)

    def _select(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        with self._lock, self._guard():
            return list(self._db.query(sql, params))

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """Group calls into one atomic write (``BEGIN IMMEDIATE``); nested use is a savepoint.

        Example: the engine records the outcome and clears the journal together::

            with state.transaction():
                state.mark_synced(...)
                state.clear_journal(mailbox, uid)
        """
        with self._lock, self._guard():
            conn = self._db.conn
            if conn.in_transaction:
                self._savepoints += 1
                name = f"calbridge_{self._savepoints}"
                conn.execute(f"SAVEPOINT {name}")
                try:
                    yield self
                except BaseException:
                    with suppress(sqlite3.DatabaseError):  # the error on its way says more
                        conn.execute(f"ROLLBACK TO {name}")
                        conn.execute(f"RELEASE {name}")
                    raise
                conn.execute(f"RELEASE {name}")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.DatabaseError):  # the error on its way says more
                        conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _now_ts(self, now: datetime | None) -> str:
        return format_ts(now if now is not None else self._clock())

    # -- damage ------------------------------------------------------------------------------

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's report of a corrupt file into `StateDamaged`, once and for good."""
        if self._damage is not None:
            raise self._damage.again()
        try:
            yield
        except sqlite3.IntegrityError:
            raise  # a constraint: the caller's business, never damage
        except sqlite3.DatabaseError as error:
            code = getattr(error, "sqlite_errorcode", 0) & 0xFF
            problems = self._quick_check()
            if not problems and code not in _DAMAGE_CODES:
                raise
            self._damage = StateDamaged(self._path, problems or [str(error)])
            raise self._damage from error

    def _quick_check(self) -> list[str]:
        """SQLite's findings; empty when the file is sound (or the check cannot tell)."""
        try:
            rows = self._db.conn.execute(f"PRAGMA quick_check({_MAX_PROBLEMS})").fetchall()
        except sqlite3.DatabaseError as error:
            code = getattr(error, "sqlite_errorcode", 0) & 0xFF
            return [str(error)] if code in _DAMAGE_CODES else []
        found = [str(row[0]) for row in rows]
        return [] if found == ["ok"] else found
