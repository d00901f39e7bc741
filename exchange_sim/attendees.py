"""How recipients' mailboxes react when a meeting message arrives, and OWA's accept/decline.

Rules kept here (protocol reference §3.3, §4.2-4.4, §10; the auto-accept agent and Outlook's
on-arrival processing are not documented for Exchange 2003, so the details are inferred):

* A room (`kind == "room"`) answers every meeting request: free → it books the meeting in its own
  Calendar (BUSY, responsestatus 3 accepted) and sends `IPM.Schedule.Meeting.Resp.Pos`; any
  overlap with a non-FREE, non-cancelled appointment of another uid (recurrences expanded) → it
  sends `Resp.Neg` and books nothing. A booking with the same uid is the same meeting: an update
  moves it. A cancellation removes the booking and is not answered. The request stays in the
  room's Inbox, marked read.
* A person with `auto_tentative` gets, as Outlook does on arrival, a tentative copy (TENTATIVE,
  responsestatus 5 not responded) keyed by uid; an update replaces it; a cancellation marks it
  cancelled (meetingstatus CANCELLED, FREE, subject "Canceled: ...").
* A meeting is its uid AND its organizer (chosen; the reference does not describe how Exchange
  2003 or Outlook match a message to a calendar item beyond the uid and the global object id,
  §3.1): a message matches a booking or a copy only when both agree. The transport stamps the
  organizer from the sending mailbox, so nobody can move, update or cancel someone else's
  meeting by sending its uid with a higher sequence; such a request is a meeting of its own.
* A message older than the calendar copy (lower sequence) is out of date and ignored.
* A series travels with its exceptions (`series.EXCEPTIONS`). A message about one occurrence (a
  ``recurrenceid`` and no rule of its own) changes only that occurrence of the recipient's
  copy or booking: a request becomes (or replaces) that occurrence's exception, a cancellation
  makes it an ``exdate`` (so a room is free again then), and so does declining it in OWA
  (chosen). Without a copy of the series, the message is handled as a meeting of its own
  (chosen; the reference is silent). A per-occurrence message is out of date only
  against that occurrence's own exception sequence (chosen: Outlook numbers an occurrence's
  updates apart from the series; the reference is silent).
* A response (`Resp.*`) arriving at the organizer records `replytime` on the appointment with
  that uid. Responses never trigger anything else, so nothing can loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from exchange_sim import series, transport
from exchange_sim.store import Item, Mailbox, Store

__all__ = ["ANSWERS", "NotARequest", "calendar_busy", "on_arrival", "respond", "spans"]

logger = logging.getLogger(__name__)

_CAL = "urn:schemas:calendar:"
_MAPI = "http://schemas.microsoft.com/mapi/"
_CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
_SUBJECT = "urn:schemas:httpmail:subject"
_APPOINTMENT = "urn:content-classes:appointment"
_REQUEST = "IPM.Schedule.Meeting.Request"
_CANCELED = "IPM.Schedule.Meeting.Canceled"
_RESPONSE = "IPM.Schedule.Meeting.Resp."
_BUSY_INT = {"FREE": 0, "TENTATIVE": 1, "BUSY": 2, "OOF": 3}
_HORIZON = timedelta(days=366)  # how far a room looks at a recurring request's occurrences

# answer → (message class suffix, subject prefix, calendar busy status, responsestatus)
ANSWERS = {
    "accept": ("Pos", "Accepted: ", None, 3),
    "tentative": ("Tent", "Tentative: ", "TENTATIVE", 2),
    "decline": ("Neg", "Declined: ", None, 4),
}


class NotARequest(ValueError):
    """accept/decline/tentative on an item that is not a meeting request (HTTP 400)."""


def on_arrival(store: Store, recipient: Mailbox, path: str) -> None:
    """React to the message just delivered at `path` in `recipient`'s Inbox."""
    item = store.get(path)
    if item is None:
        return
    props = item.props
    klass = str(props.get(_CLASS) or "")
    if klass.startswith(_RESPONSE):
        _record_response(store, recipient, props)
        return
    if klass not in (_REQUEST, _CANCELED):
        return
    if _address(props.get(_CAL + "organizer")) == recipient.email.lower():
        return  # the organizer's own copy: their appointment is the original
    if recipient.kind == "room":
        store.write(path, {"urn:schemas:httpmail:read": True})
        if klass == _REQUEST:
            _room_request(store, recipient, props)
        else:
            _remove_booking(store, recipient, props)
    elif recipient.auto_tentative:
        if klass == _REQUEST:
            _place(store, recipient, props, "TENTATIVE", 5)
        else:
            _cancel_copy(store, recipient, props)


