"""The journaled operations: each one's table of steps, and its typed payload.

Rules kept here (h11's state tables, design §4):

- **A step exists only in these tables.** `JournaledRun.step()` refuses a name that is not in
  its operation's table (`UndeclaredStep`, a bug in the calling code), recovery decides from
  them what an interrupted operation had done, and the crash tests generate their matrix from
  them. A misspelled step can no longer silently disable recovery.
- **A step that sends mail commits the operation.** Once a step marked ``sends`` has started,
  the operation is finished on recovery, never undone (someone may already hold the message).
- **A step an older version journaled stays declared** (``legacy``) as long as a journal of it
  may be open: recovery finishes it the old way (nothing lost, nothing sent twice). New runs
  never take a legacy step, so the crash matrix of new runs leaves them out; their own tests
  write such journals into a real state file and resume them.
- **Payloads are frozen values that encode themselves.** The journal stores JSON; each payload
  writes the same keys calbridge has always written, so journals left by an older version are
  resumed as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from bridge import plan
from bridge.meeting import Meeting
from bridge.meeting_codec import decode_meeting, encode_meeting
from bridge.state import ItemKind, JournalOp

__all__ = [
    "ANSWER",
    "CANCEL",
    "CREATE",
    "DELETE",
    "OPERATIONS",
    "UPDATE",
    "CancelPayload",
    "CreatePayload",
    "Location",
    "Operation",
    "OperationName",
    "Payload",
    "Step",
    "UpdatePayload",
    "decode_payload",
    "payload_for",
]


@dataclass(frozen=True)
class Step:
    """One Exchange side effect of an operation.

    ``request`` names what goes over the wire (documentation, and the lost-answer tests);
    ``sends`` is true for the steps that deliver mail to someone; ``legacy`` for a step only
    an older version's journal holds (resumed, never started now).
    """

    name: str
    request: str
    sends: bool = False
    legacy: bool = False


OperationName = JournalOp | Literal["answer"]  # "answer": journaled in answer_outbox


@dataclass(frozen=True)
class Operation:
    name: OperationName
    steps: tuple[Step, ...]

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps)

    @property
    def current_step_names(self) -> tuple[str, ...]:
        """The steps a run started now can take (the crash matrix's)."""
        return tuple(s.name for s in self.steps if not s.legacy)

    @property
    def legacy_step_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.steps if s.legacy)

    @property
    def sending_steps(self) -> frozenset[str]:
        return frozenset(s.name for s in self.steps if s.sends)

    def __contains__(self, name: object) -> bool:
        return name in self.step_names


# -- the tables (in the order a run takes them) ---------------------------------------------

# The messages about single occurrences a series change owes (`bridge.occurrence_messages`), after
# the series message: people invited to one occurrence only, or taken off one.
OCCURRENCE_STEPS = (
    # marker: the attempt id each message carries (with its index); one that went out has its
    # copy in Sent Items, so a resumed step sends only the others (reference §3.2)
    Step("occurrences_sent", "PROPPATCH each occurrence message to the submission URI",
         sends=True),
    # legacy (before the submission-URI PROPPATCH): marker the draft URLs; a journal holding it
    # resumes "occurrences_sent" as MOVEs of the drafts still in Drafts (a draft gone was sent)
    Step("occurrences_written", "PROPPATCH one draft per occurrence message into Drafts",
         legacy=True),
)

CREATE = Operation(
    "create",
    (
        # marker: the attempt id written on the appointment, or "adopted" (state was lost and
        # Exchange already held the meeting: its attendees hold it too)
        Step("appointment_written", "PROPPATCH appointment (If-None-Match: *); a series with "
                                    "exceptions: PUT its iCalendar first"),
        Step("adopted", "PROPPATCH appointment (overwrite what Exchange had)", sends=True),
        # only after "adopted", when what attendees see differs; marker: expected sequence
        Step("update_sent", "POST appointment Cmd=sendappt", sends=True),
        # marker: the attempt id the request carries (a property, or in its MIME when PUT);
        # its copy in Sent Items is the proof it went out (reference §3.2)
        Step("request_sent", "PROPPATCH the request to the submission URI; a series with "
                             "exceptions: PUT its iCalendar there", sends=True),
        *OCCURRENCE_STEPS,
        # legacy (before request_sent): the request written into Drafts, then MOVEd
        Step("draft_written", "PROPPATCH meeting request into Drafts", legacy=True),
        Step("draft_sent", "MOVE draft to the submission URI", sends=True, legacy=True),
    ),
)
UPDATE = Operation(
    "update",
    (
        Step("update_written", "PROPPATCH appointment (If-Match: *)"),
        Step("update_sent", "POST appointment Cmd=sendappt", sends=True),
        # attendees removed by the update get a cancellation of their own
        Step("uninvite_written", "PROPPATCH cancellation into Drafts"),
        Step("uninvite_sent", "MOVE draft to the submission URI", sends=True),
        *OCCURRENCE_STEPS,
    ),
)
CANCEL = Operation(
    "cancel",
    (
        # marker: the URL of the cancellation draft getcancel made
        Step("cancel_draft", "GET appointment ?Cmd=getcancel"),
        Step("cancel_sent", "MOVE draft to the submission URI", sends=True),
        Step("appointment_deleted", "DELETE appointment"),
    ),
)
DELETE = Operation("delete", (Step("appointment_deleted", "DELETE appointment"),))

OPERATIONS: Mapping[str, Operation] = {op.name: op for op in (CREATE, UPDATE, CANCEL, DELETE)}

