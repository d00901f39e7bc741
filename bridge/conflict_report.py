"""The conflicts section of `calbridge status` (issue 10 point 4), text and JSON (pure).

Rule kept here: one line per conflict, newest first, naming the mailbox, the UID, which side
was kept and why, and how to get the losing version back (`calbridge status --conflict ID`
prints it whole, as iCalendar a person can import). The texts come from the state, which
scrubbed the reason; the UID is shown cut to 120 characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.state.pull import ConflictRow

__all__ = ["conflict_entries", "conflict_lines"]

_SIDE = {"caldav": "the CalDAV version", "exchange": "Exchange's version"}
_OTHER = {"caldav": "Exchange's", "exchange": "the CalDAV"}


def conflict_lines(conflicts: Sequence[ConflictRow]) -> list[str]:
    return [
        f"{c.mailbox} conflict #{c.id} {c.uid[:120]}: {_SIDE.get(c.kept, c.kept)} kept "
        f"({c.reason}); {_OTHER.get(c.kept, 'the other')} version: calbridge status "
        f"--conflict {c.id}  [{c.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC]"
        for c in conflicts
    ]


def conflict_entries(conflicts: Sequence[ConflictRow]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "mailbox": c.mailbox, "uid": c.uid, "kept": c.kept, "reason": c.reason,
         "at": c.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")}
        for c in conflicts
    ]
