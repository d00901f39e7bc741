"""MIME bodies of calendar items: what a PUT promotes, what a GET (``Translate: f``) returns.

Rule kept here: Exchange promotes the iCalendar inside a ``message/rfc822`` body to typed item
properties (protocol reference §2.3), so `promote` turns body bytes into the property dict the
store keeps (full property names, Python-typed values, every time an aware UTC ``datetime``) or
raises `MimeError`; `render` gives the stored body back byte for byte, or synthesizes one from
the properties. Bodies are parsed with the ``email`` package and ``icalendar``; nothing is
parsed by hand, nothing does I/O, nothing logs.

What `promote` accepts (observed traffic step 2/2b, §7.4): DavMail's bodies without a Subject
header; ``multipart/alternative`` with a ``text/plain`` and a ``text/calendar`` (or
``application/ics``) part; a bare ``text/calendar`` body; a plain e-mail; 7bit, 8bit UTF-8,
quoted-printable or base64 parts; CRLF or LF; folded lines.

How times are read:

* ``DTSTART;TZID=Central Europe Standard Time:20261210T140000Z`` (DavMail adds a TZID to a UTC
  time): the ``Z`` wins, the value is UTC.
* A ``TZID`` is resolved against this body only: a VTIMEZONE in the body first (RFC 5545 makes
  it authoritative, whatever its name), then an IANA name, then a Windows name through
  icalendar's Windows→IANA table. An unknown TZID is read as UTC. icalendar keeps a
  process-wide cache of VTIMEZONEs by TZID; this body's VTIMEZONEs are kept out of it and
  built per call, so no body changes how another (or the bridge, in the same process) reads a
  zone.
* Against hostile input: VTIMEZONE rules must have the yearly shape real zones use, and an
  event carries at most `MAX_DATE_VALUES` EXDATE and RDATE values.
* Floating times (no TZID, no ``Z``) are read as UTC: this module knows no mailbox zone.
* ``VALUE=DATE`` values become 00:00 UTC of that day and make ``alldayevent`` true unless
  ``X-MICROSOFT-CDO-ALLDAYEVENT`` says otherwise.
* No DTEND: DTSTART + DURATION; without DURATION, one day for a DATE, zero for a date-time.

Longer than ~400 lines for a reason: `promote` and `render` must agree on every property's
iCalendar form (times and zones, exceptions, attendees), so both directions live together.

Attendees: when the message has none of To/Cc/Bcc, they are derived from ATTENDEE lines
(organizer excluded): ``CUTYPE=ROOM``/``RESOURCE`` or ``ROLE=NON-PARTICIPANT`` → bcc (the seed
recipe's "bcc: field -> resources"), ``ROLE=OPT-PARTICIPANT`` → cc, everyone else → to. DavMail
itself always writes To/Cc headers (rooms in To), and headers always win.

The master VEVENT (the first without RECURRENCE-ID, else the first) is promoted. Its zone (the
DTSTART TZID's VTIMEZONE) becomes ``urn:schemas:calendar:timezone`` (§4.5), and the body's
RECURRENCE-ID overrides of the same UID become its exceptions (`series.EXCEPTIONS`), a
STATUS:CANCELLED override an ``exdate``. A body whose only VEVENT has a RECURRENCE-ID (a message
about one occurrence) is promoted as that occurrence: instancetype 3 with its ``recurrenceid``.
"""

from __future__ import annotations

import codecs
import email.policy
import email.utils
import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import icalendar
from icalendar.parser import Contentline, Contentlines
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from exchange_sim import series, zones

