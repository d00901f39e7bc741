"""iCalendar text ⇄ `Meeting`, through the icalendar library.

Rule kept here: parsing never raises on bad input and one bad event never touches another. Every
UID in a text yields exactly one `ParsedEvent`, which holds one of three outcomes:

- `meeting`: the event as a validated `Meeting`;
- `error`: a short reason when the event is broken or asks for something Exchange 2003 cannot
  hold (unknown time zone, attendee without an e-mail address, hourly recurrence, ...);
- `skipped`: a reason when the event is valid but cannot be expressed (modified occurrences,
  RECURRENCE-ID, without their series), so that it is never half-synced; a calendar object that
  holds only a task or a journal (VTODO/VJOURNAL) is skipped too: they are not synced.

A series and its RECURRENCE-ID overrides are one `Meeting` (`Meeting.overrides`); an override
must name an occurrence of the series (`occurrences.occurs`, bounded), one override per
occurrence, and RANGE=THISANDFUTURE is refused with a reason (Exchange 2003 has no such
exception; clients split the series instead).

A meeting that reads well is then fitted to what Exchange 2003 can hold (`fit.fit`): long text
trimmed with a note, dates outside 1601–4500, oversized reminders and too many attendees refused
with a reason. A VTIMEZONE whose rules no real zone has is refused before its rules are expanded
(the front door's check, `screen.screen_vtimezone_rule`).

Time zones are resolved per calendar, never through icalendar's process-wide cache of VTIMEZONE
definitions (there, the first file that defines "Customized Time Zone" would decide the offsets of
every later file that uses the same name). A TZID is looked up as an IANA name, then as a Windows
or Exchange 2003 display name (`windows_to_iana`), then as a VTIMEZONE of the same calendar (which
is matched to the IANA zone with the same offsets, so that `Meeting.tzid` is always an IANA name or
None). Floating times are in `default_tz`. Text is kept as written except that control characters
other than TAB and LF are removed (CR and CRLF become LF).

icalendar rejects a whole text for one bad value outside a VEVENT's own properties (a VALARM's
TRIGGER, a VTIMEZONE); such a text is read again one VEVENT at a time (`_recover`).

Pure: text in, values out. No I/O, no logging; the only module state is caches of pure lookups.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, available_timezones

from dateutil.rrule import rrulestr
from icalendar import (
    Alarm,
    Calendar,
    Component,
    Event,
    Timezone,
    vBroken,
    vCalAddress,
    vRecur,
)
from icalendar.parser import Contentlines

from bridge.fit import Unfit, fit
from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    MeetingError,
    Override,
    Sensitivity,
    parse_address,
)
from bridge.occurrences import occurs
from bridge.screen import DOOR, screen_vtimezone_rule
from bridge.timezones import WINDOWS_ZONES, windows_to_iana
from bridge.vtimezone import vtimezone_text

__all__ = ["PRODID", "ParsedEvent", "parse_calendar", "parse_event", "to_ical", "windows_to_iana"]

PRODID = "-//calbridge//calbridge//EN"


@dataclass(frozen=True)
class ParsedEvent:
    """The outcome for one UID: a meeting, or the reason why there is none.

    ``raw`` is a VCALENDAR holding only this event's VEVENTs and the VTIMEZONEs they use (the whole
    input text when it is not iCalendar at all), fit to be stored as one calendar object.
    """

    uid: str | None
    meeting: Meeting | None
    error: str | None
    skipped: str | None
    raw: str


class _Reject(Exception):
    """The event cannot become a Meeting; the message is the reason shown to the user."""


# -- text ------------------------------------------------------------------------------------

_CONTROL = dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0)])


def _clean(text: str) -> str:
    """Keep the text, turn CR/CRLF into LF and drop every other C0/C1 control except TAB and LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_CONTROL)


def _show(text: object, limit: int = 60) -> str:
    """A value quoted for an error message: cleaned, on one line, and short."""
    value = " ".join(_clean(str(text)).split())
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _decode(text: str | bytes) -> str:
    """Text from UTF-8 (or UTF-16 with its byte-order mark, as some Windows tools write it)."""
    if isinstance(text, bytes):
        utf16 = text.startswith((b"\xff\xfe", b"\xfe\xff"))
        # A byte that does not decode costs one character (U+FFFD), not the whole file.
        text = text.decode("utf-16" if utf16 else "utf-8", errors="replace")
    return text.removeprefix("\ufeff")


# -- time zones ------------------------------------------------------------------------------

# Windows time zone IDs (the registry key names Outlook and Exchange write as TZID) → IANA, for the
# zone the Windows ID stands for in most places ("001" in Unicode CLDR's windowsZones).
_UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
     "GMT", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "GMT+0", "GMT-0", "GMT0",
     "Greenwich", "Etc/Greenwich"}
)
@functools.cache
def _iana_names() -> dict[str, str]:
    """Known IANA names by case-folded spelling (a TZID of "europe/berlin" still resolves)."""
    names = available_timezones() - {"localtime", "Factory", "posixrules"}
    return {name.casefold(): name for name in sorted(names)}


def _iana_name(name: str) -> str | None:
    return _iana_names().get(name.strip().strip("/").casefold())


