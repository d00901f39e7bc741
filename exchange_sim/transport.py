"""Delivery of submitted messages between mailboxes: what a MOVE/PUT into the submission URI does.

Rule kept here: one submission is one all-or-nothing store transaction. The message (a draft, or
given properties) goes as a copy to each local recipient's Inbox (Bcc stripped), one entry per
external recipient into the transport log, a copy to the sender's Sent Items unless
`save_in_sent` is false, and the draft is removed (protocol reference §3.1-3.2). Only then does
each local recipient's mailbox react (`attendees.on_arrival`), each in its own transaction: a
room's answer is a new, separate submission, as Exchange's would be.

The transport log is the public folder `/public/Transport Log` (created on first use): one item
per external recipient holding what left the organisation (class, subject, uid, sequence, `to` =
that recipient). Tests read it with PROPFIND/SEARCH like any folder. Real Exchange keeps message
tracking in log files instead; this folder is a simulator affordance.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import formataddr, getaddresses

from exchange_sim.store import Mailbox, Store

__all__ = [
    "CALENDAR_PROPS",
    "LOG_FOLDER",
    "NotAllowed",
    "NothingToSend",
    "SendError",
    "meeting_props",
    "parse_addresses",
    "submit",
]

logger = logging.getLogger(__name__)

LOG_FOLDER = "/public/Transport Log"

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
CALENDAR_PROPS = tuple(
    _CAL + name
    for name in (
        "uid", "sequence", "dtstart", "dtend", "location", "rrule", "exdate", "rdate", "exrule",
        "alldayevent", "timezoneid", "timezone", "duration", "recurrenceid", "responserequested",
    )
)


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
    addresses the message went to (local and external), in order.

    Raises:
        NotAllowed: the sender may not use that mailbox, or From names someone else.
        NothingToSend: no recipients, or the source is a folder.
        store.NotFound: `source_path` does not exist.
    """
    from exchange_sim import attendees  # circular: attendees answers through submit()

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
        delivered: list[tuple[Mailbox, str]] = []
        sent_to: list[str] = []
        for name, address in recipients:
            local = _resolve(store, address)
            if local is not None:
                if local.email not in sent_to:  # `bob` and `bob@example.com` are one mailbox
                    delivered.append((local, _deliver(store, local, message, raw)))
                    sent_to.append(local.email)
            else:
                _log_external(store, owner, name, address, message, raw)
                sent_to.append(address)
        if save_in_sent:
            _save_in_sent(store, owner, message, raw)
        if source_path is not None:
            store.delete(source_path)
        logger.info("%s sent %s %r as %s to %s", sender.alias, message.get(_CLASS),
                    message.get(_SUBJECT), owner.alias, ", ".join(sent_to))
    for local, path in delivered:
        try:
            with store.transaction():
                attendees.on_arrival(store, local, path)
        except Exception:
            logger.exception("attendee behaviour of %s failed on %s", local.alias, path)
    return sent_to


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


def _log_external(store: Store, owner: Mailbox, name: str, address: str,
                  message: Mapping[str, object], raw: bytes | None) -> None:
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
    store.write(store.unique_name(LOG_FOLDER, str(entry.get(_SUBJECT) or "")), entry,
                body=_strip_bcc(raw))
    logger.info("transport log: %s → external %s", owner.alias, address)
