"""The front door's line scan (bridge/screen.py): what it refuses, what it lets through, and that
its cost does not depend on what the text asks for."""

from __future__ import annotations

import pytest

from bridge.screen import DOOR, Limits, Refusal, decode_body, screen, screen_vtimezone_rule


def calendar(*lines: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *lines, "END:VCALENDAR", ""])


def zone(rule: str) -> list[str]:
    return ["BEGIN:VTIMEZONE", "TZID:X", "BEGIN:STANDARD", "DTSTART:16010101T000000",
            f"RRULE:{rule}", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0000", "END:STANDARD",
            "END:VTIMEZONE"]


def event(*lines: str) -> list[str]:
    return ["BEGIN:VEVENT", "UID:u", "DTSTART:20261210T140000Z", *lines, "END:VEVENT"]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU",
        "FREQ=YEARLY;BYMONTH=3;BYDAY=2SU;UNTIL=20061231T000000Z",
        "FREQ=YEARLY;INTERVAL=1;BYMONTH=3;BYMONTHDAY=8,9,10,11,12,13,14;BYDAY=SU;WKST=MO",
    ],
)
def test_real_zone_rules_pass(rule: str) -> None:
    assert screen_vtimezone_rule(rule) is None
    assert screen(calendar(*zone(rule), *event())) is None


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=MINUTELY", "FREQ=MINUTELY"),
        ("FREQ=SECONDLY;INTERVAL=7", "FREQ=SECONDLY"),
        ("FREQ=HOURLY", "FREQ=HOURLY"),
        ("FREQ=DAILY", "FREQ=DAILY"),
        ("BYMONTH=3", "FREQ=missing"),
        ("FREQ=YEARLY;BYHOUR=1,2", "BYHOUR"),
        ("FREQ=YEARLY;BYMONTH=1,2,3", "BYMONTH"),
        ("FREQ=YEARLY;BYDAY=MO,TU", "BYDAY"),
        ("freq=yearly;byweekno=1", "BYWEEKNO"),
    ],
)
def test_runaway_zone_rules_are_refused(rule: str, words: str) -> None:
    refusal = screen(calendar(*zone(rule), *event()))
    assert refusal is not None and refusal.status == 400 and words in refusal.reason


def test_a_zone_rule_folded_over_lines_is_still_seen() -> None:
    text = calendar(*zone("FREQ=YEARLY")).replace("RRULE:FREQ=YEARLY", "RRULE:FREQ=MI\r\n NUTELY")
    refusal = screen(text)
    assert refusal is not None and "FREQ=MINUTELY" in refusal.reason


def test_a_quoted_colon_in_a_parameter_does_not_hide_the_value() -> None:
    text = calendar("BEGIN:VTIMEZONE", "TZID:X", "BEGIN:DAYLIGHT",
                    'RRULE;X-NOTE="a:FREQ=YEARLY":FREQ=SECONDLY', "END:DAYLIGHT", "END:VTIMEZONE")
    refusal = screen(text)
    assert refusal is not None and "FREQ=SECONDLY" in refusal.reason


def test_a_group_prefix_does_not_hide_a_rule() -> None:
    refusal = screen(calendar(*zone("FREQ=YEARLY")).replace("RRULE:", "item1.RRULE:"))
    assert refusal is None
    refusal = screen(calendar(*zone("FREQ=MINUTELY")).replace("RRULE:", "item1.RRULE:"))
    assert refusal is not None and "FREQ=MINUTELY" in refusal.reason


def test_both_readings_of_a_quoted_colon_must_pass() -> None:
    text = calendar("BEGIN:VTIMEZONE", "TZID:X", "BEGIN:DAYLIGHT",
                    'RRULE;X-NOTE="a:FREQ=MINUTELY":FREQ=YEARLY', "END:DAYLIGHT", "END:VTIMEZONE")
    refusal = screen(text)
    assert refusal is not None and "FREQ=MINUTELY" in refusal.reason


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (["RRULE:FREQ=SECONDLY"], "needs a COUNT"),
        (["RRULE:FREQ=MINUTELY;UNTIL=20261211T000000Z"], "needs a COUNT"),
        (["RRULE:FREQ=WEEKLY;BYHOUR=9,10"], "needs a COUNT"),
        (["RRULE:FREQ=DAILY;COUNT=10001"], "COUNT=10001"),
        (["RRULE:FREQ=DAILY;COUNT=x"], "COUNT=X"),
        (["RRULE:FREQ=DAILY;COUNT=3"] * 5, "more than 4 recurrence rules"),
        (["RDATE:" + ",".join(["20270101T140000Z"] * 5001)], "RDATE"),
        (["ATTENDEE:mailto:a@example.com"] * 2001, "attendees"),
    ],
)
def test_event_limits(lines: list[str], words: str) -> None:
    refusal = screen(calendar(*event(*lines)))
    assert refusal is not None and refusal.status == 400 and words in refusal.reason


@pytest.mark.parametrize(
    "lines",
    [
        ["RRULE:FREQ=HOURLY;COUNT=24"],
        ["RRULE:FREQ=DAILY;COUNT=10000"],
        ["RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"],
        ["RRULE:FREQ=DAILY;BYHOUR=9"],
        ["ATTENDEE:mailto:a@example.com"] * 2000,
    ],
)
def test_ordinary_events_pass(lines: list[str]) -> None:
    assert screen(calendar(*event(*lines))) is None


def test_size_components_and_depth() -> None:
    small = Limits(max_bytes=100)
    refusal = screen(calendar(*event("DESCRIPTION:" + "é" * 60)), small)
    assert refusal == Refusal(413, "the calendar object is larger than 100 bytes")
    alarms = ["BEGIN:VALARM", "TRIGGER:-PT5M", "END:VALARM"] * 1999
    refusal = screen(calendar(*event(*alarms)))
    assert refusal is not None and "more than 2000 components" in refusal.reason
    nested = ["BEGIN:X"] * 8 + ["END:X"] * 8
    refusal = screen(calendar(*nested))
    assert refusal is not None and "deeper than 8" in refusal.reason


def test_zones_with_too_many_rules_or_observances() -> None:
    rules = ["BEGIN:STANDARD", "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD"] * 21
    refusal = screen(calendar("BEGIN:VTIMEZONE", *rules, "END:VTIMEZONE"))
    assert refusal is not None and "more than 20 rules" in refusal.reason
    dated = ["BEGIN:DAYLIGHT", "RDATE:19800406T020000", "END:DAYLIGHT"] * (DOOR.max_observances + 1)
    roomy = Limits(max_components=9999)
    refusal = screen(calendar("BEGIN:VTIMEZONE", *dated, "END:VTIMEZONE"), roomy)
    assert refusal is not None and "observances" in refusal.reason


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (calendar("END:VEVENT"), "does not close"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n", "does not close"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n", "never closed"),
    ],
)
def test_unbalanced_components(text: str, words: str) -> None:
    refusal = screen(text)
    assert refusal is not None and refusal.status == 400 and words in refusal.reason


def test_other_texts_are_not_our_business() -> None:
    assert screen("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob\r\nEND:VCARD\r\n") is None
    assert screen("") is None


def test_decoding_follows_radicale() -> None:
    text = calendar(*zone("FREQ=MINUTELY"))
    assert decode_body(text.encode("utf-16"), "text/calendar; charset=utf-16") == text
    assert decode_body("é".encode("latin-1"), "text/calendar") == "é"
    refusal = decode_body(b"x", 'text/calendar; charset="no-such"')
    assert refusal == Refusal(415, "unsupported charset 'no-such'")
