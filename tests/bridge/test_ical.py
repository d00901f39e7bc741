"""bridge.ical: iCalendar text ⇄ Meeting, one rule per test, plus a hypothesis round trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given

from bridge.ical import ParsedEvent, parse_calendar, parse_event, to_ical, windows_to_iana
from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    Sensitivity,
)
from tests.strategies import meetings

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


# -- building test input ---------------------------------------------------------------------


DEFAULT_START = "DTSTART:20240304T090000Z"


def ics(*blocks: str, header: str = "") -> str:
    """A VCALENDAR around `blocks` (each a few lines separated by LF), with CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calbridge tests//EN"]
    lines += [line for block in (header, *blocks) for line in block.strip("\n").split("\n") if line]
    return "\r\n".join([*lines, "END:VCALENDAR", ""])


def vevent(*lines: str, uid: str = "e1@test", start: str | None = DEFAULT_START) -> str:
    head = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20240101T000000Z"]
    return "\n".join([*head, *([start] if start else []), *lines, "END:VEVENT"])


def parse_one(*lines: str, default_tz: str = "UTC", header: str = "", **kw: str | None) -> Meeting:
    result = parse_event(ics(vevent(*lines, **kw), header=header), default_tz=default_tz)
    assert result.error is None and result.skipped is None, result
    assert result.meeting is not None
    return result.meeting


def error_of(*lines: str, default_tz: str = "UTC", header: str = "", **kw: str | None) -> str:
    result = parse_event(ics(vevent(*lines, **kw), header=header), default_tz=default_tz)
    assert result.meeting is None and result.error, result
    return result.error


EU_RULES = ("BYDAY=-1SU;BYMONTH=10", "BYDAY=-1SU;BYMONTH=3")
US_RULES = ("BYDAY=1SU;BYMONTH=11", "BYDAY=2SU;BYMONTH=3")


def custom_vtimezone(
    tzid: str,
    standard: str,
    daylight: str,
    lic: str | None = None,
    rules: tuple[str, str] = EU_RULES,
) -> str:
    """An Outlook-style VTIMEZONE with these offsets, by default with EU daylight-saving rules."""
    return "\n".join(
        [
            "BEGIN:VTIMEZONE",
            f"TZID:{tzid}",
            *([f"X-LIC-LOCATION:{lic}"] if lic else []),
            "BEGIN:STANDARD",
            "DTSTART:16010101T030000",
            f"TZOFFSETFROM:{daylight}",
            f"TZOFFSETTO:{standard}",
            f"RRULE:FREQ=YEARLY;{rules[0]}",
            "END:STANDARD",
            "BEGIN:DAYLIGHT",
            "DTSTART:16010101T020000",
            f"TZOFFSETFROM:{standard}",
            f"TZOFFSETTO:{daylight}",
            f"RRULE:FREQ=YEARLY;{rules[1]}",
            "END:DAYLIGHT",
            "END:VTIMEZONE",
        ]
    )


# -- single events ---------------------------------------------------------------------------


def test_single_event_fields() -> None:
    m = parse_one(
        "DTEND:20240304T100000Z",
        "SUMMARY:Quarterly review\\, part 2",
        "LOCATION:Room 4.01",
        "DESCRIPTION:Agenda:\\n1. numbers\\n2. plans",
        "SEQUENCE:3",
        "STATUS:confirmed",
        uid="review-42@example.org",
    )
    assert m.uid == "review-42@example.org"
    assert m.start == datetime(2024, 3, 4, 9, tzinfo=UTC)
    assert m.end == datetime(2024, 3, 4, 10, tzinfo=UTC)
    assert (m.summary, m.location) == ("Quarterly review, part 2", "Room 4.01")
    assert m.description == "Agenda:\n1. numbers\n2. plans"
    assert (m.sequence, m.status, m.all_day, m.tzid) == (3, "CONFIRMED", False, None)
    assert (m.rrule, m.rdates, m.exdates, m.attendees) == ((), (), (), ())


def test_defaults_of_a_minimal_event() -> None:
    m = parse_one()
    assert m.end == m.start  # RFC 5545 3.6.1: a date-time DTSTART alone has zero length
    assert (m.summary, m.sequence, m.status) == ("", 0, "CONFIRMED")
    assert (m.busy_status, m.sensitivity, m.reminder_minutes) == (
        BusyStatus.BUSY,
        Sensitivity.PUBLIC,
        None,
    )


def test_all_day_event() -> None:
    m = parse_one("DTEND;VALUE=DATE:20240305", start="DTSTART;VALUE=DATE:20240304")
    assert m.all_day and m.tzid is None
    assert (m.start, m.end) == (date(2024, 3, 4), date(2024, 3, 5))


def test_multi_day_all_day_event() -> None:
    m = parse_one("DTEND;VALUE=DATE:20240308", start="DTSTART;VALUE=DATE:20240304")
    assert (m.start, m.end) == (date(2024, 3, 4), date(2024, 3, 8))


def test_all_day_without_dtend_lasts_one_day() -> None:
    assert parse_one(start="DTSTART;VALUE=DATE:20240304").end == date(2024, 3, 5)
    # DTEND equal to DTSTART is invalid (RFC 5545 3.8.2.2) but written by some clients.
    m = parse_one("DTEND;VALUE=DATE:20240304", start="DTSTART;VALUE=DATE:20240304")
    assert m.end == date(2024, 3, 5)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("DTSTART;VALUE=DATE:20240304", "DTEND:20240304T100000Z", "DTSTART is a date but DTEND"),
        ("DTSTART:20240304T090000Z", "DTEND;VALUE=DATE:20240305", "DTSTART is a date-time but"),
    ],
)
def test_date_and_date_time_mixed_is_an_error(start: str, end: str, message: str) -> None:
    assert message in error_of(end, start=start)


def test_missing_dtstart_is_an_error() -> None:
    assert error_of("SUMMARY:x", start=None) == "DTSTART missing"


