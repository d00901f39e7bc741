"""The scheduling outbox's free/busy query (RFC 6638 §3.2.9), pure: request in, answer out.

Rule kept here: no I/O. `parse_query` turns the body a CalDAV client POSTs to its outbox into a
`Query` (or a `QueryError` with an HTTP status and a one-line reason: nothing else reaches the
client), and `build_response` turns the free/busy digits Exchange gave (reference §7.1: one
digit per interval, 0 free, 1 tentative, 2 busy, 3 out of office, 4 no data) into the
``CALDAV:schedule-response`` document, one ``response`` per recipient with its
``request-status`` and a ``VFREEBUSY`` reply.

Per-recipient statuses (RFC 6638 §3.2.9 / RFC 5546 §3.6):
- ``2.0;Success`` with FREEBUSY periods (1 → BUSY-TENTATIVE, 2 → BUSY, 3 → BUSY-UNAVAILABLE;
  slots marked 4 inside a known calendar are left out: RFC 5545 has no "unknown" type);
- ``3.7;Invalid calendar user`` for an address that is not one ``name@domain`` (never sent to
  Exchange) or that Exchange knows nothing about (every digit 4 or no entry: DavMail reads a
  leading 4 as an unknown attendee, davmail-client §5);
- ``5.1;Service unavailable`` for every recipient when Exchange could not be asked.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import icalendar

from bridge.exchange.owa import busy_slots
from bridge.meeting import MeetingError, parse_address

__all__ = [
    "FREEBUSY_INTERVAL",
    "MAX_RECIPIENTS",
    "MAX_SPAN",
    "Query",
    "QueryError",
    "build_response",
    "parse_query",
]

# 15 minutes, as DavMail asks (davmail-client §5): fine enough for a scheduling grid.
FREEBUSY_INTERVAL: Final = 15
# One OWA GET carries every recipient (`u=SMTP:...` each, ~35 bytes): 100 keep the URL near
# 4 KB, well under IIS 6's 16 KB request-line limit (chosen; the reference gives no limit).
MAX_RECIPIENTS: Final = 100
# 15-minute digits over 100 days = 9,600 per recipient; clients ask for days or weeks (chosen).
MAX_SPAN: Final = timedelta(days=100)

_DAV: Final = "DAV:"
_CALDAV: Final = "urn:ietf:params:xml:ns:caldav"
_FBTYPES: Final = {"TENTATIVE": "BUSY-TENTATIVE", "BUSY": "BUSY", "OOF": "BUSY-UNAVAILABLE"}

SUCCESS: Final = "2.0;Success"
INVALID_USER: Final = "3.7;Invalid calendar user"
UNAVAILABLE: Final = "5.1;Service unavailable"


class QueryError(ValueError):
    """A POST the outbox refuses as a whole; `status` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Recipient:
    """One ATTENDEE of the query: the value as the client wrote it, and its address (or None)."""

    value: str
    address: str | None


@dataclass(frozen=True)
class Query:
    uid: str
    organizer: str  # as the client wrote it (``mailto:alice@example.com``)
    start: datetime  # UTC
    end: datetime  # UTC
    recipients: tuple[Recipient, ...]

    @property
    def addresses(self) -> list[str]:
        """The valid addresses, each once, in the client's order: what Exchange is asked."""
        seen: dict[str, None] = {}
        for recipient in self.recipients:
            if recipient.address is not None:
                seen.setdefault(recipient.address, None)
        return list(seen)


def _utc(value: object, name: str) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise QueryError(400, f"{name} must be a UTC or zoned date-time")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise QueryError(400, f"{name} is missing or not a date-time")


