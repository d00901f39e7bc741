"""Meeting <-> Exchange 2003 WebDAV properties, and the deterministic item names of the bridge.

Rule kept here: pure mapping, no I/O and no logging. Size: over 400 lines because it is one
property table read in both directions (and the table below documents each row's source).
A `Meeting` becomes a ``dict`` of full property names to typed values
(`webdav.build_proppatch` writes it); properties read back by PROPFIND/SEARCH become a
`Meeting` again. Every property written has its source below;
"(inferred)" marks what the reference does not state.

Appointment (reference §2.1 table = KB 308373 / SDK sample, unless noted)::

    DAV:contentclass                      urn:content-classes:appointment
    exchange/outlookmessageclass          IPM.Appointment
    httpmail:subject                      summary
    httpmail:htmldescription              description, HTML-escaped, line breaks as <BR>
    httpmail:textdescription              description (§2.1 "(or textdescription)")
    calendar:location                     location
    calendar:dtstart / dtend              UTC instants; all-day: local midnight of ``zone`` (§2.1)
    calendar:alldayevent                  bool
    calendar:busystatus                   FREE / TENTATIVE / BUSY / OOF (§4.2)
    calendar:meetingstatus                CONFIRMED / TENTATIVE / CANCELLED (§4.3, upper case as
                                          the SDK samples send; CDO spells them Tentative ...)
    calendar:responserequested            True when there are invitees
    calendar:reminderoffset               seconds, only with a reminder
    mapi/reminderset                      bool (§2.1 "seen in clients")
    calendar:uid, calendar:sequence       uid; SEQUENCE as int (sequence: inferred from the
                                          content-class property list)
    calendar:rrule                        mv.string (§4.6); exdate / rdate mv.dateTime.tz
    calendar:timezone                     a series only: the VTIMEZONE it expands in (§4.5;
                                          `bridge.vtimezone`): the meeting's zone, for all-day
                                          and floating series the configured ``zone``. RRULE
                                          BYDAY/BYMONTHDAY are thus local; UNTIL, EXDATE and
                                          RDATE are instants of local times
    mailheader:to / cc / bcc              required / optional / resources and rooms (seed: "to:
                                          -> required, cc: -> optional, bcc: -> resources"),
                                          comma-separated, display names always quoted
    calendar:organizer                    the organizer (the mailbox owner when unset)
    mapi/finvited                         True when there are invitees
    mapi/responsestatus                   1 respOrganized with invitees, else 0 respNone (§4.4;
                                          the organizer value is (inferred) in §3.1)
    exchange/sensitivity                  0 normal, 2 private, 3 confidential — values of
                                          PR_SENSITIVITY (x00360003) as DavMail reads them; the
                                          property name is (inferred)
    exchange/keywords-utf8                categories, mv.string (inferred)

``calendar:instancetype`` is never written: the server sets it (§4.1). A message about one
occurrence carries ``calendar:recurrenceid`` (§4.6: on the content class) and no rule.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.headerregistry import Address
from email.utils import getaddresses, quote
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.exchange.webdav import (
    NS_CALENDAR,
    NS_DAV,
    NS_EXCHANGE,
    NS_HTTPMAIL,
    NS_MAILHEADER,
    NS_MAPI,
    NS_PROPTAG,
    parse_datetime,
)
from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    MeetingError,
    Sensitivity,
    parse_address,
)
from bridge.timezones import windows_to_iana
from bridge.vtimezone import vtimezone_text

__all__ = [
    "APPOINTMENT_OPTIONAL_PROPS",
    "APPOINTMENT_PROPS",
    "appointment_props",
    "cancel_message_props",
    "description_html",
    "draft_name_for_uid",
    "format_address",
    "format_address_list",
    "item_name_for_uid",
    "meeting_from_props",
    "props_to_remove",
    "request_message_props",
]

# -- property names ------------------------------------------------------------------------------

CONTENTCLASS: Final = NS_DAV + "contentclass"
GETETAG: Final = NS_DAV + "getetag"
OUTLOOKMESSAGECLASS: Final = NS_EXCHANGE + "outlookmessageclass"
SUBJECT: Final = NS_HTTPMAIL + "subject"
HTMLDESCRIPTION: Final = NS_HTTPMAIL + "htmldescription"
TEXTDESCRIPTION: Final = NS_HTTPMAIL + "textdescription"
LOCATION: Final = NS_CALENDAR + "location"
DTSTART: Final = NS_CALENDAR + "dtstart"
DTEND: Final = NS_CALENDAR + "dtend"
DTSTAMP: Final = NS_CALENDAR + "dtstamp"
ALLDAYEVENT: Final = NS_CALENDAR + "alldayevent"
BUSYSTATUS: Final = NS_CALENDAR + "busystatus"
MEETINGSTATUS: Final = NS_CALENDAR + "meetingstatus"
RESPONSEREQUESTED: Final = NS_CALENDAR + "responserequested"
REMINDEROFFSET: Final = NS_CALENDAR + "reminderoffset"
UID: Final = NS_CALENDAR + "uid"
SEQUENCE: Final = NS_CALENDAR + "sequence"
RRULE: Final = NS_CALENDAR + "rrule"
TIMEZONE: Final = NS_CALENDAR + "timezone"
EXDATE: Final = NS_CALENDAR + "exdate"
RDATE: Final = NS_CALENDAR + "rdate"
ORGANIZER: Final = NS_CALENDAR + "organizer"
METHOD: Final = NS_CALENDAR + "method"
INSTANCETYPE: Final = NS_CALENDAR + "instancetype"
RECURRENCEID: Final = NS_CALENDAR + "recurrenceid"
TO: Final = NS_MAILHEADER + "to"
CC: Final = NS_MAILHEADER + "cc"
BCC: Final = NS_MAILHEADER + "bcc"
FINVITED: Final = NS_MAPI + "finvited"
REMINDERSET: Final = NS_MAPI + "reminderset"
RESPONSESTATUS: Final = NS_MAPI + "responsestatus"
MAPI_BUSYSTATUS: Final = NS_MAPI + "busystatus"
INTENDEDBUSYSTATUS: Final = NS_MAPI + "intendedbusystatus"
# Our own named property (Exchange keeps a property of any namespace a PROPPATCH sets): the
# attempt that created an appointment, so a 412 after a lost answer can be told apart from an
# appointment that was there before (design §4, exactly once for lost answers).
CREATE_ATTEMPT: Final = "urn:schemas-calbridge:create-attempt"
# The same for a message sent straight to the submission URI (no draft to look at): which send
# of which operation it is, read back from the Sent Items copy after a lost answer.
SEND_ATTEMPT: Final = "urn:schemas-calbridge:send-attempt"
APPTSTATEFLAGS: Final = NS_MAPI + "apptstateflags"
SENSITIVITY: Final = NS_EXCHANGE + "sensitivity"
KEYWORDS: Final = NS_EXCHANGE + "keywords-utf8"
URLCOMPNAME: Final = NS_PROPTAG + "x10f3001f"

APPOINTMENT_PROPS: Final[tuple[str, ...]] = (
    GETETAG,
    CONTENTCLASS,
    OUTLOOKMESSAGECLASS,
    URLCOMPNAME,
    UID,
    SEQUENCE,
    INSTANCETYPE,
    DTSTART,
    DTEND,
    ALLDAYEVENT,
    SUBJECT,
    TEXTDESCRIPTION,
    HTMLDESCRIPTION,
    LOCATION,
    ORGANIZER,
    TO,
    CC,
    BCC,
    BUSYSTATUS,
    MEETINGSTATUS,
    RESPONSEREQUESTED,
    REMINDEROFFSET,
    REMINDERSET,
    RRULE,
    EXDATE,
    RDATE,
    TIMEZONE,
    SENSITIVITY,
    KEYWORDS,
    FINVITED,
    RESPONSESTATUS,
)
"""The properties to request (PROPFIND or SEARCH columns) when reading an appointment back."""

APPOINTMENT_OPTIONAL_PROPS: Final[tuple[str, ...]] = (
    TO,
    CC,
    BCC,
    REMINDEROFFSET,
    RRULE,
    EXDATE,
    RDATE,
    TIMEZONE,
    KEYWORDS,
)
"""Written only when the meeting has a value; an update must remove the ones it no longer sets."""

# -- enumerations --------------------------------------------------------------------------------

_BUSY_INT: Final = {  # MS-OXCICAL mapping of X-MICROSOFT-CDO-BUSYSTATUS (reference §4.2)
    BusyStatus.FREE: 0,
    BusyStatus.TENTATIVE: 1,
    BusyStatus.BUSY: 2,
    BusyStatus.OOF: 3,
}
_SENSITIVITY_INT: Final = {
    Sensitivity.PUBLIC: 0,
    Sensitivity.PRIVATE: 2,
    Sensitivity.CONFIDENTIAL: 3,
}
# Reading back: 1 (MAPI "personal") has no iCalendar CLASS; PRIVATE is the privacy-safe choice.
_SENSITIVITY_READ: Final = {
    1: Sensitivity.PRIVATE,
    2: Sensitivity.PRIVATE,
    3: Sensitivity.CONFIDENTIAL,
}
_BUSY_VALUES: Final = frozenset(b.value for b in BusyStatus)
_MEETING_STATUSES: Final = ("CONFIRMED", "TENTATIVE", "CANCELLED")
_RESP_NONE, _RESP_ORGANIZED, _RESP_NOT_RESPONDED = 0, 1, 5  # reference §4.4
_ASF_MEETING, _ASF_RECEIVED, _ASF_CANCELED = 1, 2, 4  # reference §4.3 (inferred bit values)

# -- text helpers --------------------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _clean(text: str) -> str:
    """Drop characters XML cannot carry (C0 controls but tab/LF/CR, lone surrogates, U+FFFE/F):
    they are invisible, and one of them must not make a whole meeting unsendable."""
    return _XML_ILLEGAL.sub("", text)


def description_html(text: str) -> str:
    """The description as HTML: escaped, line breaks as ``<BR>``."""
    escaped = html.escape(_clean(text), quote=True)
    return re.sub(r"\r\n|\r|\n", "<BR>", escaped)


def _html_to_text(value: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</p\s*>", "\n", value)
    text = re.sub(r"<[^>]*>", "", text)
    return html.unescape(text).strip()


def format_address(email: str, name: str = "") -> str:
    """One RFC 5322 address: ``"Bob Example" <bob@example.com>``, or the bare address.

    The address must be exactly one addr-spec (`parse_address`, then
    `email.headerregistry.Address`, which refuses anything else); the display name is always
    quoted (``email.utils.quote`` escapes ``\\`` and ``"``) after control characters and line
    separators are folded to spaces. So no name or address can split or extend the list.

    Raises:
        ValueError: ``email`` is not one well-formed address.
    """
    display = " ".join(_NAME_CONTROLS.sub(" ", name).split())
    address = Address(addr_spec=parse_address(email))
    if not display:
        return address.addr_spec
    return f'"{quote(display)}" <{address.addr_spec}>'


def format_address_list(attendees: Sequence[Attendee]) -> str:
    """A comma-separated address list (reference §2.1: comma-separated in [PHP-KEYOS])."""
    return ", ".join(format_address(a.email, a.name) for a in attendees)


def _split_list(value: str) -> list[tuple[str, str]]:
    """``getaddresses`` after turning top-level ``;`` separators (vendor samples) into commas."""
    out: list[str] = []
    quoted = escaped = False
    angle = 0
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif ch == ";" and not quoted and not angle:
            ch = ","
        out.append(ch)
    return getaddresses(["".join(out)])


# -- Meeting -> properties ----------------------------------------------------------------------


def _instant(value: datetime | date, zone: tzinfo | None) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    midnight = datetime(value.year, value.month, value.day, tzinfo=zone or UTC)
    return midnight.astimezone(UTC)


def series_zone_name(meeting: Meeting, zone: tzinfo | None) -> str:
    """The IANA zone a series expands in: its own, else (all-day, floating, UTC-less) the
    configured `zone`, else UTC."""
    if meeting.tzid and not meeting.all_day:
        return meeting.tzid
    if isinstance(zone, ZoneInfo):
        return zone.key
    return meeting.tzid or "UTC"


def series_vtimezone(meeting: Meeting, zone: tzinfo | None) -> str:
    """The VTIMEZONE text of `series_zone_name`, right for the year the series starts."""
    name = series_zone_name(meeting, zone)
    try:
        return vtimezone_text(name, meeting.start.year)
    except (ZoneInfoNotFoundError, ValueError):  # Meeting.tzid is IANA; an old snapshot may not be
        return vtimezone_text("UTC", meeting.start.year)


def _meeting_status(meeting: Meeting) -> str:
    status = meeting.status.strip().upper()
    return status if status in _MEETING_STATUSES else "CONFIRMED"


def _organizer(meeting: Meeting, mailbox_address: str) -> str:
    if meeting.organizer is not None:
        return format_address(meeting.organizer, meeting.organizer_name)
    return mailbox_address


def _calendar_props(
    meeting: Meeting, *, mailbox_address: str, zone: tzinfo | None
) -> dict[str, object]:
    """What the appointment and the messages share (B-INFINITEC: "copied from the appointment")."""
    props: dict[str, object] = {
        SUBJECT: _clean(meeting.summary),
        HTMLDESCRIPTION: description_html(meeting.description),
        TEXTDESCRIPTION: _clean(meeting.description),
        LOCATION: _clean(meeting.location),
        DTSTART: meeting.start_utc(zone),
        DTEND: meeting.end_utc(zone),
        ALLDAYEVENT: meeting.all_day,
        BUSYSTATUS: meeting.busy_status.value,
        MEETINGSTATUS: _meeting_status(meeting),
        RESPONSEREQUESTED: meeting.has_invitees,
        UID: meeting.uid,
        SEQUENCE: meeting.sequence,
        ORGANIZER: _clean(_organizer(meeting, mailbox_address)),
        REMINDERSET: meeting.reminder_minutes is not None,
        SENSITIVITY: _SENSITIVITY_INT[meeting.sensitivity],
    }
    if meeting.reminder_minutes is not None:
        props[REMINDEROFFSET] = meeting.reminder_minutes * 60
    if meeting.is_recurring:
        props[TIMEZONE] = series_vtimezone(meeting, zone)
    if meeting.rrule:
        props[RRULE] = [_clean(rule) for rule in meeting.rrule]
    # A cancelled occurrence is an exclusion on Exchange (what the PUT of its iCalendar makes of
    # a STATUS:CANCELLED override), so the PROPPATCH after that PUT must keep it.
    excluded = [*meeting.exdates, *(o.recurrence_id for o in meeting.overrides if o.cancelled)]
    if excluded:
        props[EXDATE] = [_instant(d, zone) for d in excluded]
    if meeting.rdates:
        props[RDATE] = [_instant(d, zone) for d in meeting.rdates]
    if meeting.categories:
        props[KEYWORDS] = [_clean(c) for c in meeting.categories]
    for name, group in ((TO, meeting.required()), (CC, meeting.optional()),
                        (BCC, meeting.resources())):
        if group:
            props[name] = _clean(format_address_list(group))
    return props


def appointment_props(
    meeting: Meeting, *, mailbox_address: str, zone: tzinfo | None = None
) -> dict[str, object]:
    """The properties of the organizer's appointment (module table), for PROPPATCH.

    Args:
        meeting: the meeting.
        mailbox_address: the mailbox owner's address (organizer when the meeting names none).
        zone: where all-day dates begin (local midnight); UTC when None.

    Optional properties the meeting has no value for are absent; `props_to_remove` lists them
    for an update.
    """
    props: dict[str, object] = {
        CONTENTCLASS: "urn:content-classes:appointment",
        OUTLOOKMESSAGECLASS: "IPM.Appointment",
        **_calendar_props(meeting, mailbox_address=mailbox_address, zone=zone),
        FINVITED: meeting.has_invitees,
        RESPONSESTATUS: _RESP_ORGANIZED if meeting.has_invitees else _RESP_NONE,
    }
    return props


def props_to_remove(set_props: Mapping[str, object]) -> list[str]:
    """The optional appointment properties ``set_props`` does not set (to remove on update)."""
    return [name for name in APPOINTMENT_OPTIONAL_PROPS if name not in set_props]


def request_message_props(
    meeting: Meeting,
    *,
    mailbox_address: str,
    zone: tzinfo | None = None,
    dtstamp: datetime | None = None,
    recurrence_id: datetime | date | None = None,
) -> dict[str, object]:
    """The meeting-request message (reference §3.1, KB 308373 step 3) to MOVE to the submission URI.

    Same uid and calendar properties as the appointment, plus: contentclass
    ``urn:content-classes:calendarmessage``, class ``IPM.Schedule.Meeting.Request``,
    ``calendar:method`` ``REQUEST``, ``mapi/responsestatus`` 5 (respNotResponded, MS-OXOCAL),
    ``mapi/busystatus`` 1 (tentative, while unanswered; 0 when the meeting is free) and
    ``mapi/intendedbusystatus`` = the meeting's busy status as an int (both [PHP-KEYOS]),
    ``mapi/apptstateflags`` 3 (meeting + received, [PHP-KEYOS]); ``calendar:dtstamp`` when given.
    """
    intended = _BUSY_INT[meeting.busy_status]
    props: dict[str, object] = {
        CONTENTCLASS: "urn:content-classes:calendarmessage",
        OUTLOOKMESSAGECLASS: "IPM.Schedule.Meeting.Request",
        **_calendar_props(meeting, mailbox_address=mailbox_address, zone=zone),
        METHOD: "REQUEST",
        RESPONSESTATUS: _RESP_NOT_RESPONDED,
        MAPI_BUSYSTATUS: 1 if intended else 0,
        INTENDEDBUSYSTATUS: intended,
        APPTSTATEFLAGS: _ASF_MEETING | _ASF_RECEIVED,
    }
    if dtstamp is not None:
        props[DTSTAMP] = dtstamp
    if recurrence_id is not None:
        props[RECURRENCEID] = _instant(recurrence_id, zone)
    return props


def cancel_message_props(
    meeting: Meeting,
    *,
    mailbox_address: str,
    zone: tzinfo | None = None,
    dtstamp: datetime | None = None,
    recurrence_id: datetime | date | None = None,
) -> dict[str, object]:
    """A meeting cancellation message (reference §3.3: Prajdić recipe + MS-OXOCAL 3.1.4.9.1).

    Class ``IPM.Schedule.Meeting.Canceled``, ``calendar:method`` ``CANCEL``, subject
    ``Canceled: <summary>``, meetingstatus ``CANCELLED``, busy and intended busy status FREE,
    responsestatus 5, apptstateflags meeting + received + canceled (7).

    The bridge cancels through ``?Cmd=getcancel`` (seed recipe); this is the WebDAV fallback.
    """
    props = request_message_props(meeting, mailbox_address=mailbox_address, zone=zone,
                                  dtstamp=dtstamp, recurrence_id=recurrence_id)
    props.update({
        OUTLOOKMESSAGECLASS: "IPM.Schedule.Meeting.Canceled",
        SUBJECT: "Canceled: " + _clean(meeting.summary),
        METHOD: "CANCEL",
        MEETINGSTATUS: "CANCELLED",
        BUSYSTATUS: BusyStatus.FREE.value,
        MAPI_BUSYSTATUS: 0,
        INTENDEDBUSYSTATUS: 0,
        APPTSTATEFLAGS: _ASF_MEETING | _ASF_RECEIVED | _ASF_CANCELED,
    })
    return props


# -- properties -> Meeting ----------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value.strip():
        try:
            return parse_datetime(value)
        except ValueError:
            return None
    return None


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


def _as_list(value: object) -> list[object]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    return [value]


def _zone_of(value: object) -> str | None:
    """The IANA zone a stored VTIMEZONE text names (an IANA TZID, or a Windows or Exchange
    display name); None when absent or unknown (its instants still say when)."""
    text = _text(value)
    found = re.search(r"(?m)^TZID[;:](?:[^:\r\n]*:)?([^\r\n]+)", text) if text else None
    if found is None:
        return None
    name = found.group(1).strip()
    for candidate in (name, windows_to_iana(name)):
        if candidate:
            try:
                ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return candidate
    return None


def _local_date(instant: datetime, zone: tzinfo | None) -> date:
    return instant.astimezone(zone or UTC).date()


def meeting_from_props(
    props: Mapping[str, object], *, href: str, zone: tzinfo | None = None
) -> Meeting:
    """Read an appointment's properties (PROPFIND/SEARCH of `APPOINTMENT_PROPS`) as a `Meeting`.

    - Values may be typed (datetime, int, bool, list) or, when the server sent no ``dt``, text.
    - All-day appointments become DATE values: the local date, in ``zone`` (UTC when None), of
      the stored midnight instants.
    - to -> REQUIRED, cc -> OPTIONAL; bcc -> RESOURCE kind with role NON-PARTICIPANT: Exchange
      keeps no attendee kind, so a room cannot be told from other equipment — every Bcc
      recipient comes back as a resource. Addresses that are not e-mail addresses (X.500, bare
      names) are skipped and listed in ``extra["skipped_recipients"]``; duplicates keep the
      first role (to before cc before bcc).
    - ``extra`` also carries ``exchange_href`` and, when read, ``exchange_etag``.

    Raises:
        MeetingError: no uid, no start/end, or values a `Meeting` refuses.
    """
    uid = _text(props.get(UID)).strip()
    if not uid:
        raise MeetingError(f"the appointment at {href} has no uid")
    start = _as_datetime(props.get(DTSTART))
    end = _as_datetime(props.get(DTEND))
    if start is None or end is None:
        raise MeetingError(f"the appointment at {href} has no start or end")
    all_day = _as_bool(props.get(ALLDAYEVENT))
    start_value: datetime | date = start
    end_value: datetime | date = end
    if all_day:
        start_value = _local_date(start, zone)
        end_value = max(_local_date(end, zone), start_value + timedelta(days=1))

    def dates(name: str) -> tuple[datetime | date, ...]:
        found: list[datetime | date] = []
        for item in _as_list(props.get(name)):
            instant = _as_datetime(item)
            if instant is not None:
                found.append(_local_date(instant, zone) if all_day else instant)
        return tuple(found)

    tzid = _zone_of(props.get(TIMEZONE))
    if tzid is not None and not all_day:
        local = ZoneInfo(tzid)
        start_value, end_value = start.astimezone(local), end.astimezone(local)

    attendees: list[Attendee] = []
    skipped: list[str] = []
    seen: set[str] = set()
    for name, role, kind in (
        (TO, AttendeeRole.REQUIRED, AttendeeKind.PERSON),
        (CC, AttendeeRole.OPTIONAL, AttendeeKind.PERSON),
        (BCC, AttendeeRole.NON_PARTICIPANT, AttendeeKind.RESOURCE),
    ):
        for display, address in _split_list(_text(props.get(name))):
            if not address and not display:
                continue
            try:
                attendee = Attendee(email=address, name=display, role=role, kind=kind)
            except MeetingError:
                skipped.append(address or display)
                continue
            if attendee.email not in seen:
                seen.add(attendee.email)
                attendees.append(attendee)

    organizer: str | None = None
    organizer_name = ""
    for display, address in _split_list(_text(props.get(ORGANIZER))):
        if "@" in address:
            organizer, organizer_name = address, display
            break

    busy = _text(props.get(BUSYSTATUS)).strip().upper()
    status = _text(props.get(MEETINGSTATUS)).strip().upper()
    sensitivity = _SENSITIVITY_READ.get(_as_int(props.get(SENSITIVITY)) or 0, Sensitivity.PUBLIC)
    reminder: int | None = None
    offset = _as_int(props.get(REMINDEROFFSET))
    if offset is not None and (REMINDERSET not in props or _as_bool(props.get(REMINDERSET))):
        reminder = offset // 60
    text = props.get(TEXTDESCRIPTION)
    description = (
        _text(text) if text not in (None, "") else _html_to_text(_text(props.get(HTMLDESCRIPTION)))
    )
    extra = {"exchange_href": href}
    if props.get(GETETAG):
        extra["exchange_etag"] = _text(props.get(GETETAG))
    if skipped:
        extra["skipped_recipients"] = ", ".join(skipped)

    return Meeting(
        uid=uid,
        start=start_value,
        end=end_value,
        summary=_text(props.get(SUBJECT)),
        location=_text(props.get(LOCATION)),
        description=description,
        sequence=max(0, _as_int(props.get(SEQUENCE)) or 0),
        organizer=organizer,
        organizer_name=organizer_name,
        attendees=tuple(attendees),
        all_day=all_day,
        tzid=tzid if not all_day else None,
        rrule=tuple(_text(r) for r in _as_list(props.get(RRULE)) if _text(r)),
        rdates=dates(RDATE),
        exdates=dates(EXDATE),
        busy_status=BusyStatus(busy) if busy in _BUSY_VALUES else BusyStatus.BUSY,
        sensitivity=sensitivity,
        categories=tuple(_text(c) for c in _as_list(props.get(KEYWORDS)) if _text(c)),
        reminder_minutes=reminder,
        status=status if status in _MEETING_STATUSES else "CONFIRMED",
        extra=extra,
    )


# -- item names ----------------------------------------------------------------------------------

_SLUG_LIMIT: Final = 40
_DIGEST_CHARS: Final = 32  # 128 bits of SHA-256


def _slug(uid: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", uid).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:_SLUG_LIMIT].rstrip("-")


def _stem(uid: str) -> str:
    if not uid:
        raise ValueError("an item name needs a non-empty UID")
    digest = hashlib.sha256(uid.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    slug = _slug(uid)
    return f"{slug}-{digest}" if slug else digest


def item_name_for_uid(uid: str) -> str:
    """The appointment's file name for ``uid``: ``<slug>-<32 hex of SHA-256(uid)>.EML``.

    Deterministic; only ``[a-z0-9-]`` before ``.EML``; at most 77 characters. The slug (lower-case
    ASCII of the UID, 40 characters at most) is for people reading URLs; the digest of the exact
    UID makes names unique — also for UIDs differing only in case, since Exchange URLs are
    case-insensitive (inferred) and the slug is lower-cased anyway.
    """
    return _stem(uid) + ".EML"


def draft_name_for_uid(uid: str, kind: str, sequence: int) -> str:
    """The deterministic name of a message draft: ``<stem>-<kind>-<sequence>.EML``.

    ``kind`` is a short lower-case word (``request``, ``update``, ``cancel``); at most 114
    characters.
    """
    if not re.fullmatch(r"[a-z]{1,16}", kind):
        raise ValueError(f"draft kind must be 1-16 lower-case letters, got {kind!r}")
    if not 0 <= sequence < 10**19:
        raise ValueError(f"sequence out of range: {sequence}")
    return f"{_stem(uid)}-{kind}-{sequence}.EML"
