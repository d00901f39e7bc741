"""Shared steps of the answer tests: bob invites alice from Exchange, the pull brings it into
alice's calendar, alice answers in her CalDAV client (the `caldav` library)."""

from __future__ import annotations

import icalendar
import requests

from bridge.pull import mailbox_pass
from bridge.pull.into_caldav import PulledCalendar
from bridge.service import radicale_configuration
from tests.e2e.conftest import Bridge
from tests.sim.davclient import login_fba
from tests.sim.test_transport import send_meeting

ALICE = "alice@example.com"
REPLIES = {"ACCEPTED": "IPM.Schedule.Meeting.Resp.Pos",
           "TENTATIVE": "IPM.Schedule.Meeting.Resp.Tent",
           "DECLINED": "IPM.Schedule.Meeting.Resp.Neg"}


def invite_alice(bridge: Bridge, name: str = "roadmap") -> str:
    """bob's WebDAV-made meeting (as Outlook makes it) reaches alice's Inbox, a pull pass
    writes it into her calendar and its `pulled` row is recorded (what the pull wiring does
    on each write); returns the UID."""
    bridge.calendar("alice")
    with requests.Session() as bob:
        assert bridge.service.sim_url is not None
        login_fba(bob, bridge.service.sim_url, "bob", "demo")
        _, uid = send_meeting(bob, bridge.service.sim_url, "bob", name, subject="Roadmap",
                              to=ALICE)
    pull(bridge)
    engine = bridge.service.engine
    assert engine is not None
    engine.state.record_pulled("alice", uid, exchange_url=None, sequence=0,
                               partstat="NEEDS-ACTION")
    return uid


def pull(bridge: Bridge) -> mailbox_pass.PassResult:
    engine = bridge.service.engine
    assert engine is not None
    alice = engine.mailbox_for(bridge.config.user("alice"))
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    return mailbox_pass.pull_mailbox(alice, target, mailbox_pass.PullMemory())


def answer_in_client(bridge: Bridge, uid: str, partstat: str) -> None:
    """alice sets her own PARTSTAT in her CalDAV client and saves (a PUT)."""
    event = bridge.calendar("alice").event_by_uid(uid)
    calendar = event.icalendar_instance
    mine = [a for e in calendar.walk("VEVENT") for a in _attendees(e)
            if str(a).lower() == "mailto:" + ALICE]
    assert mine, "alice's ATTENDEE line was not found"
    for attendee in mine:
        attendee.params["PARTSTAT"] = partstat
    event.icalendar_instance = calendar
    event.save()


def _attendees(event: icalendar.cal.Component) -> list[icalendar.vCalAddress]:
    found = event.get("ATTENDEE")
    return [] if found is None else found if isinstance(found, list) else [found]


def replies_at_bob(bridge: Bridge, uid: str) -> list[str]:
    """The response classes in bob's Inbox for `uid` (what the organizer received)."""
    found = bridge.exchange.items("bob", "Inbox")
    return sorted(str(i.get("http://schemas.microsoft.com/exchange/outlookmessageclass"))
                  for i in found if i.get("urn:schemas:calendar:uid") == uid and str(
                      i.get("http://schemas.microsoft.com/exchange/outlookmessageclass")
                  ).startswith("IPM.Schedule.Meeting.Resp."))


def alice_has(bridge: Bridge, uid: str) -> bool:
    return any(str(e.icalendar_component["UID"]) == uid
               for e in bridge.calendar("alice").events())