def parse_query(body: bytes) -> Query:
    """The free/busy query of an outbox POST (``METHOD:REQUEST`` with one ``VFREEBUSY``).

    Raises:
        QueryError: not iCalendar, another method or component (415/400: this outbox answers
            free/busy queries only; meeting messages go through the calendar), no or too many
            attendees, no or an inverted or too long time range.
    """
    try:
        calendar = icalendar.Calendar.from_ical(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, IndexError, KeyError, TypeError):
        raise QueryError(400, "the body is not an iCalendar object") from None
    if str(calendar.get("METHOD", "")).upper() != "REQUEST":
        raise QueryError(400, "the outbox answers free/busy queries: METHOD:REQUEST only")
    queries = [c for c in calendar.subcomponents if c.name == "VFREEBUSY"]
    if len(queries) != 1 or len(calendar.subcomponents) != 1:
        raise QueryError(
            400, "the outbox answers free/busy queries: exactly one VFREEBUSY, nothing else"
        )
    query = queries[0]
    try:
        start = _utc(query.decoded("DTSTART", None), "DTSTART")
        end = _utc(query.decoded("DTEND", None), "DTEND")
    except QueryError:
        raise
    except (ValueError, TypeError, KeyError):
        raise QueryError(400, "DTSTART/DTEND are not date-times") from None
    if end <= start:
        raise QueryError(400, "DTEND must be after DTSTART")
    if end - start > MAX_SPAN:
        raise QueryError(400, f"a free/busy query spans at most {MAX_SPAN.days} days")
    raw = query.get("ATTENDEE")
    values = [] if raw is None else raw if isinstance(raw, list) else [raw]
    if not values:
        raise QueryError(400, "a free/busy query names at least one ATTENDEE")
    if len(values) > MAX_RECIPIENTS:
        raise QueryError(
            400, f"a free/busy query names at most {MAX_RECIPIENTS} attendees, not {len(values)}"
        )
    recipients = tuple(Recipient(str(v), _address(str(v))) for v in values)
    return Query(
        uid=str(query.get("UID", "")),
        organizer=str(query.get("ORGANIZER", "")),
        start=start,
        end=end,
        recipients=recipients,
    )


def _address(value: str) -> str | None:
    text = value.strip()
    if text.lower().startswith("mailto:"):
        text = text[7:]
    try:
        return parse_address(text)
    except MeetingError:
        return None


def build_response(
    query: Query,
    digits: Mapping[str, str] | None,
    *,
    now: datetime,
    interval: int = FREEBUSY_INTERVAL,
) -> bytes:
    """The ``CALDAV:schedule-response`` for `query`.

    Args:
        digits: free/busy digits per address (lower-case) as Exchange gave them, or None when
            Exchange could not be asked (every recipient then gets 5.1).
        now: the DTSTAMP of the replies.
    """
    ET.register_namespace("D", _DAV)
    ET.register_namespace("C", _CALDAV)
    root = ET.Element(f"{{{_CALDAV}}}schedule-response")
    for recipient in query.recipients:
        response = ET.SubElement(root, f"{{{_CALDAV}}}response")
        href = ET.SubElement(ET.SubElement(response, f"{{{_CALDAV}}}recipient"), f"{{{_DAV}}}href")
        href.text = _xml_text(recipient.value)
        status, periods = _status(recipient, digits, query.start, interval)
        ET.SubElement(response, f"{{{_CALDAV}}}request-status").text = status
        if periods is not None:
            data = ET.SubElement(response, f"{{{_CALDAV}}}calendar-data")
            data.text = _reply(query, recipient, periods, now)
    document: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + document


def _status(
    recipient: Recipient, digits: Mapping[str, str] | None, start: datetime, interval: int
) -> tuple[str, list[tuple[datetime, datetime, str]] | None]:
    if recipient.address is None:
        return INVALID_USER, None
    if digits is None:
        return UNAVAILABLE, None
    found = digits.get(recipient.address, "")
    if not found or set(found) == {"4"}:
        return INVALID_USER, None
    return SUCCESS, busy_slots(found, start, interval)


def _reply(
    query: Query, recipient: Recipient, periods: Sequence[tuple[datetime, datetime, str]],
    now: datetime,
) -> str:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//calbridge//free-busy//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REPLY")
    reply = icalendar.FreeBusy()
    if query.uid:
        reply.add("UID", query.uid)
    reply.add("DTSTAMP", now.astimezone(UTC))
    reply.add("DTSTART", query.start)
    reply.add("DTEND", query.end)
    if query.organizer:
        reply.add("ORGANIZER", query.organizer)
    reply.add("ATTENDEE", f"mailto:{recipient.address}")
    for begin, end, kind in periods:
        fbtype = _FBTYPES.get(kind)
        if fbtype is None:  # UNKNOWN (digit 4): no information, not a busy time
            continue
        reply.add("FREEBUSY", [(begin, end)], parameters={"FBTYPE": fbtype})
    calendar.add_component(reply)
    text: str = calendar.to_ical().decode("utf-8")
    return text


def _xml_text(value: str) -> str:
    """XML 1.0 cannot carry most control characters; the client's own value, minus those."""
    return "".join(c for c in value if c in "\t\n\r" or ord(c) >= 0x20)[:2000]
