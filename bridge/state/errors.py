"""What can go wrong with the state database, as classes a caller can catch.

Rule kept here: callers catch a class, never parse a message. Every message says what is wrong
and what the operator can do about it; none holds a secret. Pure: no SQLite import, so the CLI
can name these errors without opening anything.

    StateError                 the database cannot do what was asked
    ├── SchemaTooNew           written by a newer calbridge: refused rather than misread
    ├── StateDamaged           the file is corrupt: sync must pause, the operator must act
    ├── UnknownJournalEntry    `journal_done` for an id that is not in the outbox
    └── JournalConflict        a second operation journaled on an item with an unfinished one
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "JournalConflict",
    "SchemaTooNew",
    "StateDamaged",
    "StateError",
    "UnknownJournalEntry",
]

_PROBLEM_LIMIT = 200  # characters of one SQLite report line kept in the message


class StateError(RuntimeError):
    """The state database cannot do what was asked (the message says why)."""


class SchemaTooNew(StateError):
    """The file was written by a newer calbridge; this one does not know its schema."""

    def __init__(self, path: str, found: int, known: int) -> None:
        super().__init__(
            f"state database {path} has schema version {found}, but this calbridge knows "
            f"versions up to {known}: upgrade calbridge or point it at another state file"
        )
        self.path = path
        self.found = found
        self.known = known


class StateDamaged(StateError):
    """The SQLite file is corrupt: a bad header, a truncated file, or a damaged page.

    Nothing more is read from or written to it through `State` once this is raised. CalDAV does
    not depend on it (the calendars are plain files), so the service keeps serving CalDAV and
    pauses only the sync.

    Attributes:
        path: the damaged file.
        problems: what SQLite reported (``PRAGMA quick_check`` lines, or the error text).
        recovery: the operator's steps, in order, as sentences.
    """

    path: str
    problems: tuple[str, ...]
    recovery: tuple[str, ...]

    def __init__(self, path: str, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = tuple(
            " ".join(line.split())[:_PROBLEM_LIMIT]
            for problem in problems
            for line in problem.splitlines()
            if line.strip() and not line.startswith("*** in database")  # quick_check's heading
        )
        self.recovery = recovery_steps(path)
        first = self.problems[0] if self.problems else "SQLite reports corruption"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(
            f"the state database {path} is damaged: {first}{more}. "
            f"To recover: {' '.join(self.recovery)}"
        )

    def again(self) -> StateDamaged:
        """A fresh copy to raise for a later call (re-raising one instance grows its traceback)."""
        return StateDamaged(self.path, self.problems)


class UnknownJournalEntry(StateError, LookupError):
    """`journal_done` was given an id that is not in the outbox."""


class JournalConflict(StateError):
    """A new operation was journaled while another one on the same item is unfinished."""


def recovery_steps(path: str) -> tuple[str, str, str, str]:
    """What the operator does about a damaged state file at `path`.

    The ``-wal`` and ``-shm`` files must move with it: SQLite would otherwise replay the old
    write-ahead log into the fresh database. A fresh state adopts what Exchange already holds
    (the engine's journal-less path) instead of inviting the attendees again.
    """
    damaged = Path(path)
    aside = shlex.quote(str(damaged.parent / "damaged"))
    return (
        "1. Stop calbridge.",
        "2. Move the damaged file aside together with its -wal and -shm files: "
        f"mkdir -p {aside} && mv {shlex.quote(str(damaged))}* {aside}/",
        "3. Start calbridge again: it creates a fresh state and adopts the meetings already on "
        "Exchange without inviting anyone again.",
        "4. A meeting deleted from a calendar while sync was paused is not known to the fresh "
        "state: cancel it on Exchange (OWA) by hand.",
    )