def test_missing_uid_is_an_error() -> None:
    text = ics("BEGIN:VEVENT\nDTSTART:20240304T090000Z\nEND:VEVENT")
    [result] = parse_calendar(text)
    assert (result.uid, result.meeting, result.error) == (None, None, "UID missing")


def test_invalid_dtstart_value_is_an_error() -> None:
    assert "DTSTART has an invalid value '2024030XT090000'" in error_of(
        start="DTSTART:2024030XT090000"
    )


def test_end_before_start_is_an_error() -> None:
    assert "ends before it starts" in error_of("DTEND:20240304T080000Z")


# -- time zones ------------------------------------------------------------------------------


def test_utc_stays_utc() -> None:
    m = parse_one("DTEND:20240304T100000Z")
    assert m.start.tzinfo is UTC and m.tzid is None


def test_iana_tzid_without_vtimezone() -> None:
    m = parse_one(
        "DTEND;TZID=Europe/Berlin:20240704T100000",
        start="DTSTART;TZID=Europe/Berlin:20240704T090000",
    )
    assert m.tzid == "Europe/Berlin"
    assert m.start == datetime(2024, 7, 4, 7, tzinfo=UTC)
    assert m.start.tzinfo == BERLIN


def test_tzid_utc_means_utc() -> None:
    m = parse_one(start="DTSTART;TZID=UTC:20240304T090000")
    assert m.tzid is None and m.start == datetime(2024, 3, 4, 9, tzinfo=UTC)


@pytest.mark.filterwarnings("ignore::icalendar.error.GloballyUniqueTZIDGuessed")
def test_iana_tzid_in_another_case_and_globally_unique_form() -> None:
    assert parse_one(start="DTSTART;TZID=europe/berlin:20240704T090000").tzid == "Europe/Berlin"
    lightning = "DTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20240704T090000"
    assert parse_one(start=lightning).tzid == "Europe/Berlin"


def test_vtimezone_with_iana_name() -> None:
    header = custom_vtimezone("Europe/Berlin", "+0100", "+0200")
    m = parse_one(start="DTSTART;TZID=Europe/Berlin:20240104T090000", header=header)
    assert m.tzid == "Europe/Berlin" and m.start == datetime(2024, 1, 4, 8, tzinfo=UTC)


def test_custom_vtimezone_is_matched_to_an_iana_zone() -> None:
    header = custom_vtimezone("Customized Time Zone", "+0100", "+0200")
    m = parse_one(
        "DTEND;TZID=Customized Time Zone:20240704T100000",
        start="DTSTART;TZID=Customized Time Zone:20240704T090000",
        header=header,
    )
    assert m.tzid == "Europe/Berlin"  # the first zone with these offsets in the Windows table
    assert m.start == datetime(2024, 7, 4, 7, tzinfo=UTC)
    assert m.end == datetime(2024, 7, 4, 8, tzinfo=UTC)


def test_custom_vtimezone_matching_tells_daylight_saving_rules_apart() -> None:
    # US rules, though at 03:00/02:00 instead of 02:00/02:00: an hour off in the night is tolerated.
    us = custom_vtimezone("Custom", "-0500", "-0400", rules=US_RULES)
    m = parse_one("RRULE:FREQ=WEEKLY", start="DTSTART;TZID=Custom:20240704T090000", header=us)
    assert m.tzid == "America/New_York"
    eu = custom_vtimezone("Custom", "-0500", "-0400", rules=EU_RULES)
    assert parse_one(start="DTSTART;TZID=Custom:20240704T090000", header=eu).tzid is None


def test_custom_vtimezone_x_lic_location_is_preferred() -> None:
    header = custom_vtimezone("My Zone", "+0100", "+0200", lic="Europe/Paris")
    m = parse_one(start="DTSTART;TZID=My Zone:20240704T090000", header=header)
    assert m.tzid == "Europe/Paris"


def test_custom_vtimezones_of_the_same_name_do_not_leak_between_calendars() -> None:
    # icalendar caches VTIMEZONEs by TZID process-wide; the bridge resolves them per calendar.
    plus_one = parse_one(
        start="DTSTART;TZID=Shared Name:20240704T090000",
        header=custom_vtimezone("Shared Name", "+0100", "+0200"),
    )
    minus_five = parse_one(
        start="DTSTART;TZID=Shared Name:20240704T090000",
        header=custom_vtimezone("Shared Name", "-0500", "-0400"),
    )
    assert plus_one.start == datetime(2024, 7, 4, 7, tzinfo=UTC)
    assert minus_five.start == datetime(2024, 7, 4, 13, tzinfo=UTC)
    assert minus_five.tzid is None  # EU rules at -05:00: no IANA zone has them


def test_custom_vtimezone_without_iana_twin() -> None:
    header = custom_vtimezone("Odd Zone", "+0117", "+0217")
    m = parse_one(start="DTSTART;TZID=Odd Zone:20240704T090000", header=header)
    assert m.tzid is None and m.start == datetime(2024, 7, 4, 6, 43, tzinfo=UTC)
    # A series in such a zone cannot be placed across daylight-saving changes.
    message = error_of(
        "RRULE:FREQ=WEEKLY", start="DTSTART;TZID=Odd Zone:20240704T090000", header=header
    )
    assert "'Odd Zone'" in message and "matches no known zone" in message


def test_unknown_tzid_is_an_error_naming_it() -> None:
    assert error_of(start="DTSTART;TZID=Foo/Bar:20240304T090000") == "unknown time zone 'Foo/Bar'"


@pytest.mark.parametrize(
    ("tzid", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("Eastern Standard Time", "America/New_York"),
        ("(GMT+01.00) Amsterdam/Berlin/Bern/Rome/Stockholm/Vienna", "Europe/Berlin"),
        ("(GMT-05:00) Eastern Time (US & Canada)", "America/New_York"),
    ],
)
def test_windows_tzid(tzid: str, iana: str) -> None:
    m = parse_one(start=f'DTSTART;TZID="{tzid}":20240704T090000')
    assert m.tzid == iana
    assert m.start == datetime(2024, 7, 4, 9, tzinfo=ZoneInfo(iana))


