"""What Exchange 2003 can hold (bridge/fit.py), and how bridge.ical reports what it cannot: attendee
addresses, the attendee cap, dates, reminders, long texts (of modified occurrences too), tasks,
runaway VTIMEZONEs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bridge import fit
from bridge.exchange.props import format_address, format_address_list
from bridge.ical import parse_event
from bridge.meeting import (
    Attendee,
    Meeting,
    MeetingError,
    Override,
    normalize_address,
    parse_address,
)
from bridge.meeting_codec import decode_meeting, encode_meeting

START = datetime(2026, 12, 10, 14, tzinfo=UTC)
END = datetime(2026, 12, 10, 15, tzinfo=UTC)


def meeting(**changes: object) -> Meeting:
    values: dict[str, object] = {"uid": "m-1", "start": START, "end": END,
                                 "organizer": "alice@example.com"}
    values.update(changes)
    return Meeting(**values)  # type: ignore[arg-type]


def text(*lines: str, start: str = "DTSTART:20261210T140000Z") -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:t", "BEGIN:VEVENT", "UID:e-1",
                        "DTSTAMP:20261125T120000Z", start, "ORGANIZER:mailto:alice@example.com",
                        *lines, "END:VEVENT", "END:VCALENDAR", ""])


# -- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "mailto:bob@example.com:carol@example.com:dave@example.com",
        "x:carol@example.com",
        "carol@example.com@evil.example",
        "carol\u2028dave@example.com",
        "carol\u2029@example.com",
        '"carol@example.com"@evil.example',
        "carol@[192.0.2.1]",
        "carol..x@example.com",
        ".carol@example.com",
        "carol@example.com,dave@example.com",
        "Carol <carol@example.com>",
        "carol@exa_mple.com",
        "carol@",
        "@example.com",
    ],
)
def test_only_one_well_formed_address_is_an_address(value: str) -> None:
    with pytest.raises(MeetingError):
        parse_address(value)
    parsed = parse_event(text(f"ATTENDEE:{value}" if ":" in value else f"ATTENDEE:mailto:{value}"))
    assert parsed.meeting is None
    assert parsed.error is not None and "attendee" in parsed.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("MAILTO:Bob.Smith@Example.COM", "bob.smith@example.com"),
        ("o'brien+cal@example.com", "o'brien+cal@example.com"),
        ("müller@bücher.example", "müller@bücher.example"),
        ("x_y-z@sub.example.org", "x_y-z@sub.example.org"),
    ],
)
def test_well_formed_addresses_pass(value: str, expected: str) -> None:
    assert parse_address(value) == expected
    assert normalize_address(value) == expected


def test_meetings_stored_by_older_versions_still_read() -> None:
    """normalize_address (used by Attendee) stays lenient: a state snapshot written before the
    strict check holds such an address and must still decode."""
    old = meeting(attendees=(Attendee("bob@example.com:carol@example.com"),))
    assert decode_meeting(encode_meeting(old)) == old


def test_recipient_lists_are_quoted_address_lists() -> None:
    people = [Attendee("bob@example.com", 'Bob "the" Builder, Jr.\u2028x'),
              Attendee("carol@example.com", "")]
    assert format_address_list(people) == (
        '"Bob \\"the\\" Builder, Jr. x" <bob@example.com>, carol@example.com'
    )
    with pytest.raises(ValueError):
        format_address("bob@example.com:carol@example.com", "Bob")


# -- Exchange's limits ---------------------------------------------------------------------------


def test_the_attendee_cap() -> None:
    people = tuple(Attendee(f"p{n}@example.com") for n in range(fit.MAX_INVITEES))
    assert fit.fit(meeting(attendees=people)).attendees == people
    more = (*people, Attendee("one-more@example.com"))
    with pytest.raises(fit.Unfit, match=r"501 attendees.*at most 500"):
        fit.fit(meeting(attendees=more))
    # the organizer among the attendees is not an invitee
    assert fit.fit(meeting(attendees=(*people, Attendee("alice@example.com"))))


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"start": datetime(1, 1, 1, tzinfo=UTC)}, "the start (0001-01-01)"),
        ({"start": datetime(1600, 12, 31, 23, tzinfo=UTC)}, "the start (1600-12-31)"),
        ({"end": datetime(9999, 12, 31, tzinfo=UTC)}, "the end (9999-12-31)"),
        ({"rrule": ("FREQ=DAILY;UNTIL=99991231T000000Z",)}, "year 9999"),
        ({"exdates": (datetime(4501, 1, 1, 14, tzinfo=UTC),)}, "an EXDATE (4501-01-01)"),
        ({"reminder_minutes": fit.MAX_REMINDER_MINUTES + 1}, "reminder"),
    ],
)
def test_values_exchange_cannot_hold(changes: dict[str, object], words: str) -> None:
    with pytest.raises(fit.Unfit) as caught:
        fit.fit(meeting(**changes))
    assert words in str(caught.value)


def test_edges_that_fit() -> None:
    edge = meeting(start=datetime(1601, 1, 1, tzinfo=UTC), end=datetime(4500, 12, 31, tzinfo=UTC),
                   reminder_minutes=fit.MAX_REMINDER_MINUTES)
    assert fit.fit(edge) is edge
    day = meeting(start=date(4500, 12, 30), end=date(4500, 12, 31), all_day=True)
    assert fit.fit(day) is day


def test_long_texts_are_trimmed_on_a_character_boundary() -> None:
    long = meeting(description="é" * fit.MAX_DESCRIPTION_BYTES, summary="ß" * 5000,
                   location="x" * 5000, attendees=(Attendee("bob@example.com", "N" * 1000),))
    fitted = fit.fit(long)
    assert len(fitted.description.encode()) <= fit.MAX_DESCRIPTION_BYTES
    assert fitted.description.startswith("éé")
    assert fitted.description.endswith("the full text is in the organizer's CalDAV calendar]")
    assert "trimmed to 131072 bytes" in fitted.description
    assert len(fitted.summary.encode()) <= fit.MAX_TEXT_BYTES and fitted.summary.endswith("…")
    assert len(fitted.location.encode()) <= fit.MAX_TEXT_BYTES
    assert len(fitted.attendees[0].name.encode()) <= fit.MAX_NAME_BYTES
    assert fit.fit(fitted) == fitted  # trimming once is enough
    assert fitted.content_hash() == fit.fit(long).content_hash()  # stable: no update each pass


def test_a_modified_occurrence_is_held_to_the_same_limits() -> None:
    rid = START + timedelta(days=7)
    long = Override(rid, rid, rid + timedelta(hours=1), summary="ß" * 5000,
                    location="x" * 5000, description="é" * fit.MAX_DESCRIPTION_BYTES,
                    attendees=(Attendee("dave@example.com", "N" * 1000),))
    short = Override(rid + timedelta(days=7), rid + timedelta(days=7),
                     rid + timedelta(days=7, hours=1), summary="Fine")
    series = meeting(rrule=("FREQ=WEEKLY;COUNT=5",), overrides=(long, short))
    fitted = fit.fit(series)
    mine, other = fitted.overrides
    assert other is short
    assert len(mine.summary.encode()) <= fit.MAX_TEXT_BYTES and mine.summary.endswith("…")
    assert len(mine.location.encode()) <= fit.MAX_TEXT_BYTES
    assert len(mine.description.encode()) <= fit.MAX_DESCRIPTION_BYTES
    assert mine.description.endswith("the full text is in the organizer's CalDAV calendar]")
    assert len(mine.attendees[0].name.encode()) <= fit.MAX_NAME_BYTES
    assert (mine.recurrence_id, mine.start, mine.end) == (long.recurrence_id, long.start,
                                                          long.end)
    assert fit.fit(fitted) == fitted
    far = Override(rid, datetime(4600, 1, 1, tzinfo=UTC), datetime(4600, 1, 1, 1, tzinfo=UTC))
    with pytest.raises(fit.Unfit, match=r"the start of the modified occurrence .*4600-01-01"):
        fit.fit(meeting(rrule=("FREQ=WEEKLY;COUNT=5",), overrides=(far,)))


def test_ical_fits_the_text_of_a_modified_occurrence() -> None:
    series = text("RRULE:FREQ=DAILY;COUNT=3", "SUMMARY:Daily")
    override = "\r\n".join(["BEGIN:VEVENT", "UID:e-1", "DTSTAMP:20261125T120000Z",
                             "RECURRENCE-ID:20261211T140000Z", "DTSTART:20261211T160000Z",
                             "DTEND:20261211T170000Z", "ORGANIZER:mailto:alice@example.com",
                             "SUMMARY:" + "s" * 5000, "LOCATION:" + "l" * 5000,
                             "END:VEVENT"])
    parsed = parse_event(series.replace("END:VCALENDAR", override + "\r\nEND:VCALENDAR"))
    assert parsed.meeting is not None, parsed.error
    [fitted] = parsed.meeting.overrides
    assert len(fitted.summary.encode()) <= fit.MAX_TEXT_BYTES
    assert len(fitted.location.encode()) <= fit.MAX_TEXT_BYTES


def test_ical_reports_what_exchange_cannot_hold_per_event() -> None:
    parsed = parse_event(text("DTEND:20261210T150000Z", "BEGIN:VALARM", "ACTION:DISPLAY",
                              "TRIGGER:-P9999999W", "END:VALARM"))
    assert parsed.meeting is None and parsed.error is not None and "reminder" in parsed.error
    parsed = parse_event(text(start="DTSTART:00010101T100000Z"))
    assert parsed.error is not None and "0001-01-01" in parsed.error
    big = parse_event(text("DESCRIPTION:" + "a" * 200_000))
    assert big.meeting is not None and "trimmed" in big.meeting.description


# -- tasks and runaway zones ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["VTODO", "VJOURNAL"])
def test_tasks_and_journals_are_skipped_not_rejected(kind: str) -> None:
    task = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:t", f"BEGIN:{kind}",
                        "UID:task-1", "DTSTAMP:20261125T120000Z", f"END:{kind}", "END:VCALENDAR"])
    parsed = parse_event(task)
    assert (parsed.uid, parsed.error) == ("task-1", None)
    assert parsed.skipped == "tasks/journals are not synced to Exchange"


def test_a_runaway_vtimezone_is_refused_before_it_is_expanded() -> None:
    zone = ["BEGIN:VTIMEZONE", "TZID:Mars/Olympus", "BEGIN:STANDARD", "DTSTART:16010101T000000",
            "RRULE:FREQ=MINUTELY", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0000", "END:STANDARD",
            "END:VTIMEZONE"]
    body = text(start="DTSTART;TZID=Mars/Olympus:20261210T140000").replace(
        "BEGIN:VEVENT", "\r\n".join([*zone, "BEGIN:VEVENT"]), 1)
    parsed = parse_event(body)  # without the check, this call never returns
    assert parsed.error is not None and "FREQ=MINUTELY" in parsed.error