def respond(store: Store, attendee: Mailbox, path: str, answer: str,
            sender: Mailbox | None = None) -> None:
    """`attendee` answers the request at `path` (OWA `?Cmd=accept|decline|tentative`).

    The calendar copy is placed (accept: the request's busy status, tentative: TENTATIVE) or
    removed (decline), the response goes to the organizer, and the request moves to Deleted Items
    (Outlook's default "delete meeting request from Inbox when responding"; inferred for OWA).
    """
    item = store.require(path)
    if item.is_folder or item.props.get(_CLASS) != _REQUEST:
        raise NotARequest(f"{path} is not a meeting request")
    props = item.props
    _, _, busy, status = ANSWERS[answer]
    if answer == "decline":
        existing = _find(store, attendee, props)
        if existing is not None and _is_occurrence(props) and _is_series(existing.props):
            _cancel_occurrence(store, existing, props)  # declining one occurrence drops just it
        elif existing is not None:
            store.delete(existing.path)
    else:
        _place(store, attendee, props, busy or _intended(props), status, replied=True)
    _answer(store, attendee, props, answer, sender)
    subject = str(props.get(_SUBJECT) or "")
    store.move(item.path, store.unique_name(store.folder_path(attendee.alias, "deleteditems"),
                                            subject))


def spans(props: Mapping[str, object], window_start: datetime,
          window_end: datetime) -> list[tuple[datetime, datetime]]:
    """The non-FREE occurrences of an appointment (or meeting message) inside the window,
    expanded in its own zone, its exceptions in place of the occurrences they replace."""
    return [(o.start, o.end) for o in _occurrences(props, window_start, window_end)
            if o.busystatus != "FREE"]


def calendar_busy(store: Store, mailbox: Mailbox, window_start: datetime,
                  window_end: datetime) -> list[tuple[datetime, datetime, str]]:
    """(start, end, busystatus) of every non-FREE, non-cancelled occurrence in the window."""
    return [(o.start, o.end, o.busystatus)
            for item in _blocking(store, mailbox)
            for o in _occurrences(item.props, window_start, window_end)
            if o.busystatus != "FREE"]


def _occurrences(props: Mapping[str, object], window_start: datetime,
                 window_end: datetime) -> list[series.Occurrence]:
    try:
        return series.occurrences(props, window_start, window_end)
    except ValueError as error:  # a stored rule or zone we cannot expand blocks nothing
        logger.warning("cannot expand %s: %s", props.get(_CAL + "uid"), error)
        return []


# -- helpers -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _address(value: object) -> str:
    found = transport.parse_addresses([value])
    return found[0][1].lower() if found else ""


def _intended(props: Mapping[str, object]) -> str:
    busy = str(props.get(_CAL + "busystatus") or "BUSY").upper()
    return busy if busy in _BUSY_INT else "BUSY"


def _sequence(props: Mapping[str, object]) -> int:
    try:
        return int(str(props.get(_CAL + "sequence") or 0))
    except ValueError:
        return 0


def _appointments(store: Store, mailbox: Mailbox) -> list[Item]:
    folder = store.folder_path(mailbox.alias, "calendar")
    return [c for c in store.children(folder)
            if not c.is_folder and c.props.get("DAV:contentclass") == _APPOINTMENT]


def _blocking(store: Store, mailbox: Mailbox) -> list[Item]:
    return [i for i in _appointments(store, mailbox)
            if str(i.props.get(_CAL + "busystatus") or "BUSY").upper() != "FREE"
            and str(i.props.get(_CAL + "meetingstatus") or "").upper() != "CANCELLED"
            and i.props.get(_CAL + "instancetype") != 2]


def _organizer(props: Mapping[str, object]) -> str:
    return _address(props.get(_CAL + "organizer"))


def _find(store: Store, mailbox: Mailbox, message: Mapping[str, object]) -> Item | None:
    """`mailbox`'s calendar item of the meeting `message` is about: same uid, same organizer."""
    uid = message.get(_CAL + "uid")
    if not uid:
        return None
    organizer = _organizer(message)
    matches = [i for i in _appointments(store, mailbox)
               if i.props.get(_CAL + "uid") == uid and _organizer(i.props) == organizer]
    matches.sort(key=lambda i: i.props.get(_CAL + "instancetype") not in (0, 1))
    return matches[0] if matches else None


