"""`exchange_sim.zones`: an appointment's zone, and the VTIMEZONEs written for named zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exchange_sim import zones

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
