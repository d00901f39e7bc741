"""Section 3: an idle sync pass over a large calendar (10,000 events by default).

alice gets N events (20% meetings with bob and/or carol, 80% plain appointments), all synced to
the simulator by one `engine.sync()` (timed too); then, with nothing changed, three idle passes
`engine.sync(full=False)` (what the service runs on every interval and wake-up: the work list)
and then three full reconciles `engine.sync()` (every calendar read: what every pass was before
the work list, so it is also the "before" figure): CPU (`time.process_time()`, all threads of
this process: engine, Radicale and simulator), wall time, Exchange requests (simulator log;
expected 0), and memory (RSS before and after, `ru_maxrss`, and the pass's peak Python
allocation under tracemalloc in one more idle pass).

Seeding (`--seed`):
- `bulk` (default): one `Storage.create_collection(path, items, props)` under Radicale's write
  lock — the storage call a whole-calendar PUT (.ics import by a client) makes; the calbridge
  plugin journals it as one `create_collection` row plus one `upload` row per item.
- `import_events`: `CalendarStore.import_events` (one `Collection.upload` per event, inside the
  plugin's `bulk_upload()`: history clean-up once, no temporary folder and no fsync per file,
  one `os.sync()` at the end). Section 3b measures the cost per event as a calendar fills up.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator

import vobject
from radicale import item as radicale_item
from radicale import storage as radicale_storage

from bench.common import (
    peak_rss_mib,
    rss_mib,
    running_service,
    section,
    table,
    temp_dir,
    vevent,
)
from bridge.service import radicale_configuration

ATTENDEE_SETS = (
    ("bob@example.com",),
    ("carol@example.com",),
    ("bob@example.com", "carol@example.com"),
)
IDLE_PASSES = 3
IMPORT_CHUNK = 500
IMPORT_CHUNKS = 3


def _events(count: int, prefix: str = "bench-idle") -> Iterator[tuple[str, str]]:
    for index in range(count):
        uid = f"{prefix}-{index}"
        if index % 5 == 0:  # 20% meetings
            attendees = ATTENDEE_SETS[(index // 5) % len(ATTENDEE_SETS)]
            yield uid, vevent(uid, index, attendees=attendees, summary=f"Bench meeting {index}")
        else:
            yield uid, vevent(uid, index)


def _seed_bulk(service: object, user: str, calendar: str, count: int) -> None:
    storage = radicale_storage.load(
        radicale_configuration(service.config, with_server=False)  # type: ignore[attr-defined]
    )
    path = f"{user}/{calendar}"

    def items() -> Iterator[radicale_item.Item]:
        for _uid, text in _events(count):
            item = radicale_item.Item(collection_path=path, vobject_item=vobject.readOne(text))
            item.prepare()
            yield item

    with storage.acquire_lock("w", user):
        storage.create_collection(
            f"/{path}/", items=items(), props={"tag": "VCALENDAR", "D:displayname": calendar}
        )


def _timed_sync(
    engine: object, log: object, *, full: bool = True
) -> tuple[float, float, int, int, list[object]]:
    before = len(log)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter(), time.process_time()
    reports = engine.sync(full=full)  # type: ignore[attr-defined]
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    entries = log.entries()[before:]  # type: ignore[attr-defined]
    failed = sum(r.failed for r in reports)
    return wall, cpu, len(entries), failed, entries


def run(events: int, seed: str, command: str) -> dict[str, float]:
    section(f"3. Idle sync pass over {events:,} stored events", command)
    results: dict[str, float] = {}
    with temp_dir("idle") as tmp, running_service(tmp / "state", autosync=False) as service:
        engine = service.engine
        assert engine is not None
        log = service.simulator.app.log
        started = time.perf_counter()
        if seed == "bulk":
            _seed_bulk(service, "alice", "calendar", events)
        else:
            engine.calendars.import_events("alice", "calendar", _events(events))
        seed_s = time.perf_counter() - started
        stored = len(engine.calendars.events("alice"))
        meetings = sum(1 for i in range(events) if i % 5 == 0)
        print(
            f"  stored {stored:,} events for alice ({meetings:,} meetings, "
            f"{events - meetings:,} plain) via {seed}: {seed_s:.1f} s"
        )
        rows: list[list[object]] = []
        wall, cpu, count, failed, _ = _timed_sync(engine, log)
        rows.append(["initial sync (everything new)", wall, cpu, count, failed])
        print(
            f"  initial sync: {wall:.1f} s wall, {cpu:.1f} s CPU, {count:,} requests "
            f"({wall / max(1, events) * 1000:.1f} ms/event), {failed} failed"
        )
        rss_before = rss_mib()
        idle: list[tuple[float, float, int]] = []
        for number in range(1, IDLE_PASSES + 1):
            wall, cpu, count, failed, entries = _timed_sync(engine, log, full=False)
            idle.append((wall, cpu, count))
            rows.append([f"idle pass #{number} (work list)", wall, cpu, count, failed])
            for entry in entries[:5]:
                print(f"  ! idle pass request: {entry.method} {entry.path} -> {entry.status}")
        rss_after = rss_mib()
        full: list[tuple[float, float, int]] = []
        for number in range(1, IDLE_PASSES + 1):
            wall, cpu, count, failed, entries = _timed_sync(engine, log, full=True)
            full.append((wall, cpu, count))
            rows.append([f"full reconcile #{number}", wall, cpu, count, failed])
            for entry in entries[:5]:
                print(f"  ! reconcile request: {entry.method} {entry.path} -> {entry.status}")
        tracemalloc.start()
        engine.sync(full=False)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print()
        print(table(["pass", "wall s", "CPU s", "requests", "failed"], rows, digits=4))
        best = min(idle, key=lambda r: r[1])
        best_full = min(full, key=lambda r: r[1])
        print()
        print(
            f"  idle pass (work list): best {best[1] * 1000:.2f} ms CPU / {best[0] * 1000:.2f} ms"
            f" wall over {stored:,} events; requests {[c for _, _, c in idle]} (expected 0);"
            f" target <= 10 ms CPU"
        )
        print(
            f"  before → after: an idle pass was a full read ({best_full[1] * 1000:.0f} ms CPU "
            f"in this run, 1.2 s in the brief); now {best[1] * 1000:.2f} ms CPU "
            f"({best_full[1] / max(best[1], 1e-6):,.0f}× less)"
        )
        print(
            f"  full reconcile over {stored:,} events: best {best_full[1] * 1000:.0f} ms CPU / "
            f"{best_full[0] * 1000:.0f} ms wall ({best_full[1] / max(1, stored) * 1e6:.0f} µs "
            f"CPU per event); requests {[c for _, _, c in full]} (expected 0)"
        )
        print(
            f"  memory: RSS {rss_before:.0f} → {rss_after:.0f} MiB around the idle passes, "
            f"process peak RSS (ru_maxrss) {peak_rss_mib():.0f} MiB, peak Python allocation "
            f"during one idle pass (tracemalloc) {traced_peak / 2**20:.2f} MiB"
        )
        results.update(
            idle_wall=best[0], idle_cpu=best[1], idle_requests=max(c for *_, c in idle),
            reconcile_cpu=best_full[1],
        )
        _import_probe(service, log)
    return results


def _import_probe(service: object, log: object) -> None:
    """3b: `CalendarStore.import_events` cost per event as a calendar fills up by uploads.

    Each `Collection.upload` leaves a history-cache entry and scans all of them
    (`_clean_history`), so the cost per event grows with the number of events uploaded one by
    one before it (the bulk-seeded calendar above has no such entries, so it is not used)."""
    engine = service.engine  # type: ignore[attr-defined]
    print()
    print(
        f"  3b. CalendarStore.import_events into a new calendar, {IMPORT_CHUNKS} chunks of "
        f"{IMPORT_CHUNK} (one upload per event):"
    )
    rows: list[list[object]] = []
    events = list(_events(IMPORT_CHUNK * IMPORT_CHUNKS, prefix="bench-probe"))
    for chunk in range(IMPORT_CHUNKS):
        part = events[chunk * IMPORT_CHUNK : (chunk + 1) * IMPORT_CHUNK]
        started = time.perf_counter()
        outcomes = engine.calendars.import_events("alice", "probe", part)
        elapsed = time.perf_counter() - started
        imported = sum(1 for o in outcomes if o.outcome == "imported")
        rows.append([chunk * IMPORT_CHUNK, imported, elapsed, elapsed / len(part) * 1000])
    print(table(["events before", "imported", "total s", "ms/event"], rows))
    wall, cpu, count, failed, _ = _timed_sync(engine, log)
    print(
        f"  then one sync of those {len(events):,} new events (calendar of "
        f"{len(events):,} + the idle ones): {wall:.2f} s wall, {cpu:.2f} s CPU, "
        f"{count:,} requests, {failed} failed"
    )