def _known_zone(name: str) -> str | None:
    """An IANA name for a zone name written by a person or a client, or None."""
    iana = _iana_name(name) or windows_to_iana(name)
    if iana is None and name.startswith("/"):
        # "Globally unique" TZIDs (RFC 5545 3.2.19) of libical and Lightning:
        # "/freeassociation.sourceforge.net/Tzfile/Europe/Berlin" → the longest IANA suffix.
        parts = name.strip("/").split("/")
        suffixes = ("/".join(parts[i:]) for i in range(1, len(parts)))
        iana = next(filter(None, map(_iana_name, suffixes)), None)
    return iana


class _Zone(NamedTuple):
    """How one TZID reads: `wall` interprets the written wall-clock time; times are then expressed
    in the IANA zone `iana` (None: UTC). `exact` is False for a zone defined only by the file's
    VTIMEZONE that no IANA zone matches: its times are kept in UTC, which is right for single
    events but would shift a series across daylight-saving changes."""

    wall: tzinfo
    iana: str | None
    exact: bool = True

    @property
    def target(self) -> tzinfo:
        return ZoneInfo(self.iana) if self.iana else UTC


_UTC_ZONE = _Zone(UTC, None)


def _zone_for(iana: str) -> _Zone:
    return _UTC_ZONE if iana in _UTC_NAMES else _Zone(ZoneInfo(iana), iana)


_MINUTE = timedelta(minutes=1)
_HALF_DAY = timedelta(hours=12)


def _equivalent_iana(custom: tzinfo, hints: Iterable[str], year: int) -> str | None:
    """The first candidate IANA zone whose offsets equal those of `custom` in `year` and the next.

    Offsets are compared weekly and 12 hours before and after every transition of the candidate,
    so a daylight-saving change on another day tells the zones apart while one at another hour of
    the same night does not (VTIMEZONEs written by hand or by old Outlook versions are often that
    rough, and no meeting at a sensible hour moves because of it). A zone built from a VTIMEZONE
    is slow to ask (dateutil expands its rules on every call), so its answers are remembered.
    """
    weekly = [datetime(year, 1, 1, tzinfo=UTC) + timedelta(weeks=n) for n in range(106)]
    seen: dict[datetime, timedelta | None] = {}

    def custom_offset(moment: datetime) -> timedelta | None:
        if moment not in seen:
            seen[moment] = moment.astimezone(custom).utcoffset()
        return seen[moment]

    known = (_iana_name(name) for name in [*hints, *WINDOWS_ZONES.values()])
    for name in dict.fromkeys(name for name in known if name):
        zone = ZoneInfo(name)

        def offset(moment: datetime, zone: tzinfo = zone) -> timedelta | None:
            return moment.astimezone(zone).utcoffset()

        if any(offset(m) != custom_offset(m) for m in weekly):
            continue
        changes = _transitions(offset, weekly)
        edges = [t for change in changes for t in (change - _HALF_DAY, change + _HALF_DAY)]
        if all(offset(t) == custom_offset(t) for t in edges):
            return name
    return None


def _transitions(
    offset: Callable[[datetime], timedelta | None], samples: list[datetime]
) -> Iterator[datetime]:
    """The first minute of each new offset between consecutive samples (one change at most)."""
    for low, high in itertools.pairwise(samples):
        if offset(low) == offset(high):
            continue
        while high - low > _MINUTE:
            middle = low + (high - low) // _MINUTE // 2 * _MINUTE
            low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
        yield high


@dataclass
class _Source:
    """What the events of one VCALENDAR share: its VTIMEZONEs, its header, the floating zone."""

    calendar: Calendar | None
    floating: _Zone
    vtimezones: dict[str, Timezone] = field(default_factory=dict)
    _zones: dict[str, _Zone] = field(default_factory=dict)

    def zone(self, tzid: str, year: int) -> _Zone:
        """The zone a TZID names; `year` is where a VTIMEZONE is compared with IANA zones (the
        first use decides for the whole calendar)."""
        if tzid not in self._zones:
            self._zones[tzid] = self._resolve(tzid, year)
        return self._zones[tzid]

    def _resolve(self, tzid: str, year: int) -> _Zone:
        iana = _iana_name(tzid) or windows_to_iana(tzid)
        if iana is not None:
            return _zone_for(iana)
        component = self.vtimezones.get(tzid.strip())
        if component is None:
            iana = _known_zone(tzid)
            if iana is None:
                raise _Reject(f"unknown time zone {_show(tzid)}")
            return _zone_for(iana)
        shape = _zone_shape(component)
        if shape is not None:
            raise _Reject(f"time zone {_show(tzid)} in this file is refused: {shape}")
        try:
            custom = component.to_tz(lookup_tzid=False)
            hints = [str(v) for v in _all(component, "X-LIC-LOCATION")]
            match = _equivalent_iana(custom, [h for h in map(_known_zone, hints) if h], year)
        except Exception as exc:
            raise _Reject(f"time zone {_show(tzid)} in this file is invalid") from exc
        return _zone_for(match) if match else _Zone(custom, None, exact=False)


