"""Issue 10's story, with the `caldav` library as alice's client and the embedded simulator as
Exchange: bob invites alice from Exchange (a WebDAV-made meeting, as Outlook makes it), a pull
pass brings it into alice's CalDAV calendar, bob moves it, bob cancels it. The pass is driven
here directly (`pull_mailbox`); the engine's scheduling is not wired yet (see the report)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from bridge.pull import mailbox_pass
from bridge.pull.into_caldav import PulledCalendar
from bridge.service import radicale_configuration
from tests.e2e.conftest import Bridge, _start
from tests.sim.davclient import login_fba, proppatch
from tests.sim.test_transport import CAL, CLASS, HTTP_START, appointment_props, send_meeting


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from _start(tmp_path / "state", autosync=False)


def as_bob(bridge: Bridge) -> requests.Session:
    session = requests.Session()
    assert bridge.service.sim_url is not None
    login_fba(session, bridge.service.sim_url, "bob", "demo")
    return session


def send(bridge: Bridge, uid: str, name: str, message_class: str, sequence: int,
         start: object) -> None:
    base = bridge.service.sim_url
    props = {**appointment_props("Roadmap", start, start + timedelta(hours=1),  # type: ignore
                                 "alice@example.com"),
             "DAV:contentclass": "urn:content-classes:calendarmessage", CLASS: message_class,
             CAL + "uid": uid, CAL + "sequence": sequence}
    with as_bob(bridge) as bob:
        draft = f"{base}/exchange/bob/Drafts/{name}.EML"
        assert proppatch(bob, draft, props).status_code == 207
        assert bob.request("MOVE", draft, headers={
            "Destination": "/exchange/bob/%23%23DavMailSubmissionURI%23%23",
            "Overwrite": "F"}).status_code in (200, 201)


def alice_event(bridge: Bridge, uid: str) -> object:
    (event,) = [e.icalendar_component for e in bridge.calendar("alice").events()
                if str(e.icalendar_component["UID"]) == uid]
    return event


def test_invitation_update_and_cancellation_reach_alices_caldav_client(
        bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    bridge.calendar("alice")
    (user,) = [u for u in bridge.config.users if u.name == "alice"]
    alice = bridge.service.engine.mailbox_for(user)  # type: ignore[union-attr]
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    memory = mailbox_pass.PullMemory()
    mailbox_pass.pull_mailbox(alice, target, memory)  # the initial pass
    idle = mailbox_pass.pull_mailbox(alice, target, memory)
    assert (idle.requests, idle.written) == (1, 0)

    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", "weekly",
                              subject="Roadmap", to="alice@example.com")
    invited = mailbox_pass.pull_mailbox(alice, target, memory)
    assert invited.written == 1 and invited.problems == []
    event = alice_event(bridge, uid)
    assert str(event["ORGANIZER"]).lower() == "mailto:bob@example.com"  # type: ignore[index]
    assert "PARTSTAT=NEEDS-ACTION" in event.to_ical().decode()  # type: ignore[attr-defined]

    moved_to = HTTP_START + timedelta(days=1)
    send(bridge, uid, "update", "IPM.Schedule.Meeting.Request", 1, moved_to)
    assert mailbox_pass.pull_mailbox(alice, target, memory).written == 1
    assert alice_event(bridge, uid).decoded("DTSTART") == moved_to  # type: ignore[attr-defined]

    send(bridge, uid, "cancel", "IPM.Schedule.Meeting.Canceled", 2, moved_to)
    assert mailbox_pass.pull_mailbox(alice, target, memory).written == 1
    assert str(alice_event(bridge, uid)["STATUS"]) == "CANCELLED"  # type: ignore[index]
    assert bridge.exchange.inbox("bob") == []  # nothing was sent by any pull


def test_a_bad_message_is_one_log_line_and_the_others_still_arrive(
        bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    bridge.calendar("alice")
    (user,) = [u for u in bridge.config.users if u.name == "alice"]
    alice = bridge.service.engine.mailbox_for(user)  # type: ignore[union-attr]
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    base = bridge.service.sim_url or ""
    with as_bob(bridge) as bob:
        # A response from bob for a meeting alice never had: "already deleted".
        response = {"DAV:contentclass": "urn:content-classes:calendarmessage",
                    CLASS: "IPM.Schedule.Meeting.Resp.Pos", CAL + "uid": "gone-1",
                    CAL + "dtstart": HTTP_START, CAL + "dtend": HTTP_START + timedelta(hours=1),
                    "urn:schemas:mailheader:to": "alice@example.com",
                    "urn:schemas:httpmail:subject": "Accepted: Old"}
        draft = f"{base}/exchange/bob/Drafts/resp.EML"
        assert proppatch(bob, draft, response).status_code == 207
        assert bob.request("MOVE", draft, headers={
            "Destination": "/exchange/bob/%23%23DavMailSubmissionURI%23%23"}).status_code in (
                200, 201)
        _, uid = send_meeting(bob, base, "bob", "fine", to="alice@example.com")
    with caplog.at_level(logging.INFO, logger="bridge.pull.mailbox_pass"):
        result = mailbox_pass.pull_mailbox(alice, target, mailbox_pass.PullMemory())
    assert result.problems == [("gone-1", "response for a meeting that has already been "
                                          "deleted")]
    assert "Traceback" not in caplog.text
    assert [r.message for r in caplog.records if "gone-1" in r.message] == [
        "pull: 'gone-1': response for a meeting that has already been deleted"]
    assert str(alice_event(bridge, uid)["SUMMARY"]) == "Planning"  # type: ignore[index]
