"""Reading the properties of one VEVENT into values a `Meeting` is built from.

Rule kept here: a property that cannot be read or cannot be held by Exchange 2003 (an invalid
value, an attendee without an e-mail address, hourly or otherwise inexpressible recurrence) raises
`_Reject` with a short reason for the user; nothing is guessed or sent half-understood.
Pure: no I/O, no logging.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil.rrule import rrulestr
from icalendar import Component, vBroken, vCalAddress, vRecur

from bridge.ical.common import _all, _clean, _ical_text, _Reject, _show
from bridge.ical.zones import _UTC_ZONE, _Source, _Zone
from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    MeetingError,
    Sensitivity,
    parse_address,
)


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
