"""The scheduling outbox (RFC 6638): free/busy queries from the user's CalDAV client, answered
from Exchange's free/busy over HTTP — real Radicale, the simulator, raw requests and caldav."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import caldav
import icalendar
import requests

from tests.e2e.conftest import Bridge

CALDAV = "urn:ietf:params:xml:ns:caldav"
DAV = "DAV:"


def _tomorrow(hour: int) -> datetime:
    day = datetime.now(UTC).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def _query(attendees: list[str], start: datetime, end: datetime) -> bytes:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "METHOD:REQUEST",
        "BEGIN:VFREEBUSY", f"UID:{uuid.uuid4()}", "DTSTAMP:20260101T000000Z",
        "ORGANIZER:mailto:alice@example.com",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        *(f"ATTENDEE:{a}" for a in attendees),
        "END:VFREEBUSY", "END:VCALENDAR", "",
    ]
    return "\r\n".join(lines).encode()


def _post(
    bridge: Bridge, body: bytes, *, user: str = "alice", owner: str = "alice",
    auth: tuple[str, str] | None = ("alice", "demo"),
) -> requests.Response:
    return requests.post(
        f"{bridge.service.caldav_url}{owner}/outbox/",
        data=body,
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        auth=auth if auth is None else (user, auth[1]),
        timeout=30,
    )


def _answers(response: requests.Response) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """recipient → (request-status, [(FBTYPE, period)])."""
    assert response.status_code == 200, response.text
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{CALDAV}}}schedule-response"
    result = {}
    for answer in root.findall(f"{{{CALDAV}}}response"):
        recipient = answer.findtext(f"{{{CALDAV}}}recipient/{{{DAV}}}href") or ""
        status = answer.findtext(f"{{{CALDAV}}}request-status") or ""
        periods: list[tuple[str, str]] = []
        data = answer.findtext(f"{{{CALDAV}}}calendar-data")
        if data:
            calendar = icalendar.Calendar.from_ical(data)
            assert str(calendar["METHOD"]) == "REPLY"
            for reply in calendar.walk("VFREEBUSY"):
                values = reply.get("FREEBUSY", [])
                for value in values if isinstance(values, list) else [values]:
                    periods.append((str(value.params.get("FBTYPE")), value.to_ical().decode()))
        result[recipient] = (status, periods)
    return result


def _book_room(bridge: Bridge, start: datetime, end: datetime) -> None:
    event = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
        f"UID:{uuid.uuid4()}", "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        "SUMMARY:Planning", "ORGANIZER:mailto:alice@example.com",
        "ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT:mailto:room-101@example.com",
        "END:VEVENT", "END:VCALENDAR", "",
    ])
    bridge.calendar("alice").save_event(event)
    bridge.sync()


def _freebusy_requests(bridge: Bridge, since: int) -> list[object]:
    return [
        e for e in bridge.sim.log.entries()[since:]
        if "freebusy" in (e.query or "").lower() or "freebusy" in e.path.lower()
    ]


def test_the_room_booked_through_the_bridge_shows_busy_in_one_exchange_request(
    bridge: Bridge,
) -> None:
    start, end = _tomorrow(9), _tomorrow(10)
    _book_room(bridge, start, end)
    before = len(bridge.sim.log)

    answers = _answers(_post(bridge, _query(
        ["mailto:room-101@example.com", "mailto:room-102@example.com",
         "mailto:alice@example.com"], _tomorrow(8), _tomorrow(12))))

    busy = f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"
    assert answers["mailto:room-101@example.com"] == ("2.0;Success", [("BUSY", busy)])
    assert answers["mailto:room-102@example.com"] == ("2.0;Success", [])
    # The organizer's own appointment counts too (Exchange's free/busy of her mailbox).
    assert answers["mailto:alice@example.com"] == ("2.0;Success", [("BUSY", busy)])
    entries = bridge.sim.log.entries()[before:]
    assert len(_freebusy_requests(bridge, before)) == 1
    # The first query logs the outbox's session in once (then it is kept, next test).
    assert [e.path for e in entries if "freebusy" not in e.query] == [
        "/exchweb/bin/auth/owaauth.dll"
    ]


def test_a_second_query_logs_in_no_more(bridge: Bridge) -> None:
    body = _query(["mailto:bob@example.com"], _tomorrow(8), _tomorrow(9))
    _answers(_post(bridge, body))
    before = len(bridge.sim.log)
    _answers(_post(bridge, body))
    entries = bridge.sim.log.entries()[before:]
    assert [e.method for e in entries] == ["GET"]
    assert "owaauth" not in " ".join(e.path for e in entries)


def test_unknown_and_malformed_addresses_get_invalid_calendar_user(bridge: Bridge) -> None:
    answers = _answers(_post(bridge, _query(
        ["mailto:nobody@example.com", "mailto:bob@x:carol@x", "mailto:bob@example.com"],
        _tomorrow(8), _tomorrow(9))))
    assert answers["mailto:nobody@example.com"][0].startswith("3.7;")
    assert answers["mailto:bob@x:carol@x"][0].startswith("3.7;")
    assert answers["mailto:bob@example.com"] == ("2.0;Success", [])


def test_tentative_time_is_busy_tentative(bridge: Bridge) -> None:
    """Bob's Outlook-style tentative copy of a request: BUSY-TENTATIVE (digit 1)."""
    start, end = _tomorrow(14), _tomorrow(15)
    event = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
        f"UID:{uuid.uuid4()}", "DTSTAMP:20260101T000000Z",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        "SUMMARY:Maybe", "TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
        "END:VEVENT", "END:VCALENDAR", "",
    ])
    bridge.calendar("bob").save_event(event)
    bridge.sync()
    answers = _answers(_post(bridge, _query(
        ["mailto:bob@example.com"], _tomorrow(13), _tomorrow(16)),
        user="bob", owner="bob"))
    status, periods = answers["mailto:bob@example.com"]
    assert status == "2.0;Success"
    assert periods and {kind for kind, _ in periods} <= {"BUSY-TENTATIVE", "BUSY"}


