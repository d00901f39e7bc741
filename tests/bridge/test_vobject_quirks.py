"""vobject_quirks: what the door mends (only empty rule lines) and how it explains Radicale."""

from __future__ import annotations

import icalendar
import pytest

from bridge.vobject_quirks import explain, mend

BODY = "\r\n".join(["BEGIN:VCALENDAR", "BEGIN:VEVENT", "UID:h", "DTSTART:20190101",
                    "{rule}", "SUMMARY:New Year", "END:VEVENT", "END:VCALENDAR", ""])


@pytest.mark.parametrize("rule", ["RRULE:", "RRULE: ", "rrule:", "EXRULE:", "RRULE;X-A=1:"])
def test_an_empty_rule_line_is_dropped_and_nothing_else(rule: str) -> None:
    text = BODY.format(rule=rule)
    mended = mend(text)
    assert mended == BODY.replace("{rule}\r\n", "")
    # what an independent reader made of the original is what the mended text says
    before = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    after = icalendar.Calendar.from_ical(mended).walk("VEVENT")[0]
    assert not before.get("RRULE") and "RRULE" not in after
    assert after["SUMMARY"] == before["SUMMARY"]


@pytest.mark.parametrize("rule", ["RRULE:FREQ=DAILY", "RRULE:\r\n FREQ=DAILY",
                                  "DESCRIPTION:", "X-RRULE:"])
def test_a_rule_with_a_value_or_another_empty_property_is_left_alone(rule: str) -> None:
    assert mend(BODY.format(rule=rule)) is None


def test_known_messages_get_their_reason_and_others_a_short_line() -> None:
    assert "PERIOD" in explain("PERIOD not supported by used vobject=0.9.9 in object 'x'")
    assert "RECURRENCE-ID" in explain("Multiple main components. Got comp: <VEVENT| ...>")
    unknown = explain("At line 13: '2027x' is not a valid DATE-TIME\n" + "y" * 500)
    assert unknown.startswith("the calendar server could not store this event")
    assert "\n" not in unknown and len(unknown) < 300
    assert explain(None) == explain("") != ""