@pytest.mark.parametrize(
    ("name", "iana"),
    [
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("w. europe  standard time", "Europe/Berlin"),
        ("W. Europe Daylight Time", "Europe/Berlin"),
        ("Romance Standard Time", "Europe/Paris"),
        ("GMT Standard Time", "Europe/London"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("India Standard Time", "Asia/Kolkata"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
        ("UTC", "Etc/UTC"),
        ("(GMT+01.00) Amsterdam/Berlin/Bern/Rome/Stockholm/Vienna", "Europe/Berlin"),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
        ("(GMT+01.00) Brussels/Copenhagen/Madrid/Paris", "Europe/Paris"),
        ("(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),
        ("(GMT-08:00) Pacific Time (US & Canada); Tijuana", "America/Los_Angeles"),
        ("(GMT+05.30) Chennai/Kolkata/Mumbai/New Delhi", "Asia/Kolkata"),
        ("(GMT+10:00) Canberra, Melbourne, Sydney", "Australia/Sydney"),
    ],
)
def test_windows_to_iana(name: str, iana: str) -> None:
    assert windows_to_iana(name) == iana


def test_windows_to_iana_unknown_names() -> None:
    assert windows_to_iana("Europe/Berlin") is None
    assert windows_to_iana("Atlantis Standard Time") is None
    assert windows_to_iana("(GMT+01.00) Atlantis") is None
    assert windows_to_iana("") is None


def test_windows_table_covers_the_common_zones_with_real_iana_names() -> None:
    from bridge import timezones

    known = available_timezones()
    assert len(timezones.WINDOWS_ZONES) >= 40
    assert set(timezones.WINDOWS_ZONES.values()) <= known
    assert set(timezones._DISPLAY_ZONES.values()) <= known


def test_floating_time_uses_the_default_zone() -> None:
    m = parse_one(
        "DTEND:20240704T100000", start="DTSTART:20240704T090000", default_tz="Europe/Berlin"
    )
    assert m.tzid == "Europe/Berlin" and m.start == datetime(2024, 7, 4, 7, tzinfo=UTC)
    assert parse_one(start="DTSTART:20240704T090000").start == datetime(2024, 7, 4, 9, tzinfo=UTC)
    windows = parse_one(start="DTSTART:20240704T090000", default_tz="Eastern Standard Time")
    assert windows.tzid == "America/New_York"


def test_unknown_default_zone_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse_calendar(ics(vevent()), default_tz="Mars/Olympus")


def test_dtend_in_another_zone_keeps_its_instant() -> None:
    m = parse_one(
        "DTEND;TZID=America/New_York:20240704T040000",
        start="DTSTART;TZID=Europe/Berlin:20240704T090000",
    )
    assert m.tzid == "Europe/Berlin"
    assert m.end == datetime(2024, 7, 4, 8, tzinfo=UTC) and m.end.tzinfo == BERLIN


# -- DURATION --------------------------------------------------------------------------------


def test_duration_instead_of_dtend() -> None:
    m = parse_one("DURATION:PT1H30M")
    assert m.end - m.start == timedelta(hours=1, minutes=30)


def test_duration_hours_are_exact_and_days_nominal_across_dst() -> None:
    # 2024-03-31 is the spring-forward day in Berlin (02:00 → 03:00).
    start = "DTSTART;TZID=Europe/Berlin:20240331T010000"
    exact = parse_one("DURATION:PT2H", start=start)
    assert exact.end == datetime(2024, 3, 31, 4, 0, tzinfo=BERLIN)  # two real hours later
    nominal = parse_one("DURATION:P1D", start="DTSTART;TZID=Europe/Berlin:20240330T090000")
    assert nominal.end == datetime(2024, 3, 31, 9, 0, tzinfo=BERLIN)  # same wall time, 23 h


def test_all_day_duration() -> None:
    m = parse_one("DURATION:P3D", start="DTSTART;VALUE=DATE:20240304")
    assert m.end == date(2024, 3, 7)
    assert "whole days" in error_of("DURATION:PT5H", start="DTSTART;VALUE=DATE:20240304")


def test_dtend_wins_over_duration() -> None:
    m = parse_one("DTEND:20240304T100000Z", "DURATION:PT5H")
    assert m.end == datetime(2024, 3, 4, 10, tzinfo=UTC)


# -- people ----------------------------------------------------------------------------------


def test_organizer() -> None:
    m = parse_one('ORGANIZER;CN="Doe, Alice":MAILTO:Alice@Example.org')
    assert (m.organizer, m.organizer_name) == ("alice@example.org", "Doe, Alice")


def test_organizer_without_address_is_an_error() -> None:
    assert "organizer without e-mail address" in error_of("ORGANIZER:urn:uuid:1234")


def test_attendee_roles_kinds_names_and_partstat() -> None:
    m = parse_one(
        "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED:mailto:bob@x.org",
        "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=tentative:mailto:carol@x.org",
        "ATTENDEE;ROLE=NON-PARTICIPANT;CUTYPE=ROOM;CN=Room 1:mailto:room1@x.org",
        "ATTENDEE;ROLE=CHAIR:mailto:dave@x.org",
        "ATTENDEE;CUTYPE=RESOURCE:mailto:beamer@x.org",
        "ATTENDEE;CUTYPE=GROUP:mailto:team@x.org",
        "ATTENDEE;CUTYPE=UNKNOWN;ROLE=X-ODD:mailto:eve@x.org",
        "ATTENDEE:mailto:frank@x.org",
    )
    assert m.attendees == (
        Attendee("bob@x.org", "Bob", AttendeeRole.REQUIRED, AttendeeKind.PERSON, "ACCEPTED"),
        Attendee("carol@x.org", "", AttendeeRole.OPTIONAL, AttendeeKind.PERSON, "TENTATIVE"),
        Attendee("room1@x.org", "Room 1", AttendeeRole.NON_PARTICIPANT, AttendeeKind.ROOM),
        Attendee("dave@x.org", "", AttendeeRole.CHAIR),
        Attendee("beamer@x.org", kind=AttendeeKind.RESOURCE),
        Attendee("team@x.org", kind=AttendeeKind.GROUP),
        Attendee("eve@x.org"),  # UNKNOWN kind and unknown role fall back to the defaults
        Attendee("frank@x.org", partstat="NEEDS-ACTION"),
    )


def test_duplicate_attendees_keep_the_first() -> None:
    m = parse_one(
        "ATTENDEE;CN=First;ROLE=OPT-PARTICIPANT:mailto:bob@x.org",
        "ATTENDEE;CN=Second:mailto:BOB@x.org",
    )
    assert m.attendees == (Attendee("bob@x.org", "First", AttendeeRole.OPTIONAL),)


def test_attendee_without_email_is_an_error() -> None:
    message = error_of("ATTENDEE;CN=Someone:urn:uuid:5f3c-11ee")
    assert message == "attendee without e-mail address: 'urn:uuid:5f3c-11ee'"


def test_attendee_with_email_parameter() -> None:
    m = parse_one("ATTENDEE;CN=Bob;EMAIL=bob@x.org:urn:uuid:5f3c-11ee")
    assert m.attendees == (Attendee("bob@x.org", "Bob"),)


# -- other properties ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("PUBLIC", Sensitivity.PUBLIC),
        ("private", Sensitivity.PRIVATE),
        ("CONFIDENTIAL", Sensitivity.CONFIDENTIAL),
        ("X-SECRET", Sensitivity.PRIVATE),  # RFC 5545 3.8.1.3: unknown means PRIVATE
    ],
)
def test_class(value: str, expected: Sensitivity) -> None:
    assert parse_one(f"CLASS:{value}").sensitivity is expected


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (("TRANSP:TRANSPARENT",), BusyStatus.FREE),
        (("TRANSP:TRANSPARENT", "X-MICROSOFT-CDO-BUSYSTATUS:OOF"), BusyStatus.FREE),
        (("TRANSP:OPAQUE",), BusyStatus.BUSY),
        (("X-MICROSOFT-CDO-BUSYSTATUS:OOF",), BusyStatus.OOF),
        (("TRANSP:OPAQUE", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE"), BusyStatus.TENTATIVE),
        (("X-MICROSOFT-CDO-BUSYSTATUS:WHATEVER",), BusyStatus.BUSY),
        (("STATUS:TENTATIVE",), BusyStatus.BUSY),  # an unsure meeting still blocks the time
    ],
)
def test_busy_status(lines: tuple[str, ...], expected: BusyStatus) -> None:
    assert parse_one(*lines).busy_status is expected


def test_status_is_kept() -> None:
    assert parse_one("STATUS:TENTATIVE").status == "TENTATIVE"
    assert parse_one("STATUS:CANCELLED").status == "CANCELLED"


def test_categories_from_all_properties() -> None:
    m = parse_one("CATEGORIES:Work,Project X\\, phase 2", "CATEGORIES:Travel", "CATEGORIES:Work")
    assert m.categories == ("Work", "Project X, phase 2", "Travel")


def test_reminder_from_the_first_display_or_audio_alarm() -> None:
    m = parse_one(
        "BEGIN:VALARM\nACTION:EMAIL\nTRIGGER:-PT1H\nEND:VALARM",
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;VALUE=DATE-TIME:20240304T080000Z\nEND:VALARM",
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER;RELATED=END:-PT5M\nEND:VALARM",
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:PT5M\nEND:VALARM",
        "BEGIN:VALARM\nACTION:AUDIO\nTRIGGER:-PT15M\nEND:VALARM",
        "BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-P1D\nEND:VALARM",
    )
    assert m.reminder_minutes == 15


def test_reminder_at_start_and_in_days() -> None:
    assert parse_one("BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:PT0S\nEND:VALARM").reminder_minutes == 0
    at_day = parse_one("BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:-P1DT2H\nEND:VALARM")
    assert at_day.reminder_minutes == 26 * 60


# -- recurrence ------------------------------------------------------------------------------


def test_rrule_rdate_exdate() -> None:
    m = parse_one(
        "RRULE:BYDAY=MO;FREQ=WEEKLY",
        "RDATE;TZID=Europe/Berlin:20240306T090000,20240307T090000",
        "RDATE:20240308T080000Z",
        "EXDATE;TZID=Europe/Berlin:20240311T090000",
        "EXDATE;TZID=W. Europe Standard Time:20240318T090000,20240325T090000",
        start="DTSTART;TZID=Europe/Berlin:20240304T090000",
    )
    assert m.rrule == ("FREQ=WEEKLY;BYDAY=MO",)  # icalendar's canonical order
    assert m.rdates == (
        datetime(2024, 3, 6, 9, tzinfo=BERLIN),
        datetime(2024, 3, 7, 9, tzinfo=BERLIN),
        datetime(2024, 3, 8, 9, tzinfo=BERLIN),
    )
    assert m.exdates == tuple(datetime(2024, 3, d, 9, tzinfo=BERLIN) for d in (11, 18, 25))
    assert all(d.tzinfo == BERLIN for d in m.rdates + m.exdates)
    assert m.is_recurring


def test_all_day_series_uses_dates() -> None:
    m = parse_one(
        "RRULE:FREQ=YEARLY;UNTIL=20300304T000000Z",
        "EXDATE;VALUE=DATE:20260304",
        "RDATE;VALUE=DATE:20240601",
        start="DTSTART;VALUE=DATE:20240304",
    )
    assert m.rrule == ("FREQ=YEARLY;UNTIL=20300304",)
    assert (m.exdates, m.rdates) == ((date(2026, 3, 4),), (date(2024, 6, 1),))


def test_floating_until_is_read_in_the_event_zone() -> None:
    m = parse_one(
        "RRULE:FREQ=DAILY;UNTIL=20240310T090000",
        start="DTSTART;TZID=Europe/Berlin:20240304T090000",
    )
    assert m.rrule == ("FREQ=DAILY;UNTIL=20240310T080000Z",)


def test_exdate_kind_must_match_dtstart() -> None:
    assert "EXDATE is a date but DTSTART is a date-time" in error_of("EXDATE;VALUE=DATE:20240311")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("RRULE:FREQ=HOURLY;COUNT=3", "cannot be expressed on Exchange"),
        ("RRULE:COUNT=3", "has no valid FREQ"),
        ("RRULE:FREQ=DAILY;BYFOO=1", "cannot be used"),
        ("RRULE:FREQ=WEEKLY;BYDAY=XX", "RRULE has an invalid value"),
        ("RDATE;VALUE=PERIOD:20240306T090000Z/PT1H", "PERIOD value cannot be expressed"),
    ],
)
def test_recurrence_exchange_cannot_express_is_an_error(line: str, message: str) -> None:
    assert message in error_of(line)