# The pull direction's one sending operation: the user's answer to a pulled invitation
# (`bridge.pull.answers`). Its journal is ``answer_outbox``, so it is not in OPERATIONS (the
# push's journal ops); its crash tests are generated from this table all the same.
ANSWER = Operation(
    "answer",
    (
        # marker: the number of Resp.* with this UID in Sent Items, and the request's URL
        Step("request_located", "SEARCH the mailbox (deep): the request and the Sent Items "
                                "replies with this UID"),
        Step("answer_sent", "GET <request>?Cmd=accept|tentative|decline", sends=True),
        # CalDAV side, after a decline: Exchange removed its copy, the pulled event goes too
        Step("event_removed", "Radicale storage delete inside bridge_write()"),
    ),
)


# -- payloads --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """Where the event lives in Radicale (recorded on the row when the operation completes;
    None fields keep what the row has, which is what recovery passes)."""

    collection: str | None = None
    href: str | None = None
    radicale_etag: str | None = None


@dataclass(frozen=True)
class CreatePayload:
    meeting: Meeting
    kind: ItemKind
    sequence: int
    send: bool

    op = CREATE

    @property
    def sent(self) -> Meeting:
        """The meeting with the sequence the planner chose (above any earlier cancellation)."""
        return replace(self.meeting, sequence=self.sequence)

    def encode(self) -> dict[str, Any]:
        return {
            "meeting": encode_meeting(self.meeting),
            "kind": self.kind,
            "sequence": self.sequence,
            "send": self.send,
        }

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> CreatePayload:
        return cls(
            meeting=decode_meeting(raw["meeting"]),
            kind=raw["kind"],
            sequence=int(raw["sequence"]),
            send=bool(raw["send"]),
        )


@dataclass(frozen=True)
class UpdatePayload:
    meeting: Meeting
    kind: ItemKind
    sequence: int
    send: bool
    previous: Meeting | None  # what the attendees were told before (removed ones included)
    sent_sequence: int | None  # the appointment's sequence as last recorded

    op = UPDATE

    @property
    def sent(self) -> Meeting:
        return replace(self.meeting, sequence=self.sequence)

    def encode(self) -> dict[str, Any]:
        return {
            "meeting": encode_meeting(self.meeting),
            "kind": self.kind,
            "sequence": self.sequence,
            "send": self.send,
            "previous": encode_meeting(self.previous) if self.previous is not None else None,
            "sent_sequence": self.sent_sequence,
        }

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> UpdatePayload:
        previous = raw.get("previous")
        sent_sequence = raw.get("sent_sequence")
        return cls(
            meeting=decode_meeting(raw["meeting"]),
            kind=raw["kind"],
            sequence=int(raw["sequence"]),
            send=bool(raw["send"]),
            previous=decode_meeting(previous) if previous else None,
            sent_sequence=int(sent_sequence) if sent_sequence is not None else None,
        )


@dataclass(frozen=True)
class CancelPayload:
    """A removal: with ``send`` a cancellation (operation ``cancel``), otherwise a plain
    delete (operation ``delete``)."""

    previous: Meeting | None
    sequence: int | None
    send: bool

    @property
    def op(self) -> Operation:
        return CANCEL if self.send else DELETE

    def encode(self) -> dict[str, Any]:
        return {
            "previous": encode_meeting(self.previous) if self.previous is not None else None,
            "sequence": self.sequence,
            "send": self.send,
        }

    @classmethod
    def decode(cls, raw: Mapping[str, Any]) -> CancelPayload:
        previous = raw.get("previous")
        sequence = raw.get("sequence")
        return cls(
            previous=decode_meeting(previous) if previous else None,
            sequence=int(sequence) if sequence is not None else None,
            send=bool(raw.get("send")),
        )


Payload = CreatePayload | UpdatePayload | CancelPayload
PayloadName = Literal["create", "update", "cancel", "delete"]


def decode_payload(op: str, raw: Mapping[str, Any] | None) -> Payload:
    """The typed payload of a journal's first entry (written by this or an older version).

    Raises:
        ValueError: an unknown operation, or no payload where one is needed.
    """
    if op == "delete":
        return CancelPayload.decode(raw or {})
    if raw is None:
        raise ValueError(f"the {op} journal has no payload")
    if op == "create":
        return CreatePayload.decode(raw)
    if op == "update":
        return UpdatePayload.decode(raw)
    if op == "cancel":
        return CancelPayload.decode(raw)
    raise ValueError(f"unknown journaled operation {op!r}")


def payload_for(action: plan.ItemAction, sent_sequence: int | None) -> Payload:
    """The operation that carries out a planned Create, Update, Cancel or Delete.

    `sent_sequence` is the row's: the appointment's sequence as last recorded.

    Raises:
        TypeError: Skip, Reject and Defer never reach Exchange.
    """
    if isinstance(action, plan.Create):
        return CreatePayload(action.meeting, action.kind, action.sequence, action.send_invites)
    if isinstance(action, plan.Update):
        return UpdatePayload(
            action.meeting,
            action.kind,
            action.sequence,
            action.send_update,
            previous=action.previous,
            sent_sequence=sent_sequence,
        )
    if isinstance(action, plan.Cancel):
        return CancelPayload(action.previous, action.sequence, send=True)
    if isinstance(action, plan.Delete):
        return CancelPayload(None, None, send=False)
    raise TypeError(f"{type(action).__name__} has no operation")
