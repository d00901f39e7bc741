"""The time zone of an appointment: where Exchange expands its recurrence.

Rule kept here (protocol reference §4.5): times are stored in UTC and the zone only affects
display and recurrence expansion. An appointment's zone is its ``urn:schemas:calendar:timezone``
(a VTIMEZONE text) when present, else its ``urn:schemas:calendar:timezoneid`` (a CdoTimeZoneId
int), else none: then recurrences are expanded in UTC (the only defined choice; the mailbox
default zone ``http://schemas.microsoft.com/exchange/timezone`` is named by the reference only
as Evolution's autoconfig hint, not as the zone Exchange expands a zone-less series in).

A VTIMEZONE is refused unless its observance rules have the yearly shape real zones use
(dateutil evaluates an observance's RRULE from its DTSTART on every lookup, so a hostile rule
could take forever). Nothing here reads the store, the network or a clock, and nothing logs.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, tzinfo
from typing import cast
from zoneinfo import ZoneInfo

import icalendar
from dateutil.rrule import rrulestr

__all__ = [
    "CDO_ZONES",
    "PRIVATE_VTIMEZONE",
    "ZoneError",
    "checked_vtimezone",
    "parse_vtimezone",
    "vtimezone_text",
    "zone_of",
]

_CAL = "urn:schemas:calendar:"

# CdoTimeZoneId → IANA zone, for the ids the reference lists (§4.5, 0..23). Chosen: today's
# IANA rules for each city (Exchange 2003 used the Windows registry rules of its day, e.g. the
# pre-2007 US dates, which the reference does not give).
CDO_ZONES: dict[int, str] = {
    0: "UTC", 1: "Europe/London", 2: "Europe/Lisbon", 3: "Europe/Paris", 4: "Europe/Berlin",
    5: "Europe/Bucharest", 6: "Europe/Prague", 7: "Europe/Athens", 8: "America/Sao_Paulo",
    9: "America/Halifax", 10: "America/New_York", 11: "America/Chicago", 12: "America/Denver",
    13: "America/Los_Angeles", 14: "America/Anchorage", 15: "Pacific/Honolulu",
    16: "Pacific/Midway", 17: "Pacific/Auckland", 18: "Australia/Brisbane",
    19: "Australia/Adelaide", 20: "Asia/Tokyo", 21: "Asia/Hong_Kong", 22: "Asia/Bangkok",
    23: "Asia/Kolkata",
}  # fmt: skip

PRIVATE_VTIMEZONE = "X-CALBRIDGE-VTIMEZONE"
"""The name a body's VTIMEZONE is parsed under, so icalendar does not cache it process-wide."""

_RULE_PARTS = frozenset(
    {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYMONTH", "BYDAY", "BYMONTHDAY", "BYSETPOS", "WKST"}
)
_TZ_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError)
_MAX_VTIMEZONE_CHARS = 64 * 1024


class ZoneError(ValueError):
    """A VTIMEZONE that is malformed, hostile or unusable."""


def checked_vtimezone(component: icalendar.cal.Component) -> icalendar.Timezone:
    """A real VTIMEZONE from a (private or real) component, refused if it could take forever.

    Only ``FREQ=YEARLY`` rules with at most one ``BYMONTH`` and one ``BYDAY`` value and at most
    seven ``BYMONTHDAY`` values, no ``BYHOUR``/``BYMINUTE``/``BYSECOND``/``BYYEARDAY``/
    ``BYWEEKNO``, are accepted.
    """
    zone = icalendar.Timezone()
    zone.update(component)
    # icalendar types a Timezone's children as STANDARD/DAYLIGHT; the parser gives Components.
    zone.subcomponents = cast("list[icalendar.TimezoneStandard | icalendar.TimezoneDaylight]",
                              list(component.subcomponents))
    for observance in zone.subcomponents:
        rules = observance.get("RRULE")
        for rule in rules if isinstance(rules, list) else [rules] if rules is not None else []:
            keys = {str(k).upper() for k in rule}
            if (
                not isinstance(rule, icalendar.vRecur)
                or [str(f).upper() for f in rule.get("FREQ", [])] != ["YEARLY"]
                or not keys <= _RULE_PARTS
                or len(rule.get("BYMONTH", [])) > 1
                or len(rule.get("BYDAY", [])) > 1
                or len(rule.get("BYMONTHDAY", [])) > 7  # "8,...,14" with BYDAY=SU is real
            ):
                raise ZoneError("unsupported VTIMEZONE RRULE (not a real zone's yearly shape)")
    return zone


def to_tzinfo(zone: icalendar.Timezone) -> tzinfo:
    """The tzinfo of a checked VTIMEZONE (its STANDARD/DAYLIGHT rules, never a cached name)."""
    try:
        return zone.to_tz(lookup_tzid=False)
    except _TZ_ERRORS as e:
        raise ZoneError("unusable VTIMEZONE") from e


