"""The pull as the running service does it (issue 10): its scheduled job (`Service.pull_now`
is that job's body; one test lets the scheduler run it), the state it keeps, what `status`
shows, and the echo rule over 1,000 pulled events. `caldav` is alice's client, the embedded
simulator is Exchange, bob works in Exchange over WebDAV as Outlook does."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import icalendar
import pytest
import requests

from bench.pull_initial import seed
from bridge.config import UserConfig, load_config
from bridge.pull.job import RunReport
from bridge.report import Done
from bridge.state import State
from tests.e2e import ics
from tests.e2e.conftest import (
    REQUEST,
    Bridge,
    _start,
    free_port,
    make_config,
    running_bridge,
)
from tests.e2e.processes import cli
from tests.pull.test_end_to_end import alice_event, as_bob, send
from tests.sim.davclient import login_fba
from tests.sim.test_transport import HTTP_START, send_meeting


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from _start(tmp_path / "state", autosync=False)


def pull(bridge: Bridge) -> RunReport:
    report = bridge.service.pull_now()
    assert report is not None
    assert report.failed == {}
    return report


def state(bridge: Bridge) -> State:
    assert bridge.service.engine is not None
    return bridge.service.engine.state


def partstat_of(event: icalendar.cal.Component, address: str) -> str:
    found = event.get("ATTENDEE")
    for line in found if isinstance(found, list) else [found]:
        if str(line).lower() == f"mailto:{address}":
            return str(line.params.get("PARTSTAT"))
    raise AssertionError(f"{address} is not an attendee")


def sent_anything(bridge: Bridge) -> list[object]:
    """Every message in any Inbox and in every Sent Items of the demo mailboxes."""
    found: list[object] = []
    for alias in ("alice", "bob", "carol", "dave", "room-101", "room-102"):
        found += bridge.exchange.items(alias, "Inbox") + bridge.exchange.items(alias,
                                                                               "Sent Items")
    return found


def test_the_embedded_defaults_pull_every_minute() -> None:
    config = load_config(None)
    assert config.pull_interval == 60.0


def test_bobs_invitation_move_and_cancellation_reach_alice_through_the_service(
        bridge: Bridge) -> None:
    bridge.calendar("alice")
    first = pull(bridge)  # the initial pull of every mailbox
    assert {"alice", "bob", "carol", "dave"} <= set(first.pulled)
    idle = pull(bridge)
    assert idle.pulled["alice"].requests == 1 and idle.pulled["alice"].written == 0

    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "roadmap",
                              subject="Roadmap", to="alice@example.com")
    assert pull(bridge).pulled["alice"].written == 1
    event = alice_event(bridge, uid)
    assert str(event["ORGANIZER"]).lower() == "mailto:bob@example.com"  # type: ignore[index]
    assert partstat_of(event, "alice@example.com") == "NEEDS-ACTION"  # type: ignore[arg-type]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and (row.partstat, row.sequence) == ("NEEDS-ACTION", 0)

    moved_to = HTTP_START + timedelta(days=1)
    send(bridge, uid, "update", REQUEST, 1, moved_to)
    pull(bridge)
    assert alice_event(bridge, uid).decoded("DTSTART") == moved_to  # type: ignore[attr-defined]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and (row.partstat, row.sequence) == ("NEEDS-ACTION", 1)

    send(bridge, uid, "cancel", "IPM.Schedule.Meeting.Canceled", 2, moved_to)
    pull(bridge)
    assert str(alice_event(bridge, uid)["STATUS"]) == "CANCELLED"  # type: ignore[index]
    assert bridge.exchange.inbox("bob") == []  # no pull ever sends


def test_an_update_that_reschedules_resets_the_answer_in_the_event_and_in_the_row(
        bridge: Bridge) -> None:
    bridge.calendar("alice")
    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "answered",
                              subject="Roadmap", to="alice@example.com")
    pull(bridge)
    # alice accepts in OWA: Exchange puts the meeting in her Calendar as accepted.
    (request,) = bridge.exchange.inbox("alice", REQUEST)
    assert bridge.exchange.session.get(f"{request['href']}?Cmd=accept",
                                       allow_redirects=False).status_code == 302
    pull(bridge)
    assert partstat_of(alice_event(bridge, uid), "alice@example.com") == "ACCEPTED"  # type: ignore[arg-type]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.partstat == "ACCEPTED"

    send(bridge, uid, "moved", REQUEST, 1, HTTP_START + timedelta(hours=3))
    pull(bridge)
    event = alice_event(bridge, uid)
    written = partstat_of(event, "alice@example.com")  # type: ignore[arg-type]
    row = state(bridge).pulled("alice", uid)
    assert written == "NEEDS-ACTION"
    assert row is not None and row.partstat == written  # the same pass updated the row


def test_a_restart_fetches_no_unchanged_item(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path / "state")
    with running_bridge(config) as bridge:
        bridge.calendar("alice")
        with as_bob(bridge) as bob:
            send_meeting(bob, bridge.service.sim_url or "", "bob", "kept", to="alice@example.com")
        assert pull(bridge).pulled["alice"].written == 1
    # The same Exchange (the simulator's store is in the state folder) at the same URL.
    with running_bridge(replace(config, caldav_port=free_port())) as again:
        with caplog.at_level(logging.DEBUG, logger="exchange_sim.requests"):
            report = pull(again)
        alices = [r.message.split()[0] for r in caplog.records
                  if r.name == "exchange_sim.requests" and "/exchange/alice/" in r.message]
        # The new session logs in and finds the folders; then the tags only: nothing is listed
        # (SEARCH) and no item is fetched (GET).
        assert "SEARCH" not in alices and "GET" not in alices and alices.count("PROPFIND") <= 2
        assert report.pulled["alice"].written == 0
        assert pull(again).pulled["alice"].requests == 1


def test_a_room_that_declines_alices_booking_shows_in_her_event_and_in_status(
        bridge: Bridge) -> None:
    with as_bob(bridge) as bob:  # bob holds room-101 at that hour already
        send_meeting(bob, bridge.service.sim_url or "", "bob", "first", subject="Bob's slot",
                     to="room-101@example.com")
    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting("room-clash", summary="Roadmap"))
    bridge.sync()
    assert bridge.exchange.inbox("alice", "IPM.Schedule.Meeting.Resp.Neg")
    pull(bridge)

    (event,) = [e.icalendar_component for e in calendar.events()
                if str(e.icalendar_component["UID"]) == "room-clash"]
    assert partstat_of(event, "room-101@example.com") == "DECLINED"
    (decline,) = state(bridge).room_declines("alice")
    assert (decline.uid, decline.room, decline.summary) == (
        "room-clash", "room-101@example.com", "Roadmap")
    shown = cli("status", "--state-dir", str(bridge.config.state_dir))
    assert "room-101@example.com declined 'Roadmap'" in " ".join(shown.stdout.split())
    document = json.loads(cli("status", "--json", "--state-dir",
                              str(bridge.config.state_dir)).stdout)
    (alice,) = [m for m in document["mailboxes"] if m["mailbox"] == "alice"]
    assert alice["pull"]["room_declines"] == [
        {"uid": "room-clash", "room": "room-101@example.com", "summary": "Roadmap",
         "since": alice["pull"]["room_declines"][0]["since"]}]
    assert alice["pull"]["last_pull_at"].endswith("Z") and alice["pull"]["error"] is None

    # The reply changed alice's event; nothing goes out because of it.
    requests_before = len(bridge.exchange.inbox("bob", REQUEST))
    reports = bridge.sync() + bridge.sync(full=False)
    assert [line for r in reports for line in r.lines if isinstance(line.outcome, Done)] == []
    assert len(bridge.exchange.inbox("bob", REQUEST)) == requests_before == 1


def test_a_problem_is_shown_until_the_item_is_taken(bridge: Bridge) -> None:
    bridge.calendar("alice")
    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "stranger",
                              to="alice@example.com")
    # alice's own event with the same UID: bob's request must not overwrite it.
    mine = bridge.calendar("alice").save_event(ics.calendar(ics.event(uid, summary="Mine")))
    pull(bridge)
    ((reason_uid, reason),) = [(u, r) for _, u, r in state(bridge).pull_problems("alice")]
    assert reason_uid == uid and "collides" in reason
    document = json.loads(cli("status", "--json", "--state-dir",
                              str(bridge.config.state_dir)).stdout)
    (alice,) = [m for m in document["mailboxes"] if m["mailbox"] == "alice"]
    assert alice["pull"]["problems"] == [{"uid": uid, "reason": reason}]

    mine.delete()  # the collision is gone; bob updates his meeting, and it is taken
    send(bridge, uid, "again", REQUEST, 1, HTTP_START)
    pull(bridge)
    assert state(bridge).pull_problems("alice") == []
    assert state(bridge).pulled("alice", uid) is not None


def test_the_scheduled_job_pulls_on_its_own(tmp_path: Path) -> None:
    config = make_config(tmp_path / "state", pull_interval=0.5)
    with running_bridge(config, autosync=True) as bridge:
        bridge.calendar("alice")
        with as_bob(bridge) as bob:
            _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "scheduled",
                                  to="alice@example.com")
        rows = state(bridge)
        bridge.exchange.wait_for(lambda: rows.pulled("alice", uid), timeout=30)
        event = alice_event(bridge, uid)
        assert str(event["ORGANIZER"]).lower() == "mailto:bob@example.com"  # type: ignore[index]


def test_pulling_1000_events_then_syncing_sends_nothing(bridge: Bridge) -> None:
    bridge.calendar("alice")
    seed(bridge.sim.store, 1000)
    report = pull(bridge)
    assert report.pulled["alice"].written == 1000
    assert sum(1 for _ in state(bridge).pulled_rows("alice")) == 1000
    assert len(bridge.calendar("alice").events()) == 1000
    reports = bridge.sync() + bridge.sync(full=False) + bridge.sync()
    assert [line for r in reports for line in r.lines if isinstance(line.outcome, Done)] == []
    assert sent_anything(bridge) == []
    assert pull(bridge).pulled["alice"].written == 0


def test_an_idle_pull_reads_only_the_tags_row_and_writes_only_the_pass_time(
        bridge: Bridge) -> None:
    bridge.calendar("alice")
    seed(bridge.sim.store, 50)
    pull(bridge)
    statements: list[str] = []
    connection = state(bridge)._db.conn  # SQLite's own trace hook: every statement run
    connection.set_trace_callback(statements.append)
    try:
        report = bridge.service.pull_now()
    finally:
        connection.set_trace_callback(None)
    assert report is not None and report.pulled["alice"].requests == 1
    touched = [s for s in statements if "pull_seen" in s or "pulled" in s.split()]
    assert touched == []
    assert [s.split()[0] for s in statements if "pull_folders" in s].count("SELECT") == len(
        report.pulled)  # one tags row per mailbox


def test_one_mailboxs_failure_is_logged_and_the_others_are_pulled(
        bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    assert bridge.service.engine is not None
    bridge.service.engine.add_user(UserConfig("ghost", "ghost", "ghost@example.com", None))
    bridge.calendar("alice")
    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "others",
                              to="alice@example.com")
    with caplog.at_level(logging.WARNING, logger="bridge"):
        report = bridge.service.pull_now()
    assert report is not None and set(report.failed) == {"ghost"}
    assert report.pulled["alice"].written == 1 and alice_event(bridge, uid) is not None
    assert [r for r in caplog.records if "pull of ghost failed" in r.message]
    assert "Traceback" not in caplog.text
    document = json.loads(cli("status", "--json", "--state-dir",
                              str(bridge.config.state_dir)).stdout)
    pulls = {m["mailbox"]: m["pull"] for m in document["mailboxes"]}
    assert pulls["ghost"]["error"] and pulls["alice"]["error"] is None


def test_alice_accepts_in_her_client_and_bob_gets_exactly_one_reply(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "accepted",
                              subject="Roadmap", to="alice@example.com")
    pull(bridge)
    (event,) = [e for e in calendar.events() if str(e.icalendar_component["UID"]) == uid]
    text = event.data.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    event.data = text
    event.save()
    bridge.sync(full=False)
    for _ in range(2):  # the pull after the answer, and the next passes, send nothing more
        pull(bridge)
        bridge.sync()
    assert [i["urn:schemas:httpmail:subject"] for i in bridge.exchange.inbox(
        "bob", "IPM.Schedule.Meeting.Resp.Pos")] == ["Accepted: Roadmap"]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.partstat == "ACCEPTED"
    assert partstat_of(alice_event(bridge, uid), "alice@example.com") == "ACCEPTED"  # type: ignore[arg-type]


def test_an_organizers_update_landing_before_alices_answer_is_sent_keeps_her_answer(
        bridge: Bridge) -> None:
    """The race: alice accepts in her client, and bob's update (same time, so no reset) is
    pulled before the engine answers. Her answer is still sent, once, and still shown."""
    calendar = bridge.calendar("alice")
    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "raced",
                              subject="Roadmap", to="alice@example.com")
    pull(bridge)
    (event,) = [e for e in calendar.events() if str(e.icalendar_component["UID"]) == uid]
    event.data = event.data.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    event.save()
    send(bridge, uid, "relocated", REQUEST, 1, HTTP_START)  # same time: not a reschedule
    pull(bridge)
    shown = alice_event(bridge, uid)
    assert partstat_of(shown, "alice@example.com") == "ACCEPTED"  # type: ignore[arg-type]
    assert int(str(shown["SEQUENCE"])) == 1  # type: ignore[index]  # the update was taken
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.partstat == "NEEDS-ACTION"  # what Exchange still holds
    bridge.sync(full=False)
    for _ in range(2):
        pull(bridge)
        bridge.sync()
    assert len(bridge.exchange.inbox("bob", "IPM.Schedule.Meeting.Resp.Pos")) == 1
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.partstat == "ACCEPTED"


def test_a_client_that_drops_the_marker_of_a_pulled_meeting_sends_nothing(
        bridge: Bridge) -> None:
    """alice made a meeting with bob in OWA; it is pulled into her calendar. Her client saves
    it back without calbridge's X- properties: the push must not take it for a new meeting of
    hers and invite bob a second time (the `pulled` row says whose it is)."""
    calendar = bridge.calendar("alice")
    with requests.Session() as alice:
        login_fba(alice, bridge.service.sim_url or "", "alice", "demo")
        _, uid = send_meeting(alice, bridge.service.sim_url or "", "alice", "owa-made",
                              subject="Made in OWA", to="bob@example.com")
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    pull(bridge)
    (event,) = [e for e in calendar.events() if str(e.icalendar_component["UID"]) == uid]
    event.data = "\r\n".join(line for line in event.data.replace("\r\n ", "").splitlines()
                             if not line.startswith("X-CALBRIDGE-")) + "\r\n"
    event.save()
    assert "X-CALBRIDGE-ORIGIN" not in calendar.event_by_uid(uid).data
    bridge.sync(full=False)
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