def _zone_shape(component: Timezone) -> str | None:
    """Why a VTIMEZONE could make dateutil run without end (the front door's rules), or None.

    The door refuses such a PUT; a file that came another way (a hand edit, a restore) is
    checked here before `to_tz` expands its rules.
    """
    observances = [c for c in component.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    if len(observances) > DOOR.max_observances:
        return f"more than {DOOR.max_observances} observances"
    rules = 0
    for observance in observances:
        for rule in _all(observance, "RRULE"):
            rules += 1
            text = _ical_text(rule) if isinstance(rule, vRecur) else str(rule)
            reason = screen_vtimezone_rule(text)
            if reason is not None:
                return reason
    if rules > DOOR.max_zone_rules:
        return f"more than {DOOR.max_zone_rules} rules"
    return None


# -- reading properties ----------------------------------------------------------------------


def _ical_text(value: Any) -> str:
    """A property value's iCalendar text (icalendar's ``to_ical`` is untyped)."""
    return str(value.to_ical().decode())


def _all(component: Component, name: str) -> list[Any]:
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _one(component: Component, name: str) -> Any:
    """The first occurrence of a property, or None; a value icalendar could not read is an error."""
    values = _all(component, name)
    if not values:
        return None
    if isinstance(values[0], vBroken):
        raise _Reject(f"{name} has an invalid value {_show(values[0])}")
    return values[0]


def _text(component: Component, name: str) -> str:
    value = _one(component, name)
    return "" if value is None else _clean(str(value))


def _localize(value: object, tzid: object, name: str, source: _Source) -> tuple[date, _Zone | None]:
    """A parsed DTSTART/DTEND/RDATE/EXDATE value as a date, or an aware datetime in its zone."""
    if isinstance(value, datetime):
        if tzid:
            zone = source.zone(str(tzid), value.year)
        elif value.tzinfo is not None:
            zone = _UTC_ZONE
        else:
            zone = source.floating
        return value.replace(tzinfo=None).replace(tzinfo=zone.wall), zone
    if isinstance(value, date):
        return value, None
    raise _Reject(f"{name} must be a date or a date-time")


def _moment(component: Component, name: str, source: _Source) -> tuple[date, _Zone | None] | None:
    prop = _one(component, name)
    if prop is None:
        return None
    return _localize(prop.dt, prop.params.get("TZID"), name, source)


def _in_gap(value: datetime) -> bool:
    """A wall-clock time its zone skips (02:30 on the day clocks spring forward)."""
    back = value.astimezone(UTC).astimezone(value.tzinfo)
    return back.replace(tzinfo=None) != value.replace(tzinfo=None)


def _kind(value: date) -> str:
    return "a date-time" if isinstance(value, datetime) else "a date"


def _add_duration(start: date, duration: object, all_day: bool) -> date:
    if not isinstance(duration, timedelta):
        raise _Reject("DURATION is not a duration")
    if all_day:
        if duration.seconds or duration.microseconds:
            raise _Reject("DURATION of an all-day event must be whole days")
        return start + timedelta(days=duration.days)
    assert isinstance(start, datetime)
    # RFC 5545 3.3.6: days and weeks are nominal (same wall-clock time), hours and less exact.
    nominal = start + timedelta(days=duration.days)
    exact = nominal.astimezone(UTC) + timedelta(seconds=duration.seconds)
    return exact.astimezone(start.tzinfo)


def _address(prop: vCalAddress, what: str) -> str:
    """The e-mail address of an ORGANIZER/ATTENDEE: its mailto: value, else its EMAIL parameter."""
    value = str(prop).strip()
    candidate = value if value.casefold().startswith("mailto:") else prop.params.get("EMAIL")
    if not candidate:
        raise _Reject(f"{what} without e-mail address: {_show(value)}")
    try:
        return parse_address(str(candidate))
    except MeetingError as exc:
        raise _Reject(f"{what} without a valid e-mail address: {_show(value)}") from exc


_ROLES = {role.value: role for role in AttendeeRole}
_KINDS = {kind.value: kind for kind in AttendeeKind}
_SENSITIVITIES = {s.value: s for s in Sensitivity}
_BUSY = {b.value: b for b in BusyStatus}


def _param(prop: Any, name: str) -> str:
    return _clean(str(prop.params.get(name, ""))).strip()


def _attendees(event: Component) -> tuple[Attendee, ...]:
    found: dict[str, Attendee] = {}
    for prop in _all(event, "ATTENDEE"):
        email = _address(prop, "attendee")
        if email in found:
            continue  # the first mention wins
        found[email] = Attendee(
            email=email,
            name=_param(prop, "CN"),
            role=_ROLES.get(_param(prop, "ROLE").upper(), AttendeeRole.REQUIRED),
            kind=_KINDS.get(_param(prop, "CUTYPE").upper(), AttendeeKind.PERSON),
            partstat=_param(prop, "PARTSTAT").upper() or "NEEDS-ACTION",
        )
    return tuple(found.values())


def _categories(event: Component) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for prop in _all(event, "CATEGORIES"):
        for item in getattr(prop, "cats", [prop]):
            text = _clean(str(item)).strip()
            if text:
                found.setdefault(text)
    return tuple(found)


def _busy_status(event: Component) -> BusyStatus:
    """TRANSP:TRANSPARENT → FREE; else Outlook's X-MICROSOFT-CDO-BUSYSTATUS; else BUSY.

    STATUS:TENTATIVE says the meeting itself is unsure, not that the time is; it stays BUSY.
    """
    if _text(event, "TRANSP").strip().upper() == "TRANSPARENT":
        return BusyStatus.FREE
    cdo = _text(event, "X-MICROSOFT-CDO-BUSYSTATUS").strip().upper()
    return _BUSY.get(cdo, BusyStatus.BUSY)


def _reminder(event: Component) -> int | None:
    """Minutes before the start of the first DISPLAY/AUDIO alarm that fires at or before it."""
    for alarm in event.subcomponents:
        if alarm.name != "VALARM":
            continue
        if _clean(str(alarm.get("ACTION", ""))).strip().upper() not in ("DISPLAY", "AUDIO"):
            continue
        trigger = alarm.get("TRIGGER")
        if trigger is None or isinstance(trigger, list | vBroken):
            continue
        if str(trigger.params.get("RELATED", "START")).upper() != "START":
            continue
        offset = trigger.dt
        if isinstance(offset, timedelta) and offset <= timedelta(0):
            return int(-offset.total_seconds()) // 60
    return None


_EXPRESSIBLE_FREQ = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
# Outlook's recurrence model (daily, weekly, monthly by day or n-th weekday, yearly) has no
# place for these parts; a series using them is held with a reason, never sent half-understood.
_INEXPRESSIBLE_PARTS = ("BYWEEKNO", "BYYEARDAY", "BYHOUR", "BYMINUTE", "BYSECOND")
MAX_COUNT = 999
"""Outlook ends a series after at most 999 occurrences (inferred: its "End after" field)."""


def _rrules(event: Component, start: date, target: tzinfo) -> tuple[str, ...]:
    rules: list[str] = []
    found = _all(event, "RRULE")
    if len(found) > 1:
        raise _Reject(f"{len(found)} RRULEs in one series cannot be expressed on Exchange 2003 "
                      "(one rule per series)")
    if _all(event, "EXRULE"):
        raise _Reject("EXRULE cannot be expressed on Exchange 2003")
    for prop in found:
        if not isinstance(prop, vRecur):
            raise _Reject(f"RRULE has an invalid value {_show(prop)}")
        recur = vRecur.from_ical(_ical_text(prop))
        freq = [str(f).upper() for f in recur.get("FREQ", [])]
        if len(freq) != 1:
            raise _Reject(f"RRULE {_show(_ical_text(prop))} has no valid FREQ")
        if freq[0] not in _EXPRESSIBLE_FREQ:
            raise _Reject(f"RRULE {_show(_ical_text(prop))} cannot be expressed on Exchange")
        parts = [p for p in _INEXPRESSIBLE_PARTS if recur.get(p)]
        if parts or len(recur.get("BYSETPOS", [])) > 1:
            what = parts[0] if parts else "BYSETPOS with several positions"
            raise _Reject(f"RRULE {_show(_ical_text(prop))} cannot be expressed on Exchange "
                          f"2003 ({what} has no place in Outlook's recurrence patterns)")
        count = recur.get("COUNT", [None])[0]
        if isinstance(count, int) and count > MAX_COUNT:
            raise _Reject(f"RRULE {_show(_ical_text(prop))} has COUNT={count}: Outlook and "
                          f"Exchange 2003 end a series after at most {MAX_COUNT} occurrences "
                          "(use UNTIL or no end)")
        if recur.get("UNTIL"):
            recur["UNTIL"] = [_until(recur["UNTIL"][0], start, target)]
        text = _ical_text(recur)
        dtstart = start if isinstance(start, datetime) else datetime.combine(start, time())
        try:
            rrulestr(text, dtstart=dtstart)
        except (ValueError, TypeError) as exc:
            raise _Reject(f"RRULE {_show(text)} cannot be used: {exc}") from exc
        rules.append(text)
    return tuple(rules)


def _until(until: date, start: date, target: tzinfo) -> date:
    """UNTIL in the form RFC 5545 requires: a date for all-day series, else a UTC date-time.

    A floating UNTIL is read in the event's zone, a date UNTIL of a timed series as the end of that
    day (clients write both).
    """
    if not isinstance(start, datetime):
        return until.date() if isinstance(until, datetime) else until
    if not isinstance(until, datetime):
        until = datetime.combine(until, time(23, 59, 59))
    if until.tzinfo is None:
        until = until.replace(tzinfo=target)
    return until.astimezone(UTC)


def _dates(event: Component, name: str, source: _Source, start: date, target: tzinfo) -> list[date]:
    """All values of every RDATE/EXDATE property, of the same kind as DTSTART, in its zone."""
    values: list[date] = []
    for prop in _all(event, name):
        if isinstance(prop, vBroken) or not hasattr(prop, "dts"):
            raise _Reject(f"{name} has an invalid value {_show(prop)}")
        for item in prop.dts:
            if isinstance(item.dt, tuple):
                raise _Reject(f"{name} with a PERIOD value cannot be expressed on Exchange")
            tzid = item.params.get("TZID") or prop.params.get("TZID")
            value, _ = _localize(item.dt, tzid, name, source)
            if isinstance(value, datetime) != isinstance(start, datetime):
                raise _Reject(f"{name} is {_kind(value)} but DTSTART is {_kind(start)}")
            values.append(value.astimezone(target) if isinstance(value, datetime) else value)
    return values


def _uid(event: Component) -> str | None:
    value = event.get("UID")
    if isinstance(value, list):
        value = value[0]
    text = str(value).strip() if value is not None else ""
    return text or None


# -- one event -------------------------------------------------------------------------------


def _meeting(event: Component, source: _Source) -> Meeting:
    """Convert one VEVENT (a single event or the master of a series)."""
    unreadable = [msg for prop, msg in getattr(event, "errors", []) if prop is None]
    if unreadable:
        raise _Reject(f"the event has a line that is not iCalendar ({_show(unreadable[0], 80)})")
    uid = _uid(event)
    if uid is None:
        raise _Reject("UID missing")
    if uid != _clean(uid) or "\n" in uid:
        raise _Reject("UID contains control characters")

    found = _moment(event, "DTSTART", source)
    if found is None:
        raise _Reject("DTSTART missing")
    start, zone = found
    all_day = not isinstance(start, datetime)
    zone = zone or _UTC_ZONE
    target = zone.target
    in_gap = isinstance(start, datetime) and _in_gap(start)
    if isinstance(start, datetime):
        start = start.astimezone(target)

    end_found = _moment(event, "DTEND", source)
    if end_found is not None:  # DTEND wins over a DURATION given as well
        end = end_found[0]
        if isinstance(end, datetime) != isinstance(start, datetime):
            raise _Reject(f"DTSTART is {_kind(start)} but DTEND is {_kind(end)}")
        if isinstance(end, datetime):
            end = end.astimezone(target)
    elif (duration := _one(event, "DURATION")) is not None:
        end = _add_duration(start, duration.dt, all_day)
    else:  # RFC 5545 3.6.1: one day for a date, zero length for a date-time
        end = start + timedelta(days=1) if all_day else start
    if all_day and end == start:
        end = start + timedelta(days=1)  # an all-day event lasts at least its day

    rrule = _rrules(event, start, target)
    rdates = tuple(_dates(event, "RDATE", source, start, target))
    exdates = tuple(_dates(event, "EXDATE", source, start, target))
    if in_gap and (rrule or rdates):
        raise _Reject(
            f"the series starts at {_one(event, 'DTSTART').dt:%Y-%m-%d %H:%M}, a time its zone "
            "skips (clocks go forward then); Exchange would place every occurrence an hour off "
            "— start the series at a time that exists"
        )
    if not zone.exact and (rrule or rdates):
        tzid = _one(event, "DTSTART").params.get("TZID")
        raise _Reject(
            f"time zone {_show(tzid)} of this series matches no known zone, so its occurrences "
            "cannot be placed"
        )

    organizer = organizer_name = None
    if (prop := _one(event, "ORGANIZER")) is not None:
        organizer = _address(prop, "organizer")
        organizer_name = _param(prop, "CN")
    sequence = _one(event, "SEQUENCE")
    sensitivity = _text(event, "CLASS").strip().upper() or "PUBLIC"

    return Meeting(
        uid=uid,
        start=start,
        end=end,
        summary=_text(event, "SUMMARY"),
        location=_text(event, "LOCATION"),
        description=_text(event, "DESCRIPTION"),
        sequence=int(sequence) if sequence is not None else 0,
        organizer=organizer,
        organizer_name=organizer_name or "",
        attendees=_attendees(event),
        all_day=all_day,
        tzid=zone.iana if not all_day else None,
        rrule=rrule,
        rdates=rdates,
        exdates=exdates,
        busy_status=_busy_status(event),
        # RFC 5545 3.8.1.3: an unknown CLASS is treated as PRIVATE.
        sensitivity=_SENSITIVITIES.get(sensitivity, Sensitivity.PRIVATE),
        categories=_categories(event),
        reminder_minutes=_reminder(event),
        status=_text(event, "STATUS").strip().upper() or "CONFIRMED",
    )


def _override(event: Component, source: _Source, master: Meeting) -> Override:
    """One RECURRENCE-ID VEVENT of `master`, which must name one of the series' occurrences."""
    found = _moment(event, "RECURRENCE-ID", source)
    assert found is not None  # only VEVENTs with a RECURRENCE-ID come here
    rid, _ = found
    shown = rid.isoformat()
    if str(_one(event, "RECURRENCE-ID").params.get("RANGE", "")).upper() == "THISANDFUTURE":
        raise _Reject(f"the change of {shown} and all later occurrences (RANGE=THISANDFUTURE) "
                      "cannot be expressed on Exchange 2003; split the series instead")
    if not master.is_recurring:
        raise _Reject(f"a modified occurrence ({shown}) of an event that does not recur")
    if not occurs(master, rid):
        raise _Reject(f"the modified occurrence {shown} (RECURRENCE-ID) matches no occurrence "
                      "of the series")
    start_found = _moment(event, "DTSTART", source)
    start = start_found[0] if start_found is not None else rid
    end_found = _moment(event, "DTEND", source)
    if end_found is not None:
        end = end_found[0]
    elif (duration := _one(event, "DURATION")) is not None:
        end = _add_duration(start, duration.dt, not isinstance(start, datetime))
    else:  # the series' length
        end = start + _length(master)
    return Override(
        recurrence_id=rid,
        start=start,
        end=end,
        summary=_text(event, "SUMMARY"),
        location=_text(event, "LOCATION"),
        description=_text(event, "DESCRIPTION"),
        attendees=_attendees(event),
        status=_text(event, "STATUS").strip().upper() or "CONFIRMED",
        sequence=int(sequence) if (sequence := _one(event, "SEQUENCE")) is not None else 0,
    )


def _length(meeting: Meeting) -> timedelta:
    start, end = meeting.start, meeting.end
    if isinstance(start, datetime) and isinstance(end, datetime):
        return end - start
    return timedelta(days=end.toordinal() - start.toordinal())


@dataclass
class _Group:
    """The VEVENTs of one UID (a master and its overrides), or the reason they could not be read."""

    uid: str | None
    source: _Source
    events: list[Component] = field(default_factory=list)
    unreadable: tuple[str, str] | None = None  # (error, the VCALENDAR text that failed)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _outcome(group: _Group) -> ParsedEvent:
    """One UID: the master VEVENT and its RECURRENCE-ID overrides become one ParsedEvent."""
    uid = group.uid
    if group.unreadable is not None:
        return ParsedEvent(uid, None, group.unreadable[0], None, group.unreadable[1])
    raw = _raw(group.events, group.source)
    masters = [e for e in group.events if "RECURRENCE-ID" not in e]
    overrides = len(group.events) - len(masters)
    try:
        if len(masters) > 1:
            raise _Reject(f"{len(masters)} VEVENTs share this UID without a RECURRENCE-ID")
        if not masters:
            reason = (
                f"{_plural(overrides, 'modified occurrence')} (RECURRENCE-ID) without their "
                "series cannot be expressed on Exchange 2003 yet"
            )
            return ParsedEvent(uid, None, None, reason, raw)
        meeting = _meeting(masters[0], group.source)
        if overrides:
            found = [_override(e, group.source, meeting) for e in group.events
                     if "RECURRENCE-ID" in e]
            meeting = replace(meeting, overrides=tuple(found))
        meeting = fit(meeting)
    except (_Reject, MeetingError, Unfit) as exc:
        return ParsedEvent(uid, None, str(exc), None, raw)
    except Exception as exc:  # icalendar or dateutil choked on something unforeseen
        reason = f"cannot read this event ({type(exc).__name__}: {_show(exc, 120)})"
        return ParsedEvent(uid, None, reason, None, raw)
    return ParsedEvent(uid, meeting, None, None, raw)


def _raw(events: list[Component], source: _Source) -> str:
    """A VCALENDAR with just these VEVENTs and the source's VTIMEZONEs they refer to."""
    try:
        out = Calendar()
        header = source.calendar
        for name in ("VERSION", "PRODID", "CALSCALE"):
            value = header.get(name) if header is not None else None
            if value is not None and not isinstance(value, list):
                out[name] = value
        if "VERSION" not in out:
            out.add("VERSION", "2.0")
        if "PRODID" not in out:
            out.add("PRODID", PRODID)
        for event in events:
            out.add_component(event)
        used = out.get_used_tzids()
        zones = [tz for tzid, tz in source.vtimezones.items() if tzid in used]
        for tzid in sorted(used - source.vtimezones.keys()):  # RFC 5545 wants one per TZID
            iana = _known_zone(tzid)
            if iana is not None and iana not in _UTC_NAMES:
                zones.append(_vtimezone(iana, tzid))
        out.subcomponents[:0] = zones
        return str(out.to_ical().decode("utf-8"))
    except Exception:  # serializing what icalendar parsed should not fail; never lose the verdict
        return ""


# -- reading a whole text --------------------------------------------------------------------


def _floating_zone(default_tz: str) -> _Zone:
    iana = _known_zone(default_tz)
    if iana is None:
        raise ValueError(f"default_tz {default_tz!r} is not a known time zone")
    return _zone_for(iana)


def _add_timezones(source: _Source, component: Component) -> None:
    for tz in component.walk("VTIMEZONE"):
        if isinstance(tz, Timezone) and "TZID" in tz:
            source.vtimezones.setdefault(str(tz["TZID"]).strip(), tz)


def _components(
    parsed: Sequence[Component], floating: _Zone
) -> Iterator[tuple[Component, _Source]]:
    for top in parsed:
        if top.name == "VEVENT":  # a bare VEVENT without VCALENDAR: tolerated
            yield top, _Source(None, floating)
            continue
        if top.name != "VCALENDAR":
            continue
        source = _Source(top if isinstance(top, Calendar) else None, floating)
        _add_timezones(source, top)
        for event in top.subcomponents:
            if event.name == "VEVENT":
                yield event, source


def _line_parts(line: str) -> tuple[str, str]:
    """(NAME, value) of a content line as icalendar's tokenizer reads it; ("", "") if it cannot."""
    try:
        name, _params, value = line.parts()  # type: ignore[attr-defined]  # Contentline.parts is missing from icalendar's types
    except (ValueError, AttributeError):
        return "", ""
    return str(name).upper(), str(value)


def _recover(content: str, floating: _Zone) -> list[_Group] | None:
    """Read a text that icalendar rejects as a whole one top-level component at a time.

    icalendar gives up on the whole text for a bad value outside a VEVENT's own properties (a
    VALARM's TRIGGER, a VTIMEZONE). Its own tokenizer cuts the text into content lines; each
    VEVENT is then parsed alone, in a VCALENDAR with the header and every VTIMEZONE that parses,
    so the bad one gets an error and the others are read normally. Returns None when the text has
    no complete BEGIN:VCALENDAR … END:VCALENDAR structure.
    """
    header: list[str] = []
    blocks: list[list[str]] = []
    depth = calendars = 0
    for line in Contentlines.from_ical(content):  # type: ignore[no-untyped-call]  # unannotated in icalendar
        if not line:
            continue
        name = _line_parts(line)[0]
        if name == "BEGIN":
            depth += 1
            if depth == 2:
                blocks.append([])
        if depth >= 2:
            blocks[-1].append(line)
        elif depth == 1 and name not in ("BEGIN", "END") and not calendars:
            header.append(line)
        if name == "END":
            depth -= 1
            if depth < 0:
                return None
            calendars += depth == 0
    if depth != 0 or not calendars:
        return None

    def wrap(lines: list[str]) -> str:
        return "\r\n".join(["BEGIN:VCALENDAR", *header, *lines, "END:VCALENDAR", ""])

    try:
        calendar: Calendar | None = Calendar.from_ical(wrap([]))
    except Exception:
        header, calendar = [], None
    source = _Source(calendar, floating)
    events: list[tuple[list[str], str]] = []
    for block in blocks:
        kind = _line_parts(block[0])[1].upper()
        if kind == "VEVENT":
            events.append((block, wrap(block)))
        elif kind == "VTIMEZONE":
            with contextlib.suppress(Exception):  # a bad VTIMEZONE: its events say "unknown"
                _add_timezones(source, Calendar.from_ical(wrap(block)))
    groups: list[_Group] = []
    for block, text in events:
        try:
            parsed = Calendar.from_ical(text)
        except Exception as exc:
            uid = next((v.strip() for n, v in map(_line_parts, block) if n == "UID"), "") or None
            error = f"cannot parse this event: {_show(exc, 120)}"
            groups.append(_Group(uid, source, unreadable=(error, text)))
            continue
        groups.extend(_Group(_uid(e), source, [e]) for e in parsed.walk("VEVENT"))
    return groups


def _group(items: Iterable[_Group]) -> list[_Group]:
    """Merge the entries of each UID in order of appearance; entries without UID stay apart."""
    merged: list[_Group] = []
    by_uid: dict[str, _Group] = {}
    for item in items:
        if item.uid is None:
            merged.append(item)
        elif item.uid in by_uid:
            group = by_uid[item.uid]
            group.events.extend(item.events)
            group.unreadable = group.unreadable or item.unreadable
            for tzid, component in item.source.vtimezones.items():  # same UID, other VCALENDAR
                group.source.vtimezones.setdefault(tzid, component)
        else:
            by_uid[item.uid] = item
            merged.append(item)
    return merged


def parse_calendar(text: str | bytes, *, default_tz: str = "UTC") -> list[ParsedEvent]:
    """Every event of an iCalendar text, one `ParsedEvent` per UID, in order of appearance.

    ``default_tz`` is the zone of floating times (the mailbox's zone): an IANA or Windows name.
    Bad input never raises: a text that is not iCalendar gives one ParsedEvent with uid None and
    an error; VEVENTs without UID each give one. A VCALENDAR without VEVENTs gives [].

    Raises:
        ValueError: ``default_tz`` is not a known zone (a configuration error, not bad input).
    """
    floating = _floating_zone(default_tz)
    content = _decode(text)

    def whole(reason: str) -> list[ParsedEvent]:
        return [ParsedEvent(None, None, f"not an iCalendar file: {reason}", None, content)]

    if not content.strip():
        return whole("it is empty")
    try:
        parsed = Calendar.from_ical(content, multiple=True)
    except Exception as exc:
        try:
            recovered = _recover(content, floating)
        except Exception:
            recovered = None
        if recovered is None:
            return whole(_show(exc, 120))
        groups = recovered
    else:
        if not any(top.name in ("VCALENDAR", "VEVENT") for top in parsed):
            return whole("no complete BEGIN:VCALENDAR … END:VCALENDAR")
        groups = [_Group(_uid(e), source, [e]) for e, source in _components(parsed, floating)]
    return [_outcome(group) for group in _group(groups)]


def parse_event(text: str | bytes, *, default_tz: str = "UTC") -> ParsedEvent:
    """The one event of a calendar object resource (a Radicale item): one UID expected."""
    results = parse_calendar(text, default_tz=default_tz)
    if len(results) == 1:
        return results[0]
    content = _decode(text)
    if not results:
        task_uid = _task_uid(content)
        if task_uid is not None:
            return ParsedEvent(task_uid, None, None, "tasks/journals are not synced to Exchange",
                               content)
        return ParsedEvent(None, None, "no VEVENT in this calendar object", None, content)
    uids = ", ".join(_show(r.uid, 40) for r in results[:3]) + (", …" if len(results) > 3 else "")
    reason = f"expected one event, found {len(results)} (UIDs {uids})"
    return ParsedEvent(None, None, reason, None, content)


def _task_uid(content: str) -> str | None:
    """The UID of the first VTODO/VJOURNAL of a text without VEVENTs, or None."""
    try:
        parsed = Calendar.from_ical(content, multiple=True)
    except Exception:  # not iCalendar: the caller's "no VEVENT" says enough
        return None
    for top in parsed:
        for component in top.walk():
            if component.name in ("VTODO", "VJOURNAL"):
                uid = _uid(component)
                if uid is not None and uid == _clean(uid) and "\n" not in uid:
                    return uid
    return None


# -- serializing -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _vtimezone(iana: str, tzid: str | None = None) -> Timezone:
    """A VTIMEZONE for an IANA zone, named `tzid` (default: the IANA name). Never mutate it."""
    return Timezone.from_tzinfo(ZoneInfo(iana), tzid or iana)


_READ_AS_ESCAPE = re.compile(r'\\+(?=[;:,"]|$)')


def _param_value(text: str) -> str:
    """A parameter value icalendar reads back as written: one line, and no backslash before
    ``; : , "`` or at the end (its reader takes those for escapes, which parameters do not have)."""
    return _READ_AS_ESCAPE.sub("", " ".join(_clean(text).split("\n")))


def _address_prop(email: str, name: str, **params: str) -> vCalAddress:
    prop = vCalAddress(f"mailto:{email}")
    if name:
        prop.params["CN"] = _param_value(name)
    prop.params.update(params)
    return prop


def to_ical(meeting: Meeting, *, dtstamp: datetime | None = None, method: str | None = None) -> str:
    """A VCALENDAR with a VEVENT for `meeting`, one per override (RECURRENCE-ID), and the
    VTIMEZONE of its zone (`bridge.vtimezone`: the real zone's rules, as Outlook writes them).

    Timed events are written in ``meeting.tzid`` when it names a known zone, else in UTC.
    ``dtstamp`` defaults to now; pass one for byte-stable output. ``method`` (REQUEST, CANCEL)
    makes it a meeting message (RFC 5546).
    """
    calendar = Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    if method:
        calendar.add("METHOD", method)
    event = Event()
    event.add("UID", meeting.uid)
    stamp = (dtstamp or datetime.now(UTC)).astimezone(UTC)
    event.add("DTSTAMP", stamp)

    iana = _known_zone(meeting.tzid) if meeting.tzid else None
    zone = _zone_for(iana) if iana else _UTC_ZONE

    def when(value: date) -> date:
        return value.astimezone(zone.target) if isinstance(value, datetime) else value

    event.add("DTSTART", when(meeting.start))
    event.add("DTEND", when(meeting.end))
    for name, value in (
        ("SUMMARY", meeting.summary),
        ("LOCATION", meeting.location),
        ("DESCRIPTION", meeting.description),
    ):
        if value:
            event.add(name, _clean(value))
    if meeting.organizer:
        event.add("ORGANIZER", _address_prop(meeting.organizer, meeting.organizer_name))
    for person in meeting.attendees:
        event.add(
            "ATTENDEE",
            _address_prop(
                person.email,
                person.name,
                ROLE=person.role.value,
                CUTYPE=person.kind.value,
                PARTSTAT=_param_value(person.partstat),
            ),
        )
    event.add("SEQUENCE", meeting.sequence)
    event.add("STATUS", _clean(meeting.status))
    event.add("CLASS", meeting.sensitivity.value)
    event.add("TRANSP", "TRANSPARENT" if meeting.busy_status is BusyStatus.FREE else "OPAQUE")
    event.add("X-MICROSOFT-CDO-BUSYSTATUS", meeting.busy_status.value)
    if meeting.categories:
        event.add("CATEGORIES", [_clean(c) for c in meeting.categories])
    for rule in meeting.rrule:
        event.add("RRULE", vRecur.from_ical(rule))
    if meeting.rdates:
        event.add("RDATE", [when(d) for d in meeting.rdates])
    if meeting.exdates:
        event.add("EXDATE", [when(d) for d in meeting.exdates])
    if meeting.reminder_minutes is not None:
        alarm = Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", _clean(meeting.summary) or "Reminder")
        alarm.add("TRIGGER", timedelta(minutes=-meeting.reminder_minutes))
        event.add_component(alarm)
    if zone.iana and not meeting.all_day:
        calendar.add_component(_series_vtimezone(zone.iana, meeting.start.year))
    calendar.add_component(event)
    for override in meeting.overrides:
        calendar.add_component(_override_event(meeting, override, stamp, when))
    return str(calendar.to_ical().decode("utf-8"))


def _series_vtimezone(iana: str, year: int) -> Component:
    text = vtimezone_text(iana, year)
    parsed = Calendar.from_ical(f"BEGIN:VCALENDAR\r\n{text}\r\nEND:VCALENDAR\r\n")
    return parsed.subcomponents[0]


def _override_event(
    meeting: Meeting, override: Override, stamp: datetime, when: Callable[[date], date]
) -> Event:
    event = Event()
    event.add("UID", meeting.uid)
    event.add("DTSTAMP", stamp)
    event.add("RECURRENCE-ID", when(override.recurrence_id))
    event.add("DTSTART", when(override.start))
    event.add("DTEND", when(override.end))
    for name, value in (
        ("SUMMARY", override.summary),
        ("LOCATION", override.location),
        ("DESCRIPTION", override.description),
    ):
        if value:
            event.add(name, _clean(value))
    if meeting.organizer:
        event.add("ORGANIZER", _address_prop(meeting.organizer, meeting.organizer_name))
    for person in override.attendees:
        event.add("ATTENDEE", _address_prop(person.email, person.name, ROLE=person.role.value,
                                            CUTYPE=person.kind.value,
                                            PARTSTAT=_param_value(person.partstat)))
    event.add("SEQUENCE", override.sequence)
    event.add("STATUS", _clean(override.status))
    return event
