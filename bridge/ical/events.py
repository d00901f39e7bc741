"""One event: the VEVENTs of one UID (a master and its RECURRENCE-ID overrides) → one `ParsedEvent`.

Rule kept here: every UID yields exactly one `ParsedEvent` holding a meeting, an error or a
skipped reason, and one bad event never touches another. A series and its overrides are one
`Meeting`; an override must name an occurrence of the series (`occurrences.occurs`, bounded), one
override per occurrence, and RANGE=THISANDFUTURE is refused with a reason. A meeting that reads
well is then fitted to what Exchange 2003 can hold (`fit.fit`). Pure: no I/O, no logging.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from icalendar import Calendar, Component

from bridge.fit import Unfit, fit
from bridge.ical.common import PRODID, _clean, _Reject, _show
from bridge.ical.properties import (
    _SENSITIVITIES,
    _add_duration,
    _address,
    _attendees,
    _busy_status,
    _categories,
    _dates,
    _in_gap,
    _kind,
    _moment,
    _one,
    _param,
    _reminder,
    _rrules,
    _text,
    _uid,
)
from bridge.ical.writer import _vtimezone
from bridge.ical.zones import _UTC_NAMES, _UTC_ZONE, _known_zone, _Source
from bridge.meeting import Meeting, MeetingError, Override, Sensitivity
from bridge.occurrences import occurs


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
