"""Exchange items → the events of the user's CalDAV calendar (pure: no I/O, no logging).

Size: over 400 lines because reading an item, building the user's event from it and laying a
reply over the organizer's event share one set of cleaning and attendee helpers (the rules
below); the decision of which of these a message gets is `bridge.pull.decide`.

Rules kept here:

- **Marked.** Every event built here carries ``X-CALBRIDGE-ORIGIN:exchange``, the item's URL in
  ``X-CALBRIDGE-EXCHANGE-URL`` and its message class in ``X-CALBRIDGE-EXCHANGE-CLASS``
  (clients ignore X- properties; the bridge tells pulled events from the user's own by them).
- **Stored objects, not messages.** ``METHOD`` is dropped (RFC 4791 §4.1: a calendar object
  resource has none); VTIMEZONEs travel as Exchange sent them.
- **The user's own answer.** A received invitation shows the user as ATTENDEE with
  ``PARTSTAT=NEEDS-ACTION;RSVP=TRUE`` (added when the request reached them by Bcc or through a
  list) and the organizer as ORGANIZER. An update from the organizer resets it to NEEDS-ACTION
  when the time or the recurrence changed, and keeps the user's answer otherwise (Outlook's
  behaviour as observed in practice; the reference is silent). An update older than what the
  calendar holds (lower SEQUENCE) is `Stale`.
- **Cancellation marks, never deletes**: STATUS:CANCELLED and TRANSP:TRANSPARENT, as Exchange
  marks an attendee's copy (subject "Canceled:", FREE, reference §3.3 / MS-OXOCAL); the user
  removes it, as in Outlook ("Remove from Calendar"), and the removal sends nothing because the
  user does not organize it. A cancellation of one occurrence cancels that occurrence only.
- **Replies** (``Resp.Pos/Neg/Tent``) set the replying attendee's PARTSTAT on the organizer's
  event (a room that declines → DECLINED). A reply from an address that is not an attendee is
  `NotInvited`; a reply to an older SEQUENCE than Exchange last sent is `Stale`.
- **Hostile text adds nothing.** Every text value and parameter is stripped of control
  characters (line breaks kept only inside TEXT values, where iCalendar escapes them), so no
  field can start a property of its own.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from email.message import Message

import icalendar

from bridge.meeting import MeetingError, parse_address
from bridge.pull import guards

__all__ = [
    "CLASS",
    "EXCHANGE_URL",
    "ORIGIN",
    "BadItem",
    "NotInvited",
    "Pulled",
    "ReplyOutcome",
    "Stale",
    "apply_reply",
    "appointment",
    "calendar_text",
    "cancellation",
    "invitation",
    "is_pulled",
    "own_partstat",
    "parse_calendar",
    "with_partstat",
]

ORIGIN = "X-CALBRIDGE-ORIGIN"
EXCHANGE_URL = "X-CALBRIDGE-EXCHANGE-URL"
CLASS = "X-CALBRIDGE-EXCHANGE-CLASS"
_CALENDAR_TYPES = ("text/calendar", "application/ics")
_REPLY_PARTSTAT = {"Pos": "ACCEPTED", "Neg": "DECLINED", "Tent": "TENTATIVE"}
# What "the time changed" means for resetting the user's answer (RFC 5546 §2.1.4 lists these
# among the properties whose change needs a new answer).
_RESCHEDULING = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE")
_CTL_EXCEPT_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CTL = re.compile(r"[\x00-\x1f\x7f]")


class BadItem(ValueError):
    """The item cannot be read as a calendar object; the message is one safe line."""


class Stale(ValueError):
    """The message is older than what the calendar already holds."""


class NotInvited(ValueError):
    """A reply from someone who is not an attendee of the event."""


@dataclass(frozen=True)
class Pulled:
    """One event for the user's calendar: its UID, SEQUENCE and full VCALENDAR text."""

    uid: str
    sequence: int
    text: str
    notes: tuple[str, ...] = field(default=())  # what was trimmed, for the log and `status`
    answer_reset: bool = False  # an organizer's update that moved the meeting: answer anew


