"""The state folder: owner-only, whichever command creates it.

Rule kept here: the state folder holds meeting contents (SQLite, the calendars), the CalDAV
password hashes and the simulator's mailboxes, so it is created 0700 by every command, not only
by `calbridge run`, and a command creates its files with umask 077 (0600 databases, 0700
folders) for as long as it runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OWNER_ONLY_UMASK", "owner_only_files", "prepare"]

OWNER_ONLY_UMASK = 0o077


def prepare(state_dir: Path) -> Path:
    """Create `state_dir` (and missing parents) owner-only; tighten an existing one to 0700."""
    with owner_only_files():
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    state_dir.chmod(0o700)
    return state_dir


@contextmanager
def owner_only_files() -> Iterator[None]:
    """Files and folders created inside the block are readable by their owner only.

    The umask is process-wide: the CLI holds this for a whole command, so the SQLite WAL and
    shared-memory files, Radicale's items and the lock files created later are covered too.
    """
    previous = os.umask(OWNER_ONLY_UMASK)
    try:
        yield
    finally:
        os.umask(previous)