def test_series_with_overridden_occurrences_is_one_meeting() -> None:
    master = vevent("RRULE:FREQ=WEEKLY;COUNT=5", "DTEND:20240304T100000Z", "SUMMARY:Weekly",
                    uid="series@x")
    moved = vevent(
        "RECURRENCE-ID:20240311T090000Z", "SUMMARY:Weekly (moved)",
        "ATTENDEE:mailto:dora@x.org", uid="series@x", start="DTSTART:20240311T140000Z",
    )
    cancelled = vevent(
        "RECURRENCE-ID:20240318T090000Z", "STATUS:CANCELLED", uid="series@x",
        start="DTSTART:20240318T090000Z",
    )
    [result] = parse_calendar(ics(master, moved, cancelled))
    assert result.error is None and result.skipped is None and result.meeting is not None
    first, second = result.meeting.overrides
    assert first.recurrence_id == datetime(2024, 3, 11, 9, tzinfo=UTC)
    assert (first.start, first.end) == (datetime(2024, 3, 11, 14, tzinfo=UTC),
                                         datetime(2024, 3, 11, 15, tzinfo=UTC))  # series' hour
    assert first.summary == "Weekly (moved)" and not first.cancelled
    assert [a.email for a in first.attendees] == ["dora@x.org"]
    assert second.cancelled and second.recurrence_id == datetime(2024, 3, 18, 9, tzinfo=UTC)
    assert result.raw.count("BEGIN:VEVENT") == 3  # stored whole, never half


