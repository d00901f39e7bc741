"""Pulled events written into a real Radicale, with the real engine running beside it.

The echo rule (design §4b): what the pull writes is journaled with `bridge-` ops only, the
`caldav` client sees it, and an engine pass afterwards sends nothing to Exchange.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

import radicale_plugin
from bridge.pull import decide, listing, mapping
from bridge.pull.into_caldav import PulledCalendar
from bridge.service import radicale_configuration
from tests.e2e.conftest import Bridge, _start

START = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
# A change made by the engine or by Exchange itself: anything but reads.
SIDE_EFFECTS = {"PROPPATCH", "PUT", "MOVE", "COPY", "DELETE", "POST", "MKCOL", "BMOVE",
                "BDELETE", "BPROPPATCH"}


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from _start(tmp_path / "state", autosync=False)


def request_ics(uid: str, start: datetime, *, summary: str = "Roadmap",
                organizer: str = "bob@example.com") -> str:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//test//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REQUEST")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", start)
    event.add("DTSTART", start)
    event.add("DTEND", start + timedelta(hours=1))
    event.add("SUMMARY", summary)
    event.add("SEQUENCE", 0)
    event.add("ORGANIZER", icalendar.vCalAddress(f"mailto:{organizer}"))
    for who in (organizer, "alice@example.com"):
        event.add("ATTENDEE", icalendar.vCalAddress(f"mailto:{who}"))
    calendar.add_component(event)
    return calendar.to_ical().decode()


def journal_ops(bridge: Bridge) -> list[str]:
    path = radicale_plugin.changes_db_path(
        radicale_configuration(bridge.config, with_server=False))
    with sqlite3.connect(path) as connection:
        return [op for (op,) in connection.execute("SELECT op FROM changes ORDER BY id")]


def pull_into_alice(bridge: Bridge, count: int) -> tuple[PulledCalendar, list[mapping.Pulled]]:
    pulled = [mapping.invitation(request_ics(f"pulled-{n}", START + timedelta(hours=n)),
                                 exchange_url=f"http://exchange/Inbox/{n}.EML",
                                 user="alice@example.com") for n in range(count)]
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    outcomes = target.upsert(pulled, address="alice@example.com")
    assert {o.outcome for o in outcomes} == {"created"}
    return target, pulled


def test_a_pull_of_1000_events_is_journaled_as_the_bridges_and_visible_to_caldav(
        bridge: Bridge) -> None:
    bridge.calendar("alice")  # the user's calendar exists, as after their first sync
    ops_before = journal_ops(bridge)
    target, pulled = pull_into_alice(bridge, 1000)
    new_ops = journal_ops(bridge)[len(ops_before):]
    assert len(new_ops) == 1000 and set(new_ops) == {"bridge-upload"}  # no user change
    events = bridge.calendar("alice").events()
    assert len(events) == 1000
    assert {str(e.icalendar_component[mapping.ORIGIN]) for e in events} == {"exchange"}
    again = target.upsert(pulled[:3], address="alice@example.com")
    assert [o.outcome for o in again] == ["unchanged"] * 3
    assert len(journal_ops(bridge)) == len(ops_before) + 1000


def test_an_engine_pass_after_a_pull_sends_nothing(bridge: Bridge) -> None:
    bridge.calendar("alice")
    bridge.sync()
    pull_into_alice(bridge, 50)
    bridge.sim.log.clear()
    bridge.sync()
    changed = [(e.method, e.path) for e in bridge.sim.log
               if (e.method.upper() in SIDE_EFFECTS and "owaauth" not in e.path)
               or "cmd=" in e.query.lower()]
    assert changed == []
    assert bridge.exchange.inbox("bob") == []
    assert bridge.exchange.calendar("alice") == []


def test_a_request_never_overwrites_the_users_own_event_with_its_uid(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    own = request_ics("shared-uid", START, summary="Mine", organizer="alice@example.com")
    calendar.save_event(own.replace("METHOD:REQUEST\r\n", ""))
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    hostile = mapping.invitation(request_ics("shared-uid", START, summary="Theirs"),
                                 exchange_url="http://exchange/Inbox/x.EML",
                                 user="alice@example.com")
    (outcome,) = target.upsert([hostile], address="alice@example.com")
    assert outcome.outcome == "refused" and "collides" in outcome.reason
    (event,) = calendar.events()
    assert str(event.icalendar_component["SUMMARY"]) == "Mine"
    assert target.delete("shared-uid").outcome == "refused"
    assert len(calendar.events()) == 1


def test_a_rooms_decline_reaches_the_organizers_own_event_as_the_bridges_write(
        bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             "UID:booking-1", "DTSTAMP:20261201T100000Z", "DTSTART:20261210T140000Z",
             "DTEND:20261210T150000Z", "SUMMARY:Booking", "ORGANIZER:mailto:alice@example.com",
             "ATTENDEE;CUTYPE=ROOM:mailto:room-101@example.com", "END:VEVENT", "END:VCALENDAR"]
    calendar.save_event("\r\n".join(lines) + "\r\n")
    ops_before = journal_ops(bridge)
    (stored,) = calendar.events()
    reply = "\r\n".join([*lines[:9], "METHOD:REPLY",
                          "ATTENDEE;PARTSTAT=DECLINED:mailto:room-101@example.com",
                          *lines[11:]]) + "\r\n"
    outcome = mapping.apply_reply(stored.data, reply, "IPM.Schedule.Meeting.Resp.Neg")
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    assert target.record_reply("booking-1", outcome.text,
                               address="alice@example.com").outcome == "updated"
    assert journal_ops(bridge)[len(ops_before):] == ["bridge-upload"]
    (event,) = calendar.events()
    found = event.icalendar_component["ATTENDEE"]
    rooms = [a for a in (found if isinstance(found, list) else [found]) if "room-101" in str(a)]
    assert [str(a.params["PARTSTAT"]) for a in rooms] == ["DECLINED"]
    assert target.record_reply("gone", outcome.text,
                               address="alice@example.com").outcome == "absent"


def test_a_reply_recorded_after_the_user_saved_meanwhile_keeps_the_users_edit(
        bridge: Bridge) -> None:
    """The reply was built from the event as it was; alice renamed it in her client before
    the write. The stored event has her new summary and the room's answer."""
    calendar = bridge.calendar("alice")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
             "UID:booking-2", "DTSTAMP:20261201T100000Z", "DTSTART:20261210T140000Z",
             "DTEND:20261210T150000Z", "SUMMARY:Booking", "ORGANIZER:mailto:alice@example.com",
             "ATTENDEE;CUTYPE=ROOM:mailto:room-101@example.com", "END:VEVENT", "END:VCALENDAR"]
    calendar.save_event("\r\n".join(lines) + "\r\n")
    target = PulledCalendar(radicale_configuration(bridge.config, with_server=False), "alice")
    reply_ics = "\r\n".join([*lines[:9], "METHOD:REPLY",
                             "ATTENDEE;PARTSTAT=DECLINED:mailto:room-101@example.com",
                             *lines[11:]]) + "\r\n"
    row = listing.Row("http://exchange/Inbox/r.EML", "e1", "booking-2", 0,
                      "IPM.Schedule.Meeting.Resp.Neg", {})
    mime = ("Content-Type: text/calendar; method=REPLY\r\n\r\n" + reply_ics).encode()
    outcome = decide.for_message(row, mime, user="alice@example.com",
                                 existing=target.get("booking-2"))
    assert isinstance(outcome, decide.Reply)
    (stored,) = calendar.events()
    stored.data = stored.data.replace("SUMMARY:Booking", "SUMMARY:Booking (moved room)")
    stored.save()  # alice's save lands between the read and the write
    written = target.record_reply(outcome.uid, outcome.text, address="alice@example.com",
                                  based_on=outcome.based_on, again=outcome.again)
    assert written.outcome == "updated"
    (event,) = calendar.events()
    component = event.icalendar_component
    assert str(component["SUMMARY"]) == "Booking (moved room)"
    found = component["ATTENDEE"]
    rooms = [a for a in (found if isinstance(found, list) else [found]) if "room-101" in str(a)]
    assert [str(a.params["PARTSTAT"]) for a in rooms] == ["DECLINED"]


def test_a_calendar_copy_of_someone_elses_meeting_with_the_uid_never_takes_it_over(
        bridge: Bridge) -> None:
    """A mailbox that files invitations on arrival holds carol's meeting with the UID of bob's
    as a Calendar item of its own; writing it would turn bob's meeting into carol's."""
    target, _ = pull_into_alice(bridge, 1)
    stranger = mapping.appointment(
        request_ics("pulled-0", START + timedelta(days=3), summary="Mine now",
                    organizer="carol@example.com"),
        exchange_url="http://exchange/Calendar/other.EML", user="alice@example.com")
    (outcome,) = target.upsert([stranger], address="alice@example.com")
    assert outcome.outcome == "refused"
    assert outcome.reason == ("meeting from carol@example.com for a meeting organized by "
                              "bob@example.com: not written")
    stored = target.get("pulled-0")
    assert stored is not None and "SUMMARY:Roadmap" in stored and "carol" not in stored
    same_owner = mapping.appointment(
        request_ics("pulled-0", START, summary="Roadmap v2"),
        exchange_url="http://exchange/Calendar/0.EML", user="alice@example.com")
    assert [o.outcome for o in target.upsert([same_owner], address="alice@example.com")] == [
        "updated"]
