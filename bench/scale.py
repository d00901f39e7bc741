"""Section 4: 500 users × 2,000 events (1,000,000 stored events): the idle pass and one change.

Setup, without HTTP and without parsing per event (so it takes a minute or two, not half an
hour):
- the Radicale store is written straight in multifilesystem's on-disk format: per user
  ``collection-root/<user>/calendar/`` with its ``.Radicale.props`` and one ``<uid>.ics`` file per
  event (the text a CalDAV client PUTs);
- the state rows are bulk-inserted as a synced store holds them: one ``items`` row per event
  (status ``synced``, collection, href, Radicale etag = `radicale.item.get_etag` of the file,
  kind, sent sequence; for meetings a snapshot, i.e. the template meeting's encoding with the
  event's UID; hashes derived from the text: no pass below opens them);
- each calendar's folder signature is stored as a pass over it leaves it (`CollectionTokens`).

Then, with a full calbridge (Radicale + plugin + engine + simulator; sync loop off so each pass
is timed alone): three idle passes `engine.sync(full=False)`; a warm-up change (alice's first
meeting logs in and discovers her mailbox); then the measured change: alice PUTs one meeting
with bob over CalDAV into her 2,000-event calendar and one `engine.sync(full=False)` runs. CPU
is `time.process_time()` of the whole process (engine, Radicale and the simulator serving the
pass's requests); the requests come from the simulator's log, and the figure counts only if the
meeting request is in bob's Inbox afterwards.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from radicale import item as radicale_item

from bench.common import (
    caldav_session,
    make_calendar,
    put_event,
    running_service,
    section,
    table,
    temp_dir,
    vevent,
)
from bench.latency import InboxWatch
from bridge import ical
from bridge.config import Secret, UserConfig
from bridge.meeting_codec import encode_meeting

MEETING_EVERY = 5  # 20% meetings with bob, as in section 3
IDLE_PASSES = 3
INSERT_ITEM = (
    "INSERT INTO items (mailbox, uid, collection, href, radicale_etag, content_hash, "
    "sent_sequence, sent_hash, snapshot, kind, status, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _user_names(count: int) -> list[str]:
    return ["alice", *(f"user{n:04d}" for n in range(1, count))]


def _template_snapshot() -> str:
    parsed = ical.parse_event(
        vevent("TEMPLATE-UID", 0, attendees=("bob@example.com",)), default_tz="UTC"
    )
    assert parsed.meeting is not None
    return encode_meeting(parsed.meeting)


def _write_store(root: Path, users: list[str], events: int) -> Iterator[tuple[object, ...]]:
    """Write every calendar file; yield the `items` row of each event as it is written."""
    props = json.dumps({"D:displayname": "calendar", "tag": "VCALENDAR"})
    snapshot = _template_snapshot()
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    for user in users:
        folder = root / user / "calendar"
        folder.mkdir(parents=True, exist_ok=True)  # the service made the default one
        (folder / ".Radicale.props").write_text(props)
        collection = f"{user}/calendar"
        for index in range(events):
            uid = f"{user}-ev-{index}"
            meeting = index % MEETING_EVERY == 0
            text = vevent(uid, index, attendees=("bob@example.com",) if meeting else ())
            href = f"{uid}.ics"
            descriptor = os.open(folder / href, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(descriptor, text.encode())
            os.close(descriptor)
            etag = radicale_item.get_etag(text)
            digest = etag.strip('"')[:40]
            yield (
                user, uid, collection, href, etag, digest, 0, digest,
                snapshot.replace("TEMPLATE-UID", uid) if meeting else None,
                "meeting" if meeting else "appointment", "synced", now, now,
            )


def _build(service: object, users: list[str], events: int) -> tuple[float, float, float]:
    """The store, the rows and the signatures; returns the seconds each took."""
    config = service.config  # type: ignore[attr-defined]
    engine = service.engine  # type: ignore[attr-defined]
    root = config.state_dir / "collections" / "collection-root"
    started = time.perf_counter()
    with sqlite3.connect(config.state_dir / "bridge.sqlite", isolation_level=None) as db:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("BEGIN")
        db.executemany(INSERT_ITEM, _write_store(root, users, events))
        # A synced store has no pending changes: the default calendars the service made at
        # start were journaled, and a pass would have processed them.
        db.execute("DELETE FROM changes")
        db.execute("COMMIT")
    files_and_rows = time.perf_counter() - started
    started = time.perf_counter()
    with engine.calendars.read_lock():
        signatures = engine.calendars.signatures(users)
    for user in users:
        engine.tokens.replace(user, signatures[user])
    tokens = time.perf_counter() - started
    return files_and_rows, tokens, files_and_rows + tokens


def _timed(engine: object, log: object) -> tuple[float, float, list[object], list[object]]:
    before = len(log)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter(), time.process_time()
    reports = engine.sync(full=False)  # type: ignore[attr-defined]
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    return wall, cpu, log.entries()[before:], reports  # type: ignore[attr-defined]


def run(users: int, events: int, command: str) -> dict[str, float]:
    total = users * events
    section(f"4. {users:,} users × {events:,} events ({total:,} stored): idle pass, one change",
            command)
    names = _user_names(users)
    accounts = tuple(UserConfig(n, n, f"{n}@example.com", Secret("demo")) for n in names)
    results: dict[str, float] = {}
    with temp_dir("scale") as tmp, running_service(
        tmp / "state", autosync=False, users=accounts
    ) as service:
        engine = service.engine
        assert engine is not None
        log = service.simulator.app.log
        files_rows, tokens, setup = _build(service, names, events)
        print(
            f"  setup: {setup:.1f} s ({total:,} files + {total:,} state rows in one pass: "
            f"{files_rows:.1f} s; {users:,} folder signatures stored: {tokens:.2f} s)"
        )
        rows: list[list[object]] = []
        idle = []
        for number in range(1, IDLE_PASSES + 1):
            wall, cpu, entries, reports = _timed(engine, log)
            idle.append(cpu)
            rows.append([f"idle pass #{number}", cpu * 1000, wall * 1000, len(entries),
                         len(reports)])
        http = caldav_session("alice")
        calendar = make_calendar(http, service.caldav_url, "alice", "calendar")
        inbox = InboxWatch(service.simulator.store, "bob")
        put_event(http, calendar, "scale-warmup",
                  vevent("scale-warmup", 1, attendees=("bob@example.com",)))
        wall, cpu, entries, reports = _timed(engine, log)
        warm_ok = inbox.arrived("scale-warmup")
        rows.append(["warm-up change (alice's login + discovery)", cpu * 1000, wall * 1000,
                     len(entries), len(reports)])
        engine.calendars.files_read.clear()
        put_event(http, calendar, "scale-change",
                  vevent("scale-change", 2, attendees=("bob@example.com",)))
        wall, cpu, entries, reports = _timed(engine, log)
        arrived = inbox.arrived("scale-change")
        rows.append(["one change in alice's calendar", cpu * 1000, wall * 1000, len(entries),
                     len(reports)])
        opened = dict(engine.calendars.files_read)
        http.close()
    print(table(["pass", "CPU ms", "wall ms", "requests", "users visited"], rows, digits=2))
    print()
    print(f"  idle pass: best {min(idle) * 1000:.2f} ms CPU over {total:,} events "
          f"(target <= 100 ms)")
    shape = " ".join(f"{e.method}" for e in entries)  # type: ignore[attr-defined]
    print(
        f"  one change: {cpu * 1000:.1f} ms CPU (target <= 50 ms, whole process incl. the "
        f"simulator serving its requests), {len(entries)} Exchange requests ({shape}); "
        f"files opened: {opened}; meeting request in bob's Inbox: "
        f"{'yes' if arrived else 'NO — figure void'} (warm-up: {'yes' if warm_ok else 'NO'})"
    )
    results.update(setup_s=setup, idle_cpu=min(idle), change_cpu=cpu if arrived else -1.0)
    return results
