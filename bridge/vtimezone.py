"""The VTIMEZONE a recurring series is sent to Exchange with (reference §4.5).

Rule kept here: Exchange expands a series in its own zone, so every series carries one. The text
is built from the IANA name the `Meeting` keeps (bridge.ical matches a client's own VTIMEZONE to the
IANA zone with the same offsets, so nothing of the client's zone is lost). Chosen shape: what
Outlook and Windows write, one STANDARD and one DAYLIGHT observance with a yearly
``BYMONTH``/``BYDAY`` rule (the n-th or last weekday of a month), because that is the only shape
Exchange 2003's time-zone model holds (one standard/daylight rule pair, inferred: the reference
names only the property). A zone whose transitions no such rule pair describes over the years the
series spans (rules that changed, or a "Friday before the last Sunday" rule) lists its changes
one by one (RDATE) for 30 years from the series' start. Not icalendar's ``Timezone.from_tzinfo``:
it writes each observance's DTSTART in the new offset's wall time (03:00 for Berlin's 02:00
change), which RFC 5545 reads in the old one — an hour late.

Pure and cached: no I/O, no clock, no logging.
"""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

__all__ = ["vtimezone_text"]

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_CHECKED_YEARS = 12  # a yearly rule must agree with the real zone this many years from the start
_LISTED_YEARS = 30  # otherwise the changes are listed one by one for this many years


class _Transition(NamedTuple):
    local: datetime  # wall-clock time just before the change, naive
    before: timedelta
    after: timedelta


def _transitions(zone: ZoneInfo, year: int) -> list[_Transition]:
    """The offset changes of `zone` within `year`, found day by day, then to the second."""
    found: list[_Transition] = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    stop = datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment < stop:
        following = moment + timedelta(days=1)
        next_offset = following.astimezone(zone).utcoffset()
        if next_offset != offset:
            low, high = 0, 86400  # seconds after `moment`; transitions fall on whole seconds
            while high - low > 1:
                middle = (low + high) // 2
                if (moment + timedelta(seconds=middle)).astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            assert offset is not None and next_offset is not None
            local = (moment + timedelta(seconds=high) + offset).replace(tzinfo=None)
            found.append(_Transition(local, offset, next_offset))
        moment, offset = following, next_offset
    return found


def _nth(day: datetime) -> int:
    """1..4 for the n-th weekday of its month, -1 for the last one."""
    length = calendar.monthrange(day.year, day.month)[1]
    return -1 if day.day + 7 > length else (day.day - 1) // 7 + 1


def _rule_day(year: int, month: int, weekday: int, nth: int) -> int:
    days = [d for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if calendar.weekday(year, month, d) == weekday]
    return days[-1] if nth == -1 else days[nth - 1]


def _observance(kind: str, change: _Transition, name: str) -> list[str]:
    local = change.local
    nth = _nth(local)
    weekday = local.weekday()
    # DTSTART: the first time the rule applies, in 1970 (Outlook writes 1601; any year before
    # the series works, and 1970 keeps every reader's date arithmetic ordinary).
    first = datetime(1970, local.month, _rule_day(1970, local.month, weekday, nth),
                     local.hour, local.minute)
    return [
        f"BEGIN:{kind}",
        f"DTSTART:{first:%Y%m%dT%H%M%S}",
        f"RRULE:FREQ=YEARLY;BYMONTH={local.month};BYDAY={nth}{_DAYS[weekday]}",
        f"TZOFFSETFROM:{_offset(change.before)}",
        f"TZOFFSETTO:{_offset(change.after)}",
        f"TZNAME:{name}",
        f"END:{kind}",
    ]


def _offset(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{rest:02d}"


def _matches(zone: ZoneInfo, year: int, pair: list[_Transition]) -> bool:
    """Does the yearly rule pair read from `pair` give the real transitions of `year`?"""
    real = _transitions(zone, year)
    if len(real) != len(pair):
        return False
    for rule, actual in zip(pair, real, strict=True):
        local = rule.local
        day = _rule_day(year, local.month, local.weekday(), _nth(local))
        expected = datetime(year, local.month, day, local.hour, local.minute)
        if (expected, rule.before, rule.after) != tuple(actual):
            return False
    return True


def _listed(zone: ZoneInfo, year: int) -> list[str]:
    """Observances listing each change (DTSTART, then RDATEs) from `year` - 1 for
    `_LISTED_YEARS`: for zones no yearly rule pair describes."""
    groups: dict[tuple[timedelta, timedelta, str], list[datetime]] = {}
    for each in range(year - 1, year + _LISTED_YEARS):
        for change in _transitions(zone, each):
            moment = (change.local - change.before).replace(tzinfo=UTC) + timedelta(seconds=1)
            name = moment.astimezone(zone).tzname() or zone.key
            groups.setdefault((change.before, change.after, name), []).append(change.local)
    lines: list[str] = []
    for (before, after, name), moments in groups.items():
        kind = "DAYLIGHT" if after > before else "STANDARD"
        lines += [f"BEGIN:{kind}", f"DTSTART:{moments[0]:%Y%m%dT%H%M%S}"]
        lines += [f"RDATE:{m:%Y%m%dT%H%M%S}" for m in moments[1:]]
        lines += [f"TZOFFSETFROM:{_offset(before)}", f"TZOFFSETTO:{_offset(after)}",
                  f"TZNAME:{name}", f"END:{kind}"]
    if not lines:  # no change in those years: the offset of the start
        lines = _fixed(zone, year)
    return lines


def _fixed(zone: ZoneInfo, year: int) -> list[str]:
    local = datetime(year, 1, 1, tzinfo=UTC).astimezone(zone)
    offset = _offset(local.utcoffset() or timedelta())
    return ["BEGIN:STANDARD", "DTSTART:19700101T000000", f"TZOFFSETFROM:{offset}",
            f"TZOFFSETTO:{offset}", f"TZNAME:{local.tzname() or zone.key}", "END:STANDARD"]


@functools.lru_cache(maxsize=256)
def vtimezone_text(iana: str, year: int) -> str:
    """``BEGIN:VTIMEZONE`` … ``END:VTIMEZONE`` for `iana`, right for a series starting in `year`.

    Lines are joined with CRLF; the TZID is the IANA name.

    Raises:
        zoneinfo.ZoneInfoNotFoundError / ValueError: not an IANA zone name.
    """
    zone = ZoneInfo(iana)
    year = min(max(year, 1971), 9000)
    pair = _transitions(zone, year)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{iana}"]
    if not pair:
        lines += _fixed(zone, year)
    elif len(pair) == 2 and all(
        _matches(zone, y, pair) for y in range(year, year + _CHECKED_YEARS)
    ):
        for change in pair:
            moment = (change.local - change.before).replace(tzinfo=UTC) + timedelta(hours=1)
            summer = change.after > change.before
            lines += _observance("DAYLIGHT" if summer else "STANDARD", change,
                                 moment.astimezone(zone).tzname() or iana)
    else:
        lines += _listed(zone, year)
    lines.append("END:VTIMEZONE")
    return "\r\n".join(lines)
