"""The bridge's memory: one SQLite file (WAL) reached only through `State`.

Rules kept here:

- **This package is the only code that speaks SQL.** Everything else uses `State`'s methods and
  the frozen rows they return (`ItemRow`, `JournalEntry`, `ChangeRow`, `RunRow`, `HoldRow`).
- **One concern per part** (the model is Radicale's ``storage/multifilesystem``): `State`
  (`store.py`) is composed of one mixin per table or concern, all built on `StateBase`
  (`base.py`: the connection, the lock, the transaction and damage rules)::

      rows.py        row types and vocabulary (pure)     errors.py   the error classes (pure)
      items.py       items: the two-sided item rows      journal.py  outbox: the send journal
      changes.py     changes: the plugin's hints         runs.py     runs and holds
      migrations.py  the schema and its versions         report.py   `calbridge status`
      users.py       provisioned users                   pull.py     the pull direction's memory
      answers.py     answer_outbox: the answers' journal

- **Importing is free of I/O.** The row types, vocabulary and errors load eagerly; `State`,
  the migrations and the schema text load on first use (PEP 562 ``__getattr__``), so the pure
  planner can import `bridge.state.rows` without SQLite being imported; a test checks it.
- **No secrets.** There is no column for a password; error texts pass through
  `bridge.redact.scrub` before they are stored.

The back-off policy lives in `bridge.backoff`, the Meeting <-> JSON codec of item snapshots in
`bridge.meeting_codec`; both are re-exported here under their old names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from bridge.backoff import backoff_delay
from bridge.meeting_codec import decode_meeting, encode_meeting
from bridge.redact import scrub
from bridge.state.errors import (
    JournalConflict,
    SchemaTooNew,
    StateDamaged,
    StateError,
    UnknownJournalEntry,
)
from bridge.state.rows import (
    CHANGE_OPS,
    ITEM_KINDS,
    ITEM_STATUSES,
    JOURNAL_OPS,
    ChangeOp,
    ChangeRow,
    HoldRow,
    ItemKind,
    ItemRow,
    ItemStatus,
    JournalEntry,
    JournalOp,
    MailboxStatus,
    RunRow,
)

if TYPE_CHECKING:
    from bridge.state.migrations import CHANGES_SCHEMA, MIGRATIONS, Migration
    from bridge.state.store import State

__all__ = [
    "CHANGES_SCHEMA",
    "CHANGE_OPS",
    "ITEM_KINDS",
    "ITEM_STATUSES",
    "JOURNAL_OPS",
    "MIGRATIONS",
    "ChangeOp",
    "ChangeRow",
    "HoldRow",
    "ItemKind",
    "ItemRow",
    "ItemStatus",
    "JournalConflict",
    "JournalEntry",
    "JournalOp",
    "MailboxStatus",
    "Migration",
    "RunRow",
    "SchemaTooNew",
    "State",
    "StateDamaged",
    "StateError",
    "UnknownJournalEntry",
    "backoff_delay",
    "decode_meeting",
    "encode_meeting",
    "scrub",
]

# The names that need SQLite, and the module that defines each.
_LAZY = {
    "State": "bridge.state.store",
    "MIGRATIONS": "bridge.state.migrations",
    "Migration": "bridge.state.migrations",
    "CHANGES_SCHEMA": "bridge.state.migrations",
}


def __getattr__(name: str) -> object:
    """Load `State` and the migrations on first use (module ``__getattr__``, PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
