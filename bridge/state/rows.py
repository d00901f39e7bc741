"""The state database's rows and vocabulary, as frozen values with no I/O.

Rule kept here: pure. This module imports the standard library and `bridge.meeting` only, so
the planner (`bridge.plan`) can take `ItemRow` as input without importing SQLite; a test checks
it. The rows are what `State` returns; it alone reads and writes them.

Item status (one row per mailbox and UID, Radicale side beside Exchange side, design §3/§4b):

- ``pending``  -- the engine started an action; its steps are in ``outbox``; outcome unknown.
- ``synced``   -- Exchange holds the content whose hash is ``sent_hash`` (``snapshot``).
- ``failed``   -- the last action failed; retried at ``next_attempt_at`` (`bridge.backoff`).
- ``cancelled``-- removed from Exchange on purpose (cancelled meeting, deleted appointment).
- ``skipped``  -- never sent because the event cannot be expressed or cannot be read. An item
  that *was* sent keeps its status when a later version is skipped (Exchange still holds the
  last good version); only ``skip_reason`` records the problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from bridge.meeting import Meeting

__all__ = [
    "BRIDGE_OP_PREFIX",
    "CHANGE_OPS",
    "ITEM_KINDS",
    "ITEM_STATUSES",
    "JOURNAL_OPS",
    "ChangeOp",
    "ChangeRow",
    "HoldRow",
    "ItemKind",
    "ItemRow",
    "ItemStatus",
    "JournalEntry",
    "JournalOp",
    "JournalState",
    "MailboxStatus",
    "RunRow",
]

ItemKind = Literal["meeting", "appointment", "foreign"]
"""``meeting``: owned, with invitees; ``appointment``: no invitees; ``foreign``: organised by
someone else (kept as an appointment, never a message)."""
ItemStatus = Literal["synced", "pending", "failed", "cancelled", "skipped"]
JournalOp = Literal["create", "update", "cancel", "delete"]
JournalState = Literal["started", "done"]
ChangeOp = Literal["upload", "delete", "create_collection", "delete_collection", "move"]

ITEM_KINDS: tuple[str, ...] = get_args(ItemKind)
ITEM_STATUSES: tuple[str, ...] = get_args(ItemStatus)
JOURNAL_OPS: tuple[str, ...] = get_args(JournalOp)
CHANGE_OPS: tuple[str, ...] = get_args(ChangeOp)
BRIDGE_OP_PREFIX = "bridge-"  # radicale_plugin marks the bridge's own writes this way (§4b)


@dataclass(frozen=True)
class ItemRow:
    """One event of one mailbox: what Radicale had, what Exchange got, and how it went."""

    mailbox: str
    uid: str
    # Radicale side
    collection: str | None = None
    href: str | None = None
    radicale_etag: str | None = None
    content_hash: str | None = None  # Meeting.content_hash() of the version last seen
    # Exchange side (exchange_hash/etag feed the future pull direction, design §4b)
    exchange_url: str | None = None
    exchange_etag: str | None = None
    exchange_uid: str | None = None
    exchange_hash: str | None = None
    # what the attendees / the appointment last received
    sent_sequence: int | None = None
    sent_hash: str | None = None
    snapshot: Meeting | None = None  # the Meeting behind sent_hash (a Cancel needs its attendees)
    kind: ItemKind = "appointment"
    status: ItemStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    skip_reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.mailbox or not self.uid:
            raise ValueError("an item needs a mailbox and a UID")
        if self.kind not in ITEM_KINDS:
            raise ValueError(f"unknown item kind {self.kind!r}")
        if self.status not in ITEM_STATUSES:
            raise ValueError(f"unknown item status {self.status!r}")
        if self.snapshot is not None and self.snapshot.uid != self.uid:
            raise ValueError("the snapshot belongs to another UID")


@dataclass(frozen=True)
class JournalEntry:
    """One intended Exchange side effect (design §4): written before the request, done after."""

    id: int
    mailbox: str
    uid: str
    op: JournalOp
    step: str
    target_url: str | None
    marker: str | None
    state: JournalState
    payload: Any = field(hash=False)  # decoded JSON, or None
    created_at: datetime
    completed_at: datetime | None

    @property
    def done(self) -> bool:
        return self.state == "done"


@dataclass(frozen=True)
class ChangeRow:
    """One write the Radicale plugin saw (a hint: the reconcile pass is the truth)."""

    id: int
    ts: datetime
    user: str | None
    collection: str
    href: str | None
    uid: str | None
    op: str  # a ChangeOp, or a ChangeOp prefixed with "bridge-" for the bridge's own writes


@dataclass(frozen=True)
class RunRow:
    """One sync pass of one mailbox (``mailbox`` None: a pass over all of them)."""

    id: int
    mailbox: str | None
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = field(hash=False)
    errors: tuple[str, ...]


@dataclass(frozen=True)
class HoldRow:
    """Cancellations held by the mass-cancellation guard (lifted by `--allow-mass-cancel`)."""

    mailbox: str
    count: int
    reason: str
    uids: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MailboxStatus:
    """One line of `calbridge status`. The counts are exclusive: an item counts once."""

    mailbox: str
    synced: int = 0
    pending: int = 0
    failed: int = 0
    skipped: int = 0  # never sent, or sent but the current version cannot be (skip_reason set)
    cancelled: int = 0
    last_run: RunRow | None = None
    last_errors: tuple[str, ...] = ()  # "uid: error", most recent first
    hold: HoldRow | None = None