def test_an_unauthenticated_post_gets_401_and_asks_nothing(bridge: Bridge) -> None:
    before = len(bridge.sim.log)
    body = _query(["mailto:bob@example.com"], _tomorrow(8), _tomorrow(9))
    response = _post(bridge, body, auth=None)
    assert response.status_code == 401
    assert "Basic" in response.headers.get("WWW-Authenticate", "")
    wrong = _post(bridge, body, auth=("alice", "wrong"))
    assert wrong.status_code == 401
    assert len(bridge.sim.log) == before


def test_alice_cannot_post_to_bobs_outbox(bridge: Bridge) -> None:
    before = len(bridge.sim.log)
    response = _post(
        bridge, _query(["mailto:bob@example.com"], _tomorrow(8), _tomorrow(9)), owner="bob"
    )
    assert response.status_code == 403
    assert len(bridge.sim.log) == before


def test_too_many_attendees_or_a_malformed_query_is_a_clear_400(bridge: Bridge) -> None:
    before = len(bridge.sim.log)
    many = [f"mailto:user{n}@example.com" for n in range(500)]
    crowd = _post(bridge, _query(many, _tomorrow(8), _tomorrow(9)))
    assert crowd.status_code == 400
    assert "at most 100 attendees" in crowd.text
    garbage = _post(bridge, b"BEGIN:VCALENDAR\r\nthis is not\r\n")
    assert garbage.status_code == 400
    inverted = _post(bridge, _query(["mailto:bob@example.com"], _tomorrow(9), _tomorrow(8)))
    assert inverted.status_code == 400 and "DTEND" in inverted.text
    event = _post(bridge, _query(["mailto:bob@example.com"], _tomorrow(8), _tomorrow(9))
                  .replace(b"METHOD:REQUEST", b"METHOD:PUBLISH"))
    assert event.status_code == 400
    assert len(bridge.sim.log) == before
    assert "Traceback" not in crowd.text + garbage.text + inverted.text


def test_exchange_down_gives_service_unavailable_per_recipient(bridge: Bridge) -> None:
    bridge.sim.faults.add(r"/public/", status=500, count=10)
    answers = _answers(_post(bridge, _query(
        ["mailto:bob@example.com", "mailto:x@y:z"], _tomorrow(8), _tomorrow(9))))
    assert answers["mailto:bob@example.com"][0].startswith("5.1;")
    assert answers["mailto:x@y:z"][0].startswith("3.7;")


def test_the_principal_advertises_its_outbox_and_caldav_uses_it(bridge: Bridge) -> None:
    client = caldav.DAVClient(
        url=f"{bridge.service.caldav_url}alice/", username="alice", password="demo"
    )
    principal = client.principal()
    outbox = principal.schedule_outbox()
    assert outbox.url.path == "/alice/outbox/"
    addresses = principal.calendar_user_address_set()
    assert "mailto:alice@example.com" in addresses

    start, end = _tomorrow(9), _tomorrow(10)
    _book_room(bridge, start, end)
    reply = principal.freebusy_request(
        _tomorrow(8), _tomorrow(11), ["mailto:room-101@example.com"]
    )
    assert reply["errors"] == {}
    room = reply["mailto:room-101@example.com"]
    busy = room.icalendar_instance.walk("VFREEBUSY")[0]["FREEBUSY"]
    assert busy.params["FBTYPE"] == "BUSY"
    assert busy.to_ical().decode() == f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}"


def test_the_outbox_path_of_other_methods_is_radicales(bridge: Bridge) -> None:
    """Only POST is taken over: a PROPFIND on the outbox path is Radicale's (404 there)."""
    response = requests.request(
        "PROPFIND", f"{bridge.service.caldav_url}alice/outbox/", auth=("alice", "demo"),
        headers={"Depth": "0"}, timeout=30,
    )
    assert response.status_code == 404


def test_the_server_says_it_schedules_so_clients_send_no_itip_themselves(bridge: Bridge) -> None:
    response = requests.options(
        f"{bridge.service.caldav_url}alice/calendar/", auth=("alice", "demo"), timeout=30
    )
    assert "calendar-auto-schedule" in response.headers["DAV"]
    assert "calendar-access" in response.headers["DAV"]
    client = caldav.DAVClient(
        url=f"{bridge.service.caldav_url}alice/", username="alice", password="demo"
    )
    assert client.check_scheduling_support()
