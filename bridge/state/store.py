"""`State`: the parts composed into one object, and how a state file is opened and closed.

Rules kept here: `State.open` is the only way in. It creates the folder, configures the
connection (WAL so readers run beside the one writer; ``synchronous=FULL`` because the outbox
is written before a message goes out and must survive a power loss, not only a crash; foreign
keys on), checks the file with ``PRAGMA quick_check`` and refuses a damaged one
(`StateDamaged`), then migrates it to the newest schema. ``":memory:"`` gives a private
database per `State` (no WAL), for tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from sqlite_utils import Database

from bridge.state.answers import StatePartAnswers
from bridge.state.base import system_clock
from bridge.state.changes import StatePartChanges
from bridge.state.items import StatePartItems
from bridge.state.journal import StatePartJournal
from bridge.state.migrations import MIGRATIONS, Migration, StatePartSchema
from bridge.state.pull import StatePartPull
from bridge.state.report import StatePartReport
from bridge.state.users import StatePartUsers

__all__ = ["DEFAULT_BUSY_TIMEOUT", "State"]

DEFAULT_BUSY_TIMEOUT = 10.0  # seconds


class State(
    StatePartItems,
    StatePartJournal,
    StatePartChanges,
    StatePartReport,
    StatePartUsers,
    StatePartPull,
    StatePartAnswers,
    StatePartSchema,
):
    """The bridge's SQLite state. Open with `State.open(path)`; close with `close()`."""

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        clock: Callable[[], datetime] | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> State:
        """Open (creating the folder and file if needed), check and migrate to the newest schema.

        Args:
            path: the SQLite file, or ``":memory:"`` for a private in-memory database.
            busy_timeout: seconds a write waits for another connection's write to finish.
            clock: returns the current aware UTC time (tests pass a fake one).
            migrations: the migration list (tests pass a prefix to build older files).

        Raises:
            StateDamaged: the file is corrupt (header, truncation, a damaged page).
            SchemaTooNew: the file has a schema version beyond ``len(migrations)``.
        """
        name = str(path)
        memory = name == ":memory:"
        if not memory:
            Path(name).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            name, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        try:
            state = cls(Database(conn, execute_plugins=False), name, clock or system_clock)
            state._configure(busy_timeout, wal=not memory)
            state.check_integrity()
            state._migrate(migrations)
        except BaseException:
            conn.close()
            raise
        return state

    def _configure(self, busy_timeout: float, *, wal: bool) -> None:
        self._execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._execute("PRAGMA foreign_keys = ON")
        if wal:
            with self._lock, self._guard():
                self._db.enable_wal()
        self._execute("PRAGMA synchronous = FULL")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def journal_mode(self) -> str:
        with self._lock, self._guard():
            return str(self._db.journal_mode)
