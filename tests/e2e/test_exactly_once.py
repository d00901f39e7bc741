"""Exactly once (design §4): a pass that dies at any step boundary, then a normal pass,
leaves every attendee with exactly one copy of each message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bridge.engine import Crash, Engine
from bridge.ical import parse_event
from bridge.operations import OPERATIONS
from bridge.report import Failed
from tests.e2e import ics
from tests.e2e.conftest import CANCELED, REQUEST, Bridge

# Each operation's steps come from its declared table (bridge.operations); a scenario is the
# user's action that makes the engine run the step. A (step, scenario) pair that never reaches
# the step fails its test (the hook must fire), so the map cannot silently go stale.
SCENARIO_OF_STEP = {
    ("create", "adopted"): "adopt",
    ("create", "update_sent"): "adopt",
    ("update", "uninvite_written"): "shrink",
    ("update", "uninvite_sent"): "shrink",
    ("create", "occurrences_sent"): "create_occurrence",
    ("update", "occurrences_sent"): "occurrence",
}
DEFAULT_SCENARIO = {"create": "create", "update": "update", "cancel": "cancel",
                    "delete": "delete"}
CASES = [
    pytest.param(
        op.name, step, SCENARIO_OF_STEP.get((op.name, step), DEFAULT_SCENARIO[op.name]), moment,
        id=f"{op.name}-{step}-{moment}",
    )
    for op in OPERATIONS.values()
    for step in op.current_step_names
    for moment in ("before", "sent", "after")
]
MOVED = {"start": "DTSTART:20261210T160000Z", "end": "DTEND:20261210T170000Z",
         "dtstamp": "20261125T130000Z"}


SERIES_LINES = (ics.BOB, ics.CAROL, "RRULE:FREQ=DAILY;COUNT=3")
SERIES = ics.calendar(ics.event("planning-1", *SERIES_LINES))
DAVE = "ATTENDEE;CN=Dave Example;ROLE=REQ-PARTICIPANT:mailto:dave@example.com"
SERIES_WITH_DAVE = ics.calendar(
    ics.event("planning-1", *SERIES_LINES, dtstamp="20261125T130000Z"),
    ics.event("planning-1", ics.BOB, ics.CAROL, DAVE, "RECURRENCE-ID:20261211T140000Z",
              start="DTSTART:20261211T160000Z", end="DTEND:20261211T170000Z",
              dtstamp="20261125T130000Z"),
)


def crashing_engine(bridge: Bridge, step: str, moment: str) -> Engine:
    def hook(_uid: str, at_step: str, at_moment: str) -> None:
        if (at_step, at_moment) == (step, moment):
            raise Crash(f"{step}/{moment}")

    engine = bridge.service.engine
    assert engine is not None
    return Engine(bridge.config, engine.state, engine.calendars, step_hook=hook)


def prepare(bridge: Bridge, op: str):  # type: ignore[no-untyped-def]
    """Bring the calendar to the state in which the scenario `op` is the next thing to do."""
    calendar = bridge.calendar("alice")
    if op == "create":
        calendar.save_event(ics.meeting())
        return
    if op == "create_occurrence":  # a series with Dave invited to one occurrence only
        calendar.save_event(SERIES_WITH_DAVE)
        return
    if op == "occurrence":  # Dave invited to one occurrence of a series already sent
        event = calendar.save_event(SERIES)
        bridge.sync()
        event.data = SERIES_WITH_DAVE
        event.save()
        return
    if op == "adopt":
        # Exchange already holds the meeting (the bridge's state was lost or restored from a
        # backup, or it was made by hand); nobody was invited. The calendar has it moved.
        engine = bridge.service.engine
        assert engine is not None
        user = bridge.config.user("alice")
        original = parse_event(ics.meeting(), default_tz=bridge.config.timezone).meeting
        assert original is not None
        engine.mailbox_for(user).write_appointment(original, create=True)
        calendar.save_event(ics.meeting(**MOVED))
        return
    if op == "delete":  # a plain appointment: removed without a message
        event = calendar.save_event(ics.calendar(ics.event("planning-1")))
        bridge.sync()
        event.delete()
        return
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    if op == "update":
        event.data = ics.meeting(**MOVED)
        event.save()
    elif op == "shrink":
        event.data = ics.calendar(ics.event("planning-1", ics.BOB, dtstamp="20261125T140000Z"))
        event.save()
    else:
        event.delete()


def check(bridge: Bridge, op: str) -> None:
    exchange = bridge.exchange
    expected = {
        "create": {"bob": (1, 0), "carol": (1, 0)},
        "update": {"bob": (2, 0), "carol": (2, 0)},
        "cancel": {"bob": (1, 1), "carol": (1, 1)},
        "shrink": {"bob": (2, 0), "carol": (1, 1)},
        "adopt": {"bob": (1, 0), "carol": (1, 0)},  # the update only: never re-invited
        "delete": {"bob": (0, 0), "carol": (0, 0)},
        # the series to Bob and Carol (with Dave's occurrence as its exception), and Dave that
        # occurrence alone
        "create_occurrence": {"bob": (1, 0), "carol": (1, 0), "dave": (1, 0)},
        "occurrence": {"bob": (2, 0), "carol": (2, 0), "dave": (1, 0)},
    }[op]
    for who, counts in expected.items():
        got = (len(exchange.inbox(who, REQUEST)), len(exchange.inbox(who, CANCELED)))
        assert got == counts, f"{who}: requests/cancellations {got}, expected {counts}"
    appointments = exchange.calendar("alice")
    if op in ("cancel", "delete"):
        assert appointments == []
        assert exchange.items("alice", "Drafts") == []
    else:
        assert len(appointments) == 1
        assert exchange.items("alice", "Drafts") == []
    state = bridge.service.engine.state  # type: ignore[union-attr]
    assert state.open_journals("alice") == []
    row = state.get_item("alice", "planning-1")
    removed = op in ("cancel", "delete")
    assert row is not None and row.status == ("cancelled" if removed else "synced")


def test_every_step_of_every_operation_is_in_the_matrix() -> None:
    covered = {(c.values[0], c.values[1]) for c in CASES}
    declared = {(op.name, s) for op in OPERATIONS.values() for s in op.current_step_names}
    assert covered == declared
    assert set(SCENARIO_OF_STEP) <= declared, "a scenario names a step no table declares"


@pytest.mark.parametrize(("operation", "step", "scenario", "moment"), CASES)
def test_crash_at_every_step_boundary(
    bridge: Bridge, operation: str, step: str, scenario: str, moment: str
) -> None:
    prepare(bridge, scenario)
    with pytest.raises(Crash):  # the scenario must reach the step: the hook must fire
        crashing_engine(bridge, step, moment).sync()
    row = bridge.service.engine.state.get_item("alice", "planning-1")  # type: ignore[union-attr]
    assert row is not None
    entries = bridge.service.engine.state.open_journal("alice", "planning-1")  # type: ignore[union-attr]
    assert entries and entries[0].op == operation
    # "Restart": a fresh engine (new HTTP sessions, new discovery), then normal passes.
    restarted(bridge)
    check(bridge, scenario)


def restarted(bridge: Bridge) -> None:
    """A restart a little later: past the settle time in which an interrupted request might
    still be carried out by the server, and past any back-off."""
    bridge.sync_later()


@pytest.mark.parametrize(("op", "step"), [("create", "request_sent"), ("cancel", "cancel_draft")])
def test_killed_process_mid_send(bridge: Bridge, op: str, step: str) -> None:
    prepare(bridge, op)
    config = bridge.config
    died = subprocess.run(
        [sys.executable, "-m", "tests.e2e.crash_sync", str(config.state_dir),
         str(config.caldav_port), str(config.sim_port), step, "sent"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert died.returncode == 9, died.stderr
    restarted(bridge)
    check(bridge, op)


def test_exchange_busy_or_logged_out_delays_but_loses_nothing(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting())
    bridge.sim.faults.add(r"^(PROPPATCH|MOVE) ", status=503, count=100)
    reports = bridge.sync()
    assert any(isinstance(line.outcome, Failed) for r in reports for line in r.lines)
    assert bridge.exchange.inbox("bob") == []
    engine = bridge.service.engine
    assert engine is not None
    row = engine.state.get_item("alice", "planning-1")
    assert row is not None and row.status == "failed" and row.next_attempt_at is not None
    bridge.sim.faults.clear()
    bridge.sim.expire_sessions()
    engine.sync()  # the back-off holds the item: nothing is tried yet
    assert bridge.exchange.session.cookies  # (the admin's own view is expired too)
    assert engine.state.get_item("alice", "planning-1").status == "failed"  # type: ignore[union-attr]
    engine.state.reset_retry("alice")  # what `calbridge retry` does
    engine.sync()  # same engine, same (now expired) session: 440, log in again, go on
    engine.sync()
    assert any(e.status == 440 for e in bridge.sim.log)  # it did have to log in again
    bridge.exchange.relogin()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    assert len(bridge.exchange.inbox("carol", REQUEST)) == 1
    assert engine.state.get_item("alice", "planning-1").status == "synced"  # type: ignore[union-attr]
