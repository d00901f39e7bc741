"""A pass costs what changed (design §1): the plugin's `changes` rows are the work list, unchanged
collections are not read, and the full reconcile (its own schedule) catches what bypassed both.

`sync(full=False)` is the pass the service runs on a wake-up or an interval; `sync()` (full) is
the reconcile. Observables: the messages in the attendees' Inboxes, the rows of `items` and
`changes` in the real SQLite file, and `CalendarStore.files_read` (which files a pass opened).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import caldav

from bridge.engine import Engine
from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge


def _folder(bridge: Bridge, user: str, calendar: str) -> Path:
    return bridge.config.state_dir / "collections" / "collection-root" / user / calendar


def _requests_for(bridge: Bridge, uid: str, alias: str = "bob") -> list[dict[str, object]]:
    return [i for i in bridge.exchange.inbox(alias, REQUEST) if i.get(UID) == uid]


def _pending(bridge: Bridge) -> list[tuple[str, str | None, str]]:
    with sqlite3.connect(bridge.config.state_dir / "bridge.sqlite") as db:
        rows = db.execute("SELECT user, uid, op FROM changes ORDER BY id").fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _item(bridge: Bridge, uid: str) -> tuple[str, str | None] | None:
    with sqlite3.connect(bridge.config.state_dir / "bridge.sqlite") as db:
        row = db.execute(
            "SELECT status, skip_reason FROM items WHERE mailbox = 'alice' AND uid = ?", (uid,)
        ).fetchone()
    return (row[0], row[1]) if row else None


def _calendars_synced(bridge: Bridge) -> tuple[caldav.Calendar, caldav.Calendar]:
    work, team = bridge.calendar("alice", "calendar"), bridge.calendar("alice", "team")
    work.save_event(ics.meeting("work-1"))
    team.save_event(ics.meeting("team-1"))
    bridge.sync()  # the reconcile at start: everything read, signatures stored
    assert _requests_for(bridge, "work-1") and _requests_for(bridge, "team-1")
    assert _pending(bridge) == []
    return work, team


def test_a_change_in_one_calendar_reads_nothing_of_the_other(bridge: Bridge) -> None:
    work, _team = _calendars_synced(bridge)
    # Damage team's file in place (no write through Radicale, no row, folder unchanged): a pass
    # that opened it would record it as unreadable.
    (damaged,) = _folder(bridge, "alice", "team").glob("*.ics")
    damaged.write_text(damaged.read_text()[:60])
    calendars = bridge.service.engine.calendars  # type: ignore[union-attr]
    calendars.files_read.clear()

    work.save_event(ics.meeting("work-2"))
    bridge.sync(full=False)

    assert len(_requests_for(bridge, "work-2")) == 1
    assert calendars.files_read == {"alice/calendar": 1}  # the one new file, nothing else
    assert _item(bridge, "team-1") == ("synced", None)
    assert _pending(bridge) == []

    bridge.sync(full=False)  # idle: nobody is visited, nothing is opened
    assert calendars.files_read == {"alice/calendar": 1}

    bridge.sync()  # the reconcile reads everything and finds the damage
    status, reason = _item(bridge, "team-1") or ("", "")
    assert status == "synced"  # Exchange keeps the version it had
    assert reason is not None and "cannot read" in reason
    assert len(_requests_for(bridge, "team-1")) == 1


def test_a_hand_edit_is_found_by_the_reconcile_not_by_a_pass_and_sent_once(
    bridge: Bridge,
) -> None:
    _calendars_synced(bridge)
    (path,) = _folder(bridge, "alice", "calendar").glob("*.ics")
    # Edited in place by hand (restore, editor): Radicale never saw it, the folder did not move.
    path.write_text(path.read_text().replace("SUMMARY:Planning", "SUMMARY:Planning moved"))

    bridge.sync(full=False)
    assert len(_requests_for(bridge, "work-1")) == 1  # an idle pass does not look

    bridge.sync()
    updates = _requests_for(bridge, "work-1")
    assert len(updates) == 2  # the invitation, then the update
    assert any("moved" in str(i.get("urn:schemas:httpmail:subject")) for i in updates)
    bridge.sync()
    bridge.sync(full=False)
    assert len(_requests_for(bridge, "work-1")) == 2  # exactly once


def test_a_file_added_beside_radicale_moves_the_folder_and_is_found_by_the_next_pass(
    bridge: Bridge,
) -> None:
    _calendars_synced(bridge)
    # Another process writes a new file into the folder (no plugin, so no `changes` row).
    (_folder(bridge, "alice", "team") / "restored.ics").write_text(ics.meeting("restored-1"))
    assert _pending(bridge) == []

    bridge.sync(full=False)
    assert len(_requests_for(bridge, "restored-1")) == 1
    bridge.sync(full=False)
    assert len(_requests_for(bridge, "restored-1")) == 1


def test_a_pass_acknowledges_only_the_rows_of_the_users_it_processed(bridge: Bridge) -> None:
    _calendars_synced(bridge)
    bridge.calendar("bob").save_event(ics.calendar(ics.event("bob-own-1", organizer=None)))
    bridge.calendar("alice").save_event(ics.meeting("work-3"))
    assert {user for user, _uid, _op in _pending(bridge)} == {"alice", "bob"}

    bridge.sync(users=["alice"], full=False)

    assert len(_requests_for(bridge, "work-3")) == 1
    assert {user for user, _uid, _op in _pending(bridge)} == {"bob"}  # bob's wait for bob
    bridge.sync(full=False)
    assert _pending(bridge) == []
    assert [i[UID] for i in bridge.exchange.calendar("bob")] == ["bob-own-1"]


def test_a_change_recorded_during_a_pass_is_left_for_the_next_one(bridge: Bridge) -> None:
    work, _team = _calendars_synced(bridge)
    saved_during_pass = threading.Event()

    def save_another(uid: str, step: str, moment: str) -> None:
        if uid == "work-4" and moment == "before" and not saved_during_pass.is_set():
            saved_during_pass.set()
            work.save_event(ics.meeting("work-5"))  # a client saves while the pass runs

    base = bridge.service.engine
    assert base is not None
    engine = Engine(bridge.config, base.state, base.calendars, step_hook=save_another)
    try:
        work.save_event(ics.meeting("work-4"))
        engine.sync(full=False)
        assert saved_during_pass.is_set()
        assert len(_requests_for(bridge, "work-4")) == 1
        assert _requests_for(bridge, "work-5") == []
        assert _pending(bridge) == [("alice", "work-5", "upload")]  # not acknowledged unseen

        engine.sync(full=False)
        assert len(_requests_for(bridge, "work-5")) == 1
        assert _pending(bridge) == []
    finally:
        engine.close()


def test_a_pass_that_fails_as_a_whole_keeps_its_rows(bridge: Bridge) -> None:
    work, _team = _calendars_synced(bridge)
    (event,) = [e for e in work.events() if "work-1" in e.data]
    event.data = ics.meeting("work-1", summary="Planning moved")
    event.save()
    database = bridge.config.state_dir / "bridge.sqlite"
    with sqlite3.connect(database) as db:  # the row cannot be read: the pass fails as a whole
        (kept,) = db.execute("SELECT snapshot FROM items WHERE uid = 'work-1'").fetchone()
        db.execute("UPDATE items SET snapshot = '{broken' WHERE uid = 'work-1'")

    (report,) = bridge.sync(full=False)

    assert [line.action for line in report.lines] == ["pass"]
    assert _pending(bridge) == [("alice", "work-1", "upload")]
    with sqlite3.connect(database) as db:
        db.execute("UPDATE items SET snapshot = ? WHERE uid = 'work-1'", (kept,))
    bridge.sync(full=False)
    assert len(_requests_for(bridge, "work-1")) == 2
    # The pass pulled before its update (engine.before_push) and wrote the attendees'
    # answers into the event: the bridge's own rows wait for the next pass's work list.
    assert [p for p in _pending(bridge) if not p[2].startswith("bridge-")] == []


def test_a_paused_mailbox_is_visited_by_the_next_pass_and_resumes(bridge: Bridge) -> None:
    """During an outage the mailbox pauses (`bridge.outage`) and its change rows stay; the
    next work-list pass visits it (it starts with the probe) even though nothing new changed,
    so everything goes out on the first pass after Exchange answers again."""
    _calendars_synced(bridge)
    calendar = bridge.calendar("alice")
    try:
        bridge.sim.faults.add(".", status=503, count=None)
        calendar.save_event(ics.meeting("outage-1"))
        (report,) = bridge.sync(full=False)
        assert report.paused is not None
        assert _pending(bridge) == [("alice", "outage-1", "upload")]
        bridge.sync(full=False)  # still down: visited again, still paused, nothing lost
        assert _pending(bridge) == [("alice", "outage-1", "upload")]
    finally:
        bridge.sim.faults.clear()
    bridge.sync(full=False)  # Exchange answers: the probe resumes the mailbox, the rows go
    assert len(_requests_for(bridge, "outage-1")) == 1
    assert _pending(bridge) == []