@dataclass(frozen=True)
class ReplyOutcome:
    text: str
    attendee: str
    partstat: str
    changed: bool


# -- reading -----------------------------------------------------------------------------------


def calendar_text(mime: bytes, *, max_bytes: int = guards.MAX_MIME_BYTES) -> str:
    """The first ``text/calendar`` (or ``application/ics``) part of a ``message/rfc822`` body,
    searching nested multiparts (as DavMail reads an item's MIME)."""
    guards.check_size(len(mime), max_bytes)
    try:
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(mime)
        part = _calendar_part(message)
        if part is None:
            raise BadItem("the item's MIME has no text/calendar part")
        payload = part.get_payload(decode=True)
    except BadItem:
        raise
    except Exception as error:  # the email package raises many unrelated types
        raise BadItem(f"unreadable MIME ({type(error).__name__})") from error
    if not isinstance(payload, bytes):
        raise BadItem("the text/calendar part is empty")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _calendar_part(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_type() in _CALENDAR_TYPES:
            return part
    return None


def parse_calendar(text: str) -> icalendar.Calendar:
    """Parse and clean a VCALENDAR with at least one VEVENT that has a UID."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception as error:  # icalendar raises ValueError, KeyError, AssertionError ...
        raise BadItem(f"unreadable iCalendar ({type(error).__name__})") from error
    events = calendar.walk("VEVENT")
    if not events or not str(events[0].get("UID") or "").strip():
        raise BadItem("the iCalendar has no VEVENT with a UID")
    if len({str(e.get("UID")) for e in events}) != 1:
        raise BadItem("the iCalendar holds events of several UIDs")
    _clean(calendar)
    return calendar


def is_pulled(text: str) -> bool:
    """Does this stored event come from Exchange (our marker), rather than from the user?"""
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except Exception:  # an unreadable event is not ours to overwrite
        return False
    return any(str(e.get(ORIGIN) or "").lower() == "exchange" for e in calendar.walk("VEVENT"))


# -- building ----------------------------------------------------------------------------------


def appointment(ics: str, *, exchange_url: str, user: str, message_class: str = "IPM.Appointment",
                own_partstat: str | None = None) -> Pulled:
    """An item of the user's Exchange Calendar (made in OWA/Outlook, by a delegate, or a
    received meeting Exchange placed there). `own_partstat` is the user's answer as Exchange
    records it on their copy (`responsestatus`), for meetings they do not organize."""
    calendar = parse_calendar(ics)
    notes: list[str] = []
    for event in calendar.walk("VEVENT"):
        notes += _trim_attendees(event, user)
        if not _organized_by(event, user) and _attendee(event, user) is not None:
            _set_partstat(event, user, own_partstat or "NEEDS-ACTION")
    return _finish(calendar, exchange_url, message_class, notes)


def invitation(ics: str, *, exchange_url: str, user: str, previous: str | None = None) -> Pulled:
    """A meeting request in the user's Inbox (`IPM.Schedule.Meeting.Request`), new or an update
    of `previous` (the event the user's calendar holds). A request about one occurrence
    replaces that occurrence of `previous` and leaves the rest of the series as it is."""
    calendar = parse_calendar(ics)
    before_calendar = parse_calendar(previous) if previous else None
    old = _events_by_rid(before_calendar) if before_calendar is not None else {}
    notes: list[str] = []
    reset = False
    for event in calendar.walk("VEVENT"):
        notes += _trim_attendees(event, user)
        before = old.get(_rid(event))
        if before is not None and _sequence(before) > _sequence(event):
            raise Stale(f"request SEQUENCE {_sequence(event)} is older than the calendar's "
                        f"{_sequence(before)}")
        answer = "NEEDS-ACTION"
        if before is not None and not _rescheduled(before, event):
            answer = _partstat(before, user) or "NEEDS-ACTION"
        elif before is not None:
            reset = True
        _set_partstat(event, user, answer)
    if before_calendar is not None and None in old and _rid_is_single(calendar):
        (override,) = calendar.walk("VEVENT")
        before_calendar.subcomponents = [
            c for c in before_calendar.subcomponents
            if not (c.name == "VEVENT" and _rid(c) == _rid(override))]
        before_calendar.add_component(override)
        calendar = before_calendar
    pulled = _finish(calendar, exchange_url, "IPM.Schedule.Meeting.Request", notes)
    return replace(pulled, answer_reset=reset)


def with_partstat(pulled: Pulled, user: str, partstat: str) -> Pulled:
    """`pulled` with the user's PARTSTAT set to `partstat` wherever the user is an attendee
    (an answer the user gave in CalDAV that Exchange has not received yet is kept)."""
    calendar = parse_calendar(pulled.text)
    for event in calendar.walk("VEVENT"):
        if _attendee(event, user) is not None:
            _set_partstat(event, user, partstat)
    return replace(pulled, text=calendar.to_ical().decode("utf-8"))


def own_partstat(text: str, user: str) -> str | None:
    """The user's PARTSTAT on the master VEVENT of a stored event (None: not an attendee)."""
    try:
        events = parse_calendar(text).walk("VEVENT")
    except BadItem:
        return None
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    return _partstat(master, user)


def cancellation(previous: str, ics: str, *, exchange_url: str) -> Pulled:
    """The organizer cancelled (`IPM.Schedule.Meeting.Canceled`): mark `previous` cancelled,
    the whole meeting or the one occurrence the cancellation names."""
    current = parse_calendar(previous)
    cancel = parse_calendar(ics)
    events = _events_by_rid(current)
    for message in cancel.walk("VEVENT"):
        rid = _rid(message)
        target = events.get(rid)
        if target is None and rid is not None:
            master = events.get(None)
            if master is None:
                continue
            target = _override_from(master, message)
            current.add_component(target)
            events[rid] = target
        if target is None:
            continue
        if _sequence(target) > _sequence(message):
            raise Stale(f"cancellation SEQUENCE {_sequence(message)} is older than the "
                        f"calendar's {_sequence(target)}")
        for name, value in (("STATUS", "CANCELLED"), ("TRANSP", "TRANSPARENT"),
                            ("SEQUENCE", _sequence(message))):
            target.pop(name, None)
            target.add(name, value)
        target.pop("X-MICROSOFT-CDO-BUSYSTATUS", None)
        target.add("X-MICROSOFT-CDO-BUSYSTATUS", "FREE")
    return _finish(current, exchange_url, "IPM.Schedule.Meeting.Canceled", [])


def apply_reply(event_text: str, reply_ics: str, message_class: str, *,
                sent_sequence: int | None = None) -> ReplyOutcome:
    """The organizer's event with the replying attendee's PARTSTAT set from `message_class`
    (`IPM.Schedule.Meeting.Resp.Pos|Neg|Tent`; the reply's own PARTSTAT when the class is
    something else). Only the VEVENT the reply names (RECURRENCE-ID or the master) changes.
    `sent_sequence` is the SEQUENCE Exchange last sent for this meeting (the sync state knows
    it; the CalDAV event's own SEQUENCE is the client's count, which clients bump on every
    save, so it is not compared); a reply to an older one is `Stale`."""
    calendar = parse_calendar(event_text)
    reply = parse_calendar(reply_ics)
    message = reply.walk("VEVENT")[0]
    replying = [a for a in _as_list(message.get("ATTENDEE"))]
    if not replying:
        raise BadItem("the reply names no attendee")
    address = _address(replying[0])
    partstat = _REPLY_PARTSTAT.get(message_class.rsplit(".", 1)[-1]) or str(
        replying[0].params.get("PARTSTAT") or "").upper()
    if partstat not in ("ACCEPTED", "DECLINED", "TENTATIVE"):
        raise BadItem(f"the reply carries no answer ({message_class})")
    events = _events_by_rid(calendar)
    target = events.get(_rid(message)) or events.get(None)
    if target is None or _attendee(target, address) is None:
        raise NotInvited(f"{address} is not an attendee of this meeting")
    if sent_sequence is not None and _sequence(message) < sent_sequence:
        raise Stale(f"the reply answers SEQUENCE {_sequence(message)}, the meeting is at "
                    f"{sent_sequence}")
    changed = _partstat(target, address) != partstat
    if changed:
        _set_partstat(target, address, partstat, rsvp=None)
    return ReplyOutcome(calendar.to_ical().decode("utf-8"), address, partstat, changed)


# -- helpers -----------------------------------------------------------------------------------


def _finish(calendar: icalendar.Calendar, exchange_url: str, message_class: str,
            notes: Iterable[str]) -> Pulled:
    calendar.pop("METHOD", None)
    events = calendar.walk("VEVENT")
    for event in events:
        for name, value in ((ORIGIN, "exchange"), (EXCHANGE_URL, _line(exchange_url)),
                            (CLASS, _line(message_class))):
            event.pop(name, None)
            event.add(name, value)
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    return Pulled(str(master.get("UID")), _sequence(master),
                  calendar.to_ical().decode("utf-8"), tuple(notes))


def _line(text: str) -> str:
    return _CTL.sub("", text)


def _clean(component: icalendar.cal.Component) -> None:
    """Strip control characters from every text value and parameter (see the module rule)."""
    for sub in component.walk():
        for name in list(sub.keys()):
            values = sub[name]
            cleaned = [_clean_value(v) for v in (values if isinstance(values, list) else [values])]
            sub[name] = cleaned if isinstance(values, list) else cleaned[0]


def _clean_value(value: object) -> object:
    params = getattr(value, "params", None)
    if params is not None:
        for key in list(params.keys()):
            if isinstance(params[key], str):
                params[key] = _CTL.sub("", params[key]).replace('"', "'")
    if isinstance(value, icalendar.vText):
        fresh: object = icalendar.vText(_CTL_EXCEPT_NEWLINE.sub("", str(value).replace(
            "\r\n", "\n").replace("\r", "\n")))
    elif isinstance(value, str) and _CTL.search(value):
        fresh = type(value)(_CTL.sub("", value))
    else:
        return value
    if params is not None:
        fresh.params = params  # type: ignore[attr-defined]  # icalendar sets params on its value types as a plain attribute
    return fresh


def _as_list(value: object) -> list[icalendar.vCalAddress]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]  # type: ignore[list-item]  # one vCalAddress when the property occurs once