def _place(store: Store, mailbox: Mailbox, message: Mapping[str, object], busy: str,
           status: int, *, replied: bool = False) -> None:
    """Create or replace `mailbox`'s calendar copy of the meeting described by `message`."""
    existing = _find(store, mailbox, message)
    if existing is not None and _is_occurrence(message) and _is_series(existing.props):
        _place_occurrence(store, existing, message, busy)
        return
    if existing is not None and _sequence(existing.props) > _sequence(message):
        logger.info("%s: out-of-date request for %s ignored", mailbox.alias,
                    message.get(_CAL + "uid"))
        return
    subject = str(message.get(_SUBJECT) or "")
    appointment = {k: message[k] for k in transport.CALENDAR_PROPS if k in message}
    for header in ("to", "cc"):
        if message.get("urn:schemas:mailheader:" + header):
            appointment["urn:schemas:mailheader:" + header] = message[
                "urn:schemas:mailheader:" + header]
    appointment.update({
        "DAV:contentclass": _APPOINTMENT,
        _CLASS: "IPM.Appointment",
        _SUBJECT: subject,
        _CAL + "organizer": message.get(_CAL + "organizer", ""),
        _CAL + "busystatus": busy,
        _CAL + "meetingstatus": "CONFIRMED",
        _MAPI + "busystatus": _BUSY_INT[busy],
        _MAPI + "responsestatus": status,
        _MAPI + "apptstateflags": 3,  # meeting | received (reference §4.3)
        _CAL + "isorganizer": False,
    })
    if replied:
        appointment[_CAL + "replytime"] = _now()
    path = existing.path if existing is not None else store.unique_name(
        store.folder_path(mailbox.alias, "calendar"), subject)
    store.write(path, appointment, replace=True)


def _answer(store: Store, attendee: Mailbox, request: Mapping[str, object], answer: str,
            sender: Mailbox | None = None) -> None:
    suffix, prefix, _, _ = ANSWERS[answer]
    organizer = _address(request.get(_CAL + "organizer")) or _address(
        request.get("urn:schemas:httpmail:from"))
    subject = prefix + str(request.get(_SUBJECT) or "")
    message = transport.meeting_props(request, _RESPONSE + suffix, "REPLY", subject, organizer)
    message["urn:schemas:mailheader:to"] = organizer
    message[_CAL + "replytime"] = _now()
    try:
        transport.submit(store, sender or attendee, None, message, mailbox=attendee)
    except transport.NothingToSend:
        logger.warning("%s: request without organizer, %s not sent", attendee.alias, answer)


def _room_request(store: Store, room: Mailbox, request: Mapping[str, object]) -> None:
    uid = request.get(_CAL + "uid")
    booking = _find(store, room, request)
    if (booking is not None and not _is_occurrence(request)
            and _sequence(booking.props) > _sequence(request)):
        return  # out of date: the room already holds a newer version
    start = request.get(_CAL + "dtstart")
    if not isinstance(start, datetime):
        _answer(store, room, request, "decline")
        return
    wanted = spans(request, start, start + _HORIZON)
    conflict = False
    if wanted:
        low, high = min(s for s, _ in wanted), max(e for _, e in wanted)
        organizer = _organizer(request)
        taken = [span for item in _blocking(store, room)
                 if item.props.get(_CAL + "uid") != uid or _organizer(item.props) != organizer
                 for span in spans(item.props, low, high)]
        conflict = any(s < te and ts < e for s, e in wanted for ts, te in taken)
    if conflict:
        logger.info("%s declines %s: conflict", room.alias, uid)
        _answer(store, room, request, "decline")
        return
    _place(store, room, request, "BUSY", 3, replied=True)
    _answer(store, room, request, "accept")


def _remove_booking(store: Store, room: Mailbox, cancel: Mapping[str, object]) -> None:
    booking = _find(store, room, cancel)
    if booking is not None and _is_occurrence(cancel) and _is_series(booking.props):
        _cancel_occurrence(store, booking, cancel)
    elif booking is not None and _sequence(booking.props) <= _sequence(cancel):
        store.delete(booking.path)


