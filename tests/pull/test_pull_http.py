"""Pull against the simulator over real HTTP: change detection, listing, MIME, mapping.

Bob's meetings are made the way Outlook/KB 308373 makes them over WebDAV (tests/sim's
`send_meeting`, which shares no code with the bridge); alice's side is read with the bridge's
own client (`bridge.exchange`), as the pull will.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import icalendar
import pytest

from bridge.exchange import errors
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox
from bridge.pull import answers, contenttag, listing, mapping, owa_answer
from exchange_sim.server import RunningSimulator
from tests.sim.conftest import logged_in
from tests.sim.davclient import proppatch
from tests.sim.test_transport import (
    CAL,
    CLASS,
    HTTP_START,
    appointment_props,
    send_meeting,
)

MODES = ["fba", "basic"]


def client(sim: RunningSimulator, user: str = "alice") -> Mailbox:
    session = ExchangeSession(
        SessionConfig(server_url=sim.base_url, credentials=Credentials(user, "demo"),
                      auth=sim.app.auth.mode, backoff=0.01),  # type: ignore[arg-type]
        sleep=lambda _s: None)
    return Mailbox(session, user, f"{user}@example.com")


def event_of(text: str) -> icalendar.cal.Component:
    return icalendar.Calendar.from_ical(text).walk("VEVENT")[0]


def partstat(event: icalendar.cal.Component, address: str) -> str | None:
    for attendee in event.get("ATTENDEE") if isinstance(event.get("ATTENDEE"), list) else [
            event.get("ATTENDEE")]:
        if attendee is not None and str(attendee).lower() == "mailto:" + address:
            return str(attendee.params.get("PARTSTAT"))
    return None


@pytest.mark.parametrize("sim", MODES, indirect=True)
def test_idle_pass_is_one_request_and_a_request_moves_the_inbox_tag(
        sim: RunningSimulator) -> None:
    alice = client(sim)
    alice.discover()
    before = contenttag.read_tags(alice)
    assert before.calendar and before.inbox
    count = alice.session.request_count
    again = contenttag.read_tags(alice)
    assert alice.session.request_count == count + 1  # the idle pass: one request
    assert contenttag.moved(before, again) == (False, False)
    with logged_in(sim, "bob") as bob:
        send_meeting(bob, sim.base_url, "bob", "weekly", to="alice@example.com")
    after = contenttag.read_tags(alice)
    assert contenttag.moved(before, after) == (False, True)  # alice has no auto_tentative


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_invitation_from_inbox_maps_to_needs_action_with_organizer(
        sim: RunningSimulator) -> None:
    with logged_in(sim, "bob") as bob:
        _, uid = send_meeting(bob, sim.base_url, "bob", "weekly", subject="Roadmap",
                              to="alice@example.com, carol@example.com")
    alice = client(sim)
    (row,) = list(listing.inbox_rows(alice))
    assert (row.uid, row.message_class) == (uid, "IPM.Schedule.Meeting.Request")
    ics = mapping.calendar_text(listing.fetch_mime(alice, row.url))
    pulled = mapping.invitation(ics, exchange_url=row.url, user="alice@example.com")
    event = event_of(pulled.text)
    assert str(event["UID"]) == uid and str(event["SUMMARY"]) == "Roadmap"
    assert str(event["ORGANIZER"]).lower() == "mailto:bob@example.com"
    assert partstat(event, "alice@example.com") == "NEEDS-ACTION"
    assert str(event[mapping.ORIGIN]) == "exchange"
    assert str(event[mapping.EXCHANGE_URL]) == row.url
    assert "METHOD" not in icalendar.Calendar.from_ical(pulled.text)
    assert event.decoded("DTSTART") == HTTP_START


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_room_decline_becomes_declined_on_the_organizers_event(
        sim: RunningSimulator) -> None:
    with logged_in(sim, "bob") as bob:
        send_meeting(bob, sim.base_url, "bob", "first", to="room-101@example.com")
        _, uid = send_meeting(bob, sim.base_url, "bob", "clash", subject="Clash",
                              start=HTTP_START + timedelta(minutes=30),
                              to="room-101@example.com, carol@example.com")
    bob_box = client(sim, "bob")
    rows = [r for r in listing.inbox_rows(bob_box) if r.uid == uid]
    assert [r.message_class for r in rows] == ["IPM.Schedule.Meeting.Resp.Neg"]
    (appointment,) = [r for r in listing.calendar_rows(bob_box) if r.uid == uid]
    own = mapping.appointment(
        mapping.calendar_text(listing.fetch_mime(bob_box, appointment.url)),
        exchange_url=appointment.url, user="bob@example.com")
    reply_ics = mapping.calendar_text(listing.fetch_mime(bob_box, rows[0].url))
    outcome = mapping.apply_reply(own.text, reply_ics, rows[0].message_class)
    assert (outcome.attendee, outcome.partstat, outcome.changed) == (
        "room-101@example.com", "DECLINED", True)
    assert partstat(event_of(outcome.text), "room-101@example.com") == "DECLINED"


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_listing_pages_with_range_and_logs_progress(
        sim: RunningSimulator, caplog: pytest.LogCaptureFixture) -> None:
    with logged_in(sim, "bob") as bob:
        uids = [send_meeting(bob, sim.base_url, "bob", f"m{i}", subject=f"M{i}",
                             start=HTTP_START + timedelta(days=i), to="alice@example.com")[1]
                for i in range(5)]
    alice = client(sim)
    alice.discover()
    count = alice.session.request_count
    with caplog.at_level(logging.INFO, logger="bridge.pull.listing"):
        rows = list(listing.inbox_rows(alice, page=2))
    assert [r.uid for r in rows] == uids
    assert alice.session.request_count - count == 3  # rows 0-1, 2-3, 4 (short page: the end)
    assert "listed 5 of 5 items" in caplog.text
    changed, gone = listing.diff({rows[0].url: rows[0].etag, "http://x/gone": "1"}, rows)
    assert [r.uid for r in changed] == uids[1:] and gone == ["http://x/gone"]


@pytest.mark.parametrize("sim", ["fba"], indirect=True)
def test_accept_then_decline_from_the_client_sends_one_reply_each(
        sim: RunningSimulator) -> None:
    with logged_in(sim, "bob") as bob:
        _, uid = send_meeting(bob, sim.base_url, "bob", "weekly", to="alice@example.com")
    alice = client(sim)
    (row,) = list(listing.inbox_rows(alice))
    pulled = mapping.invitation(mapping.calendar_text(listing.fetch_mime(alice, row.url)),
                                exchange_url=row.url, user="alice@example.com")
    assert partstat(event_of(pulled.text), "alice@example.com") == "NEEDS-ACTION"
    bob_box = client(sim, "bob")

    def replies_at_bob() -> list[str]:
        return [r.message_class for r in listing.inbox_rows(bob_box) if r.uid == uid]

    for old, new, expected in (("NEEDS-ACTION", "ACCEPTED", "Pos"),
                               ("ACCEPTED", "DECLINED", "Neg")):
        decision = answers.decide(old, new)
        assert decision.command is not None
        count = alice.session.request_count
        found = owa_answer.survey(alice, uid)
        assert found.request_url is not None
        owa_answer.send_answer(alice, found.request_url, decision.command)
        assert alice.session.request_count == count + 2  # one SEARCH and one GET per answer
        assert owa_answer.survey(alice, uid).replies == found.replies + 1
        assert answers.recover("request_located", found.replies,
                               found.replies + 1).send is False
        assert replies_at_bob()[-1] == "IPM.Schedule.Meeting.Resp." + expected
    assert sorted(replies_at_bob()) == ["IPM.Schedule.Meeting.Resp.Neg",
                                        "IPM.Schedule.Meeting.Resp.Pos"]
    assert [r for r in listing.calendar_rows(alice) if r.uid == uid] == []  # decline removed it
    with pytest.raises(owa_answer.RequestGone):
        owa_answer.send_answer(alice, row.url, "accept")  # the Inbox URL is gone: moved
    assert len(replies_at_bob()) == 2


def send_message(sim: RunningSimulator, organizer: str, uid: str, name: str,
                 message_class: str, sequence: int, start: datetime, to: str) -> None:
    """An update (a fresh request, same uid, higher sequence; reference §3.3) or a cancellation
    (Mladen's recipe: class Canceled, method CANCEL), PROPPATCHed into Drafts and MOVEd to the
    submission URI, as a WebDAV client makes them."""
    props = {**appointment_props("Roadmap", start, start + timedelta(hours=1), to),
             "DAV:contentclass": "urn:content-classes:calendarmessage", CLASS: message_class,
             CAL + "uid": uid, CAL + "sequence": sequence,
             CAL + "method": "CANCEL" if message_class.endswith("Canceled") else "REQUEST"}
    with logged_in(sim, organizer) as session:
        draft = f"{sim.base_url}/exchange/{organizer}/Drafts/{name}.EML"
        assert proppatch(session, draft, props).status_code == 207
        moved = session.request("MOVE", draft, headers={
            "Destination": f"/exchange/{organizer}/%23%23DavMailSubmissionURI%23%23",
            "Overwrite": "F"})
        assert moved.status_code in (200, 201)


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_update_moves_the_event_and_resets_the_answer_then_cancel_marks_it(
        sim: RunningSimulator) -> None:
    with logged_in(sim, "bob") as bob:
        _, uid = send_meeting(bob, sim.base_url, "bob", "weekly", to="alice@example.com")
    alice = client(sim)
    tags = contenttag.read_tags(alice)

    def pull_newest(previous: str | None) -> mapping.Pulled:
        rows = [r for r in listing.inbox_rows(alice) if r.uid == uid]
        # Messages of one meeting apply in SEQUENCE order (creation times can tie).
        newest = max(rows, key=lambda r: r.sequence)
        ics = mapping.calendar_text(listing.fetch_mime(alice, newest.url))
        if newest.message_class == "IPM.Schedule.Meeting.Canceled":
            assert previous is not None
            return mapping.cancellation(previous, ics, exchange_url=newest.url)
        return mapping.invitation(ics, exchange_url=newest.url, user="alice@example.com",
                                  previous=previous)

    first = pull_newest(None)
    accepted = first.text.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    moved_to = HTTP_START + timedelta(days=1)
    send_message(sim, "bob", uid, "update", "IPM.Schedule.Meeting.Request", 1, moved_to,
                 "alice@example.com")
    now = contenttag.read_tags(alice)
    assert contenttag.moved(tags, now) == (False, True)
    update = pull_newest(accepted)
    event = event_of(update.text)
    assert event.decoded("DTSTART") == moved_to and update.sequence == 1
    assert partstat(event, "alice@example.com") == "NEEDS-ACTION"
    send_message(sim, "bob", uid, "cancel", "IPM.Schedule.Meeting.Canceled", 2, moved_to,
                 "alice@example.com")
    cancelled = event_of(pull_newest(update.text).text)
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled.decoded("DTSTART") == moved_to


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
@pytest.mark.parametrize("acted", [True, False], ids=["lost-answer", "lost-request"])
def test_a_dropped_answer_is_recovered_from_sent_items_exactly_once(
        sim: RunningSimulator, acted: bool) -> None:
    """The connection drops on `GET ?Cmd=accept`, after Exchange acted (lost answer) or before
    (lost request): recovery reads the Sent Items count and sends again only in the second
    case. bob ends with exactly one Resp.Pos either way."""
    with logged_in(sim, "bob") as bob:
        _, uid = send_meeting(bob, sim.base_url, "bob", "weekly", to="alice@example.com")
    alice = client(sim)
    found = owa_answer.survey(alice, uid)  # journaled as `request_located`, with the count
    assert found.request_url is not None
    sim.app.faults.add(r"(?i)cmd=accept", drop=True, after=acted)
    with pytest.raises(errors.TransportError):
        owa_answer.send_answer(alice, found.request_url, "accept")  # never retried
    again = owa_answer.survey(alice, uid)
    decision = answers.recover("request_located", found.replies, again.replies)
    assert decision.send is not acted
    if decision.send:
        assert again.request_url is not None
        owa_answer.send_answer(alice, again.request_url, "accept")
    replies = [r.message_class for r in listing.inbox_rows(client(sim, "bob")) if r.uid == uid]
    assert replies == ["IPM.Schedule.Meeting.Resp.Pos"]