def series_error(*overrides: str, rule: str = "RRULE:FREQ=WEEKLY;COUNT=5") -> str:
    master = vevent(rule, uid="series@x")
    [result] = parse_calendar(ics(master, *overrides))
    assert result.meeting is None and result.error, result
    return result.error


def test_an_override_that_names_no_occurrence_is_an_error() -> None:
    stray = vevent("RECURRENCE-ID:20240312T090000Z", uid="series@x",
                   start="DTSTART:20240312T100000Z")
    assert "matches no occurrence of the series" in series_error(stray)
    beyond = vevent("RECURRENCE-ID:20240408T090000Z", uid="series@x")  # COUNT=5 ends 04-01
    assert "matches no occurrence" in series_error(beyond)


def test_two_overrides_of_one_occurrence_are_an_error() -> None:
    one = vevent("RECURRENCE-ID:20240311T090000Z", "SUMMARY:a", uid="series@x")
    two = vevent("RECURRENCE-ID:20240311T090000Z", "SUMMARY:b", uid="series@x")
    assert "two modified occurrences (RECURRENCE-ID) for 20240311T090000Z" in series_error(one, two)


def test_an_override_of_a_single_event_and_thisandfuture_are_errors() -> None:
    single = vevent(uid="one@x")
    moved = vevent("RECURRENCE-ID:20240304T090000Z", uid="one@x", start="DTSTART:20240304T1000Z")
    [result] = parse_calendar(ics(single, moved))
    assert result.error and "does not recur" in result.error
    future = vevent("RECURRENCE-ID;RANGE=THISANDFUTURE:20240311T090000Z", uid="series@x")
    assert "RANGE=THISANDFUTURE" in series_error(future)


def test_an_override_far_beyond_a_huge_series_is_found_missing_quickly() -> None:
    stray = vevent("RECURRENCE-ID:40000101T090000Z", uid="series@x")
    # an endless daily series: the search gives up after occurrences.MAX_STEPS (273 years)
    assert "matches no occurrence" in series_error(stray, rule="RRULE:FREQ=DAILY")


def test_broken_master_of_a_series_is_an_error_not_a_skip() -> None:
    master = vevent("RRULE:FREQ=WEEKLY", "ATTENDEE:urn:uuid:x", uid="s@x")
    moved = vevent("RECURRENCE-ID:20240311T090000Z", uid="s@x", start="DTSTART:20240311T1400Z")
    [result] = parse_calendar(ics(master, moved))
    assert result.error and "attendee" in result.error and result.skipped is None


def test_overrides_without_their_series_are_skipped() -> None:
    only = vevent("RECURRENCE-ID:20240311T090000Z", uid="orphan@x")
    [result] = parse_calendar(ics(only))
    assert result.skipped and "1 modified occurrence (RECURRENCE-ID) without" in result.skipped


def test_two_masters_with_one_uid_is_an_error() -> None:
    [result] = parse_calendar(ics(vevent(uid="dup@x"), vevent("SUMMARY:again", uid="dup@x")))
    assert result.error == "2 VEVENTs share this UID without a RECURRENCE-ID"


# -- hostile and sloppy input ----------------------------------------------------------------


def test_hostile_text_is_kept_without_control_characters() -> None:
    # Raw NUL/BEL/ESC/DEL/C1 bytes in the file, a lone CR, and escaped line breaks that try to
    # inject lines downstream.
    m = parse_one(
        "SUMMARY:Lunch\x00\x07\x1b[31m\\nBEGIN:VEVENT\\nUID:evil",
        "LOCATION:Room\r1\x7f\x85",
    )
    assert m.summary == "Lunch[31m\nBEGIN:VEVENT\nUID:evil"
    assert m.location == "Room\n1"
    written = to_ical(m)
    assert "\x00" not in written and "\r\nBEGIN:VEVENT\r\nUID:evil" not in written
    assert parse_event(written).meeting == m


