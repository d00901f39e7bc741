"""The decision table of `bridge.pull.own_edits` and the merge of `bridge.pull.own_merge`
(pure; the HTTP story is in test_own_edits.py). Expectations are written out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import icalendar
import pytest

from bridge.meeting import Attendee, Meeting
from bridge.pull import own_edits, own_merge
from bridge.pull.own_edits import Shape

A = Shape("20261210T140000Z", "20261210T150000Z", False, "Planning", "", ("bob@example.com",))
B = Shape("20261210T160000Z", "20261210T170000Z", False, "Planning", "", ("bob@example.com",))
C = Shape("20261211T090000Z", "20261211T100000Z", False, "Planning", "", ("bob@example.com",))


@pytest.mark.parametrize(
    ("sent", "exchange", "caldav", "changed", "unfinished", "expected"),
    [
        (None, B, A, False, False, own_edits.Leave),
        (A, A, A, False, False, own_edits.InStep),  # our own write moved the etag
        (A, A, C, True, False, own_edits.InStep),  # only CalDAV changed: the push's business
        (A, B, B, True, False, own_edits.Agree),  # both made the same change
        (A, B, A, False, False, own_edits.TakeExchange),  # only Exchange changed
        (A, B, C, True, False, own_edits.KeepCalDAV),  # both changed: CalDAV wins
        (A, B, None, False, False, own_edits.KeepCalDAV),  # deleted in CalDAV: deletion wins
        (A, B, A, False, True, own_edits.KeepCalDAV),  # unfinished push: the push wins
        (A, B, B, False, True, own_edits.Agree),  # the push's own half-written version
    ],
)
def test_decision_table(sent: Shape | None, exchange: Shape, caldav: Shape | None,
                        changed: bool, unfinished: bool, expected: type) -> None:
    decision = own_edits.decide(sent=sent, exchange=exchange, caldav=caldav,
                                caldav_changed=changed, unfinished=unfinished)
    assert isinstance(decision, expected)


def test_shape_ignores_what_exchange_rewrites() -> None:
    base = Meeting("m-1", datetime(2026, 12, 10, 14, tzinfo=UTC),
                   datetime(2026, 12, 10, 15, tzinfo=UTC), summary="Planning",
                   organizer="alice@example.com",
                   attendees=(Attendee("bob@example.com"), Attendee("alice@example.com")))
    other = Meeting("m-1", datetime(2026, 12, 10, 15, tzinfo=ZoneInfo("Europe/Berlin")),
                    datetime(2026, 12, 10, 16, tzinfo=ZoneInfo("Europe/Berlin")),
                    summary="Planning\r\n", description="<p>Agenda</p>", reminder_minutes=15,
                    organizer="alice@example.com", sequence=3,
                    attendees=(Attendee("BOB@example.com", name="Bob"),))
    assert own_edits.shape_of(base, "alice@example.com") == \
        own_edits.shape_of(other, "alice@example.com")


CLIENT = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//client//EN\r
BEGIN:VEVENT\r
UID:m-1\r
DTSTAMP:20261125T120000Z\r
DTSTART;TZID=Europe/Berlin:20261210T150000\r
DURATION:PT1H\r
SUMMARY:Planning\r
DESCRIPTION:My notes\r
SEQUENCE:2\r
ORGANIZER:mailto:alice@example.com\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r
ATTENDEE;PARTSTAT=TENTATIVE:mailto:carol@example.com\r
X-CLIENT-COLOR:blue\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Soon\r
TRIGGER:-PT10M\r
END:VALARM\r
END:VEVENT\r
END:VCALENDAR\r
"""

EXCHANGE = """BEGIN:VCALENDAR\r
VERSION:2.0\r
METHOD:PUBLISH\r
BEGIN:VEVENT\r
UID:m-1\r
DTSTART:20261210T160000Z\r
DTEND:20261210T170000Z\r
SUMMARY:Planning\r
LOCATION:Room 7\r
SEQUENCE:1\r
ORGANIZER:mailto:"Alice Example" <alice@example.com>\r
ATTENDEE;CN="Bob Example";ROLE=REQ-PARTICIPANT:mailto:bob@example.com\r
ATTENDEE;CN="Dave";ROLE=OPT-PARTICIPANT:mailto:dave@example.com\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_merge_takes_when_where_and_who_and_keeps_the_rest() -> None:
    exchange = own_merge.exchange_meeting(EXCHANGE, default_tz="UTC")
    assert exchange.organizer == "alice@example.com"
    (event,) = icalendar.Calendar.from_ical(
        own_merge.merged(CLIENT, exchange, user="alice@example.com")).walk("VEVENT")
    berlin = ZoneInfo("Europe/Berlin")
    assert event.decoded("DTSTART") == datetime(2026, 12, 10, 17, tzinfo=berlin)
    assert str(event["DTSTART"].params["TZID"]) == "Europe/Berlin"  # the event's own zone
    assert event.decoded("DTEND") == datetime(2026, 12, 10, 18, tzinfo=berlin)
    assert "DURATION" not in event
    assert str(event["LOCATION"]) == "Room 7"
    attendees = {str(a).removeprefix("mailto:"): a.params.get("PARTSTAT")
                 for a in event["ATTENDEE"]}
    assert attendees == {"bob@example.com": "ACCEPTED", "dave@example.com": "NEEDS-ACTION"}
    assert int(event["SEQUENCE"]) == 2  # the higher of the two
    assert str(event["DESCRIPTION"]) == "My notes"
    assert str(event["X-CLIENT-COLOR"]) == "blue"
    assert [str(a["TRIGGER"].to_ical().decode()) for a in event.walk("VALARM")] == ["-PT10M"]
    assert "X-CALBRIDGE-ORIGIN" not in event
