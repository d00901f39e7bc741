"""Serializing: a `Meeting` → a VCALENDAR text (with METHOD for a meeting message, RFC 5546).

Rule kept here: what we write reads back through `bridge.ical` as the same meeting: one VEVENT per
override (RECURRENCE-ID), the real zone's VTIMEZONE (`bridge.vtimezone`), parameter values
icalendar reads back as written. Pure: no I/O, no logging.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Component, Event, Timezone, vCalAddress, vRecur

from bridge.ical.common import PRODID, _clean
from bridge.ical.zones import _UTC_ZONE, _known_zone, _zone_for
from bridge.meeting import BusyStatus, Meeting, Override
from bridge.vtimezone import vtimezone_text


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
