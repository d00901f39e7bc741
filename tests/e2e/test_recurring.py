"""Recurring meetings arrive on Exchange as the client meant them (issue 9, the bridge side).

The user's CalDAV client writes a series; calbridge sends it; the test reads back what Exchange
then serves (GET with ``Translate: f``) of the organizer's appointment and of the request in the
attendee's Inbox, and expands it with recurring-ical-events, exactly as it expands the client's own
text. Both must give the same occurrences, in UTC. Nothing here asks the simulator or calbridge
what to expect.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import recurring_ical_events

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, MESSAGE_CLASS, REQUEST, SEQUENCE, UID, Bridge

Span = tuple[datetime, datetime]


@dataclass(frozen=True)
class Series:
    name: str
    tzid: str
    start: str  # local wall clock, YYYYMMDDTHHMMSS
    hours: float
    rule: str
    first: str  # window, ISO dates (UTC)
    last: str
    extra: tuple[str, ...] = ()

    @property
    def window(self) -> Span:
        return (datetime.fromisoformat(self.first).replace(tzinfo=UTC),
                datetime.fromisoformat(self.last).replace(tzinfo=UTC))

    def text(self, *overrides: str) -> str:
        end = datetime.strptime(self.start, "%Y%m%dT%H%M%S") + timedelta(hours=self.hours)
        master = ics.event(
            f"series-{self.name}", ics.BOB, f"RRULE:{self.rule}", *self.extra,
            start=f"DTSTART;TZID={self.tzid}:{self.start}",
            end=f"DTEND;TZID={self.tzid}:{end:%Y%m%dT%H%M%S}", summary=f"Series {self.name}")
        return ics.calendar(master, *overrides)


CASES = [
    Series("berlin-march", "Europe/Berlin", "20260309T090000", 1, "FREQ=WEEKLY;COUNT=6",
           "2026-03-08", "2026-04-16"),
    Series("new-york-november", "America/New_York", "20261027T170000", 1,
           "FREQ=DAILY;COUNT=10", "2026-10-26", "2026-11-07"),
    Series("kolkata-mo-we", "Asia/Kolkata", "20260302T040000", 1,
           "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8", "2026-03-01", "2026-03-28"),
    Series("los-angeles-tu-th", "America/Los_Angeles", "20260303T190000", 1.5,
           "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8", "2026-03-02", "2026-03-29"),
    Series("exdate-after-dst", "Europe/Berlin", "20260316T090000", 1, "FREQ=WEEKLY;COUNT=5",
           "2026-03-15", "2026-04-20", ("EXDATE;TZID=Europe/Berlin:20260406T090000",)),
    Series("month-end", "Europe/Berlin", "20260131T150000", 2,
           "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=5", "2026-01-30", "2026-06-01"),
    Series("until-local", "Europe/Berlin", "20260309T090000", 1,
           "FREQ=WEEKLY;UNTIL=20260406T070000Z", "2026-03-08", "2026-04-16"),
]


def occurrences(text: str, window: Span) -> list[Span]:
    """What recurring-ical-events expands from an iCalendar text, in UTC, sorted; a cancelled
    occurrence does not take place (RFC 5545 3.8.1.11)."""
    found = recurring_ical_events.of(icalendar.Calendar.from_ical(text)).between(*window)
    return sorted((e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
                  for e in found if str(e.get("STATUS", "")).upper() != "CANCELLED")


def served(bridge: Bridge, href: str) -> str:
    """The iCalendar Exchange serves for an item (GET, ``Translate: f``)."""
    answer = bridge.exchange.session.get(href, headers={"Translate": "f"})
    assert answer.status_code == 200, answer.text
    message = email.message_from_bytes(answer.content, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return str(part.get_content())
    raise AssertionError("no text/calendar part")


def item_of(bridge: Bridge, alias: str, uid: str, folder: str = "Calendar") -> str:
    def find() -> str | None:
        for item in bridge.exchange.items(alias, folder):
            if item.get(UID) == uid:
                return str(item["href"])
        return None

    href = bridge.exchange.wait_for(find)
    assert isinstance(href, str)
    return href


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_series_arrives_in_its_local_time(bridge: Bridge, case: Series) -> None:
    original = case.text()
    wanted = occurrences(original, case.window)
    assert wanted
    bridge.calendar().save_event(original)
    bridge.sync()
    uid = f"series-{case.name}"
    # the organizer's appointment and the request in the attendee's Inbox
    for alias, folder in (("alice", "Calendar"), ("bob", "Inbox")):
        got = occurrences(served(bridge, item_of(bridge, alias, uid, folder)), case.window)
        assert got == wanted, alias


MOVED = ics.event(
    "series-berlin-march", ics.BOB, "RECURRENCE-ID;TZID=Europe/Berlin:20260323T090000",
    start="DTSTART;TZID=Europe/Berlin:20260324T150000",
    end="DTEND;TZID=Europe/Berlin:20260324T160000", summary="Series (moved)")
CANCELLED = ics.event(
    "series-berlin-march", ics.BOB, "RECURRENCE-ID;TZID=Europe/Berlin:20260406T090000",
    "STATUS:CANCELLED", start="DTSTART;TZID=Europe/Berlin:20260406T090000",
    end="DTEND;TZID=Europe/Berlin:20260406T100000", summary="Series berlin-march")


def test_a_series_with_a_moved_and_a_cancelled_occurrence_arrives_whole(bridge: Bridge) -> None:
    case = CASES[0]
    original = case.text(MOVED, CANCELLED)
    wanted = occurrences(original, case.window)
    assert datetime(2026, 3, 24, 14, tzinfo=UTC) in [s for s, _ in wanted]  # moved, in summer
    assert len(wanted) == 5  # six weeks, one cancelled
    bridge.calendar().save_event(original)
    report = bridge.sync()
    assert "skip" not in str(report)
    for alias, folder in (("alice", "Calendar"), ("bob", "Inbox")):
        got = occurrences(served(bridge, item_of(bridge, alias, case_uid(case), folder)),
                          case.window)
        assert got == wanted, alias


def case_uid(case: Series) -> str:
    return f"series-{case.name}"


def newest_request(bridge: Bridge, uid: str) -> str:
    found = [i for i in bridge.exchange.inbox("bob") if i.get(UID) == uid]
    assert found
    return str(max(found, key=lambda i: int(str(i.get(SEQUENCE) or 0)))["href"])


def only_event(text: str) -> icalendar.cal.Component:
    [event] = icalendar.Calendar.from_ical(text).walk("VEVENT")
    return event


LATER = ics.event(
    "series-berlin-march", ics.BOB, "RECURRENCE-ID;TZID=Europe/Berlin:20260330T090000",
    "SEQUENCE:1", start="DTSTART;TZID=Europe/Berlin:20260330T110000",
    end="DTEND;TZID=Europe/Berlin:20260330T120000", summary="Series (later)")
CANCEL_LATER = ics.event(
    "series-berlin-march", ics.BOB, "RECURRENCE-ID;TZID=Europe/Berlin:20260330T090000",
    "SEQUENCE:1", "STATUS:CANCELLED", start="DTSTART;TZID=Europe/Berlin:20260330T090000",
    end="DTEND;TZID=Europe/Berlin:20260330T100000", summary="Series berlin-march")


@pytest.mark.parametrize(
    ("change", "message_class"),
    [((LATER,), REQUEST), ((CANCEL_LATER,), CANCELED),
     (("EXDATE;TZID=Europe/Berlin:20260330T090000",), CANCELED)],
    ids=["moved", "cancelled-override", "exdate-added-later"],
)
def test_a_change_to_one_occurrence_sends_one_message_about_it(
    bridge: Bridge, change: tuple[str, ...], message_class: str
) -> None:
    case = CASES[0]
    event = bridge.calendar().save_event(case.text(MOVED))
    bridge.sync()
    before = {str(i["href"]) for i in bridge.exchange.inbox("bob")}
    if change[0].startswith("EXDATE"):
        changed = Series(case.name, case.tzid, case.start, case.hours, case.rule, case.first,
                         case.last, change).text(MOVED)
    else:
        changed = case.text(MOVED, *change)
    event.data = changed
    event.save()
    bridge.sync()
    wanted = occurrences(changed, case.window)
    assert datetime(2026, 3, 30, 7, tzinfo=UTC) not in [s for s, _ in wanted]
    appointment = item_of(bridge, "alice", case_uid(case))
    assert occurrences(served(bridge, appointment), case.window) == wanted
    # Bob: exactly one new message, about that occurrence alone
    new = [i for i in bridge.exchange.inbox("bob") if str(i["href"]) not in before]
    assert [i.get(MESSAGE_CLASS) for i in new] == [message_class]
    message = only_event(served(bridge, str(new[0]["href"])))
    assert message["RECURRENCE-ID"].dt.astimezone(UTC) == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert "RRULE" not in message
    if message_class == REQUEST:
        assert message["DTSTART"].dt.astimezone(UTC) == datetime(2026, 3, 30, 9, tzinfo=UTC)
    # sent straight through the submission URI (reference §3.2): no draft left behind
    assert bridge.exchange.items("alice", "Drafts") == []


@pytest.mark.parametrize(
    ("rule", "extra"),
    [
        ("FREQ=WEEKLY;COUNT=3", ()),
        ("FREQ=WEEKLY;UNTIL=20260323T080000Z", ()),
    ],
    ids=["count-lowered", "until-lowered"],
)
def test_a_shorter_series_reaches_the_attendee(
    bridge: Bridge, rule: str, extra: tuple[str, ...]
) -> None:
    case = CASES[0]
    event = bridge.calendar().save_event(case.text())
    bridge.sync()
    changed = Series(case.name, case.tzid, case.start, case.hours, rule, case.first, case.last,
                     (*extra, "SEQUENCE:1")).text()
    event.data = changed
    event.save()
    bridge.sync()
    wanted = occurrences(changed, case.window)
    assert len(wanted) < len(occurrences(case.text(), case.window))
    appointment = item_of(bridge, "alice", case_uid(case))
    assert occurrences(served(bridge, appointment), case.window) == wanted
    got = occurrences(served(bridge, newest_request(bridge, case_uid(case))), case.window)
    assert got == wanted


def test_an_occurrence_taken_back_leaves_no_exception_on_exchange(bridge: Bridge) -> None:
    case = CASES[0]
    event = bridge.calendar().save_event(case.text(MOVED))
    bridge.sync()
    event.data = case.text()  # the client drops the override: the occurrence is as the series
    event.save()
    bridge.sync()
    wanted = occurrences(case.text(), case.window)
    appointment = item_of(bridge, "alice", case_uid(case))
    assert occurrences(served(bridge, appointment), case.window) == wanted