def test_tabs_and_unicode_are_kept() -> None:
    m = parse_one("SUMMARY:Zoë\tand 北京 \U0001f389")
    assert m.summary == "Zoë\tand 北京 \U0001f389"


def test_uid_with_control_characters_is_an_error() -> None:
    assert error_of(uid="abc\x01def") == "UID contains control characters"


def test_long_folded_lines_lf_endings_bom_and_x_properties() -> None:
    long_summary = "Meeting about " + "very " * 40 + "important things äöü"
    text = ics(vevent("SUMMARY:" + long_summary, "X-CUSTOM;X-PARAM=1:whatever", "X-WR-THING:x"))
    folded = parse_event(text).raw  # icalendar writes it folded at 75 octets
    assert max(len(line.encode()) for line in folded.split("\r\n")) <= 75
    for variant in (text, folded, folded.replace("\r\n", "\n"), "\ufeff" + folded):
        assert parse_one_text(variant).summary == long_summary
    assert parse_one_text(b"\xef\xbb\xbf" + folded.encode()).summary == long_summary
    assert parse_one_text(folded.encode("utf-16")).summary == long_summary  # with its BOM


def parse_one_text(text: str | bytes) -> Meeting:
    result = parse_event(text)
    assert result.meeting is not None, result
    return result.meeting


def test_invalid_utf8_costs_one_character_not_the_event() -> None:
    data = ics(vevent("SUMMARY:Caf\u00e9")).encode().replace(b"\xc3\xa9", b"\xe9")
    assert parse_one_text(data).summary == "Caf\ufffd"


def test_unparseable_line_inside_an_event_is_an_error() -> None:
    message = error_of("SUMMARY:ok", "this line has no colon")
    assert message.startswith("the event has a line that is not iCalendar")


# -- whole calendars -------------------------------------------------------------------------


def twelve_events(broken: str) -> str:
    events = [
        vevent(f"SUMMARY:Event {n}", f"DTEND:202403{n + 1:02}T100000Z", uid=f"ev{n}@x",
               start=f"DTSTART:202403{n + 1:02}T090000Z")
        for n in range(12)
    ]
    events[6] = broken
    return ics(*events)


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (vevent("SUMMARY:bad", uid="ev6@x", start="DTSTART:2024-03-07 09:00"), "DTSTART has an"),
        (vevent(uid="ev6@x", start="DTSTART;TZID=Nowhere/City:20240307T090000"), "unknown time"),
        (vevent("BEGIN:VALARM\nACTION:DISPLAY\nTRIGGER:soon\nEND:VALARM", uid="ev6@x"),
         "cannot parse this event"),
    ],
)
def test_one_broken_event_among_twelve(broken: str, message: str) -> None:
    results = parse_calendar(twelve_events(broken))
    assert [r.uid for r in results] == [f"ev{n}@x" for n in range(12)]
    good = [r for r in results if r.meeting is not None]
    bad = [r for r in results if r.error is not None]
    assert len(good) == 11 and [r.uid for r in bad] == ["ev6@x"]
    assert message in (bad[0].error or "")
    assert {r.meeting.summary for r in good if r.meeting} == {f"Event {n}" for n in range(12)} - {
        "Event 6"
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "hello world",
        "PK\x03\x04 binary zip data",
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:1\r\nDTSTART:20240304T090000Z\r\n",  # truncated
        "<html><body>502 Bad Gateway</body></html>",
    ],
)
def test_text_that_is_not_icalendar_gives_one_error(text: str) -> None:
    [result] = parse_calendar(text)
    assert result.uid is None and result.meeting is None
    assert result.error and result.error.startswith("not an iCalendar file")
    assert result.raw == text


def test_broken_vtimezone_fails_only_the_events_that_use_it() -> None:
    broken = "BEGIN:VTIMEZONE\nTZID:Broken Zone\nBEGIN:STANDARD\nDTSTART:nonsense\nEND:STANDARD"
    text = ics(
        vevent(uid="a@x", start="DTSTART;TZID=Broken Zone:20240304T090000"),
        vevent(uid="b@x", start="DTSTART;TZID=Europe/Berlin:20240304T090000"),
        header=broken + "\nEND:VTIMEZONE",
    )
    a, b = parse_calendar(text)
    assert a.error == "unknown time zone 'Broken Zone'"
    assert b.meeting is not None and b.meeting.tzid == "Europe/Berlin"


def test_concatenated_calendars_and_a_bare_vevent() -> None:
    results = parse_calendar(ics(vevent(uid="a@x")) + ics(vevent(uid="b@x")))
    assert [(r.uid, r.meeting is not None) for r in results] == [("a@x", True), ("b@x", True)]
    bare = vevent(uid="c@x").replace("\n", "\r\n") + "\r\n"
    assert parse_event(bare).meeting is not None


def test_calendar_without_events_is_empty() -> None:
    todo = "BEGIN:VTODO\nUID:t1\nSUMMARY:not an event\nEND:VTODO"
    assert parse_calendar(ics()) == []
    assert parse_calendar(ics(todo)) == []


def test_raw_holds_only_this_event_and_the_timezones_it_uses() -> None:
    berlin = custom_vtimezone("Customized Time Zone", "+0100", "+0200")
    other = custom_vtimezone("Other Zone", "-0500", "-0400")
    text = ics(
        vevent(uid="a@x", start="DTSTART;TZID=Customized Time Zone:20240304T090000"),
        vevent(uid="b@x", start="DTSTART;TZID=Europe/Berlin:20240305T090000"),
        vevent(uid="c@x"),
        header=f"METHOD:PUBLISH\nX-WR-CALNAME:Team\n{berlin}\n{other}",
    )
    a, b, c = parse_calendar(text)
    assert "TZID:Customized Time Zone" in a.raw and "Other Zone" not in a.raw
    assert a.raw.count("BEGIN:VEVENT") == 1 and "UID:a@x" in a.raw and "METHOD" not in a.raw
    assert "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin" in b.raw  # added: RFC 5545 wants one per TZID
    assert "VTIMEZONE" not in c.raw
    for result in (a, b, c):
        assert parse_event(result.raw) == result


