"""Ways a state file gets damaged on a real disk, applied to a real SQLite file for tests.

Each function writes into the file the way a failing disk, a full file system or a careless copy
would: a garbled header, a file cut short, one page of garbage in the middle. A write-ahead log
is checkpointed and removed first, so the damage is in the only copy SQLite reads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["DAMAGES", "fill", "garble_page", "page_of"]

PAGE = 4096  # SQLite's default page size, which calbridge keeps


def _checkpoint(path: Path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def fill(path: Path, rows: int = 2000) -> None:
    """A state file with `rows` failed items of one mailbox: many pages to damage."""
    from bridge.state import State

    with State.open(path) as state:
        when = datetime(2025, 3, 1, tzinfo=UTC)
        with state.transaction():
            for n in range(rows):
                state.mark_failed("alice", f"filler-{n:05d}", "503 Service Unavailable " * 8, when)


def corrupt_header(path: Path) -> None:
    _checkpoint(path)
    with path.open("r+b") as handle:
        handle.write(b"this is no SQLite file")


def truncate(path: Path) -> None:
    _checkpoint(path)
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def garble_page(path: Path, page: int) -> None:
    """Overwrite page number `page` (1-based, as SQLite counts) with garbage."""
    _checkpoint(path)
    with path.open("r+b") as handle:
        handle.seek((page - 1) * PAGE)
        handle.write(bytes((n * 7 + 13) % 256 for n in range(PAGE)))


def corrupt_middle_page(path: Path) -> None:
    garble_page(path, path.stat().st_size // PAGE // 2)


def page_of(path: Path, table: str) -> int:
    """The root page of `table` (its only page while the table is small)."""
    connection = sqlite3.connect(path)
    try:
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
    finally:
        connection.close()
    return int(root)


DAMAGES: dict[str, Callable[[Path], None]] = {
    "corrupt header": corrupt_header,
    "truncated file": truncate,
    "corrupt middle page": corrupt_middle_page,
}
