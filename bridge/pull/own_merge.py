"""Exchange's version of the user's own event, read, and laid over their CalDAV event (pure).

Rules kept here:

- **Read as the push reads.** Exchange's iCalendar goes through `bridge.ical` (the reader the
  push uses, with its time zone rules), after its ORGANIZER is reduced to the address: Exchange
  writes it as ``mailto:"Name" <address>``, which the strict reader refuses.
- **Only what Exchange holds is taken** (`own_edits.Shape`): DTSTART/DTEND, SUMMARY, LOCATION
  and the invitees. Everything else of the user's event stays as their client wrote it:
  VALARMs, DESCRIPTION, CATEGORIES, the client's X- properties, the VTIMEZONEs, the overrides of
  a series and the PARTSTAT of every invitee who stays. Times keep the event's own zone (an
  event written in Europe/Berlin stays in Europe/Berlin, moved).
- **Still the user's event**: no ``X-CALBRIDGE-ORIGIN`` marker is added, so the push keeps
  owning it; SEQUENCE becomes the higher of the two sides', as an organizer's client bumps it.
"""

from __future__ import annotations

import email.utils
from datetime import date, datetime, tzinfo

import icalendar

from bridge import ical
from bridge.meeting import Meeting

__all__ = ["MergeError", "exchange_meeting", "merged"]


class MergeError(ValueError):
    """One of the two texts cannot be read; the message is one safe line."""


def exchange_meeting(ics: str, *, default_tz: str) -> Meeting:
    """Exchange's iCalendar of one item as a `Meeting`."""
    try:
        calendar = icalendar.Calendar.from_ical(ics)
    except Exception as error:  # icalendar raises many unrelated types
        raise MergeError(f"unreadable iCalendar ({type(error).__name__})") from error
    for event in calendar.walk("VEVENT"):
        organizer = event.get("ORGANIZER")
        if organizer is not None:
            address = email.utils.parseaddr(str(organizer).removeprefix("mailto:")
                                            .removeprefix("MAILTO:"))[1]
            event.pop("ORGANIZER")
            if address:
                event.add("ORGANIZER", icalendar.vCalAddress(f"mailto:{address}"))
    calendar.pop("METHOD", None)
    parsed = ical.parse_event(calendar.to_ical(), default_tz=default_tz)
    if parsed.meeting is None:
        raise MergeError(parsed.error or parsed.skipped or "no event")
    return parsed.meeting


def merged(caldav_text: str, exchange: Meeting, *, user: str) -> str:
    """The user's CalDAV event with Exchange's when, what, where and who (module rules)."""
    try:
        calendar = icalendar.Calendar.from_ical(caldav_text)
    except Exception as error:  # icalendar raises many unrelated types
        raise MergeError(f"unreadable CalDAV event ({type(error).__name__})") from error
    masters = [e for e in calendar.walk("VEVENT")
               if str(e.get("UID")) == exchange.uid and e.get("RECURRENCE-ID") is None]
    if not masters:
        raise MergeError("the CalDAV event has no VEVENT with this UID")
    event = masters[0]
    zone = _zone_of(event)
    for name, value in (("DTSTART", exchange.start), ("DTEND", exchange.end)):
        event.pop(name, None)
        event.add(name, _in_zone(value, zone))
    event.pop("DURATION", None)
    for name, text in (("SUMMARY", exchange.summary), ("LOCATION", exchange.location)):
        event.pop(name, None)
        if text:
            event.add(name, text)
    _invitees(event, exchange, user)
    sequence = max(_int(event.get("SEQUENCE")), exchange.sequence)
    event.pop("SEQUENCE", None)
    event.add("SEQUENCE", sequence)
    return str(calendar.to_ical().decode("utf-8"))


def _zone_of(event: icalendar.cal.Component) -> tzinfo | None:
    try:
        start = event.decoded("DTSTART")
    except Exception:  # no or unreadable DTSTART: Exchange's own spelling is kept
        return None
    return start.tzinfo if isinstance(start, datetime) else None


def _in_zone(value: datetime | date, zone: tzinfo | None) -> datetime | date:
    if isinstance(value, datetime) and zone is not None:
        return value.astimezone(zone)
    return value


def _int(value: object) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0


def _address(value: object) -> str:
    return str(value).strip().removeprefix("mailto:").removeprefix("MAILTO:").lower()


def _invitees(event: icalendar.cal.Component, exchange: Meeting, user: str) -> None:
    """Keep the lines of invitees Exchange still has, add its new ones, drop the others."""
    wanted = {a.email: a for a in exchange.invitees() if a.email != user.lower()}
    lines = event.get("ATTENDEE")
    old = lines if isinstance(lines, list) else [lines] if lines is not None else []
    keep = [a for a in old if _address(a) in wanted or _address(a) == user.lower()]
    have = {_address(a) for a in keep}
    if len(keep) == len(old) and set(wanted) <= have:
        return  # same people: the lines (and their PARTSTATs) stay exactly as they were
    event.pop("ATTENDEE", None)
    for line in keep:
        event.add("ATTENDEE", line)
    for address, attendee in sorted(wanted.items()):
        if address in have:
            continue
        added = icalendar.vCalAddress(f"mailto:{address}")
        if attendee.name:
            added.params["CN"] = attendee.name
        added.params["ROLE"] = attendee.role.value
        added.params["CUTYPE"] = attendee.kind.value
        added.params["PARTSTAT"] = "NEEDS-ACTION"
        event.add("ATTENDEE", added)