def test_parse_event_expects_exactly_one_uid() -> None:
    assert parse_event(ics(vevent())).meeting is not None
    none = parse_event(ics())
    assert none.error == "no VEVENT in this calendar object"
    two = parse_event(ics(vevent(uid="a@x"), vevent(uid="b@x")))
    assert two.uid is None and two.error == "expected one event, found 2 (UIDs 'a@x', 'b@x')"


def test_parse_event_of_a_series_with_overrides_is_one_event() -> None:
    master = vevent("RRULE:FREQ=DAILY;COUNT=3", uid="s@x")
    moved = vevent("RECURRENCE-ID:20240305T090000Z", uid="s@x", start="DTSTART:20240305T100000Z")
    result = parse_event(ics(master, moved))
    assert result.uid == "s@x" and result.skipped is None and result.meeting is not None
    assert len(result.meeting.overrides) == 1


def test_parsed_event_is_a_frozen_value() -> None:
    result = parse_event(ics(vevent()))
    assert isinstance(result, ParsedEvent)
    with pytest.raises(AttributeError):
        result.uid = "other"  # type: ignore[misc]


# -- content hash ----------------------------------------------------------------------------

BASE_LINES = (
    "SUMMARY:Planning",
    "LOCATION:Room 1",
    "DTEND;TZID=Europe/Berlin:20240704T100000",
    "ORGANIZER;CN=Alice:mailto:alice@x.org",
    "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:bob@x.org",
    "ATTENDEE;CUTYPE=ROOM:mailto:room@x.org",
    "RRULE:FREQ=WEEKLY;COUNT=4",
)
BASE_START = "DTSTART;TZID=Europe/Berlin:20240704T090000"


def hash_of(*lines: str, start: str = BASE_START, header: str = "") -> str:
    return parse_one(*lines, start=start, header=header).content_hash()


def test_hash_ignores_dtstamp_last_modified_prodid_and_order() -> None:
    base = hash_of(*BASE_LINES)
    later = ("LAST-MODIFIED:20240620T101010Z", "CREATED:20240101T000000Z")
    assert hash_of(*BASE_LINES, *later) == base
    assert hash_of(*reversed(BASE_LINES)) == base
    text = ics(vevent(*BASE_LINES, start=BASE_START))
    other = text.replace("DTSTAMP:20240101T000000Z", "DTSTAMP:20250909T090909Z").replace(
        "PRODID:-//calbridge tests//EN", "PRODID:-//Apple Inc.//iCal 5.0//EN"
    )
    assert other != text
    assert parse_one_text(other).content_hash() == base
    # Re-serializing through to_ical (new DTSTAMP and PRODID, other property order): no change.
    meeting = parse_one_text(text)
    rewritten = to_ical(meeting, dtstamp=datetime(2030, 1, 1, tzinfo=UTC))
    assert parse_one_text(rewritten).content_hash() == base


def test_hash_ignores_the_spelling_of_the_same_instant() -> None:
    lines = [line for line in BASE_LINES if not line.startswith("DTEND")]
    base = hash_of(*lines, "DTEND;TZID=Europe/Berlin:20240704T100000")
    windows = hash_of(
        *lines,
        "DTEND;TZID=W. Europe Standard Time:20240704T100000",
        start="DTSTART;TZID=W. Europe Standard Time:20240704T090000",
    )
    utc = hash_of(*lines, "DTEND:20240704T080000Z", start="DTSTART:20240704T070000Z")
    custom = hash_of(
        *lines,
        "DTEND;TZID=Customized Time Zone:20240704T100000",
        start="DTSTART;TZID=Customized Time Zone:20240704T090000",
        header=custom_vtimezone("Customized Time Zone", "+0100", "+0200"),
    )
    # Windows and custom spellings resolve to Europe/Berlin: the same series.
    assert base == windows == custom
    # A weekly series in UTC is another series (its local time moves at daylight saving) ...
    assert utc != base
    # ... while for a single event only the instants count.
    single = [line for line in lines if not line.startswith("RRULE")]
    assert hash_of(*single, "DTEND;TZID=Europe/Berlin:20240704T100000") == hash_of(
        *single, "DTEND:20240704T080000Z", start="DTSTART:20240704T070000Z"
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (BASE_START, "DTSTART;TZID=Europe/Berlin:20240704T093000"),
        ("DTEND;TZID=Europe/Berlin:20240704T100000", "DTEND;TZID=Europe/Berlin:20240704T110000"),
        ("SUMMARY:Planning", "SUMMARY:Planning (moved)"),
        ("LOCATION:Room 1", "LOCATION:Room 2"),
        (
            "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:bob@x.org",
            "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:carol@x.org",
        ),
        (
            "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:bob@x.org",
            "ATTENDEE;CN=Bob;ROLE=OPT-PARTICIPANT:mailto:bob@x.org",
        ),
        ("RRULE:FREQ=WEEKLY;COUNT=4", "RRULE:FREQ=WEEKLY;COUNT=5"),
    ],
)
def test_hash_changes_with_meaningful_fields(old: str, new: str) -> None:
    lines = [line for line in BASE_LINES if line != old]
    start = BASE_START
    if old == BASE_START:
        start = new
    else:
        lines.append(new)
    assert hash_of(*lines, start=start) != hash_of(*BASE_LINES)


def test_hash_changes_when_an_attendee_is_added() -> None:
    assert hash_of(*BASE_LINES, "ATTENDEE:mailto:dave@x.org") != hash_of(*BASE_LINES)