def _address(value: object) -> str:
    text = str(value).strip()
    return (text[7:] if text.lower().startswith("mailto:") else text).lower()


def _attendee(event: icalendar.cal.Component, user: str) -> icalendar.vCalAddress | None:
    return next((a for a in _as_list(event.get("ATTENDEE")) if _address(a) == user.lower()),
                None)


def _organized_by(event: icalendar.cal.Component, user: str) -> bool:
    organizer = event.get("ORGANIZER")
    return organizer is None or _address(organizer) == user.lower()


def _partstat(event: icalendar.cal.Component, user: str) -> str | None:
    found = _attendee(event, user)
    if found is None:
        return None
    return str(found.params.get("PARTSTAT") or "NEEDS-ACTION").upper()


def _set_partstat(event: icalendar.cal.Component, user: str, partstat: str,
                  rsvp: bool | None = True) -> None:
    attendees = _as_list(event.get("ATTENDEE"))
    mine = next((a for a in attendees if _address(a) == user.lower()), None)
    if mine is None:
        mine = icalendar.vCalAddress(f"mailto:{_line(user)}")
        attendees.append(mine)
    mine.params["PARTSTAT"] = partstat
    if rsvp is not None:
        if partstat == "NEEDS-ACTION":
            mine.params["RSVP"] = "TRUE"
        else:
            mine.params.pop("RSVP", None)  # as DavMail does once the user answered
    event.pop("ATTENDEE", None)
    for attendee in attendees:
        event.add("ATTENDEE", attendee, encode=False)