@functools.lru_cache(maxsize=256)
def parse_vtimezone(text: str) -> tzinfo:
    """The tzinfo of one stored VTIMEZONE text (``BEGIN:VTIMEZONE`` ... ``END:VTIMEZONE``).

    Raises:
        ZoneError: not exactly one usable, well-shaped VTIMEZONE.
    """
    if len(text) > _MAX_VTIMEZONE_CHARS:
        raise ZoneError("VTIMEZONE too large")
    private = "\r\n".join(
        f"{line.split(':', 1)[0]}:{PRIVATE_VTIMEZONE}"
        if line.strip().upper() in ("BEGIN:VTIMEZONE", "END:VTIMEZONE") else line
        for line in text.replace("\r\n", "\n").split("\n")
    )
    try:
        calendar = icalendar.Calendar.from_ical(
            f"BEGIN:VCALENDAR\r\n{private.strip()}\r\nEND:VCALENDAR\r\n")
        components = calendar.walk(PRIVATE_VTIMEZONE)
    except (*_TZ_ERRORS, RecursionError) as e:
        raise ZoneError("malformed VTIMEZONE") from e
    if len(components) != 1:
        raise ZoneError("expected exactly one VTIMEZONE")
    return to_tzinfo(checked_vtimezone(components[0]))


def zone_of(props: object) -> tzinfo | None:
    """The zone an appointment's recurrence is expanded in; None means UTC (see module doc).

    Raises:
        ZoneError: a stored ``timezone`` text that cannot be used.
    """
    get = getattr(props, "get", None)
    if get is None:
        return None
    text = get(_CAL + "timezone")
    if isinstance(text, str) and text.strip():
        return parse_vtimezone(text)  # §4.5: timezoneid is ignored when timezone is present
    tzid = get(_CAL + "timezoneid")
    if isinstance(tzid, int | str) and not isinstance(tzid, bool):
        try:
            key = CDO_ZONES.get(int(tzid))
        except ValueError:
            key = None
        if key is not None:
            return ZoneInfo(key)
    return None


# -- a VTIMEZONE for a named zone ----------------------------------------------------------------

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _offset(value: timedelta) -> str:
    total = int(value.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    return f"{sign}{hours:02d}{rest // 60:02d}"


def _transitions(zone: tzinfo, year: int) -> list[tuple[datetime, timedelta, timedelta]]:
    """(UTC instant, offset before, offset after) of each offset change in `year`."""
    found: list[tuple[datetime, timedelta, timedelta]] = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)
    before = moment.astimezone(zone).utcoffset() or timedelta(0)
    while moment < end:
        later = moment + step
        after = later.astimezone(zone).utcoffset() or timedelta(0)
        if after != before:
            low, high = moment, later  # bisect to the minute
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if (middle.astimezone(zone).utcoffset() or timedelta(0)) == before:
                    low = middle
                else:
                    high = middle
            found.append((high.replace(second=0, microsecond=0), before, after))
            before = after
        moment = later
    return found


def vtimezone_text(key: str, year: int) -> str:
    """A VTIMEZONE (TZID = `key`) with the yearly STANDARD/DAYLIGHT rules `key` follows in
    `year`: each change as "the n-th (or last) weekday of its month" at its local time.

    Raises:
        ZoneError: `key` is not a known zone.
    """
    try:
        zone = ZoneInfo(key)
    except (ValueError, KeyError, OSError) as e:
        raise ZoneError(f"unknown zone {key[:60]!r}") from e
    lines = ["BEGIN:VTIMEZONE", f"TZID:{key}"]
    changes = _transitions(zone, year)
    if len(changes) != 2:
        offset = datetime(year, 7, 1, tzinfo=UTC).astimezone(zone).utcoffset() or timedelta(0)
        lines += ["BEGIN:STANDARD", "DTSTART:16010101T000000", f"TZOFFSETFROM:{_offset(offset)}",
                  f"TZOFFSETTO:{_offset(offset)}", "END:STANDARD"]
    for instant, before, after in changes if len(changes) == 2 else []:
        local = (instant + before).replace(tzinfo=None)  # the wall clock that jumps
        last = (local + timedelta(days=7)).month != local.month
        nth = -1 if last else (local.day - 1) // 7 + 1
        kind = "DAYLIGHT" if after > before else "STANDARD"
        rule = f"FREQ=YEARLY;BYMONTH={local.month};BYDAY={nth}{_DAYS[local.weekday()]}"
        # Start the observance a year early, so the year's first months (before its first
        # change) are covered by the rule too.
        first = rrulestr(rule, dtstart=local.replace(year=year - 1, month=1, day=1))[0]
        lines += [f"BEGIN:{kind}", f"DTSTART:{first:%Y%m%dT%H%M%S}",
                  f"TZOFFSETFROM:{_offset(before)}", f"TZOFFSETTO:{_offset(after)}",
                  f"RRULE:{rule}", f"END:{kind}"]
    lines.append("END:VTIMEZONE")
    return "\r\n".join(lines)