def _cancel_copy(store: Store, person: Mailbox, cancel: Mapping[str, object]) -> None:
    copy = _find(store, person, cancel)
    if copy is not None and _is_occurrence(cancel) and _is_series(copy.props):
        _cancel_occurrence(store, copy, cancel)
        return
    if copy is None or _sequence(copy.props) > _sequence(cancel):
        return
    subject = str(copy.props.get(_SUBJECT) or "")
    if not subject.lower().startswith("canceled:"):
        subject = "Canceled: " + subject
    store.write(copy.path, {
        _SUBJECT: subject,
        _CAL + "meetingstatus": "CANCELLED",
        _CAL + "busystatus": "FREE",
        _MAPI + "busystatus": 0,
        _MAPI + "apptstateflags": 7,  # meeting | received | canceled (MS-OXOCAL cancellation)
        _CAL + "sequence": _sequence(cancel),
    })


def _is_occurrence(message: Mapping[str, object]) -> bool:
    """A message about one occurrence: a recurrence id and no rule of its own."""
    return isinstance(message.get(_CAL + "recurrenceid"), datetime) and not (
        message.get(_CAL + "rrule") or message.get(_CAL + "rdate"))


def _is_series(props: Mapping[str, object]) -> bool:
    return bool(props.get(_CAL + "rrule") or props.get(_CAL + "rdate"))


def _rid(message: Mapping[str, object]) -> datetime:
    rid = message[_CAL + "recurrenceid"]
    assert isinstance(rid, datetime)  # _is_occurrence checked it
    return rid


def _exdates(props: Mapping[str, object]) -> list[datetime]:
    value = props.get(_CAL + "exdate")
    return [v for v in (value if isinstance(value, list) else []) if isinstance(v, datetime)]


def _place_occurrence(store: Store, copy: Item, message: Mapping[str, object],
                      busy: str) -> None:
    """`message` (one occurrence) becomes that occurrence's exception in `copy`."""
    rid = _rid(message)
    exceptions = series.decode_exceptions(copy.props)
    old = next((e for e in exceptions if e.get(_CAL + "recurrenceid") == rid), None)
    if old is not None and _sequence(old) > _sequence(message):
        logger.info("out-of-date occurrence request for %s ignored", message.get(_CAL + "uid"))
        return
    own = {k: message[k] for k in series.EXCEPTION_FIELDS if k in message}
    own[_CAL + "busystatus"] = busy
    kept = [e for e in exceptions if e.get(_CAL + "recurrenceid") != rid]
    store.write(copy.path, {
        series.EXCEPTIONS: series.encode_exceptions([*kept, own]),
        _CAL + "exdate": [d for d in _exdates(copy.props) if d != rid],
    })


def _cancel_occurrence(store: Store, copy: Item, cancel: Mapping[str, object]) -> None:
    """The occurrence `cancel` names leaves `copy`: an exdate, and no exception for it."""
    rid = _rid(cancel)
    exceptions = series.decode_exceptions(copy.props)
    old = next((e for e in exceptions if e.get(_CAL + "recurrenceid") == rid), None)
    if old is not None and _sequence(old) > _sequence(cancel):
        return
    kept = [e for e in exceptions if e.get(_CAL + "recurrenceid") != rid]
    exdates = _exdates(copy.props)
    store.write(copy.path, {
        series.EXCEPTIONS: series.encode_exceptions(kept),
        _CAL + "exdate": exdates if rid in exdates else [*exdates, rid],
    })


def _record_response(store: Store, organizer: Mailbox, response: Mapping[str, object]) -> None:
    """Keep it simple (chosen): the organizer's appointment records when the last answer came."""
    appointment = _own_appointment(store, organizer, response.get(_CAL + "uid"))
    if appointment is not None:
        replied = response.get(_CAL + "replytime")
        store.write(appointment.path, {
            _CAL + "replytime": replied if isinstance(replied, datetime) else _now()})


def _own_appointment(store: Store, organizer: Mailbox, uid: object) -> Item | None:
    """The organizer's appointment with `uid` (one they organize: no organizer property, as
    KB 308373 creates it, or their own address)."""
    own = organizer.email.lower()
    for item in _appointments(store, organizer):
        if uid and item.props.get(_CAL + "uid") == uid and _organizer(item.props) in ("", own):
            return item
    return None
