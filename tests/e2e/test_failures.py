"""What a failure costs (issue 8 items 1 and 4, the outage rule, and logging of bugs):

- Exchange not answering at all is a condition of the server: the mailbox pauses, no item
  spends an attempt or accumulates back-off, and everything goes out exactly once as soon as
  Exchange answers again.
- A request that can never succeed (413, 400, 422, 403 on a write) is a terminal failure with
  its reason in `status`, not a back-off retried forever; a changed event goes again.
- A skipped or rejected event is parsed once while its file is unchanged.
- An unexpected exception is a bug: logged once with its traceback; expected failures are one
  line.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bridge.engine import Crash, Engine
from bridge.report import Failed, Paused
from tests.e2e import ics
from tests.e2e.conftest import REQUEST, Bridge
from tests.e2e.test_cli import config_file, run


def _alice(reports: list) -> object:  # type: ignore[type-arg]
    (report,) = [r for r in reports if r.user == "alice"]
    return report


@pytest.mark.parametrize("fault", ["503", "dropped"])
def test_an_outage_pauses_the_mailbox_and_loses_nothing(
    bridge: Bridge, fault: str, tmp_path: Path
) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting())
    calendar.save_event(ics.meeting("planning-2"))
    engine = bridge.service.engine
    assert engine is not None
    if fault == "503":
        bridge.sim.faults.add(r".", status=503, count=None)
    else:
        bridge.sim.faults.add(r".", drop=True, count=None)
    for _ in range(2):  # a second pass while still down: only the probe, no item attempted
        before = len(bridge.sim.log)
        report = _alice(bridge.sync())
        assert report.paused and "does not answer" in report.paused  # type: ignore[attr-defined]
        assert [type(line.outcome) for line in report.lines] == [Paused]  # type: ignore[attr-defined]
        assert report.failed == 0  # type: ignore[attr-defined]
        for uid in ("planning-1", "planning-2"):
            row = engine.state.get_item("alice", uid)
            assert row is None or (row.status != "failed" and row.attempts == 0)
    # the paused pass asked only the cheap probe (log in, PROPFIND of the mailbox root)
    probes = {(e.method, e.path) for e in bridge.sim.log.entries()[before:]}
    assert probes and probes <= {("POST", "/exchweb/bin/auth/owaauth.dll"),
                                 ("PROPFIND", "/exchange/alice/")}
    last = engine.state.last_run("alice")
    assert last is not None and last.counts == {"paused": 1}
    assert any("paused" in e for e in last.errors)
    code, output = run("status", "--config", str(config_file(bridge, tmp_path)))
    assert code == 0 and "alice paused" in output and "does not answer" in output

    bridge.sim.faults.clear()
    report = _alice(bridge.sync())  # Exchange answers again: everything goes, now
    assert not report.paused and report.failed == 0  # type: ignore[attr-defined]
    bridge.sync()
    requests = bridge.exchange.inbox("bob", REQUEST)
    assert sorted(str(r["urn:schemas:calendar:uid"]) for r in requests) == [
        "planning-1", "planning-2"
    ]
    assert len(bridge.exchange.inbox("carol", REQUEST)) == 2
    assert bridge.exchange.items("alice", "Drafts") == []
    for uid in ("planning-1", "planning-2"):
        assert engine.state.get_item("alice", uid).status == "synced"  # type: ignore[union-attr]


@pytest.mark.parametrize("status", [413, 400, 422, 403])
def test_a_permanent_refusal_is_terminal_until_the_event_changes(
    bridge: Bridge, status: int, tmp_path: Path
) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sim.faults.add(r"^PROPPATCH /exchange/alice/Calendar/", status=status, count=None)
    (failed,) = [ln for ln in _alice(bridge.sync()).lines  # type: ignore[attr-defined]
                 if isinstance(ln.outcome, Failed)]
    assert failed.outcome.terminal and str(status) in failed.outcome.reason
    engine = bridge.service.engine
    assert engine is not None
    row = engine.state.get_item("alice", "planning-1")
    assert row is not None and row.status == "failed" and row.next_attempt_at is None
    assert row.attempts == 1 and f"HTTP {status}" in (row.last_error or "")
    (summary,) = [s for s in engine.state.status_summary() if s.mailbox == "alice"]
    assert any(f"HTTP {status}" in e and "not retried" in e for e in summary.last_errors)
    code, output = run("status", "--config", str(config_file(bridge, tmp_path)))
    assert code == 0 and f"HTTP {status}" in output

    before = len(bridge.sim.log)
    bridge.sync_later()  # hours later, two passes: no back-off retry of the same version
    tried = [e for e in bridge.sim.log.entries()[before:]
             if e.method == "PROPPATCH" and "/Calendar/" in e.path]
    assert tried == []
    row = engine.state.get_item("alice", "planning-1")
    assert row is not None and row.attempts == 1 and engine.state.open_journals("alice") == []

    bridge.sim.faults.clear()
    event.data = ics.meeting(summary="Planning (smaller)", dtstamp="20261125T130000Z")
    event.save()
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    assert engine.state.get_item("alice", "planning-1").status == "synced"  # type: ignore[union-attr]


def test_a_busy_server_still_backs_off(bridge: Bridge) -> None:
    """Only a write failing while Exchange answers the probe: the item backs off (transient)."""
    bridge.calendar("alice").save_event(ics.meeting())
    bridge.sim.faults.add(r"^PROPPATCH ", status=503, count=None)
    report = _alice(bridge.sync())
    assert not report.paused  # type: ignore[attr-defined]
    (failed,) = report.outcomes(Failed)  # type: ignore[attr-defined]
    assert not failed.outcome.terminal
    row = bridge.service.engine.state.get_item("alice", "planning-1")  # type: ignore[union-attr]
    assert row is not None and row.status == "failed" and row.next_attempt_at is not None


def test_a_skipped_event_is_parsed_once_while_its_file_is_unchanged(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    series = calendar.save_event(
        ics.calendar(  # a modified occurrence without its series: skipped with a reason
            ics.event("series-x", ics.BOB, "RECURRENCE-ID:20261208T090000Z",
                      start="DTSTART:20261208T110000Z", end="DTEND:20261208T120000Z",
                      summary="Planning"),
        )
    )
    calendar.save_event(ics.meeting("fine-1"))
    engine = bridge.service.engine
    assert engine is not None
    bridge.sync()
    parsed = engine.snapshots.parsed
    assert parsed == 2
    bridge.sync()
    bridge.sync()
    assert engine.snapshots.parsed == parsed  # neither the synced nor the skipped file again
    assert "RECURRENCE-ID" in dict(engine.state.skip_reasons("alice"))["series-x"]
    series.data = series.data.replace("SUMMARY:Planning", "SUMMARY:Planning 2", 1)
    series.save()
    bridge.sync()
    assert engine.snapshots.parsed == parsed + 1  # a changed file is read again


def test_a_bug_is_logged_once_with_its_traceback(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    def bug(_uid: str, step: str, moment: str) -> None:
        if (step, moment) == ("request_sent", "before"):
            raise KeyError("a bug in a recipe")

    engine = bridge.service.engine
    assert engine is not None
    buggy = Engine(bridge.config, engine.state, engine.calendars, step_hook=bug)
    bridge.calendar("alice").save_event(ics.meeting())
    bridge.calendar("alice").save_event(ics.meeting("planning-2"))
    bridge.sim.faults.add(r"^PROPPATCH /exchange/alice/Calendar/planning-2", status=503,
                          count=None)
    with caplog.at_level(logging.WARNING, logger="bridge"):
        buggy.sync()
    buggy.close()
    bugs = [r for r in caplog.records if "unexpected" in r.getMessage()]
    assert len(bugs) == 1 and bugs[0].exc_info is not None
    assert bugs[0].levelno == logging.ERROR and "planning-1" in bugs[0].getMessage()
    expected = [r for r in caplog.records if "planning-2" in r.getMessage()]
    assert expected and all(r.exc_info is None for r in expected)
    assert all("Traceback" not in r.getMessage() for r in caplog.records)


def test_an_outage_during_recovery_pauses_too(bridge: Bridge) -> None:
    """An interrupted operation met by an outage: the mailbox pauses, the item spends nothing."""
    bridge.calendar("alice").save_event(ics.meeting())
    engine = bridge.service.engine
    assert engine is not None

    def crash(_uid: str, step: str, moment: str) -> None:
        if (step, moment) == ("appointment_written", "after"):
            raise Crash("killed before the request")

    crashing = Engine(bridge.config, engine.state, engine.calendars, step_hook=crash)
    with pytest.raises(Crash):
        crashing.sync()
    crashing.close()
    assert engine.state.open_journals("alice") == [("alice", "planning-1")]
    bridge.sim.faults.add(r".", status=503, count=None)
    report = _alice(bridge.sync())
    assert report.paused and report.failed == 0  # type: ignore[attr-defined]
    row = engine.state.get_item("alice", "planning-1")
    assert row is not None and row.status == "pending" and row.attempts == 0
    bridge.sim.faults.clear()
    bridge.sync()  # recovery undoes the unsent create, the plan sends it: once
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    assert len(bridge.exchange.inbox("carol", REQUEST)) == 1
    assert engine.state.get_item("alice", "planning-1").status == "synced"  # type: ignore[union-attr]
