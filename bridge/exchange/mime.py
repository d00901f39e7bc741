"""A series with its exceptions as the ``message/rfc822`` body Exchange takes by PUT (reference
§2.3; davmail-client: DavMail and Evolution give Exchange a series with exceptions this way).

Rule kept here: Exchange 2003's WebDAV has no property for an exception (instancetype 3 items
are the server's), so a series with overrides is PUT as iCalendar: the master VEVENT, one VEVENT
per RECURRENCE-ID override (a cancelled one with STATUS:CANCELLED) and the VTIMEZONE the series
expands in. Times of a series without a zone of its own (floating, UTC, all-day) are written in
the configured zone, so the body expands exactly as the PROPPATCHed properties say
(`props.series_zone_name`). Headers are built by the ``email`` package (folded, encoded: no
value can add a header). Pure: no I/O, no logging.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, tzinfo
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import SMTP
from email.policy import default as default_policy
from typing import Final
from zoneinfo import ZoneInfo

from bridge.exchange.props import format_address_list, series_zone_name
from bridge.ical import ParsedEvent, parse_event, to_ical
from bridge.meeting import Meeting

__all__ = [
    "APPOINTMENT",
    "ATTEMPT_HEADER",
    "CALENDAR_MESSAGE",
    "attempt_of",
    "calendar_body",
    "calendar_text",
    "read_body",
    "submission",
]

APPOINTMENT: Final = "urn:content-classes:appointment"
CALENDAR_MESSAGE: Final = "urn:content-classes:calendarmessage"
# Which send of which operation a message PUT to the submission URI is: a PUT cannot set a
# property of our own, so the attempt travels in the MIME, read back from the Sent Items copy.
ATTEMPT_HEADER: Final = "X-Calbridge-Attempt"


def _in_zone(meeting: Meeting, zone: tzinfo | None) -> Meeting:
    """The meeting with its times in the zone the series expands in (all-day dates stay)."""
    if meeting.all_day or meeting.tzid:
        return meeting
    name = series_zone_name(meeting, zone)
    local = ZoneInfo(name)

    def move(value: datetime | object) -> object:
        return value.astimezone(local) if isinstance(value, datetime) else value

    overrides = tuple(
        replace(o, recurrence_id=move(o.recurrence_id), start=move(o.start), end=move(o.end))  # type: ignore[arg-type]  # move keeps the type
        for o in meeting.overrides
    )
    return replace(
        meeting,
        tzid=name,
        start=move(meeting.start),  # type: ignore[arg-type]  # move keeps the type
        end=move(meeting.end),  # type: ignore[arg-type]  # move keeps the type
        rdates=tuple(move(d) for d in meeting.rdates),  # type: ignore[misc]  # move keeps the type
        exdates=tuple(move(d) for d in meeting.exdates),  # type: ignore[misc]  # move keeps the type
        overrides=overrides,
    )


def calendar_body(
    meeting: Meeting,
    *,
    content_class: str = APPOINTMENT,
    method: str | None = None,
    zone: tzinfo | None = None,
    dtstamp: datetime | None = None,
    bcc: bool = True,
    attempt: str | None = None,
) -> bytes:
    """The ``message/rfc822`` body of `meeting` (and its overrides) for a PUT.

    A meeting message (``method`` REQUEST or CANCEL, content class calendarmessage) carries
    To/Cc/Bcc headers: the recipients the MOVE to the submission URI delivers it to (without
    `bcc` no Bcc header: an envelope names them, `submission`). `attempt` goes in
    `ATTEMPT_HEADER`.
    """
    message = EmailMessage(policy=SMTP)
    message["Content-class"] = content_class
    if meeting.summary:
        message["Subject"] = " ".join(meeting.summary.split())
    if attempt is not None:
        message[ATTEMPT_HEADER] = attempt
    if method:
        for header, group in (("To", meeting.required()), ("Cc", meeting.optional()),
                              ("Bcc", meeting.resources() if bcc else ())):
            if group:
                message[header] = format_address_list(group)
    ics = to_ical(_in_zone(meeting, zone), dtstamp=dtstamp, method=method)
    params = {"method": method} if method else {}
    message.set_content(ics, subtype="calendar", charset="utf-8", cte="quoted-printable",
                        params=params)
    return message.as_bytes()


def submission(meeting: Meeting, sender: str, *, method: str, zone: tzinfo | None,
               attempt: str) -> tuple[str, bytes]:
    """The Content-Type and body of a meeting message PUT to the submission URI (reference
    §3.2). With resources (Bcc) it is ``message/rfc821``: ``MAIL FROM``/``RCPT TO`` lines
    name every recipient, the only way a PUT gets Bcc there; otherwise ``message/rfc822``."""
    if not meeting.resources():
        return "message/rfc822", calendar_body(
            meeting, content_class=CALENDAR_MESSAGE, method=method, zone=zone, attempt=attempt)
    body = calendar_body(meeting, content_class=CALENDAR_MESSAGE, method=method, zone=zone,
                         bcc=False, attempt=attempt)
    envelope = [f"MAIL FROM:<{_envelope_address(sender)}>"]
    envelope += [f"RCPT TO:<{_envelope_address(a.email)}>" for a in meeting.invitees()]
    return "message/rfc821", ("\r\n".join(envelope) + "\r\n\r\n").encode() + body


def _envelope_address(address: str) -> str:
    """An address as an envelope line takes it: nothing that could end the line or the
    angle brackets (an address is one e-mail address, checked at the door; this is the wall)."""
    if any(ch in address for ch in "<>\r\n") or not address.isprintable():
        raise ValueError("an address unfit for a mail envelope")
    return address


def attempt_of(raw: bytes) -> str | None:
    """The `ATTEMPT_HEADER` of a ``message/rfc822`` body (a GET with ``Translate: f``)."""
    value = message_from_bytes(raw, policy=default_policy).get(ATTEMPT_HEADER)
    return str(value).strip() if value is not None else None


def calendar_text(raw: bytes) -> str | None:
    """The iCalendar part of a ``message/rfc822`` body (a GET with ``Translate: f``), or None."""
    message = message_from_bytes(raw, policy=default_policy)
    for part in message.walk():
        if part.get_content_type() in ("text/calendar", "application/ics") and isinstance(
            part, Message
        ):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                return payload.decode(charset, errors="replace")
    return None


def read_body(raw: bytes, *, default_tz: str = "UTC") -> ParsedEvent:
    """A series as Exchange serves it (DavMail's way: the exceptions inside the master's
    iCalendar): the master, its overrides and its zone, or the reason it cannot be read."""
    text = calendar_text(raw)
    if text is None:
        return ParsedEvent(None, None, "the item has no iCalendar part", None, "")
    return parse_event(text, default_tz=default_tz)
