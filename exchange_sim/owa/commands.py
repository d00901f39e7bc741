"""OWA 2003 `Cmd=` commands on mailbox URLs, and `/public/?cmd=freebusy`.

Rule kept here: a command either changes the store completely (one transaction) and answers as
OWA does, or answers an error status and changes nothing. The seed recipes are the spec for
`getcancel` and `sendappt` (seed-owa-meeting-recipes.md); DavMail's use is the spec for `saveappt`
and `galfind` (davmail-client §1.4, §6.1, §9); protocol reference §6.2 for accept/decline/
tentative and "POST → 302 to the item", §7.1 for free/busy. Whatever the reference does not
settle is marked "chosen" or "inferred" at the code. A POSTed form's values are raw text: a
value is never read as further fields. Commands not known here return None, so the router
serves the URL as usual (e.g. `?Cmd=open`).
"""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from exchange_sim import attendees, responses, transport
from exchange_sim import freebusy as fb
from exchange_sim.forms import FormError, parse_owa_datetime, parse_urlencoded, parse_utf8_form
from exchange_sim.http import Request, Response, text_response
from exchange_sim.store import Item, Mailbox, NotFound, Store, normalize_path
from exchange_sim.xml import url_for

__all__ = ["freebusy", "handle"]

logger = logging.getLogger(__name__)

_CAL = "urn:schemas:calendar:"
_MAPI = "http://schemas.microsoft.com/mapi/"
_SUBJECT = "urn:schemas:httpmail:subject"
_HEADERS = ("to", "cc", "bcc")
_APPOINTMENT = "urn:content-classes:appointment"

