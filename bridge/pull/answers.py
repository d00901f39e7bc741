"""Answering an invitation from the CalDAV client: which OWA command, and its step table (pure).

Rules kept here (issue 10 point 2, reference §6.2):

- **The change decides.** The user's PARTSTAT on a pulled invitation went from `old` to `new`:
  ACCEPTED → ``Cmd=accept``, TENTATIVE → ``Cmd=tentative``, DECLINED → ``Cmd=decline``; the same
  value, or a value OWA cannot send (NEEDS-ACTION, DELEGATED, anything else), sends nothing.
  Nothing else in an event the user does not organize ever sends (the ownership rule).
- **Once per change.** A change is keyed by (UID, RECURRENCE-ID, SEQUENCE, new PARTSTAT): the
  same PARTSTAT seen again for the same version of the meeting is the same change.
- **Exactly once through the journal.** The ``answer`` operation's steps are declared in
  `bridge.operations.ANSWER` (`ANSWER_STEPS` here); `answer_sent` sends. Its read-back marker
  is the number of ``Resp.*`` messages with this UID in Sent Items, read before the GET in the
  same SEARCH that finds the request: on recovery, a count that grew proves the reply went out
  (OWA saves the reply in Sent Items in the same store transaction as it moves the request;
  inferred, the reference is silent), an unchanged count proves it did not, so it is sent
  again. No clock is compared.
- **The target.** The request item with this UID, in Inbox, else in Deleted Items (OWA moves
  a request there once answered, so a changed answer is sent on the same item); the newest
  SEQUENCE wins. No request anywhere → nothing is sent, and the reason is logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import icalendar

from bridge.operations import ANSWER, Step

__all__ = [
    "ANSWER_STEPS",
    "COMMANDS",
    "AnswerPayload",
    "Decision",
    "Recovery",
    "answer_key",
    "cancelled",
    "decide",
    "organizer_of",
    "own_partstat",
    "recover",
]

COMMANDS = {"ACCEPTED": "accept", "TENTATIVE": "tentative", "DECLINED": "decline"}
RESPONSE_CLASSES = {"accept": "IPM.Schedule.Meeting.Resp.Pos",
                    "tentative": "IPM.Schedule.Meeting.Resp.Tent",
                    "decline": "IPM.Schedule.Meeting.Resp.Neg"}

ANSWER_STEPS: tuple[Step, ...] = ANSWER.steps


@dataclass(frozen=True)
class Decision:
    command: str | None  # accept | tentative | decline, None: nothing to send
    reason: str


def decide(old: str | None, new: str | None) -> Decision:
    """The OWA command for the user's PARTSTAT going from `old` to `new` (None: no line)."""
    before = (old or "NEEDS-ACTION").upper()
    after = (new or "NEEDS-ACTION").upper()
    if after == before:
        return Decision(None, "the answer did not change")
    command = COMMANDS.get(after)
    if command is None:
        return Decision(None, f"PARTSTAT {after[:40]} has no OWA command; nothing sent")
    return Decision(command, f"{before} -> {after}")


def answer_key(uid: str, recurrence_id: str | None, sequence: int, partstat: str) -> str:
    """The identity of one change, for the journal's idempotency (see the module rule)."""
    return "\x1f".join((uid, recurrence_id or "", str(int(sequence)), partstat.upper()))


@dataclass(frozen=True)
class Recovery:
    send: bool  # True: run `answer_sent` (again); False: the operation is finished
    reason: str


def recover(last_step: str | None, replies_before: int | None, replies_now: int) -> Recovery:
    """Whether an interrupted ``answer`` operation sends (again), from its last step journaled
    as *done* and the Sent Items count now (see the module rule)."""
    if last_step is None or replies_before is None:
        return Recovery(True, "the reply was not started")
    if last_step in ("answer_sent", "event_removed"):
        return Recovery(False, "the reply was sent (journaled)")
    if replies_now > replies_before:
        return Recovery(False, "Sent Items holds the reply: it went out before the crash")
    return Recovery(True, "Sent Items has no new reply: the command never reached Exchange")


@dataclass(frozen=True)
class AnswerPayload:
    """What one ``answer`` operation carries (the first journal entry's payload)."""

    command: str  # accept | tentative | decline
    partstat: str  # the user's new PARTSTAT
    sequence: int  # the meeting's version (the `pulled` row's) the answer is about
    key: str  # answer_key: the identity of this change
    organizer: str | None = None  # whose request is answered (a stranger's with the UID is not)

    op = ANSWER

    def encode(self) -> dict[str, object]:
        return {"command": self.command, "partstat": self.partstat, "sequence": self.sequence,
                "key": self.key, "organizer": self.organizer}

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> AnswerPayload:
        command = str(raw["command"])
        if command not in RESPONSE_CLASSES:
            raise ValueError(f"not an answer: {command[:20]!r}")
        organizer = raw.get("organizer")  # absent in journals written before it existed
        return cls(command, str(raw["partstat"]), int(raw["sequence"]), str(raw["key"]),
                   str(organizer) if organizer else None)


def organizer_of(text: str) -> str | None:
    """The ORGANIZER address of a stored event's master VEVENT, lower-cased, or None."""
    try:
        events = icalendar.Calendar.from_ical(text).walk("VEVENT")
    except Exception:  # icalendar raises many unrelated types: unreadable has no organizer
        return None
    master = next((e for e in events if e.get("RECURRENCE-ID") is None),
                  events[0] if events else None)
    organizer = master.get("ORGANIZER") if master is not None else None
    if organizer is None:
        return None
    return str(organizer).strip().lower().removeprefix("mailto:") or None


def own_partstat(text: str, address: str) -> tuple[str, str] | None:
    """(UID, the PARTSTAT of `address`) in a stored event: its master VEVENT's (or its only
    one's); None when the event cannot be read or `address` is not an attendee. An answer to
    one occurrence alone is not read (OWA's command answers the request it is run on)."""
    try:
        events = icalendar.Calendar.from_ical(text).walk("VEVENT")
    except Exception:  # icalendar raises many unrelated types: an unreadable event answers nothing
        return None
    if not events:
        return None
    master = next((e for e in events if e.get("RECURRENCE-ID") is None), events[0])
    uid = str(master.get("UID") or "")
    attendees = master.get("ATTENDEE")
    for attendee in attendees if isinstance(attendees, list) else [attendees]:
        if attendee is None:
            continue
        value = str(attendee).strip()
        if value.lower().removeprefix("mailto:") == address.lower() and uid:
            return uid, str(attendee.params.get("PARTSTAT") or "NEEDS-ACTION").upper()
    return None


def cancelled(text: str) -> bool:
    """Is the stored event's master VEVENT cancelled (the organizer withdrew the meeting)?"""
    try:
        events = icalendar.Calendar.from_ical(text).walk("VEVENT")
    except Exception:  # icalendar raises many unrelated types: unreadable is not cancelled
        return False
    master = next((e for e in events if e.get("RECURRENCE-ID") is None),
                  events[0] if events else None)
    return master is not None and str(master.get("STATUS") or "").upper() == "CANCELLED"
