"""The outbox's pure core: free/busy query parsing and the schedule-response."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import icalendar
import pytest

from bridge import outbox
from bridge.outbox_http import _advertise

C = "{urn:ietf:params:xml:ns:caldav}"
D = "{DAV:}"
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _body(*attendees: str, start: str = "20261210T080000Z", end: str = "20261210T120000Z",
          method: str = "REQUEST", extra: str = "") -> bytes:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", f"METHOD:{method}",
        "BEGIN:VFREEBUSY", "UID:q-1", "DTSTAMP:20261201T000000Z",
        "ORGANIZER:mailto:alice@example.com", f"DTSTART:{start}", f"DTEND:{end}",
        *(f"ATTENDEE:{a}" for a in attendees), "END:VFREEBUSY", *([extra] if extra else []),
        "END:VCALENDAR", "",
    ]).encode()


def test_a_query_names_its_recipients_and_range() -> None:
    query = outbox.parse_query(_body("mailto:Bob@Example.com", "mailto:x@y:z",
                                     "mailto:bob@example.com"))
    assert query.start == datetime(2026, 12, 10, 8, tzinfo=UTC)
    assert [r.address for r in query.recipients] == ["bob@example.com", None, "bob@example.com"]
    assert query.addresses == ["bob@example.com"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not ical", "not an iCalendar"),
        (_body("mailto:b@x", method="PUBLISH"), "METHOD:REQUEST"),
        (_body(), "at least one ATTENDEE"),
        (_body("mailto:b@x", start="20261210T120000Z", end="20261210T080000Z"), "after"),
        (_body("mailto:b@x", end="20270610T080000Z"), "at most 100 days"),
        (_body(*[f"mailto:u{n}@x" for n in range(101)]), "at most 100 attendees"),
        (_body("mailto:b@x", extra="BEGIN:VEVENT\r\nUID:e\r\nEND:VEVENT"), "exactly one"),
        (_body("mailto:b@x", start="20261210T080000"), "UTC or zoned"),
    ],
)
def test_bad_queries_are_a_400_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(outbox.QueryError) as caught:
        outbox.parse_query(body)
    assert caught.value.status == 400
    assert reason in str(caught.value)


def _statuses(document: bytes) -> dict[str, tuple[str, str | None]]:
    root = ET.fromstring(document)
    return {
        r.findtext(f"{C}recipient/{D}href") or "": (
            r.findtext(f"{C}request-status") or "", r.findtext(f"{C}calendar-data"))
        for r in root.findall(f"{C}response")
    }


def test_digits_become_typed_periods_and_unknowns_invalid_users() -> None:
    query = outbox.parse_query(_body("mailto:bob@example.com", "mailto:nobody@example.com",
                                     "mailto:room@example.com", "mailto:bad@x@y"))
    digits = {
        "bob@example.com": "0011222233440000",  # 15-minute slots from 08:00
        "nobody@example.com": "4444444444444444",
        "room@example.com": "0000000000000000",
    }
    answers = _statuses(outbox.build_response(query, digits, now=NOW))
    status, data = answers["mailto:bob@example.com"]
    assert status == "2.0;Success" and data is not None
    reply = icalendar.Calendar.from_ical(data)
    assert str(reply["METHOD"]) == "REPLY"
    periods = [(str(p.params["FBTYPE"]), p.to_ical().decode())
               for p in reply.walk("VFREEBUSY")[0]["FREEBUSY"]]
    assert periods == [
        ("BUSY-TENTATIVE", "20261210T083000Z/20261210T090000Z"),
        ("BUSY", "20261210T090000Z/20261210T100000Z"),
        ("BUSY-UNAVAILABLE", "20261210T100000Z/20261210T103000Z"),
    ]  # the two 4s after them (no data) are not busy time
    assert answers["mailto:nobody@example.com"] == ("3.7;Invalid calendar user", None)
    assert answers["mailto:room@example.com"][0] == "2.0;Success"
    assert answers["mailto:bad@x@y"] == ("3.7;Invalid calendar user", None)


def test_exchange_unavailable_is_5_1_for_every_valid_recipient() -> None:
    query = outbox.parse_query(_body("mailto:bob@example.com", "mailto:bad@x@y"))
    answers = _statuses(outbox.build_response(query, None, now=NOW))
    assert answers["mailto:bob@example.com"][0] == "5.1;Service unavailable"
    assert answers["mailto:bad@x@y"][0].startswith("3.7;")


def test_the_principal_answer_gets_the_outbox_and_the_mailto_address() -> None:
    radicale = (
        b'<?xml version="1.0"?><multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        b"<response><href>/alice/</href><propstat><prop><C:schedule-outbox-URL/></prop>"
        b"<status>HTTP/1.1 404 Not Found</status></propstat><propstat><prop>"
        b"<C:calendar-user-address-set><href>/alice/</href></C:calendar-user-address-set>"
        b"</prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"
    )
    root = ET.fromstring(_advertise(radicale, "alice", "alice@example.com", ""))
    (response,) = root.findall(f"{D}response")
    (propstat,) = response.findall(f"{D}propstat")  # the emptied 404 propstat is gone
    assert "200" in (propstat.findtext(f"{D}status") or "")
    assert propstat.findtext(f"{D}prop/{C}schedule-outbox-URL/{D}href") == "/alice/outbox/"
    hrefs = [h.text for h in propstat.findall(f"{D}prop/{C}calendar-user-address-set/{D}href")]
    assert hrefs == ["/alice/", "mailto:alice@example.com"]
