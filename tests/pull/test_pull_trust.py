"""Whom a pull believes (issue 10 review): a message about someone else's meeting, a listing
that ended early, a reply sent in someone else's name, and an older Calendar copy of an
invitation never change alice's calendar. Real parts: the embedded simulator over HTTP is
Exchange (bob and carol work in it over WebDAV as Outlook does), Radicale holds alice's
calendar, `caldav` is her client, the service's own pull job and state run the passes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
import requests

from bridge.pull import owa_answer
from tests.e2e.conftest import REQUEST, Bridge, _start
from tests.pull.test_end_to_end import alice_event, as_bob
from tests.pull.test_service_pull import partstat_of, pull, state
from tests.sim.davclient import login_fba, proppatch
from tests.sim.test_transport import CAL, CLASS, HTTP_START, appointment_props, send_meeting

CANCELED = "IPM.Schedule.Meeting.Canceled"


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    yield from _start(tmp_path / "state", autosync=False)


def as_user(bridge: Bridge, alias: str) -> requests.Session:
    session = requests.Session()
    assert bridge.service.sim_url is not None
    login_fba(session, bridge.service.sim_url, alias, "demo")
    return session


def send_as(bridge: Bridge, alias: str, uid: str, name: str, message_class: str,
            sequence: int, start: datetime, subject: str = "Roadmap") -> None:
    """`alias` sends alice a meeting message with `uid` (Outlook's WebDAV way: a draft moved to
    the submission URI; the transport stamps `alias` as From and organizer)."""
    base = bridge.service.sim_url
    props = {**appointment_props(subject, start, start + timedelta(hours=1),
                                 "alice@example.com"),
             "DAV:contentclass": "urn:content-classes:calendarmessage", CLASS: message_class,
             CAL + "uid": uid, CAL + "sequence": sequence}
    with as_user(bridge, alias) as session:
        draft = f"{base}/exchange/{alias}/Drafts/{name}.EML"
        assert proppatch(session, draft, props).status_code == 207
        assert session.request("MOVE", draft, headers={
            "Destination": f"/exchange/{alias}/%23%23DavMailSubmissionURI%23%23",
            "Overwrite": "F"}).status_code in (200, 201)


def problems(bridge: Bridge, uid: str) -> list[str]:
    return [reason for _, u, reason in state(bridge).pull_problems("alice") if u == uid]


def invited(bridge: Bridge, name: str = "roadmap") -> str:
    bridge.calendar("alice")
    pull(bridge)
    with as_bob(bridge) as bob:
        _, uid = send_meeting(bob, bridge.service.sim_url or "", "bob", name,
                              subject="Roadmap", to="alice@example.com")
    pull(bridge)
    return uid


# -- 1. a stranger's request or cancellation with bob's UID ---------------------------------


def test_a_request_from_someone_else_with_the_uid_of_bobs_meeting_is_not_written(
        bridge: Bridge) -> None:
    uid = invited(bridge)
    send_as(bridge, "carol", uid, "takeover", REQUEST, 5, HTTP_START + timedelta(days=3),
            subject="Mine now")
    pull(bridge)
    event = alice_event(bridge, uid)
    assert str(event["ORGANIZER"]).lower() == "mailto:bob@example.com"  # type: ignore[index]
    assert str(event["SUMMARY"]) == "Roadmap"  # type: ignore[index]
    assert event.decoded("DTSTART") == HTTP_START  # type: ignore[attr-defined]
    assert problems(bridge, uid) == ["request from carol@example.com for a meeting organized "
                                     "by bob@example.com: not written"]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.sequence == 0

    # alice's answer goes to bob's request, not to carol's newer one with the same UID.
    engine = bridge.service.engine
    assert engine is not None
    alice = engine.mailbox_for(bridge.config.user("alice"))
    requests_by = {{0: "bob@example.com", 5: "carol@example.com"}[int(str(i[CAL + "sequence"]))]:
                   str(i["href"]) for i in bridge.exchange.inbox("alice", REQUEST)
                   if i.get(CAL + "uid") == uid}
    assert set(requests_by) == {"bob@example.com", "carol@example.com"}
    found = owa_answer.survey(alice, uid, organizer="Bob@Example.com").request_url
    assert found is not None and found.endswith(requests_by["bob@example.com"])
    anyone = owa_answer.survey(alice, uid).request_url  # without an organizer: the newest
    assert anyone is not None and anyone.endswith(requests_by["carol@example.com"])


def test_a_cancellation_from_someone_else_leaves_bobs_meeting_alone(bridge: Bridge) -> None:
    uid = invited(bridge)
    send_as(bridge, "carol", uid, "cancel", CANCELED, 5, HTTP_START)
    pull(bridge)
    event = alice_event(bridge, uid)
    assert str(event.get("STATUS", "CONFIRMED")) != "CANCELLED"  # type: ignore[attr-defined]
    assert problems(bridge, uid) == ["cancellation from carol@example.com for a meeting "
                                     "organized by bob@example.com: not written"]
    send_as(bridge, "bob", uid, "real-cancel", CANCELED, 1, HTTP_START)  # bob's own still works
    pull(bridge)
    assert str(alice_event(bridge, uid)["STATUS"]) == "CANCELLED"  # type: ignore[index]


# -- 2. a listing that ends early deletes nothing ------------------------------------------


def test_a_calendar_listing_that_ends_early_deletes_no_event(bridge: Bridge) -> None:
    uid = invited(bridge)
    (request,) = bridge.exchange.inbox("alice", REQUEST)
    assert bridge.exchange.session.get(f"{request['href']}?Cmd=accept",
                                       allow_redirects=False).status_code == 302
    pull(bridge)  # alice's Calendar now holds the meeting, and the pull remembers its URL
    (copy,) = [i for i in bridge.exchange.calendar("alice") if i.get(CAL + "uid") == uid]
    assert proppatch(bridge.exchange.session, str(copy["href"]),
                     {CAL + "reminderoffset": 600}).status_code == 207  # the tag moves
    # Range paging is no snapshot: rows that shift between pages end the listing with a 416
    # before this item was listed.
    bridge.sim.faults.add(r"^SEARCH /exchange/alice/Calendar", status=416)
    report = pull(bridge)
    assert report.pulled["alice"].removed == 0
    assert partstat_of(alice_event(bridge, uid), "alice@example.com") == "ACCEPTED"  # type: ignore[arg-type]
    assert state(bridge).pulled("alice", uid) is not None
    again = pull(bridge)  # the next full listing reads the item again (its etag was dropped)
    assert again.pulled["alice"].problems == []
    assert alice_event(bridge, uid) is not None

    # A real removal is still a removal.
    assert bridge.exchange.session.delete(str(copy["href"])).status_code in (200, 204)
    assert pull(bridge).pulled["alice"].removed == 1
    assert not [e for e in bridge.calendar("alice").events()
                if str(e.icalendar_component["UID"]) == uid]


# -- 3. a reply in someone else's name ------------------------------------------------------


def _alices_meeting(bridge: Bridge, uid: str) -> None:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//test//EN")
    calendar.add("VERSION", "2.0")
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", datetime(2026, 1, 1, tzinfo=UTC))
    event.add("DTSTART", HTTP_START)
    event.add("DTEND", HTTP_START + timedelta(hours=1))
    event.add("SUMMARY", "Alice's review")
    event.add("ORGANIZER", icalendar.vCalAddress("mailto:alice@example.com"))
    for who in ("bob", "carol"):
        line = icalendar.vCalAddress(f"mailto:{who}@example.com")
        line.params["PARTSTAT"] = "NEEDS-ACTION"
        event.add("ATTENDEE", line)
    calendar.add_component(event)
    bridge.calendar("alice").save_event(calendar.to_ical().decode())


def _reply_mime(sender: str, attendee: str, uid: str) -> bytes:
    return (f"From: {sender}\r\nTo: alice@example.com\r\nSubject: Declined: Alice's review\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/calendar; method=REPLY; charset=utf-8\r\n"
            "\r\nBEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//forger//EN\r\nMETHOD:REPLY\r\n"
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSEQUENCE:0\r\n"
            "DTSTART:20261201T140000Z\r\nDTEND:20261201T150000Z\r\n"
            "ORGANIZER:mailto:alice@example.com\r\n"
            f"ATTENDEE;PARTSTAT=DECLINED:mailto:{attendee}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            ).encode()


def _send_mime(bridge: Bridge, alias: str, name: str, body: bytes) -> None:
    base = bridge.service.sim_url
    with as_user(bridge, alias) as session:
        draft = f"{base}/exchange/{alias}/Drafts/{name}.EML"
        assert session.put(draft, data=body, headers={"Content-Type": "message/rfc822",
                                                      "Translate": "f"}).status_code in (200, 201)
        assert session.request("MOVE", draft, headers={
            "Destination": f"/exchange/{alias}/%23%23DavMailSubmissionURI%23%23",
            "Overwrite": "F"}).status_code in (200, 201)


def test_a_reply_sent_in_someone_elses_name_is_not_recorded(bridge: Bridge) -> None:
    uid = "alice-review-1"
    _alices_meeting(bridge, uid)
    pull(bridge)
    _send_mime(bridge, "carol", "forged", _reply_mime("carol@example.com", "bob@example.com",
                                                      uid))
    (message,) = [i for i in bridge.exchange.inbox("alice") if i.get(CAL + "uid") == uid]
    assert str(message[CLASS]) == "IPM.Schedule.Meeting.Resp.Neg"
    pull(bridge)
    event = alice_event(bridge, uid)
    assert partstat_of(event, "bob@example.com") == "NEEDS-ACTION"  # type: ignore[arg-type]
    assert problems(bridge, uid) == ["reply from carol@example.com on behalf of "
                                     "bob@example.com: not recorded"]

    _send_mime(bridge, "carol", "own", _reply_mime("carol@example.com", "carol@example.com",
                                                   uid))
    pull(bridge)  # carol's own answer is recorded
    event = alice_event(bridge, uid)
    assert partstat_of(event, "carol@example.com") == "DECLINED"  # type: ignore[arg-type]
    assert partstat_of(event, "bob@example.com") == "NEEDS-ACTION"  # type: ignore[arg-type]


# -- 4. an older Calendar copy after a newer invitation -------------------------------------


def test_an_older_calendar_copy_does_not_undo_a_pulled_update(bridge: Bridge) -> None:
    uid = invited(bridge)
    (request,) = bridge.exchange.inbox("alice", REQUEST)
    assert bridge.exchange.session.get(f"{request['href']}?Cmd=accept",
                                       allow_redirects=False).status_code == 302
    pull(bridge)  # alice's Calendar copy, SEQUENCE 0
    moved_to = HTTP_START + timedelta(days=1)
    send_as(bridge, "bob", uid, "update", REQUEST, 1, moved_to)
    pull(bridge)
    assert alice_event(bridge, uid).decoded("DTSTART") == moved_to  # type: ignore[attr-defined]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.sequence == 1

    # alice changes her reminder on the Calendar copy, still SEQUENCE 0 (not updated yet).
    (copy,) = [i for i in bridge.exchange.calendar("alice") if i.get(CAL + "uid") == uid]
    assert int(str(copy.get(CAL + "sequence") or 0)) == 0
    assert proppatch(bridge.exchange.session, str(copy["href"]),
                     {CAL + "reminderoffset": 600}).status_code == 207
    report = pull(bridge)
    assert report.pulled["alice"].written == 0
    assert report.pulled["alice"].problems == []  # routine, not a warning
    assert alice_event(bridge, uid).decoded("DTSTART") == moved_to  # type: ignore[attr-defined]
    row = state(bridge).pulled("alice", uid)
    assert row is not None and row.sequence == 1


def test_alices_accept_answers_bobs_request_not_a_strangers_newer_one(bridge: Bridge) -> None:
    """carol's request with bob's UID and a higher SEQUENCE sits in alice's Inbox; alice
    accepts bob's meeting in her client: bob gets the reply, carol gets nothing."""
    uid = invited(bridge)
    send_as(bridge, "carol", uid, "takeover", REQUEST, 5, HTTP_START + timedelta(days=3),
            subject="Mine now")
    pull(bridge)
    calendar = bridge.calendar("alice")
    event = calendar.event_by_uid(uid)
    event.data = event.data.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
    event.save()
    bridge.sync(full=False)
    bridge.sync()

    def replies(alias: str) -> list[str]:
        return [str(i[CLASS]) for i in bridge.exchange.items(alias, "Inbox")
                if i.get(CAL + "uid") == uid and str(i[CLASS]).startswith(
                    "IPM.Schedule.Meeting.Resp.")]

    assert replies("bob") == ["IPM.Schedule.Meeting.Resp.Pos"]
    assert replies("carol") == []
