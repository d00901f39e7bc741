"""`exchange_sim.zones`: an appointment's zone, and the VTIMEZONEs written for named zones."""

from __future__ import annotations

import quopri
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim import calendar_mime, series, zones

CAL = "urn:schemas:calendar:"


@pytest.mark.parametrize("cdo_id", sorted(zones.CDO_ZONES))
def test_written_vtimezone_matches_the_named_zone_all_year(cdo_id: int) -> None:
    key = zones.CDO_ZONES[cdo_id]
    built = zones.parse_vtimezone(zones.vtimezone_text(key, 2026))
    reference = ZoneInfo(key)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    while moment < datetime(2027, 1, 1, tzinfo=UTC):
        assert moment.astimezone(built).utcoffset() == moment.astimezone(reference).utcoffset(), (
            key, moment)
        moment += timedelta(hours=5)


def test_zone_of_prefers_the_vtimezone_text_and_knows_the_listed_ids() -> None:
    kolkata = zones.vtimezone_text("Asia/Kolkata", 2026)
    july = datetime(2026, 7, 1, tzinfo=UTC)
    zone = zones.zone_of({CAL + "timezone": kolkata, CAL + "timezoneid": 4})
    assert zone is not None and july.astimezone(zone).utcoffset() == timedelta(hours=5.5)
    berlin = zones.zone_of({CAL + "timezoneid": 4})
    assert berlin is not None and july.astimezone(berlin).utcoffset() == timedelta(hours=2)
    assert zones.zone_of({CAL + "timezoneid": 999}) is None  # not listed: UTC
    assert zones.zone_of({}) is None


@pytest.mark.parametrize("rule", [
    "FREQ=SECONDLY", "FREQ=YEARLY;BYHOUR=1,2,3", "FREQ=YEARLY;BYMONTH=1,2,3",
])
def test_hostile_vtimezone_rules_are_refused(rule: str) -> None:
    text = "\r\n".join(["BEGIN:VTIMEZONE", "TZID:X", "BEGIN:STANDARD",
                        "DTSTART:16010101T000000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0100",
                        f"RRULE:{rule}", "END:STANDARD", "END:VTIMEZONE"])
    with pytest.raises(zones.ZoneError):
        zones.zone_of({CAL + "timezone": text})


def test_garbage_vtimezone_is_refused() -> None:
    for text in ("not a zone", "BEGIN:VTIMEZONE\r\nTZID:X\r\nEND:VTIMEZONE\r\n" * 2,
                 "x" * 70_000):
        with pytest.raises(zones.ZoneError):
            zones.parse_vtimezone(text)


# -- any series, any listed zone: promote → expand / render → expand ----------------------------

_RULES = st.sampled_from([
    "FREQ=DAILY;COUNT=15", "FREQ=WEEKLY;COUNT=12", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=12",
    "FREQ=WEEKLY;BYDAY=TU,TH,SA;INTERVAL=2;COUNT=12", "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=12",
    "FREQ=MONTHLY;BYDAY=2SU;COUNT=12", "FREQ=YEARLY;COUNT=3",
])


@given(key=st.sampled_from(sorted(set(zones.CDO_ZONES.values()))), rule=_RULES,
       day=st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)),
       hour=st.integers(5, 22), minutes=st.sampled_from([0, 30]),
       length=st.sampled_from([30, 60, 150]))
def test_any_series_expands_as_recurring_ical_events_does(
        key: str, rule: str, day: date, hour: int, minutes: int, length: int) -> None:
    start = datetime(day.year, day.month, day.day, hour, minutes)
    end = start + timedelta(minutes=length)
    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "BEGIN:VEVENT", "UID:h",
        "DTSTAMP:20260101T000000Z", f"DTSTART;TZID={key}:{start:%Y%m%dT%H%M%S}",
        f"DTEND;TZID={key}:{end:%Y%m%dT%H%M%S}", f"RRULE:{rule}", "END:VEVENT",
        "END:VCALENDAR", ""])
    window = (datetime(2025, 12, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))

    def expand(text: str) -> list[tuple[datetime, datetime]]:
        found = recurring_ical_events.of(icalendar.Calendar.from_ical(text)).between(*window)
        return sorted((e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
                      for e in found)

    wanted = expand(ics)
    props = calendar_mime.promote(ics.encode())
    assert [(o.start, o.end) for o in series.occurrences(props, *window)] == wanted
    rendered = calendar_mime.render(props, None)
    calendar_part = rendered.split(b"BEGIN:VCALENDAR", 1)[1].split(b"END:VCALENDAR", 1)[0]
    text = quopri.decodestring(b"BEGIN:VCALENDAR" + calendar_part + b"END:VCALENDAR\r\n")
    assert expand(text.decode()) == wanted


@pytest.mark.parametrize("zone_props", [
    {CAL + "timezoneid": 14},  # cdoAlaska: a zoneinfo zone
    {CAL + "timezone": zones.vtimezone_text("America/Anchorage", 2026)},  # a dateutil zone
], ids=["timezoneid", "vtimezone"])
def test_gap_and_repeated_wall_times_follow_rfc5545(zone_props: dict[str, object]) -> None:
    # Monthly on the 2nd Sunday at 02:30 local: on 8 March 02:30 does not exist (read with the
    # offset before the gap, -9 h); on the 1st Sunday of November 01:30 happens twice (the first,
    # -8 h). Both tzinfo kinds must agree (RFC 5545 §3.3.5).
    def first_sundays(rule: str, start: datetime) -> list[datetime]:
        props = {CAL + "dtstart": start, CAL + "dtend": start + timedelta(minutes=30),
                 CAL + "rrule": [rule], **zone_props}
        window = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
        return [o.start for o in series.occurrences(props, *window)]

    gap = first_sundays("FREQ=MONTHLY;BYDAY=2SU;COUNT=3", datetime(2026, 1, 11, 11, 30, tzinfo=UTC))
    assert gap[2] == datetime(2026, 3, 8, 11, 30, tzinfo=UTC)
    fold = first_sundays("FREQ=YEARLY;BYMONTH=10,11;BYDAY=1SU;COUNT=2",
                         datetime(2026, 10, 4, 9, 30, tzinfo=UTC))  # 01:30 AKDT
    assert fold == [datetime(2026, 10, 4, 9, 30, tzinfo=UTC),
                    datetime(2026, 11, 1, 9, 30, tzinfo=UTC)]
