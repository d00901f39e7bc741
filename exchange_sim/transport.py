"""Delivery of submitted messages between mailboxes: what a MOVE/PUT into the submission URI does.

Rules kept here:
- Accepting a submission is one store transaction: the message is checked, stamped, copied to
  the sender's Sent Items unless `save_in_sent` is false, the draft removed, and the message
  queued for delivery with its resolved recipients (protocol reference §3.1-3.2). Nothing is
  delivered if it is refused.
- Delivery takes the queued message recipient by recipient, `DELIVERY_BATCH` per transaction,
  releasing the store lock between batches: a 5,000-recipient meeting never holds every other
  mailbox's requests up for its whole delivery. Each batch records how far it got in the same
  transaction as its writes, so every recipient gets exactly one copy, whatever stops in between.
  A local recipient gets a copy in the Inbox (Bcc stripped) and, in the same transaction, an
  "arrival" in the queue; an external recipient gets one entry in the transport log.
- Each arrival is then processed (`attendees.on_arrival`: a room books and answers) in one
  transaction together with its removal from the queue. So a delivered message is processed
  exactly once: a crash between delivery and processing leaves the arrival queued, and
  `deliver_pending` (run when a `Simulator` opens the store) processes it. A room's answer is a
  new submission, queued in that same transaction.
- `deliver_pending` runs right after the transaction that queued work commits, in the same
  thread, so a request that submits answers only once its messages have arrived (as the
  simulator always did). An unexpected error in a delivery batch is logged with its traceback
  and the batch stays queued for the next attempt; one in an arrival is logged and the arrival
  dropped, so one bad message never blocks the others.
- Recipient limits: the reference gives none for Exchange 2003, so none is enforced (chosen);
  the request body limit (`Simulator.max_body`) bounds what one submission can carry.

The transport log is the public folder `/public/Transport Log` (created on first use): one item
per external recipient holding what left the organisation (class, subject, uid, sequence, `to` =
that recipient), without the MIME source (chosen: a log records the envelope, and one copy of a
large meeting's source per recipient made the log grow with the square of the recipients). Tests
read it with PROPFIND/SEARCH like any folder; mailbox users cannot write it (`auth`). Real
Exchange keeps message tracking in log files instead; this folder is a simulator affordance.
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import formataddr, getaddresses

from exchange_sim.series import EXCEPTIONS
from exchange_sim.store import Mailbox, Queued, Store

__all__ = [
    "CALENDAR_PROPS",
    "DELIVERY_BATCH",
    "LOG_FOLDER",
    "NotAllowed",
    "NothingToSend",
    "SendError",
    "deliver_pending",
    "meeting_props",
    "parse_addresses",
    "submit",
]

logger = logging.getLogger(__name__)

LOG_FOLDER = "/public/Transport Log"
DELIVERY_BATCH = 100  # recipients per delivery transaction (chosen)
_DELIVERY = "delivery"  # queue kinds
_ARRIVAL = "arrival"
_LOGGED_ADDRESSES = 10  # a log line names at most this many recipients

_CAL = "urn:schemas:calendar:"
_MAPI = "http://schemas.microsoft.com/mapi/"
_CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
_CONTENT = "DAV:contentclass"
_CALMSG = "urn:content-classes:calendarmessage"
_SUBJECT = "urn:schemas:httpmail:subject"
_FLAGS = "http://schemas.microsoft.com/mapi/proptag/x0e070003"  # PR_MESSAGE_FLAGS
_RECIPIENT_FIELDS = ("to", "cc", "bcc")
_BUSY_INT = {"FREE": 0, "TENTATIVE": 1, "BUSY": 2, "OOF": 3}

# The calendar properties a meeting message carries over from its appointment (reference §3.1).
# A series travels with its exceptions (reference §2.3: the iCalendar's RECURRENCE-ID overrides).
CALENDAR_PROPS = (
    *(_CAL + name for name in (
        "uid", "sequence", "dtstart", "dtend", "location", "rrule", "exdate", "rdate", "exrule",
        "alldayevent", "timezoneid", "timezone", "duration", "recurrenceid", "responserequested",
    )),
    EXCEPTIONS,
)  # fmt: skip


class SendError(Exception):
    """A submission the transport refuses; nothing was changed."""


class NotAllowed(SendError):
    """The user may not send from this mailbox or as this From (HTTP 403, reference §3.2)."""


class NothingToSend(SendError):
    """No recipients, or not a message (HTTP 422)."""


def parse_addresses(values: Iterable[object]) -> list[tuple[str, str]]:
    """RFC 822 lists (`,` or `;` separated, strings or lists of strings) → [(name, address)]."""
    texts: list[str] = []
    for value in values:
        if isinstance(value, list | tuple):
            texts.extend(str(v) for v in value)
        elif value:
            texts.append(str(value))
    result = []
    for name, address in getaddresses([_semicolons_to_commas(t) for t in texts]):
        address = address.strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        if address:
            result.append((name, address))
    return result


def meeting_props(source: Mapping[str, object], message_class: str, method: str,
                  subject: str, organizer: str) -> dict[str, object]:
    """The properties of a meeting message about the meeting described by `source`."""
    props: dict[str, object] = {k: source[k] for k in CALENDAR_PROPS if k in source}
    props.update({
        _CONTENT: _CALMSG,
        _CLASS: message_class,
        _CAL + "method": method,
        _SUBJECT: subject,
        _CAL + "organizer": organizer,
        _CAL + "dtstamp": _now(),
    })
    return props


def submit(
    store: Store,
    sender: Mailbox,
    source_path: str | None,
    props: Mapping[str, object] | None = None,
    body: bytes | None = None,
    *,
    save_in_sent: bool = True,
    mailbox: Mailbox | None = None,
) -> list[str]:
    """Send the draft at `source_path` (removed afterwards) or the message `props`/`body`.

    `mailbox` is the mailbox whose submission URI was used when there is no draft (default: the
    sender's own); with a draft it is the draft's mailbox. `sender` (the authenticated user) must
    be allowed to open it ("send as" granted by the configuration). Returns the recipient
    addresses the message goes to (local and external), in order. Called inside a transaction,
    the message is queued with it and delivered once the outermost transaction commits.

    Raises:
        NotAllowed: the sender may not use that mailbox, or From names someone else.
        NothingToSend: no recipients, or the source is a folder.
        store.NotFound: `source_path` does not exist.
    """
    with store.transaction():
        if source_path is not None:
            item = store.require(source_path)
            if item.is_folder:
                raise NothingToSend(f"{source_path} is a folder, not a message")
            owner = store.owner_of(item.path)
            if owner is None or (mailbox is not None and mailbox.alias != owner.alias):
                raise NotAllowed(f"{source_path} is not in the submitting mailbox")
            message, raw = dict(item.props), item.body
        else:
            owner = mailbox or sender
            message, raw = dict(props or {}), body
        _check_sender(sender, owner, message)
        recipients = _recipients(message)
        if not recipients:
            raise NothingToSend("the message has no recipients")
        message = _finish(message, owner)
        plan: list[list[str]] = []  # ["local", alias] | ["external", name, address]
        sent_to: list[str] = []
        local_seen: set[str] = set()
        for name, address in recipients:
            local = _resolve(store, address)
            if local is None:
                plan.append(["external", name, address])
                sent_to.append(address)
            elif local.email not in local_seen:  # `bob` and `bob@example.com` are one mailbox
                local_seen.add(local.email)
                plan.append(["local", local.alias])
                sent_to.append(local.email)
        if save_in_sent:
            _save_in_sent(store, owner, message, raw)
        if source_path is not None:
            store.delete(source_path)
        store.enqueue(_DELIVERY, {"owner": owner.alias, "recipients": plan, "next": 0},
                      message, raw)
        store.after_commit(lambda: deliver_pending(store))
        shown = ", ".join(sent_to[:_LOGGED_ADDRESSES])
        more = len(sent_to) - _LOGGED_ADDRESSES
        logger.info("%s sent %s %r as %s to %s%s", sender.alias, message.get(_CLASS),
                    message.get(_SUBJECT), owner.alias, shown,
                    f" and {more} more" if more > 0 else "")
    return sent_to


_pumping = threading.local()


def deliver_pending(store: Store) -> None:
    """Carry out every queued delivery, then every queued arrival, until none is left.

    Safe from any thread at any time (each step is one transaction that re-reads the queue);
    a call from inside a running pump of the same store returns at once (the pump goes on).
    """
    active: set[int] | None = getattr(_pumping, "stores", None)
    if active is None:
        active = _pumping.stores = set()
    if id(store) in active:
        return
    active.add(id(store))
    try:
        while _deliver_step(store) or _arrival_step(store):
            pass
    finally:
        active.discard(id(store))


def _deliver_step(store: Store) -> bool:
    """Deliver the next batch of the oldest queued message; False when none is queued."""
    job: Queued | None = None
    try:
        with store.transaction():
            job = store.next_queued(_DELIVERY)
            if job is None:
                return False
            _deliver_batch(store, job)
    except Exception:
        logger.exception("delivery of queued message %s failed; it stays queued",
                         job.id if job is not None else "?")
        return False
    return True


def _deliver_batch(store: Store, job: Queued) -> None:
    plan: list[list[str]] = job.meta["recipients"]
    start = int(job.meta["next"])
    end = min(start + DELIVERY_BATCH, len(plan))
    owner = str(job.meta["owner"])
    for entry in plan[start:end]:
        if entry[0] == "local":
            recipient = store.mailboxes.get(entry[1].lower())
            if recipient is None:
                logger.warning("mailbox %s no longer exists; message not delivered", entry[1])
                continue
            path = _deliver(store, recipient, job.props, job.body)
            store.enqueue(_ARRIVAL, {"mailbox": recipient.alias, "path": path})
        else:
            _log_external(store, owner, entry[1], entry[2], job.props)
    if end >= len(plan):
        store.dequeue(job.id)
    else:
        store.update_queued(job.id, {**job.meta, "next": end})


def _arrival_step(store: Store) -> bool:
    """Process the oldest queued arrival (one transaction); False when none is queued."""
    from exchange_sim import attendees  # circular: attendees answers through submit()

    arrival: Queued | None = None
    try:
        with store.transaction():
            arrival = store.next_queued(_ARRIVAL)
            if arrival is None:
                return False
            recipient = store.mailboxes.get(str(arrival.meta["mailbox"]).lower())
            if recipient is not None:
                attendees.on_arrival(store, recipient, str(arrival.meta["path"]))
            store.dequeue(arrival.id)
    except Exception:
        logger.exception("attendee behaviour failed on %s",
                         arrival.meta.get("path") if arrival is not None else "?")
        if arrival is None:
            return False
        store.dequeue(arrival.id)
    return True


# -- helpers -----------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _semicolons_to_commas(text: str) -> str:
    """`;` separates addresses too (vendor samples), except inside quotes or angle brackets."""
    out, quoted, angle = [], False, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle = True
        elif char == ">" and not quoted:
            angle = False
        out.append("," if char == ";" and not quoted and not angle else char)
    return "".join(out)


def _field(message: Mapping[str, object], name: str) -> object:
    return message.get("urn:schemas:mailheader:" + name) or message.get(
        "urn:schemas:httpmail:" + name)


def _recipients(message: Mapping[str, object]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    result = []
    for name, address in parse_addresses(_field(message, f) for f in _RECIPIENT_FIELDS):
        if address.lower() not in seen:
            seen.add(address.lower())
            result.append((name, address))
    return result


def _check_sender(sender: Mailbox, owner: Mailbox, message: Mapping[str, object]) -> None:
    if not sender.may_open(owner.alias):
        raise NotAllowed(f"{sender.alias} may not send as {owner.alias}")
    claimed = parse_addresses([_field(message, "from")])
    if any(address.lower() != owner.email.lower() for _, address in claimed):
        raise NotAllowed(f"From is not {owner.email}")


def _resolve(store: Store, address: str) -> Mailbox | None:
    """Local mailbox by SMTP address; a bare name resolves against aliases (GAL lookup)."""
    if "@" in address:
        return store.by_email.get(address.lower())
    return store.mailboxes.get(address.lower())


def _class_of(message: Mapping[str, object]) -> str:
    """The message class, derived from the iCalendar method when a client left it out."""
    klass = str(message.get(_CLASS) or "")
    if message.get(_CONTENT) != _CALMSG or klass.startswith("IPM.Schedule.Meeting."):
        return klass or "IPM.Note"
    method = str(message.get(_CAL + "method") or "REQUEST").upper()
    if method == "CANCEL":
        return "IPM.Schedule.Meeting.Canceled"
    if method == "REPLY":
        subject = str(message.get(_SUBJECT) or "").lower()
        for prefix, suffix in (("declined", "Neg"), ("tentative", "Tent")):
            if subject.startswith(prefix):
                return "IPM.Schedule.Meeting.Resp." + suffix
        return "IPM.Schedule.Meeting.Resp.Pos"
    return "IPM.Schedule.Meeting.Request"


def _finish(message: dict[str, object], owner: Mailbox) -> dict[str, object]:
    """What the transport stamps on every copy: class, From, date, calendar status."""
    klass = _class_of(message)
    message[_CLASS] = klass
    if message.get(_CONTENT) == _CALMSG and not message.get(_CAL + "uid"):
        message[_CAL + "uid"] = "{" + str(uuid.uuid4()).upper() + "}"  # one uid for all copies
    sender = formataddr((owner.display_name, owner.email))
    message["urn:schemas:httpmail:from"] = sender
    message["urn:schemas:mailheader:from"] = sender
    message["urn:schemas:httpmail:date"] = _now()
    if klass in ("IPM.Schedule.Meeting.Request", "IPM.Schedule.Meeting.Canceled"):
        message[_CAL + "organizer"] = owner.email
        message[_MAPI + "responsestatus"] = 5  # respNotResponded (MS-OXOCAL, reference §4.4)
        if klass.endswith("Canceled"):
            busy = "FREE"  # MS-OXOCAL 3.1.4.9.1: a cancellation carries FREE
            message[_CAL + "meetingstatus"] = "CANCELLED"
        else:
            busy = str(message.get(_CAL + "busystatus") or "BUSY").upper()
        message[_CAL + "busystatus"] = busy
        message[_MAPI + "busystatus"] = _BUSY_INT.get(busy, 2)
        message[_MAPI + "intendedbusystatus"] = _BUSY_INT.get(busy, 2)
    for key in [k for k in message if k.startswith("DAV:") and k != _CONTENT]:
        del message[key]
    return message


def _strip_bcc(raw: bytes | None) -> bytes | None:
    """Drop `Bcc:` header lines (and their continuations) from a MIME message's header block."""
    if not raw:
        return raw
    match = re.search(rb"\r?\n(\r?\n)", raw)  # the blank line ending the header block
    head, rest = (raw[: match.start(1)], raw[match.start(1):]) if match else (raw, b"")
    lines, skipping = [], False
    for line in re.split(rb"(?<=\n)", head):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(b"bcc:")
        if not skipping:
            lines.append(line)
    return b"".join(lines) + rest


def _without_bcc(message: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in message.items()
            if k not in ("urn:schemas:mailheader:bcc", "urn:schemas:httpmail:bcc")}


def _deliver(store: Store, to: Mailbox, message: Mapping[str, object], raw: bytes | None) -> str:
    copy = _without_bcc(message)
    copy.update({"urn:schemas:httpmail:datereceived": _now(),
                 "urn:schemas:httpmail:read": False, _FLAGS: 0})
    path = store.unique_name(store.folder_path(to.alias, "inbox"), str(copy.get(_SUBJECT) or ""))
    store.write(path, copy, body=_strip_bcc(raw))
    return path


def _save_in_sent(store: Store, owner: Mailbox, message: Mapping[str, object],
                  raw: bytes | None) -> None:
    copy = {**message, "urn:schemas:httpmail:read": True, _FLAGS: 1}
    folder = store.folder_path(owner.alias, "sentitems")
    store.write(store.unique_name(folder, str(copy.get(_SUBJECT) or "")), copy, body=raw)


def _log_external(store: Store, owner: str, name: str, address: str,
                  message: Mapping[str, object]) -> None:
    if store.get(LOG_FOLDER) is None:
        store.mkcol(LOG_FOLDER, {"http://schemas.microsoft.com/exchange/outlookfolderclass":
                                 "IPF.Note"})
    entry = _without_bcc(message)
    entry.update({
        "urn:schemas:mailheader:to": formataddr((name, address)),
        "urn:schemas:httpmail:to": formataddr((name, address)),
        "urn:schemas:httpmail:date": _now(),
    })
    entry.pop("urn:schemas:mailheader:cc", None)
    entry.pop("urn:schemas:httpmail:cc", None)
    store.write(store.unique_name(LOG_FOLDER, str(entry.get(_SUBJECT) or "")), entry)
    logger.info("transport log: %s → external %s", owner, address)