Fields = list[tuple[str, str]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def handle(request: Request, store: Store) -> Response | None:
    """Answer a request carrying `Cmd=` (query, or first field of a POST body); None if unknown."""
    try:
        command, fields = _command(request)
        handler = _HANDLERS.get((request.method.upper(), command or ""))
        if handler is None:
            return None
        with store.transaction():
            return handler(request, store, fields)
    except _Refused as error:
        status, message = error.status, str(error)
    except FormError as error:
        status, message = 400, str(error)
    except NotFound:
        status, message = 404, "The item was not found."
    except attendees.NotARequest as error:
        status, message = 400, str(error)
    except transport.NotAllowed as error:
        status, message = 403, str(error)
    except transport.NothingToSend as error:
        status, message = 422, str(error)
    logger.info("%s %s?Cmd: %d %s", request.method, request.path, status, message)
    return responses.error(status, message)


def freebusy(request: Request, store: Store) -> Response:
    """`GET /public/?cmd=freebusy&start&end&interval&u=SMTP:...` (reference §7.1).

    Local addresses get digits computed live from their Calendar (Exchange publishes with a
    delay; the simulator does not: chosen); unknown addresses get all `4`. IE user agents get
    the `WM` XML, others the HTML page. Unreadable parameters → 400 (chosen; reference silent).
    """
    try:
        start, end, interval, addresses = fb.parse_freebusy_query(request.raw_query)
        width = len(fb.fbdata([], start, end, interval))
        entries = []
        for address in addresses:
            mailbox = store.by_email.get(address.lower())
            if mailbox is None:
                entries.append(fb.FreeBusyEntry(address, address, fb.NO_DATA * width))
                continue
            busy = attendees.calendar_busy(store, mailbox, start, end)
            entries.append(fb.FreeBusyEntry(mailbox.display_name, mailbox.email,
                                            fb.fbdata(busy, start, end, interval)))
    except ValueError as error:
        return responses.error(400, str(error))
    if request.is_ie:
        return Response(200, fb.render_xml(entries), [("Content-Type", "text/xml")])
    return Response(200, fb.render_html(entries, start, interval),
                    [("Content-Type", "text/html")])


# -- commands ----------------------------------------------------------------------------------


def _getcancel(request: Request, store: Store, fields: Fields) -> Response:
    """Pre-create the cancellation draft in Drafts and redirect to it (seed recipe 1).

    Each call creates a new draft (inferred: the seed says OWA pre-creates one per call).
    """
    item = _appointment(store, request.path)
    owner = _owner(store, item.path)
    draft = _cancellation(item.props, owner)
    path = store.unique_name(store.folder_path(owner.alias, "drafts"), str(draft[_SUBJECT]))
    store.write(path, draft, if_none_match="*")
    logger.info("getcancel %s → %s", item.path, path)
    return _redirect(request, path)


def _sendappt(request: Request, store: Store, fields: Fields) -> Response:
    """Apply the posted fields, bump the sequence, send the update (seed recipe 2).

    Answer: 302 to `<item>?Cmd=open` (inferred from reference §6.2). `MsgID` naming another item
    than the URL → 400 (chosen). No attendees at all → saved, nothing sent (chosen).
    """
    item = _appointment(store, request.path)
    owner = _owner(store, item.path)
    _check_organizer(item.props, owner)
    named = dict(fields)
    msg_id = named.get("MsgID", "").strip()
    if msg_id and not _names(store, owner, msg_id, item.path):
        raise _Refused(400, f"MsgID {msg_id!r} does not name {item.path}")
    updates, remove = _form_updates(fields)
    lists = [named.get(k, "").strip() for k in ("Required", "Optional", "Resource")]
    if any(lists):  # the posted lists replace to/cc/bcc; all empty → the item's own (seed)
        for header, value in zip(_HEADERS, lists, strict=True):
            updates["urn:schemas:mailheader:" + header] = value
    updates[_CAL + "sequence"] = _sequence(item.props) + 1
    merged = {k: v for k, v in {**item.props, **updates}.items() if k not in remove}
    _check_times(merged)
    item, _ = store.write(item.path, updates, remove)
    message = _request_message(item.props, owner)
    if transport.parse_addresses(message.get("urn:schemas:mailheader:" + h) for h in _HEADERS):
        transport.submit(store, request.user or owner, None, message, mailbox=owner)
    return _redirect(request, item.path, "?Cmd=open")


def _saveappt(request: Request, store: Store, fields: Fields) -> Response:
    """Create an empty appointment in the folder; answer its URL in `<span id="itemHREF">`."""
    folder = store.require(normalize_path(request.path))
    formtype = next((v for k, v in fields if k.lower() == "formtype"), "appointment")
    if not folder.is_folder or formtype.strip().lower() != "appointment":
        raise _Refused(400, "saveappt needs a folder and FORMTYPE=appointment")
    props, body = _new_appointment()
    path = store.unique_name(folder.path, "")
    store.write(path, props, body=body, if_none_match="*")
    url = html.escape(url_for(request.base_url, path))
    page = f'<HTML><BODY><span id="itemHREF">{url}</span></BODY></HTML>'
    return text_response(200, page)


def _galfind(request: Request, store: Store, fields: Fields) -> Response:
    """GAL prefix search on AN/DN/EM/FN/LN, case-insensitive, all criteria must hold.

    No criteria → an empty answer (chosen). FN/LN: first word / rest of a person's display name,
    empty for rooms and service accounts (chosen). PH and OFFICE (davmail-client §1.4's
    attribute names) only when the mailbox has them. No cap on the number of items (the
    reference gives none).
    """
    criteria = {k: v.lower() for k in ("an", "dn", "em", "fn", "ln") if (v := request.arg(k))}
    items = []
    for mailbox in sorted(store.mailboxes.values(), key=lambda m: m.display_name.lower()):
        first, _, last = mailbox.display_name.partition(" ")
        if mailbox.kind != "person":
            first = last = ""
        values = {"an": mailbox.alias, "dn": mailbox.display_name, "em": mailbox.email,
                  "fn": first, "ln": last}
        if criteria and all(values[k].lower().startswith(v) for k, v in criteria.items()):
            items.append("<a:item>" + "".join(
                f"<a:{k.upper()}>{escape(values[k])}</a:{k.upper()}>"
                for k in ("dn", "fn", "ln", "an", "em"))
                + "".join(f"<a:{tag}>{escape(value)}</a:{tag}>"
                          for tag, value in (("PH", mailbox.phone), ("OFFICE", mailbox.office))
                          if value)
                + "</a:item>")
    body = '<?xml version="1.0"?><a:response xmlns:a="WM">' + "".join(items) + "</a:response>"
    return Response(200, body.encode("utf-8"), [("Content-Type", "text/xml")])


def _answer(request: Request, store: Store, fields: Fields) -> Response:
    """accept/decline/tentative on a request in the mailbox → 302 to the Inbox (inferred)."""
    path = normalize_path(request.path)
    store.require(path)
    owner = _owner(store, path)
    answer = (request.arg("cmd") or "").lower()
    attendees.respond(store, owner, path, answer, sender=request.user)
    return responses.redirect(url_for(request.base_url, store.folder_path(owner.alias, "inbox"),
                                      folder=True))


# -- appointments and meeting messages ---------------------------------------------------------

_CANCELED = "IPM.Schedule.Meeting.Canceled"
_FLAGS = "http://schemas.microsoft.com/mapi/proptag/x0e070003"  # PR_MESSAGE_FLAGS
_TZID = "(GMT+01.00) Berlin/Stockholm/Rome/Bern/Vienna"  # davmail-client §9 (chosen zone)
_VTIMEZONE = "\r\n".join([
    "BEGIN:VTIMEZONE", f"TZID:{_TZID}",
    "BEGIN:STANDARD", "DTSTART:16010101T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:16010101T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
    "END:VTIMEZONE"])
_PREFIXES = ("urn:schemas:", "http://schemas.microsoft.com/")
# Set by the server or by this command, never by the form (chosen). subject-utf8 is OWA's form
# encoding of the subject, not a property; the seed's own sample posts garbage in it.
_PROTECTED = {_CAL + "uid", _CAL + "sequence", _CAL + "instancetype", _CAL + "organizer",
              "http://schemas.microsoft.com/exchange/outlookmessageclass",
              "http://schemas.microsoft.com/exchange/permanenturl",
              "http://schemas.microsoft.com/exchange/subject-utf8"}
_DATES = {_CAL + n for n in ("dtstart", "dtend", "dtstamp", "recurrenceid", "replytime")}
_MULTI_DATES = {_CAL + "exdate", _CAL + "rdate"}
_MULTI_TEXT = {_CAL + "rrule", _CAL + "exrule"}
_BOOLS = {_CAL + "alldayevent", _CAL + "responserequested", _CAL + "isorganizer",
          _MAPI + "finvited", _MAPI + "reminderset",
          "http://schemas.microsoft.com/exchange/readreceiptrequested",
          "http://schemas.microsoft.com/exchange/deliveryreportrequested"}
_INTS = {_CAL + "reminderoffset", _CAL + "duration", _CAL + "timezoneid",
         "urn:schemas:httpmail:importance", "http://schemas.microsoft.com/exchange/sensitivity-long",
         _MAPI + "busystatus", _MAPI + "intendedbusystatus", _MAPI + "reminderdelta"}
_BUSY = ("FREE", "TENTATIVE", "BUSY", "OOF")


def _sequence(props: Mapping[str, object]) -> int:
    try:
        return int(str(props.get(_CAL + "sequence") or 0))
    except ValueError:
        return 0


def _recipients(props: Mapping[str, object]) -> dict[str, object]:
    return {"urn:schemas:mailheader:" + h: props["urn:schemas:mailheader:" + h]
            for h in _HEADERS if props.get("urn:schemas:mailheader:" + h)}


def _check_organizer(appointment: Mapping[str, object], owner: Mailbox) -> None:
    """Only the organizer's copy of a meeting can be cancelled or updated (400, chosen)."""
    organizer = transport.parse_addresses([appointment.get(_CAL + "organizer")])
    if organizer and organizer[0][1].lower() != owner.email.lower():
        raise _Refused(400, "only the organizer can cancel or update this meeting")


def _cancellation(appointment: Mapping[str, object], owner: Mailbox) -> dict[str, object]:
    """The cancellation draft (MS-OXOCAL 3.1.4.9.1 via reference §3.3; sequence + 1 inferred).

    Only the organizer's appointment with attendees can be cancelled; otherwise 400 (chosen).
    """
    _check_organizer(appointment, owner)
    recipients = _recipients(appointment)
    if not transport.parse_addresses(recipients.values()):
        raise _Refused(400, "the appointment has no attendees to cancel")
    subject = "Canceled: " + str(appointment.get(_SUBJECT) or "")
    draft = transport.meeting_props(appointment, _CANCELED, "CANCEL", subject, owner.email)
    draft.update(recipients)
    draft.update({
        _CAL + "sequence": _sequence(appointment) + 1,
        _CAL + "meetingstatus": "CANCELLED",
        _CAL + "busystatus": "FREE",
        _MAPI + "busystatus": 0,
        _MAPI + "intendedbusystatus": 0,
        _MAPI + "responsestatus": 5,
        _MAPI + "apptstateflags": 7,
        _FLAGS: 9,  # read | unsent, as a draft (DavMail's drafts, davmail-client §2.4)
    })
    return draft


def _request_message(appointment: Mapping[str, object], owner: Mailbox) -> dict[str, object]:
    subject = str(appointment.get(_SUBJECT) or "")
    message = transport.meeting_props(appointment, "IPM.Schedule.Meeting.Request", "REQUEST",
                                      subject, owner.email)
    message.update(_recipients(appointment))
    for name in ("urn:schemas:httpmail:htmldescription", "urn:schemas:httpmail:textdescription",
                 _CAL + "busystatus", _CAL + "meetingstatus"):
        if name in appointment:
            message[name] = appointment[name]
    return message


def _typed(name: str, value: str) -> object:
    text = value.strip()
    if name in _DATES:
        return parse_owa_datetime(text)
    if name in _MULTI_DATES:
        return [parse_owa_datetime(v) for v in text.split(",") if v.strip()]
    if name in _MULTI_TEXT:
        return [text]
    if name in _BOOLS:
        if text.lower() not in ("0", "1", "true", "false"):
            raise FormError(f"{name} must be 0 or 1")
        return text.lower() in ("1", "true")
    if name in _INTS:
        try:
            return int(text)
        except ValueError:
            raise FormError(f"{name} must be a whole number") from None
    if name == _CAL + "busystatus":
        if text.upper() not in _BUSY:
            raise FormError(f"{name} must be one of {', '.join(_BUSY)}")
        return text.upper()
    return value


def _form_updates(fields: Fields) -> tuple[dict[str, object], list[str]]:
    """Posted property fields → typed values. Empty typed values: multi-valued ones are removed,
    the others left unchanged (chosen). Other names are OWA fields, handled by the caller."""
    updates: dict[str, object] = {}
    remove: list[str] = []
    for name, value in fields:
        if not name.startswith(_PREFIXES) or name in _PROTECTED:
            continue
        plain = name in _DATES | _BOOLS | _INTS | _MULTI_DATES | _MULTI_TEXT
        if plain and not value.strip():
            if name in _MULTI_DATES | _MULTI_TEXT:
                updates.pop(name, None)
                remove.append(name)
            continue
        updates[name] = _typed(name, value)
        if name in remove:
            remove.remove(name)
    return updates, remove


def _check_times(props: Mapping[str, object]) -> None:
    start, end = props.get(_CAL + "dtstart"), props.get(_CAL + "dtend")
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        raise _Refused(400, "The end time is before the start time.")  # chosen: OWA refuses


def _new_appointment() -> tuple[dict[str, object], bytes]:
    """saveappt's empty appointment: now rounded up to the next half hour, 30 minutes (chosen),
    with the mailbox zone's VTIMEZONE (Exchange 2003 TZID style) in its iCalendar body."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=30 - now.minute % 30)
    end = start + timedelta(minutes=30)
    uid = "{" + str(uuid.uuid4()).upper() + "}"
    props: dict[str, object] = {
        "DAV:contentclass": _APPOINTMENT,
        "http://schemas.microsoft.com/exchange/outlookmessageclass": "IPM.Appointment",
        _SUBJECT: "", _CAL + "uid": uid, _CAL + "dtstart": start, _CAL + "dtend": end,
        _CAL + "busystatus": "BUSY", _CAL + "alldayevent": False, _CAL + "instancetype": 0,
        _CAL + "timezoneid": 4,  # cdoBerlin (reference §4.5)
        _CAL + "timezone": _VTIMEZONE,
    }
    zone = ZoneInfo("Europe/Berlin")

    def local(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y%m%dT%H%M%S")

    ics = "\r\n".join([
        "BEGIN:VCALENDAR", "METHOD:PUBLISH", "PRODID:Microsoft CDO for Microsoft Exchange",
        "VERSION:2.0", _VTIMEZONE, "BEGIN:VEVENT", f"DTSTAMP:{now:%Y%m%dT%H%M%SZ}",
        f'DTSTART;TZID="{_TZID}":{local(start)}', f'DTEND;TZID="{_TZID}":{local(end)}',
        "SUMMARY:", f"UID:{uid}", "SEQUENCE:0", "STATUS:CONFIRMED", "TRANSP:OPAQUE",
        "X-MICROSOFT-CDO-BUSYSTATUS:BUSY", "X-MICROSOFT-CDO-INSTTYPE:0",
        "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE", "END:VEVENT", "END:VCALENDAR", ""])
    head = "\r\n".join([
        "Content-class: urn:content-classes:appointment", "Subject: ", "MIME-Version: 1.0",
        'Content-Type: text/calendar; method=PUBLISH; charset="utf-8"',
        "Content-Transfer-Encoding: 8bit", "", ""])
    return props, (head + ics).encode("utf-8")


_HANDLERS: dict[tuple[str, str], Callable[[Request, Store, Fields], Response]] = {
    ("GET", "getcancel"): _getcancel,
    ("POST", "sendappt"): _sendappt,
    ("POST", "saveappt"): _saveappt,
    ("GET", "galfind"): _galfind,
    ("GET", "freebusy"): lambda request, store, _: freebusy(request, store),
    ("GET", "accept"): _answer,
    ("GET", "decline"): _answer,
    ("GET", "tentative"): _answer,
}


# -- helpers -----------------------------------------------------------------------------------


def _command(request: Request) -> tuple[str | None, Fields]:
    if request.method.upper() != "POST":
        value = request.arg("cmd")
        return (value.strip().lower() if value else None), []
    content_type = (request.header("Content-Type") or "").lower()
    if "x-www-utf8-encoded" in content_type:
        fields = parse_utf8_form(request.body)
    elif "x-www-form-urlencoded" in content_type:
        fields = parse_urlencoded(request.body)
    elif request.body.strip():
        raise _Refused(415, "OWA commands take x-www-UTF8-encoded or urlencoded forms")
    else:
        fields = []
    if fields and fields[0][0].lower() == "cmd":
        return fields[0][1].strip().lower(), fields[1:]
    value = request.arg("cmd")
    return (value.strip().lower() if value else None), fields


def _names(store: Store, owner: Mailbox, msg_id: str, path: str) -> bool:
    """Does `MsgID` (mailbox-relative as in the seed, or a full path; raw or %-encoded) name
    the item at `path`?"""
    for text in {msg_id, unquote(msg_id)}:
        for candidate in (store.mailbox_path(owner.alias) + "/" + text.lstrip("/"), text):
            try:
                if normalize_path(candidate).lower() == path.lower():
                    return True
            except NotFound:  # dot segments name nothing
                continue
    return False


def _appointment(store: Store, path: str) -> Item:
    item = store.require(normalize_path(path))
    if item.is_folder or item.props.get("DAV:contentclass") != _APPOINTMENT:
        raise _Refused(400, f"{item.path} is not an appointment")  # chosen: 400, not 404
    return item


def _owner(store: Store, path: str) -> Mailbox:
    owner = store.owner_of(path)
    if owner is None:
        raise _Refused(400, "OWA meeting commands work on mailbox items only")
    return owner


def _redirect(request: Request, path: str, suffix: str = "") -> Response:
    return responses.redirect(url_for(request.base_url, path) + suffix)