__all__ = [
    "CONTENT_CLASS",
    "MAX_BODY_BYTES",
    "MAX_DATE_VALUES",
    "MESSAGE_CLASS",
    "MimeError",
    "promote",
    "render",
]

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Default size cap of a body `promote` accepts."""

MAX_DATE_VALUES = 5000
"""Most EXDATE (and, separately, RDATE) values one event may carry."""

# Property names (namespace + local name).
CAL = "urn:schemas:calendar:"
HTTPMAIL = "urn:schemas:httpmail:"
MAILHEADER = "urn:schemas:mailheader:"
CONTENT_CLASS = "DAV:contentclass"
MESSAGE_CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
SUBJECT = HTTPMAIL + "subject"
TEXT = HTTPMAIL + "textdescription"
DATE = HTTPMAIL + "date"

CC_APPOINTMENT = "urn:content-classes:appointment"
CC_CALENDARMESSAGE = "urn:content-classes:calendarmessage"
CC_MESSAGE = "urn:content-classes:message"

MC_APPOINTMENT = "IPM.Appointment"
MC_REQUEST = "IPM.Schedule.Meeting.Request"
MC_CANCELED = "IPM.Schedule.Meeting.Canceled"
MC_RESPONSE = "IPM.Schedule.Meeting.Resp."
MC_NOTE = "IPM.Note"

_RESPONSE_BY_PARTSTAT = {"ACCEPTED": "Pos", "DECLINED": "Neg", "TENTATIVE": "Tent"}
_PARTSTAT_BY_RESPONSE = {v: k for k, v in _RESPONSE_BY_PARTSTAT.items()}

# iTIP methods that make a bare calendar body a message rather than an appointment.
_MESSAGE_METHODS = frozenset(
    {"REQUEST", "CANCEL", "REPLY", "ADD", "REFRESH", "COUNTER", "DECLINECOUNTER"}
)
_BUSY = frozenset({"FREE", "TENTATIVE", "BUSY", "OOF"})
_MEETING_STATUS = frozenset({"TENTATIVE", "CONFIRMED", "CANCELLED"})
_DATETIME_PROPS = frozenset({"DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "RDATE"})
# A property icalendar could not parse makes the body broken only if we promote it.
_PROMOTED_PROPS = _DATETIME_PROPS | {
    "DURATION", "RRULE", "SEQUENCE", "UID", "SUMMARY", "LOCATION", "DESCRIPTION",
    "ORGANIZER", "ATTENDEE", "STATUS", "TRANSP", "METHOD", "DTSTAMP",
}  # fmt: skip
_PRIVATE_VTIMEZONE = zones.PRIVATE_VTIMEZONE
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})

# Every header is read unstructured: RFC 2047 decoded and unfolded, but otherwise as sent
# (the default registry would rewrite address lists, e.g. '"x" <a@b>' as 'x <a@b>').
_PARSE_POLICY = email.policy.default.clone(header_factory=HeaderRegistry(use_default_map=False))
_RENDER_POLICY = _PARSE_POLICY.clone(linesep="\r\n")

_Resolver = Callable[[str], tzinfo | None]
_T = TypeVar("_T")


class MimeError(ValueError):
    """A body the simulator cannot understand (too large, not a message, broken iCalendar).

    The message is a short reason fit for a 400 body; it quotes at most ~120 characters of
    the input.
    """


# --------------------------------------------------------------------------------------------
# promote


def promote(raw: bytes, *, max_bytes: int = MAX_BODY_BYTES) -> dict[str, object]:
    """The properties Exchange would promote from a ``message/rfc822`` (or bare iCalendar) body.

    Keys are full property names; only properties the body says something about are present.

    Raises:
        MimeError: body larger than ``max_bytes``, empty, not a message, or a calendar part
            that is not valid iCalendar.
    """
    if len(raw) > max_bytes:
        raise MimeError(f"body of {len(raw)} bytes exceeds the {max_bytes}-byte limit")
    stripped = bytes(raw).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise MimeError("empty body")

    msg: Message | None = None
    calendar: icalendar.Calendar | None = None
    plain: str | None = None
    part_method: str | None = None
    part_class: str | None = None
    if stripped[:15].upper() == b"BEGIN:VCALENDAR":
        calendar = _parse_calendar(stripped.decode("utf-8", errors="replace"))
    else:
        try:
            msg = BytesParser(policy=_PARSE_POLICY).parsebytes(stripped)
            cal_part = _first_part(msg, _CALENDAR_TYPES)
            text_part = _first_part(msg, frozenset({"text/plain"}))
        except RecursionError as e:  # the email package recurses once per nesting level
            raise MimeError("MIME parts nested too deeply") from e
        if not msg.keys():
            raise MimeError("not an RFC 822 message: no header fields")
        if cal_part is not None:
            calendar = _parse_calendar(_part_text(cal_part))
            part_method = _upper(cal_part.get_param("method"))
            part_class = _header(cal_part, "Content-class")
        if text_part is not None:
            plain = _part_text(text_part).rstrip("\r\n")

    props: dict[str, object] = {}
    method = None
    if calendar is not None:
        method = _upper(calendar.get("METHOD")) or part_method
        if method:
            props[CAL + "method"] = method
    event = _master_event(calendar) if calendar is not None else None
    if event is not None and calendar is not None:
        resolve = _resolver(calendar)
        props.update(_event_props(event, resolve))
        zone_text = _zone_text(calendar, event)
        if zone_text:
            props[CAL + "timezone"] = zone_text
        props.update(_exceptions(calendar, event, props, resolve, method))

    # Subject and body text: the message first, then the iCalendar.
    subject = _header(msg, "Subject") if msg is not None else None
    if not subject and event is not None and "SUMMARY" in event:
        subject = str(event["SUMMARY"])
    if subject:
        props[SUBJECT] = subject
    if not plain and event is not None and "DESCRIPTION" in event:
        plain = str(event["DESCRIPTION"])
    if plain:
        props[TEXT] = plain

    props.update(_recipients(msg, event, method))

    content_class = (_header(msg, "Content-class") if msg is not None else None) or part_class
    if not content_class:
        if calendar is None:
            content_class = CC_MESSAGE
        elif method in _MESSAGE_METHODS:
            content_class = CC_CALENDARMESSAGE
        else:
            content_class = CC_APPOINTMENT
    props[CONTENT_CLASS] = content_class
    props[MESSAGE_CLASS] = _message_class(content_class, method, _reply_partstat(event))
    return props


def _upper(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip().upper()
    return text or None


def _header(msg: Message | None, name: str) -> str | None:
    if msg is None:
        return None
    value = msg.get(name)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _first_part(msg: Message, types: frozenset[str]) -> Message | None:
    for part in msg.walk():
        if part.is_multipart() or part.get_content_type() not in types:
            continue
        if (
            part.get_content_type() == "text/plain"
            and part.get_content_disposition() == "attachment"
        ):
            continue
        return part
    return None


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset() or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return data.decode(charset, errors="replace")


def _fix_line(line: Contentline) -> Contentline:
    """Content-line repairs made before icalendar sees the text.

    * ``DTSTART;TZID=X:20261210T140000Z`` → ``DTSTART:20261210T140000Z`` (the Z wins).
    * ``BEGIN/END:VTIMEZONE`` → a private component name, so icalendar does not add this body's
      zones to its process-wide cache (`_resolver` builds them without caching).
    """
    upper = line[:16].upper()
    is_boundary = upper.startswith(("BEGIN", "END"))
    if not is_boundary and (
        "TZID=" not in line.upper() or not any(upper.startswith(n) for n in _DATETIME_PROPS)
    ):
        return line
    try:
        name, params, value = line.parts()
    except ValueError:
        return line  # icalendar reports it when parsing
    if is_boundary:
        if name.upper() in ("BEGIN", "END") and value.strip().upper() == "VTIMEZONE":
            return Contentline(f"{name.upper()}:{_PRIVATE_VTIMEZONE}")
        return line
    if name.upper() not in _DATETIME_PROPS or "TZID" not in params or not value:
        return line
    if all(v.split("/")[0].strip().upper().endswith("Z") for v in value.split(",")):
        del params["TZID"]
        return Contentline.from_parts(name, params, value, sorted=False)
    return line


def _parse_calendar(text: str) -> icalendar.Calendar:
    try:
        lines = [_fix_line(line) for line in Contentlines.from_ical(text) if line]
        calendars = icalendar.Calendar.from_ical("\r\n".join(lines) + "\r\n", multiple=True)
    except (ValueError, KeyError, IndexError, TypeError, RecursionError) as e:
        raise MimeError(f"broken iCalendar: {str(e)[:120]}") from e
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise MimeError("broken iCalendar: expected exactly one complete VCALENDAR")
    calendar = calendars[0]
    try:
        components = calendar.walk()
    except RecursionError as e:
        raise MimeError("broken iCalendar: components nested too deeply") from e
    for component in components:
        for prop, reason in component.errors:
            if prop is None or prop.upper() in _PROMOTED_PROPS:
                where = f"{component.name} {prop}" if prop else component.name
                raise MimeError(f"broken iCalendar: {where}: {str(reason)[:120]}")
    return calendar


def _master_event(calendar: icalendar.Calendar) -> icalendar.cal.Component | None:
    events = calendar.walk("VEVENT")
    for event in events:
        if "RECURRENCE-ID" not in event:
            return event
    return events[0] if events else None


def _zone_text(calendar: icalendar.Calendar, event: icalendar.cal.Component) -> str | None:
    """The VTIMEZONE text of the master's DTSTART zone, stored as ``timezone`` (§4.5).

    The body's own VTIMEZONE when it has one for that TZID (RFC 5545: authoritative); else,
    for an IANA or Windows name, the yearly rules that zone follows in DTSTART's year (chosen:
    a VTIMEZONE carries one rule set, as Exchange 2003's do). None for UTC and floating times,
    and for DavMail's ``TZID=X:...Z`` (chosen: the Z wins, so the value is UTC and carries no
    zone; the reference does not say which zone Exchange gives such a series).
    """
    start = event.get("DTSTART")
    tzid = getattr(start, "params", {}).get("TZID") if start is not None else None
    if not tzid:
        return None
    tzid = str(tzid)
    for component in calendar.walk(_PRIVATE_VTIMEZONE):
        if str(component.get("TZID", "")) == tzid:
            text = _vtimezone(component).to_ical().decode("utf-8")
            return text.replace("\r\n ", "").strip()
    year = _value(event, "DTSTART").year
    for key in (tzid, WINDOWS_TO_OLSON.get(tzid)):
        if key and _zoneinfo(key) is not None:
            return None if key in ("UTC", "Etc/UTC") else zones.vtimezone_text(key, year)
    return None


def _exceptions(calendar: icalendar.Calendar, master: icalendar.cal.Component,
                props: dict[str, object], resolve: _Resolver,
                method: str | None) -> dict[str, object]:
    """The master's exceptions (RECURRENCE-ID overrides of the same UID, §4.1 instancetype 3):
    each kept with its own times, subject, location, busy status and attendees; an override
    with STATUS:CANCELLED becomes an ``exdate`` instead (a cancelled occurrence is excluded)."""
    if "RECURRENCE-ID" in master or props.get(CAL + "instancetype") != 1:
        return {}
    uid = str(master.get("UID", ""))
    overrides: list[dict[str, object]] = []
    cancelled: list[datetime] = []
    for event in calendar.walk("VEVENT"):
        if event is master or "RECURRENCE-ID" not in event or str(event.get("UID", "")) != uid:
            continue
        own = _event_props(event, resolve)
        rid = own[CAL + "recurrenceid"]
        assert isinstance(rid, datetime)  # _event_props sets it for a RECURRENCE-ID
        if own.get(CAL + "meetingstatus") == "CANCELLED":
            cancelled.append(rid)
            continue
        if "SUMMARY" in event:
            own[SUBJECT] = str(event["SUMMARY"])
        if "DESCRIPTION" in event:
            own[TEXT] = str(event["DESCRIPTION"])
        own.update(_recipients(None, event, method))
        overrides.append(own)
    if len(overrides) + len(cancelled) > MAX_DATE_VALUES:
        raise MimeError(f"too many exceptions (at most {MAX_DATE_VALUES})")
    result: dict[str, object] = {}
    if overrides:
        result[series.EXCEPTIONS] = series.encode_exceptions(overrides)
    if cancelled:
        existing = props.get(CAL + "exdate")
        result[CAL + "exdate"] = (existing if isinstance(existing, list) else []) + cancelled
    return result


def _vtimezone(component: icalendar.cal.Component) -> icalendar.Timezone:
    """A real VTIMEZONE from the private component, refused if it could take forever."""
    try:
        return zones.checked_vtimezone(component)
    except zones.ZoneError as e:
        raise MimeError(f"broken iCalendar: {e}") from e


def _resolver(calendar: icalendar.Calendar) -> _Resolver:
    vtimezones = {str(tz["TZID"]): tz for tz in calendar.walk(_PRIVATE_VTIMEZONE) if "TZID" in tz}
    cache: dict[str, tzinfo | None] = {}

    def resolve(tzid: str) -> tzinfo | None:
        if tzid in cache:
            return cache[tzid]
        zone: tzinfo | None = None
        component = vtimezones.get(tzid)
        if component is not None:
            vtimezone = _vtimezone(component)
            try:
                zone = zones.to_tzinfo(vtimezone)
            except zones.ZoneError as e:
                raise MimeError(f"broken iCalendar: unusable VTIMEZONE {tzid[:60]!r}") from e
        else:
            for key in (tzid, WINDOWS_TO_OLSON.get(tzid)):
                if key:
                    zone = _zoneinfo(key)
                    if zone is not None:
                        break
        cache[tzid] = zone
        return zone

    return resolve


def _zoneinfo(key: str) -> tzinfo | None:
    try:
        return ZoneInfo(key)
    except (ValueError, KeyError, OSError):  # unknown name, bad key, directory
        return None


def _to_utc(value: object, tzid: object, resolve: _Resolver) -> datetime:
    if isinstance(value, tuple):  # PERIOD (start, end|duration): its start
        value = value[0]
    if isinstance(value, datetime):
        if tzid:
            # Re-localise the wall clock in this body's zone (see module docstring).
            zone = resolve(str(tzid)) or UTC
            return value.replace(tzinfo=None).replace(tzinfo=zone).astimezone(UTC)
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)  # floating: read as UTC
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise MimeError(f"broken iCalendar: expected a date or date-time, got {type(value).__name__}")


def _value(event: icalendar.cal.Component, name: str) -> Any:
    """The `.dt` of a date, date-time or duration property (Any: icalendar types a property
    lookup as the union of every property class)."""
    return event[name].dt  # type: ignore[union-attr]  # only date/time/duration names come here


def _prop_time(event: icalendar.cal.Component, name: str, resolve: _Resolver) -> datetime:
    return _to_utc(_value(event, name), event[name].params.get("TZID"), resolve)


def _time_list(event: icalendar.cal.Component, name: str, resolve: _Resolver) -> list[datetime]:
    groups = _as_list(event.get(name))
    if sum(len(getattr(group, "dts", ())) for group in groups) > MAX_DATE_VALUES:
        raise MimeError(f"too many {name} values (at most {MAX_DATE_VALUES})")
    result: list[datetime] = []
    for group in groups:
        tzid = getattr(group, "params", {}).get("TZID")
        result.extend(_to_utc(item.dt, tzid, resolve) for item in getattr(group, "dts", ()))
    return result


def _as_list(value: object) -> list[Any]:
    # Any: icalendar's property values (vRecur, vDDDLists, vCalAddress, ...) share no type.
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _event_props(event: icalendar.cal.Component, resolve: _Resolver) -> dict[str, object]:
    props: dict[str, object] = {}
    for name, key in (("UID", "uid"), ("LOCATION", "location")):
        if name in event:
            props[CAL + key] = str(event[name])
    props[CAL + "sequence"] = int(event.get("SEQUENCE", 0))
    if "DTSTAMP" in event:
        props[CAL + "dtstamp"] = _prop_time(event, "DTSTAMP", resolve)

    is_date = False
    if "DTSTART" in event:
        start_value = _value(event, "DTSTART")
        is_date = isinstance(start_value, date) and not isinstance(start_value, datetime)
        start = _prop_time(event, "DTSTART", resolve)
        if "DTEND" in event:
            end = _prop_time(event, "DTEND", resolve)
        elif "DURATION" in event:
            end = start + _value(event, "DURATION")
        else:
            end = start + (timedelta(days=1) if is_date else timedelta(0))
        if end < start:
            raise MimeError("broken iCalendar: DTEND is before DTSTART")
        props[CAL + "dtstart"] = start
        props[CAL + "dtend"] = end

    rules = [rule.to_ical().decode("ascii") for rule in _as_list(event.get("RRULE"))]
    rdates = _time_list(event, "RDATE", resolve)
    if rules:
        props[CAL + "rrule"] = rules
    exdates = _time_list(event, "EXDATE", resolve)
    if exdates:
        props[CAL + "exdate"] = exdates
    if rdates:
        props[CAL + "rdate"] = rdates
    if "RECURRENCE-ID" in event:
        props[CAL + "recurrenceid"] = _prop_time(event, "RECURRENCE-ID", resolve)
        props[CAL + "instancetype"] = 3
    else:
        props[CAL + "instancetype"] = 1 if rules or rdates else 0

    allday = _upper(event.get("X-MICROSOFT-CDO-ALLDAYEVENT"))
    props[CAL + "alldayevent"] = allday == "TRUE" if allday in ("TRUE", "FALSE") else is_date

    busy = _upper(event.get("X-MICROSOFT-CDO-BUSYSTATUS"))
    if busy == "OUTOFOFFICE":  # Evolution's prose spelling (reference §4.2)
        busy = "OOF"
    if busy not in _BUSY:
        busy = "FREE" if _upper(event.get("TRANSP")) == "TRANSPARENT" else "BUSY"
    props[CAL + "busystatus"] = busy

    status = _upper(event.get("STATUS"))
    if status in _MEETING_STATUS:
        props[CAL + "meetingstatus"] = status

    organizer = _address(event.get("ORGANIZER"))
    if organizer:
        props[CAL + "organizer"] = organizer
    return props


def _address(value: object) -> str | None:
    """``mailto:a@b`` → ``a@b``; None for anything that is not an e-mail address."""
    if isinstance(value, list):  # a repeated ORGANIZER: the first one counts
        value = value[0] if value else None
    if value is None:
        return None
    text = str(value).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    return text if "@" in text else None


def _named(value: object, address: str) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    name = getattr(value, "params", {}).get("CN")
    if name:
        return f'"{email.utils.quote(str(name))}" <{address}>'
    return address


def _recipients(
    msg: Message | None, event: icalendar.cal.Component | None, method: str | None
) -> dict[str, object]:
    props: dict[str, object] = {}
    for name in ("To", "Cc", "Bcc", "From"):
        value = _header(msg, name)
        if value:
            props[MAILHEADER + name.lower()] = value
    if event is None:
        return props
    organizer = event.get("ORGANIZER")
    organizer_address = _address(organizer)
    attendees = _as_list(event.get("ATTENDEE"))
    has_headers = msg is not None and any(msg.get(h) is not None for h in ("To", "Cc", "Bcc"))
    if method == "REPLY":
        # A reply goes from the (single) attendee to the organizer.
        if not has_headers and organizer_address:
            props[MAILHEADER + "to"] = _named(organizer, organizer_address)
        if MAILHEADER + "from" not in props:
            for attendee in attendees:
                address = _address(attendee)
                if address:
                    props[MAILHEADER + "from"] = _named(attendee, address)
                    break
        return props
    if MAILHEADER + "from" not in props and organizer_address:
        props[MAILHEADER + "from"] = _named(organizer, organizer_address)
    if has_headers:
        return props
    lists: dict[str, list[str]] = {"to": [], "cc": [], "bcc": []}
    for attendee in attendees:
        address = _address(attendee)
        if not address or (organizer_address and address.lower() == organizer_address.lower()):
            continue
        params = getattr(attendee, "params", {})
        role = _upper(params.get("ROLE"))
        if _upper(params.get("CUTYPE")) in ("ROOM", "RESOURCE") or role == "NON-PARTICIPANT":
            lists["bcc"].append(_named(attendee, address))
        elif role == "OPT-PARTICIPANT":
            lists["cc"].append(_named(attendee, address))
        else:
            lists["to"].append(_named(attendee, address))
    for key, values in lists.items():
        if values:
            props[MAILHEADER + key] = ", ".join(values)
    return props


def _reply_partstat(event: icalendar.cal.Component | None) -> str | None:
    if event is None:
        return None
    for attendee in _as_list(event.get("ATTENDEE")):
        return _upper(getattr(attendee, "params", {}).get("PARTSTAT"))
    return None


def _message_class(content_class: str, method: str | None, partstat: str | None) -> str:
    kind = content_class.strip().lower()
    if kind == CC_APPOINTMENT:
        return MC_APPOINTMENT
    if kind == CC_CALENDARMESSAGE:
        if method == "CANCEL":
            return MC_CANCELED
        if method == "REPLY":
            # A REPLY without ACCEPTED/DECLINED/TENTATIVE has no Outlook class; we call it Tent.
            return MC_RESPONSE + _RESPONSE_BY_PARTSTAT.get(partstat or "", "Tent")
        return MC_REQUEST
    return MC_NOTE


# --------------------------------------------------------------------------------------------
# render


def render(props: dict[str, object], raw: bytes | None) -> bytes:
    """The ``message/rfc822`` body of ``GET <item>`` with ``Translate: f``.

    ``raw`` (the body stored by PUT) is returned unchanged. Otherwise a message is built from
    the properties: Subject/From/To/Cc/Date headers, ``Content-class``, and for calendar items a
    ``multipart/alternative`` with a ``text/plain`` part and a ``text/calendar; method=...`` part,
    quoted-printable, holding the VEVENT and one VEVENT per exception (RECURRENCE-ID). With a
    zone (``timezone``, else ``timezoneid``) the body carries that VTIMEZONE and every time is
    local with ``TZID=``, so the RRULE runs on the zone's wall clock as Exchange expands it
    (§4.5); without one, times are UTC. Bcc is never rendered. The
    output depends only on the properties (DTSTAMP comes from ``dtstamp``, else
    ``DAV:getlastmodified``, else ``dtstart``).

    Raises:
        ValueError: a property has the wrong Python type, or an ``rrule`` is malformed.
    """
    if raw is not None:
        return raw
    content_class = _typed(props, CONTENT_CLASS, str)
    message_class = _typed(props, MESSAGE_CLASS, str) or ""
    if not content_class:
        if message_class.startswith(MC_APPOINTMENT):
            content_class = CC_APPOINTMENT
        elif message_class.startswith("IPM.Schedule.Meeting"):
            content_class = CC_CALENDARMESSAGE
        elif CAL + "dtstart" in props:
            content_class = CC_APPOINTMENT
        else:
            content_class = CC_MESSAGE
    is_calendar = content_class.lower() in (CC_APPOINTMENT, CC_CALENDARMESSAGE)

    msg = EmailMessage(policy=_RENDER_POLICY)
    for header, key in (
        ("Subject", SUBJECT),
        ("From", MAILHEADER + "from"),
        ("To", MAILHEADER + "to"),
        ("Cc", MAILHEADER + "cc"),
    ):
        value = _typed(props, key, str)
        if value:
            msg[header] = _one_line(value)
    sent = _typed(props, DATE, datetime)
    if sent is not None:
        msg["Date"] = email.utils.format_datetime(sent)
    text = _typed(props, TEXT, str) or ""
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if is_calendar:
        method = _render_method(props, content_class, message_class)
        ics = _render_ics(props, method, message_class)
        msg.add_alternative(
            ics, subtype="calendar", charset="utf-8", cte="quoted-printable",
            params={"method": method},
        )  # fmt: skip
        calendar_part = list(msg.iter_parts())[1]
        del calendar_part["MIME-Version"]
        calendar_part["Content-class"] = _one_line(content_class)
        # Deterministic, and safe: "=" never appears unencoded in a quoted-printable body.
        digest = hashlib.sha256((text + "\0" + ics).encode("utf-8", "surrogatepass")).hexdigest()
        msg.set_boundary("----=_NextPart_" + digest[:32])
    # Last: making the body multipart moves every "Content-*" header into the first part.
    msg["Content-class"] = _one_line(content_class)
    return msg.as_bytes()


def _typed(props: dict[str, object], key: str, kind: type[_T]) -> _T | None:
    value = props.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"property {key} must be {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, datetime) and value.utcoffset() is None:
        raise ValueError(f"property {key} must be timezone-aware")
    return value


def _typed_list(props: dict[str, object], key: str, kind: type[_T]) -> list[_T]:
    value = props.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise ValueError(f"property {key} must be a list of {kind.__name__}")
    return list(value)


def _one_line(value: str) -> str:
    return " ".join(value.splitlines()).strip()


def _render_method(props: dict[str, object], content_class: str, message_class: str) -> str:
    if message_class == MC_REQUEST:
        return "REQUEST"
    if message_class == MC_CANCELED:
        return "CANCEL"
    if message_class.startswith(MC_RESPONSE):
        return "REPLY"
    if message_class.startswith(MC_APPOINTMENT):
        return "PUBLISH"
    stored = _typed(props, CAL + "method", str)
    if stored:
        return stored.upper()
    return "REQUEST" if content_class.lower() == CC_CALENDARMESSAGE else "PUBLISH"


def _cal_address(address: str, name: str | None = None) -> icalendar.vCalAddress:
    value = icalendar.vCalAddress(f"mailto:{address}")
    if name:
        value.params["CN"] = name
    return value


def _addresses(props: dict[str, object], key: str) -> list[tuple[str, str]]:
    value = _typed(props, key, str)
    if not value:
        return []
    return [(name, addr) for name, addr in email.utils.getaddresses([value]) if "@" in addr]


_Localize = Callable[[datetime], tuple[datetime, dict[str, str]]]


def _render_zone(props: dict[str, object]) -> tuple[str | None, _Localize]:
    """(VTIMEZONE text or None, how a UTC time is written): the appointment's zone (§4.5) as
    ``TZID=`` local times, else UTC. A stored zone that cannot be used renders in UTC."""
    text = _typed(props, CAL + "timezone", str)
    tzid_value = _typed(props, CAL + "timezoneid", int) if not text else None
    start = _typed(props, CAL + "dtstart", datetime)
    if not text and tzid_value is not None and tzid_value in zones.CDO_ZONES and start:
        key = zones.CDO_ZONES[tzid_value]
        text = None if key == "UTC" else zones.vtimezone_text(key, start.year)
    tzid = next((line[5:].strip() for line in (text or "").splitlines()
                 if line.upper().startswith("TZID:")), "")
    try:
        zone = zones.parse_vtimezone(text) if text and tzid else None
    except zones.ZoneError:
        zone = None
    if zone is None or text is None:
        return None, lambda value: (value.astimezone(UTC), {})
    where = zone
    return text, lambda value: (value.astimezone(where).replace(tzinfo=None), {"TZID": tzid})


def _render_ics(props: dict[str, object], method: str, message_class: str) -> str:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//calbridge//exchange_sim//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", method)
    vtimezone, localize = _render_zone(props)
    calendar.add_component(_render_event(props, message_class, localize))
    for exception in series.decode_exceptions(props):
        own = {k: v for k, v in props.items()
               if k not in (CAL + "rrule", CAL + "exdate", CAL + "rdate", CAL + "exrule")}
        own.update(exception)
        if CAL + "dtstart" not in exception:
            own[CAL + "dtstart"] = exception[CAL + "recurrenceid"]
            own.pop(CAL + "dtend", None)
        calendar.add_component(_render_event(own, message_class, localize))
    text = calendar.to_ical().decode("utf-8")
    if vtimezone:  # spliced as text: icalendar would cache a parsed VTIMEZONE process-wide
        head, sep, tail = text.partition("BEGIN:VEVENT")
        text = head + vtimezone.strip() + "\r\n" + sep + tail
    return text


def _render_event(props: dict[str, object], message_class: str,
                  localize: _Localize) -> icalendar.Event:
    def add_time(name: str, value: datetime) -> None:
        local, params = localize(value)
        event.add(name, local, parameters=params)

    event = icalendar.Event()
    uid = _typed(props, CAL + "uid", str)
    if uid:
        event.add("UID", uid)
    start = _typed(props, CAL + "dtstart", datetime)
    end = _typed(props, CAL + "dtend", datetime)
    stamp = (
        _typed(props, CAL + "dtstamp", datetime)
        or _typed(props, "DAV:getlastmodified", datetime)
        or start
        or datetime(1970, 1, 1, tzinfo=UTC)
    )
    event.add("DTSTAMP", stamp.astimezone(UTC))
    if start is not None:
        add_time("DTSTART", start)
        if end is not None:
            add_time("DTEND", end)
    recurrence_id = _typed(props, CAL + "recurrenceid", datetime)
    if recurrence_id is not None:
        add_time("RECURRENCE-ID", recurrence_id)
    event.add("SEQUENCE", _typed(props, CAL + "sequence", int) or 0)
    for name, key in (("SUMMARY", SUBJECT), ("LOCATION", CAL + "location"), ("DESCRIPTION", TEXT)):
        value = _typed(props, key, str)
        if value:
            event.add(name, value)
    for text in _typed_list(props, CAL + "rrule", str):
        body = text.strip()
        body = body[6:] if body[:6].upper() == "RRULE:" else body
        try:
            event.add("RRULE", icalendar.vRecur.from_ical(body))
        except ValueError as e:
            raise ValueError(f"property {CAL}rrule holds an invalid rule {text[:60]!r}") from e
    for name, key in (("EXDATE", "exdate"), ("RDATE", "rdate")):
        values = _typed_list(props, CAL + key, datetime)
        if values:
            local = [localize(v) for v in values]
            event.add(name, [v for v, _ in local], parameters=local[0][1])

    organizer = _typed(props, CAL + "organizer", str)
    sender = _addresses(props, MAILHEADER + "from")
    if not organizer and message_class.startswith(MC_RESPONSE):
        organizer = next((addr for _, addr in _addresses(props, MAILHEADER + "to")), None)
    elif not organizer and sender:
        organizer = sender[0][1]
    if organizer:
        event.add("ORGANIZER", _cal_address(organizer))
    if message_class.startswith(MC_RESPONSE):
        partstat = _PARTSTAT_BY_RESPONSE.get(message_class[len(MC_RESPONSE) :], "TENTATIVE")
        for name, addr in sender[:1]:
            attendee = _cal_address(addr, name)
            attendee.params["PARTSTAT"] = partstat
            event.add("ATTENDEE", attendee)
    else:
        for key, role, cutype in (("to", "REQ-PARTICIPANT", None), ("cc", "OPT-PARTICIPANT", None),
                                  ("bcc", "NON-PARTICIPANT", "RESOURCE")):  # fmt: skip
            for name, addr in _addresses(props, MAILHEADER + key):
                attendee = _cal_address(addr, name)
                attendee.params["ROLE"] = role
                if cutype:
                    attendee.params["CUTYPE"] = cutype
                event.add("ATTENDEE", attendee)

    status = _typed(props, CAL + "meetingstatus", str)
    if status and status.upper() in _MEETING_STATUS:
        event.add("STATUS", status.upper())
    busy = (_typed(props, CAL + "busystatus", str) or "BUSY").upper()
    event.add("TRANSP", "TRANSPARENT" if busy == "FREE" else "OPAQUE")
    event.add("X-MICROSOFT-CDO-BUSYSTATUS", busy)
    allday = _typed(props, CAL + "alldayevent", bool)
    event.add("X-MICROSOFT-CDO-ALLDAYEVENT", "TRUE" if allday else "FALSE")
    return event