# -- writing ---------------------------------------------------------------------------------


def test_to_ical_writes_one_vevent_with_its_vtimezone() -> None:
    meeting = Meeting(
        uid="w1@x",
        start=datetime(2024, 7, 4, 9, tzinfo=BERLIN),
        end=datetime(2024, 7, 4, 10, tzinfo=BERLIN),
        tzid="Europe/Berlin",
        summary="Write me",
        organizer="alice@x.org",
        attendees=(
            Attendee("room@x.org", "Room", AttendeeRole.NON_PARTICIPANT, AttendeeKind.ROOM),
        ),
        busy_status=BusyStatus.FREE,
        reminder_minutes=10,
    )
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    text = to_ical(meeting, dtstamp=stamp)
    assert text == to_ical(meeting, dtstamp=stamp)  # deterministic given DTSTAMP
    assert text.count("BEGIN:VEVENT") == 1 and "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin" in text
    assert "DTSTART;TZID=Europe/Berlin:20240704T090000" in text
    assert "TRANSP:TRANSPARENT" in text and "TRIGGER:-PT10M" in text
    assert "CUTYPE=ROOM" in text and "ROLE=NON-PARTICIPANT" in text
    assert parse_event(text).meeting == meeting


def test_to_ical_writes_utc_for_a_meeting_without_zone() -> None:
    meeting = Meeting(
        uid="w2@x",
        start=datetime(2024, 7, 4, 9, tzinfo=NEW_YORK),
        end=datetime(2024, 7, 4, 10, tzinfo=NEW_YORK),
    )
    text = to_ical(meeting)
    assert "DTSTART:20240704T130000Z" in text and "VTIMEZONE" not in text
    assert parse_event(text).meeting == meeting


def test_to_ical_names_with_backslashes() -> None:
    people = (Attendee("a@x.org", "CORP\\alice"), Attendee("b@x.org", "Bob \\"))
    meeting = Meeting(uid="w3@x", start=datetime(2024, 7, 4, 9, tzinfo=UTC),
                      end=datetime(2024, 7, 4, 9, tzinfo=UTC), attendees=people)
    parsed = parse_event(to_ical(meeting)).meeting
    assert parsed is not None
    assert [a.name for a in parsed.attendees] == ["CORP\\alice", "Bob"]


@given(meetings())
def test_round_trip(meeting: Meeting) -> None:
    result = parse_event(to_ical(meeting))
    assert result.error is None and result.skipped is None
    assert result.meeting == meeting
    assert result.meeting.tzid == meeting.tzid
    assert result.meeting.content_hash() == meeting.content_hash()


@given(meetings(recurring=True))
def test_round_trip_of_series(meeting: Meeting) -> None:
    assert parse_event(to_ical(meeting)).meeting == meeting


# -- series Exchange 2003 cannot hold, and bad series ------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("RRULE:FREQ=SECONDLY",), "cannot be expressed on Exchange"),
        (("RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO",), "BYWEEKNO has no place"),
        (("RRULE:FREQ=DAILY;BYHOUR=9,17",), "BYHOUR has no place"),
        (("RRULE:FREQ=YEARLY;BYYEARDAY=100",), "BYYEARDAY has no place"),
        (("RRULE:FREQ=MONTHLY;BYDAY=MO,FR;BYSETPOS=1,-1",), "BYSETPOS with several positions"),
        (("RRULE:FREQ=DAILY;COUNT=5", "RRULE:FREQ=WEEKLY;COUNT=5"), "2 RRULEs in one series"),
        (("RRULE:FREQ=DAILY;COUNT=5", "EXRULE:FREQ=WEEKLY"), "EXRULE cannot be expressed"),
        (("RRULE:FREQ=DAILY;COUNT=1000000000",), "at most 999 occurrences"),
    ],
)
def test_a_rule_outlook_cannot_hold_is_held_with_a_reason(
    lines: tuple[str, ...], message: str
) -> None:
    assert message in error_of(*lines)


def test_rules_outlook_can_hold_are_read() -> None:
    for rule in ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "FREQ=DAILY;COUNT=999",
                 "FREQ=MONTHLY;BYMONTHDAY=2,15;COUNT=10", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"):
        [read] = parse_one(f"RRULE:{rule}").rrule
        assert sorted(read.split(";")) == sorted(rule.split(";"))


def test_a_series_starting_in_a_dst_gap_is_held_with_a_reason() -> None:
    gap = "DTSTART;TZID=Europe/Berlin:20260329T023000"
    assert "a time its zone skips" in error_of("RRULE:FREQ=DAILY;COUNT=3", start=gap)
    single = parse_one(start=gap)  # one event there means 03:30 CEST (RFC 5545 3.3.5)
    assert single.start_utc() == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    day_before = parse_one("RRULE:FREQ=DAILY;COUNT=3",
                           start="DTSTART;TZID=Europe/Berlin:20260328T023000")
    assert day_before.start_utc() == datetime(2026, 3, 28, 1, 30, tzinfo=UTC)


def test_a_series_with_overrides_round_trips_through_to_ical() -> None:
    master = vevent("RRULE:FREQ=WEEKLY;COUNT=5", "DTEND:20240304T100000Z", "SUMMARY:Weekly",
                    "ORGANIZER:mailto:alice@x.org", "ATTENDEE:mailto:bob@x.org", uid="rt@x")
    moved = vevent("RECURRENCE-ID:20240311T090000Z", "SUMMARY:Moved", "LOCATION:Room 2",
                   "ORGANIZER:mailto:alice@x.org", "ATTENDEE:mailto:bob@x.org",
                   "DTEND:20240311T150000Z", uid="rt@x", start="DTSTART:20240311T140000Z")
    gone = vevent("RECURRENCE-ID:20240318T090000Z", "STATUS:CANCELLED", uid="rt@x")
    [first] = parse_calendar(ics(master, moved, gone))
    assert first.meeting is not None
    [again] = parse_calendar(to_ical(first.meeting))
    assert again.meeting == first.meeting
