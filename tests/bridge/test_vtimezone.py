"""The VTIMEZONE a series is sent with: it must give the real zone's offsets, and every series
(timed, all-day, floating) must carry one."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bridge.exchange import props as P
from bridge.meeting import Meeting
from bridge.vtimezone import vtimezone_text

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Kolkata", "America/Los_Angeles",
         "Australia/Sydney", "Asia/Jerusalem", "Africa/Casablanca", "America/Sao_Paulo", "UTC")


def _tzinfo(text: str):  # type: ignore[no-untyped-def]
    calendar = Calendar.from_ical(f"BEGIN:VCALENDAR\r\n{text}\r\nEND:VCALENDAR\r\n")
    (zone,) = calendar.walk("VTIMEZONE")
    return zone.to_tz(lookup_tzid=False)


@pytest.mark.parametrize("name", ZONES)
def test_the_vtimezone_gives_the_real_offsets_for_years(name: str) -> None:
    zone = ZoneInfo(name)
    built = _tzinfo(vtimezone_text(name, 2026))
    # off the hour: dateutil's reader and zoneinfo differ on the exact instant of a change
    moment = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
    while moment < datetime(2036, 1, 1, tzinfo=UTC):
        assert moment.astimezone(built).utcoffset() == moment.astimezone(zone).utcoffset(), moment
        moment += timedelta(hours=5)


def test_a_zone_with_yearly_rules_is_sent_as_outlook_writes_it() -> None:
    text = vtimezone_text("Europe/Berlin", 2026)
    assert "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" in text
    assert "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" in text
    assert "RDATE" not in text
    ny = vtimezone_text("America/New_York", 2026)
    assert "BYMONTH=3;BYDAY=2SU" in ny and "BYMONTH=11;BYDAY=1SU" in ny


def _series(**changes: object) -> Meeting:
    values: dict[str, object] = {
        "uid": "weekly",
        "start": datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")),
        "end": datetime(2026, 3, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")),
        "tzid": "Europe/Berlin",
        "rrule": ("FREQ=WEEKLY;COUNT=8",),
    }
    values.update(changes)
    return Meeting(**values)  # type: ignore[arg-type]


def test_a_series_carries_its_own_zone() -> None:
    sent = P.appointment_props(_series(), mailbox_address="a@example.com",
                               zone=ZoneInfo("America/New_York"))
    assert sent[P.TIMEZONE] == vtimezone_text("Europe/Berlin", 2026)


def test_all_day_and_zone_less_series_use_the_configured_zone() -> None:
    configured = ZoneInfo("Asia/Kolkata")
    all_day = _series(start=date(2026, 3, 2), end=date(2026, 3, 3), all_day=True, tzid=None)
    floating = _series(start=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
                       end=datetime(2026, 3, 2, 10, 0, tzinfo=UTC), tzid=None)
    for meeting in (all_day, floating):
        sent = P.appointment_props(meeting, mailbox_address="a@example.com", zone=configured)
        assert sent[P.TIMEZONE] == vtimezone_text("Asia/Kolkata", 2026)


def test_a_single_event_sends_no_zone_and_an_update_removes_a_former_one() -> None:
    single = _series(rrule=())
    sent = P.appointment_props(single, mailbox_address="a@example.com")
    assert P.TIMEZONE not in sent
    assert P.TIMEZONE in P.props_to_remove(sent)
