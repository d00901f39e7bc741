"""`calbridge import` writes through `bulk_upload()`: no temporary folder and no fsync per file,
one `os.sync()` at the end. What a client and the engine see must not change: every event is
readable over CalDAV, a sync-collection REPORT lists them, nothing temporary is left behind,
each event has its `changes` row, and the next pass sends each invitation once."""

from __future__ import annotations

import sqlite3

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge


def test_a_bulk_import_is_what_uploads_one_by_one_would_leave(bridge: Bridge) -> None:
    bridge.sync()
    engine = bridge.service.engine
    assert engine is not None
    events = [(f"imp-{n}", ics.meeting(f"imp-{n}", summary=f"Imported {n}")) for n in range(12)]
    outcomes = engine.calendars.import_events("alice", "calendar", events)
    assert [o.outcome for o in outcomes] == ["imported"] * 12

    folder = bridge.config.state_dir / "collections" / "collection-root" / "alice" / "calendar"
    assert [p.name for p in folder.iterdir() if ".Radicale.tmp" in p.name] == []
    calendar = bridge.calendar("alice")
    assert sorted(e.icalendar_component["UID"] for e in calendar.events()) == sorted(
        uid for uid, _ in events
    )
    changed = calendar.objects_by_sync_token(load_objects=False)
    assert len(list(changed)) == 12  # sync-collection: every imported item is there
    with sqlite3.connect(bridge.config.state_dir / "bridge.sqlite") as db:
        uploads = db.execute("SELECT uid FROM changes WHERE op = 'upload'").fetchall()
    assert sorted(u for (u,) in uploads) == sorted(uid for uid, _ in events)

    assert [o.outcome for o in engine.calendars.import_events("alice", "calendar", events)] == [
        "unchanged"
    ] * 12
    bridge.sync(full=False)
    sent = [i.get(UID) for i in bridge.exchange.inbox("bob", REQUEST)]
    assert sorted(sent) == sorted(uid for uid, _ in events)