def _trim_attendees(event: icalendar.cal.Component, user: str) -> list[str]:
    attendees = _as_list(event.get("ATTENDEE"))
    notes = _drop_unreadable(event, attendees)
    if notes:
        attendees = _as_list(event.get("ATTENDEE"))
    keep = guards.attendees_to_keep([_address(a) for a in attendees], user)
    if keep is None:
        return notes
    event.pop("ATTENDEE", None)
    for attendee in attendees:
        if _address(attendee) in keep:
            event.add("ATTENDEE", attendee, encode=False)
    return [*notes, f"{len(attendees)} attendees: only the user's own line was kept "
                    f"(limit {guards.MAX_ATTENDEES})"]


def _drop_unreadable(event: icalendar.cal.Component,
                     attendees: list[icalendar.vCalAddress]) -> list[str]:
    """Leave out attendees that are not one e-mail address (a sender's broken To header):
    they cannot be answered or shown as a person, and a backslash in one does not even survive
    icalendar's own round trip (it unescapes URI values it does not escape again)."""
    readable = []
    for attendee in attendees:
        try:
            parse_address(_address(attendee))
        except MeetingError:
            continue
        readable.append(attendee)
    if len(readable) == len(attendees):
        return []
    event.pop("ATTENDEE", None)
    for attendee in readable:
        event.add("ATTENDEE", attendee, encode=False)
    return [f"{len(attendees) - len(readable)} attendee(s) without a valid e-mail address "
            f"were left out"]


