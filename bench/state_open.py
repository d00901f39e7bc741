"""Section 5: what opening the state costs now that `State.open` runs ``PRAGMA quick_check``.

A state file with N synced items (each with its Meeting snapshot, as after a real sync; 10,000
by default) is opened five times; reported: the file size, the median wall time of
`State.open` (connect, pragmas, quick_check, migration check) and of `check_integrity()` alone
on an open state (the check reads every page once). `calbridge run` opens the state once at
start; `calbridge status`/`sync`/`retry` once per command.
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.common import section, table, temp_dir
from bridge.meeting import Attendee, Meeting
from bridge.state import State

__all__ = ["run"]

_REPEATS = 5


def _meeting(n: int) -> Meeting:
    start = datetime(2026, 1, 5, 9, tzinfo=UTC) + timedelta(hours=n)
    return Meeting(
        uid=f"bench-{n:06d}",
        start=start,
        end=start + timedelta(hours=1),
        summary=f"Meeting {n}",
        organizer="alice@example.com",
        attendees=(Attendee("bob@example.com"), Attendee("carol@example.com")),
    )


def run(items: int, command: str) -> None:
    section(f"5. opening the state: quick_check over {items:,} synced items", command)
    with temp_dir("calbridge-bench-open-") as folder:
        path = folder / "bridge.sqlite"
        with State.open(path) as state, state.transaction():
            for n in range(items):
                state.mark_synced("alice", f"bench-{n:06d}", meeting=_meeting(n),
                                  kind="meeting", sequence=0)
        opens, checks = [], []
        for _ in range(_REPEATS):
            started = time.perf_counter()
            state = State.open(path)
            opens.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            state.check_integrity()
            checks.append((time.perf_counter() - started) * 1000)
            state.close()
        size = path.stat().st_size / 2**20
    print(table(
        ["items", "file MiB", "State.open ms (median)", "check_integrity ms (median)"],
        [[items, size, statistics.median(opens), statistics.median(checks)]],
    ))