def _sequence(event: icalendar.cal.Component) -> int:
    try:
        return int(str(event.get("SEQUENCE") or 0))
    except ValueError:
        return 0


def _rid(event: icalendar.cal.Component) -> str | None:
    rid = event.get("RECURRENCE-ID")
    return None if rid is None else rid.to_ical().decode("ascii")


def _rid_is_single(calendar: icalendar.Calendar) -> bool:
    """A request about one occurrence (its only VEVENT has a RECURRENCE-ID)."""
    events = calendar.walk("VEVENT")
    return len(events) == 1 and events[0].get("RECURRENCE-ID") is not None


def _events_by_rid(calendar: icalendar.Calendar) -> dict[str | None, icalendar.cal.Component]:
    return {_rid(e): e for e in calendar.walk("VEVENT")}


def _rescheduled(before: icalendar.cal.Component, after: icalendar.cal.Component) -> bool:
    def value(event: icalendar.cal.Component, name: str) -> bytes:
        found = event.get(name)
        if found is None:
            return b""
        items = found if isinstance(found, list) else [found]
        return b",".join(sorted(i.to_ical() for i in items))

    return any(value(before, n) != value(after, n) for n in _RESCHEDULING)


def _override_from(master: icalendar.cal.Component,
                   message: icalendar.cal.Component) -> icalendar.cal.Component:
    """A RECURRENCE-ID override of `master` for the occurrence `message` names."""
    override = icalendar.Event()
    for name, value in master.property_items(recursive=False):
        if name in ("BEGIN", "END", "RRULE", "RDATE", "EXDATE", "EXRULE", "DTSTART", "DTEND",
                    "DURATION"):
            continue
        override.add(name, value, encode=False)
    rid = message["RECURRENCE-ID"]
    override.add("RECURRENCE-ID", rid, encode=False)
    override.add("DTSTART", message.get("DTSTART") or rid, encode=False)
    if message.get("DTEND") is not None:
        override.add("DTEND", message["DTEND"], encode=False)
    return override
