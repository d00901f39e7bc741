"""The planner: calendar snapshots + state rows -> the actions that make Exchange match.

Size: over 400 lines because it is one decision table (present, gone, guard, small rules)
whose branches are read together; splitting them apart would hide the table.

Rule kept here: `plan()` is a pure function. No I/O, no logging, no clock (``now`` is a
parameter), no database: it imports nothing but `bridge.meeting`, the pure row types of
`bridge.state.rows` and the standard library (a test checks that no SQLite, socket or logging
module comes with them). Actions are frozen values; the engine applies them,
journals each Exchange side effect and records the outcome in `bridge.state`.

What the planner relies on from the engine:

- **The outbox is not read here.** Before applying any action to a UID the engine looks at
  ``state.open_journal(mailbox, uid)`` and finishes (or abandons) the unfinished operation
  first. A row whose last action was interrupted is ``pending`` (or ``failed``); the planner
  never treats such a row as converged and re-plans it from the current calendar, so the
  engine always gets an action to resume against.
- **Recording outcomes:** Create/Update -> ``mark_synced(meeting, kind, sequence)``; Cancel/Delete
  -> ``mark_cancelled(sequence)``; Skip/Reject -> ``mark_skipped(reason, content_hash,
  radicale_etag)`` with the action's fields (the planner compares them to skip the same content
  only once); Hold -> ``set_hold`` (a pass without a Hold for the mailbox may ``clear_hold``).
- **Order:** actions come as bookkeeping (Reject, Skip), then removals (Cancel, Delete) and
  deferred removals (Defer), then Update, then Create, each group by UID, and the Hold last; so
  a room freed by a cancellation can be booked by a creation in the same pass.
- **Grace before a removal** (``cancel_grace``): an event deleted from the calendar is removed
  from Exchange only once it has been gone for the grace period (a client's DELETE-then-PUT
  move must not cancel and re-invite). The engine passes when it first saw each UID gone
  (``gone_since``); a removal not yet due becomes ``Defer(uid, since, until)``, which the engine
  only remembers (a UID without a Defer in a pass is forgotten: it returned or was removed).
  STATUS:CANCELLED is a decision, not a move: it never waits.
- **Refused for good:** a row that Exchange refused with a permanent error (``failed``, an
  attempt counted, no retry time: see `refused`) waits until its event changes; `calbridge
  retry` (attempts back to 0) also lets it go again.

Ownership (design §4, "never send on behalf of someone else"), see `classify`:

- no invitees (attendees other than the organizer)            -> ``appointment``
- invitees, ORGANIZER is the mailbox or one of its delegates   -> ``meeting``
- invitees, no ORGANIZER at all                               -> ``meeting`` (a client that
  leaves ORGANIZER out is the mailbox owner writing in their own calendar; the owner's own
  address among the attendees is then not an invitee)
- invitees, ORGANIZER is anyone else                           -> ``foreign``: kept as an
  appointment; never an invitation, update or cancellation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.meeting import Attendee, Meeting, normalize_address
from bridge.state.rows import ItemKind, ItemRow

__all__ = [
    "Action",
    "Cancel",
    "Create",
    "Defer",
    "Delete",
    "Hold",
    "ItemAction",
    "Reject",
    "Skip",
    "Snapshot",
    "Update",
    "classify",
    "invitees",
    "plan",
    "refused",
]

_CANCELLED = "CANCELLED"
_CALENDAR_MIN = 2  # a calendar with at least this many sent meetings must not vanish silently


@dataclass(frozen=True)
class Snapshot:
    """One event as the calendar has it now.

    ``meeting`` None with neither ``skipped`` nor ``error`` means the event is gone (a snapshot
    may also simply be absent for a UID that has a row). ``skipped``: the event was read but
    cannot be expressed on Exchange (``meeting`` may still be given). ``error``: the file cannot
    be read; that is never a deletion.
    """

    uid: str
    meeting: Meeting | None
    href: str | None = None
    etag: str | None = None
    skipped: str | None = None
    error: str | None = None
    collection: str | None = None

    def __post_init__(self) -> None:
        if self.meeting is not None and self.meeting.uid != self.uid:
            raise ValueError(f"snapshot {self.uid!r} carries the meeting {self.meeting.uid!r}")

    @property
    def gone(self) -> bool:
        return self.meeting is None and self.skipped is None and self.error is None


# -- actions ---------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _ItemAction:
    uid: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Create(_ItemAction):
    """A new event on Exchange; invitations only when ``send_invites``.

    ``sequence`` is the meeting's SEQUENCE, raised above the last one sent when the UID was
    cancelled before (an event restored after its cancellation must supersede the CANCEL).
    """

    meeting: Meeting
    kind: ItemKind
    send_invites: bool
    sequence: int


@dataclass(frozen=True, kw_only=True)
class Update(_ItemAction):
    """The meaningful content changed. ``previous`` is what Exchange holds (its attendees are
    the people who were told before, including any removed now)."""

    meeting: Meeting
    previous: Meeting | None
    kind: ItemKind
    send_update: bool
    sequence: int


@dataclass(frozen=True, kw_only=True)
class Cancel(_ItemAction):
    """Cancellation to the attendees of ``previous``, then delete the appointment.

    ``previous`` is None only for a row without a snapshot; the engine then cancels from the
    appointment on Exchange (``Cmd=getcancel`` knows its attendees).
    """

    previous: Meeting | None
    sequence: int


@dataclass(frozen=True, kw_only=True)
class Delete(_ItemAction):
    """Delete the appointment only; no message to anyone."""

    previous: Meeting | None


@dataclass(frozen=True, kw_only=True)
class Defer(_ItemAction):
    """A removal that waits: the event has been gone since ``since``; it is removed at
    ``until`` unless it comes back first."""

    since: datetime
    until: datetime


@dataclass(frozen=True, kw_only=True)
class Skip(_ItemAction):
    """The event cannot be expressed on Exchange: record it, do not touch Exchange."""

    content_hash: str | None
    etag: str | None


@dataclass(frozen=True, kw_only=True)
class Reject(_ItemAction):
    """The event cannot be read: record the error, do not touch Exchange (never a deletion)."""

    error: str
    content_hash: str | None
    etag: str | None


@dataclass(frozen=True, kw_only=True)
class Hold:
    """The mass-cancellation guard tripped: these cancellations wait for confirmation."""

    uids: tuple[str, ...]
    reason: str

    @property
    def count(self) -> int:
        return len(self.uids)


Action = Create | Update | Cancel | Delete | Defer | Skip | Reject | Hold
ItemAction = Create | Update | Cancel | Delete | Defer | Skip | Reject  # about one UID

_ORDER: dict[type, int] = {
    Reject: 0, Skip: 0, Cancel: 1, Delete: 1, Defer: 1, Update: 2, Create: 3, Hold: 4
}


# -- ownership -------------------------------------------------------------------------------


def _owners(mailbox_address: str, delegates: Iterable[str]) -> frozenset[str]:
    return frozenset({normalize_address(mailbox_address), *map(normalize_address, delegates)})


def invitees(meeting: Meeting, owners: frozenset[str]) -> tuple[Attendee, ...]:
    """Who would get a message: `Meeting.invitees()`, and without ORGANIZER also not the owner."""
    found = meeting.invitees()
    if meeting.organizer is None:
        found = tuple(a for a in found if a.email not in owners)
    return found


def classify(meeting: Meeting, owners: frozenset[str]) -> ItemKind:
    """``meeting``, ``appointment`` or ``foreign`` (see the module docstring)."""
    if not invitees(meeting, owners):
        return "appointment"
    if meeting.organizer is None or meeting.organizer in owners:
        return "meeting"
    return "foreign"


# -- the plan --------------------------------------------------------------------------------


def plan(
    mailbox_address: str,
    snapshots: Sequence[Snapshot],
    rows: Sequence[ItemRow],
    *,
    delegates: frozenset[str] = frozenset(),
    allow_mass_cancel: bool = False,
    mass_cancel_threshold: float = 0.5,
    mass_cancel_min: int = 3,
    cancel_grace: timedelta = timedelta(0),
    gone_since: Mapping[str, datetime] | None = None,
    now: datetime,
) -> list[Action]:
    """Diff one mailbox's calendar (`snapshots`) against its state (`rows`).

    Args:
        mailbox_address: the owner's e-mail address (ORGANIZER test).
        snapshots: the events of all the mailbox's calendars; a UID may appear once as present
            (an extra ``gone`` entry for the same UID, e.g. the source of a MOVE, is ignored).
        rows: ``state.items(mailbox)``.
        delegates: addresses whose meetings this mailbox may organise as its own.
        allow_mass_cancel: `calbridge sync --allow-mass-cancel` (the guard is off).
        mass_cancel_threshold: share of the sent meetings with invitees that may disappear in
            one pass; more than that (or all of them) trips the guard ...
        mass_cancel_min: ... but only when at least this many were sent.
        cancel_grace: how long a deleted event waits before it is removed from Exchange.
        gone_since: UID -> when the engine first saw its event gone (the Defers of its last
            pass); a UID not in it is gone since ``now``.
        now: aware current time (retry due dates are compared with it).

    Returns:
        The actions, in the order documented in the module docstring.

    Raises:
        ValueError: ``now`` is naive, or two rows share a UID.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("plan() needs an aware `now`")
    owners = _owners(mailbox_address, delegates)
    by_uid: dict[str, ItemRow] = {}
    for item in rows:
        if item.uid in by_uid:
            raise ValueError(f"two state rows for UID {item.uid!r}")
        by_uid[item.uid] = item
    present, duplicates = _present_snapshots(snapshots)

    actions: list[Action] = []
    deletion_cancels: list[Cancel] = []
    for uid in sorted(set(present) | set(by_uid) | set(duplicates)):
        row = by_uid.get(uid)
        if uid in duplicates:
            # Two calendar files claim one UID: we cannot tell which is meant. Touch nothing.
            reason = f"UID is used by {len(duplicates[uid])} events: {', '.join(duplicates[uid])}"
            if not _already_recorded(row, reason, None, None):
                actions.append(
                    Reject(uid=uid, reason=reason, error=reason, content_hash=None, etag=None)
                )
            continue
        snap = present.get(uid)
        if snap is None:
            action = _plan_gone(row, owners, now) if row is not None else None
            if isinstance(action, Cancel | Delete) and cancel_grace > timedelta(0):
                since = (gone_since or {}).get(uid, now)
                if now < since + cancel_grace:
                    action = Defer(
                        uid=uid,
                        since=since,
                        until=since + cancel_grace,
                        reason=f"{action.reason}; it may come back (cancel_grace)",
                    )
            if isinstance(action, Cancel):
                deletion_cancels.append(action)
            elif action is not None:
                actions.append(action)
            continue
        action = _plan_present(snap, row, owners, now)
        if action is not None:
            actions.append(action)

    actions.extend(
        _mass_cancel_guard(
            deletion_cancels,
            by_uid.values(),
            set(present) | set(duplicates),
            allow=allow_mass_cancel,
            threshold=mass_cancel_threshold,
            minimum=mass_cancel_min,
        )
    )
    actions.sort(key=_sort_key)
    return actions


def _present_snapshots(
    snapshots: Sequence[Snapshot],
) -> tuple[dict[str, Snapshot], dict[str, list[str]]]:
    """UID -> the snapshot that is not ``gone``; UIDs claimed by several -> their hrefs."""
    present: dict[str, Snapshot] = {}
    claims: dict[str, list[Snapshot]] = {}
    for snap in snapshots:
        if not snap.gone:
            claims.setdefault(snap.uid, []).append(snap)
    duplicates: dict[str, list[str]] = {}
    for uid, found in claims.items():
        if len(found) == 1:
            present[uid] = found[0]
        else:
            duplicates[uid] = sorted(f"{s.collection or ''}/{s.href or '?'}" for s in found)
    return present, duplicates


def _plan_present(
    snap: Snapshot, row: ItemRow | None, owners: frozenset[str], now: datetime
) -> ItemAction | None:
    """The decision table for an event that is in the calendar."""
    uid = snap.uid
    meeting = snap.meeting
    content_hash = meeting.content_hash() if meeting is not None else None

    # Unreadable file: record it once; never a deletion, never a change on Exchange (a
    # meeting that synced fine stays as it was until the user repairs the file).
    if snap.error is not None:
        reason = f"cannot read the event: {snap.error}"
        if _already_recorded(row, reason, content_hash, snap.etag):
            return None
        return Reject(
            uid=uid, reason=reason, error=snap.error, content_hash=content_hash, etag=snap.etag
        )

    # Waiting for a retry: whatever changed, nothing happens before next_attempt_at; refused
    # for good: nothing happens until the event changes.
    waiting = row is not None and (_waiting(row, now) or refused(row, content_hash))

    # STATUS:CANCELLED on an event Exchange holds: cancel (or delete) it. Checked before a
    # skip, because a cancellation can always be expressed.
    if meeting is not None and meeting.status.upper() == _CANCELLED:
        if row is None or row.status == "cancelled" or waiting:
            return None  # never sent / already cancelled / not due yet
        return _removal(row, owners, fallback=meeting, why="the event was cancelled")

    # Not expressible (e.g. overridden occurrences): record it once; Exchange keeps whatever
    # it had (the last good version).
    if snap.skipped is not None:
        if _already_recorded(row, snap.skipped, content_hash, snap.etag):
            return None
        return Skip(uid=uid, reason=snap.skipped, content_hash=content_hash, etag=snap.etag)

    assert meeting is not None and content_hash is not None  # not gone, not error, not skipped
    kind = classify(meeting, owners)
    if kind == "foreign" and row is not None and row.kind == "meeting" and row.sent_hash:
        # Sticky ownership: this mailbox invited the attendees, so it keeps telling them about
        # changes and the cancellation even if the ORGANIZER line now names someone else
        # (e.g. the owner's alias); nobody else would.
        kind = "meeting"

    if row is None:  # new event
        return Create(
            uid=uid,
            meeting=meeting,
            kind=kind,
            send_invites=kind == "meeting",
            sequence=meeting.sequence,
            reason=f"new {kind}",
        )
    if waiting:
        return None
    # Back after a cancel/delete (restored, or un-cancelled), or never reached Exchange
    # (skipped, failed or interrupted create): create it, above any SEQUENCE already sent.
    if row.status == "cancelled" or row.sent_hash is None:
        return Create(
            uid=uid,
            meeting=meeting,
            kind=kind,
            send_invites=kind == "meeting",
            sequence=_next_sequence(meeting, row),
            reason=f"{kind} is back in the calendar after it was removed"
            if row.status == "cancelled"
            else f"{kind} not on Exchange yet ({row.status})",
        )
    if row.status in ("synced", "skipped") and content_hash == row.sent_hash:
        return None  # converged: only non-meaningful data (DTSTAMP, etag, PARTSTAT...) changed

    # Meaningful change, or an interrupted/failed update to finish. Tell the attendees when the
    # meeting is ours and someone was or is invited (removing everyone is news too).
    send = kind != "foreign" and (kind == "meeting" or row.kind == "meeting")
    if row.status in ("synced", "skipped"):
        why = "meaningful fields changed"
    else:
        why = f"previous attempt unfinished ({row.status})"
    return Update(
        uid=uid,
        meeting=meeting,
        previous=row.snapshot,
        kind=kind,
        send_update=send,
        sequence=_next_sequence(meeting, row) if send
        else max(meeting.sequence, row.sent_sequence or 0),
        reason=why,
    )


def _plan_gone(row: ItemRow, owners: frozenset[str], now: datetime) -> ItemAction | None:
    """The decision table for a row whose event is no longer in the calendar."""
    if row.status == "cancelled":
        return None  # already removed from Exchange
    if _waiting(row, now) or refused(row, None):
        return None  # failed, not due yet; or its removal was refused for good
    return _removal(row, owners, fallback=None, why="the event was deleted from the calendar")


def _removal(
    row: ItemRow, owners: frozenset[str], *, fallback: Meeting | None, why: str
) -> Cancel | Delete:
    """Cancel when attendees were invited by this mailbox, otherwise only delete."""
    previous = row.snapshot if row.snapshot is not None else fallback
    if row.status == "skipped" and row.sent_hash is None:
        # Never sent (it was only ever skipped or rejected): nothing for attendees; the delete
        # clears any partial appointment (a 404 is success) and closes the row.
        return Delete(uid=row.uid, previous=previous, reason=f"{why} (never synced)")
    owned_meeting = row.kind == "meeting"  # sticky: see _plan_present
    if owned_meeting:
        sequence = max(
            previous.sequence if previous is not None else 0,
            (row.sent_sequence + 1) if row.sent_sequence is not None else 0,
        )
        return Cancel(uid=row.uid, previous=previous, sequence=sequence, reason=why)
    return Delete(uid=row.uid, previous=previous, reason=f"{why} ({row.kind}: no messages)")


def _mass_cancel_guard(
    cancels: list[Cancel],
    rows: Iterable[ItemRow],
    in_calendar: set[str],
    *,
    allow: bool,
    threshold: float,
    minimum: int,
) -> list[Action]:
    """vdirsyncer's `StorageEmpty`, for cancellations: too many sent meetings disappearing at
    once looks like a lost calendar, not a decision. Explicit STATUS:CANCELLED never counts.

    Two rules (design §4): the mailbox loses more than `threshold` of its sent meetings (and
    at least `minimum` were sent), or one calendar that held two or more of them is left with
    none (a deleted or wiped calendar, however small a share of the mailbox it was).
    """
    if allow or not cancels:
        return list(cancels)
    sent = [r for r in rows if r.kind == "meeting" and r.status != "cancelled" and r.sent_hash]
    lost = [r for r in sent if r.uid not in in_calendar]
    reasons = []
    if len(sent) >= minimum and (len(lost) == len(sent) or len(lost) > threshold * len(sent)):
        reasons.append(
            f"{len(lost)} of {len(sent)} synced meetings with invitees disappeared from the "
            f"calendars at once (guard: more than {threshold:.0%} of at least {minimum})"
        )
    emptied = sorted(
        {
            r.collection
            for r in lost
            if r.collection is not None
            and sum(1 for o in sent if o.collection == r.collection) >= _CALENDAR_MIN
            and all(o.uid not in in_calendar for o in sent if o.collection == r.collection)
        }
    )
    if emptied:
        reasons.append(
            f"calendar {', '.join(emptied)} lost all of its synced meetings with invitees"
        )
    if not reasons:
        return list(cancels)
    reason = (
        "; ".join(reasons)
        + "; their cancellations are held until confirmed with "
        "`calbridge sync --allow-mass-cancel`"
    )
    return [Hold(uids=tuple(sorted(c.uid for c in cancels)), reason=reason)]


# -- small rules -----------------------------------------------------------------------------


def _waiting(row: ItemRow, now: datetime) -> bool:
    """A failed row before its retry time."""
    return (
        row.status == "failed" and row.next_attempt_at is not None and row.next_attempt_at > now
    )


def refused(row: ItemRow, content_hash: str | None) -> bool:
    """Exchange refused this version for good (a permanent 4xx): the row is ``failed`` with
    an attempt counted but no retry time, for the content it still has (None: a removal was
    refused). `calbridge retry` (attempts back to 0) or a changed event ends the wait."""
    return (
        row.status == "failed"
        and row.next_attempt_at is None
        and row.attempts > 0
        and row.content_hash == content_hash
    )


def _already_recorded(
    row: ItemRow | None, reason: str, content_hash: str | None, etag: str | None
) -> bool:
    """Skip/Reject once per content: the row already carries this reason for this version."""
    return (
        row is not None
        and row.skip_reason == reason
        and row.content_hash == content_hash
        and row.radicale_etag == etag
    )


def _next_sequence(meeting: Meeting, row: ItemRow) -> int:
    """Above everything the attendees have seen, and never below what the client wrote."""
    if row.sent_sequence is None:
        return meeting.sequence
    return max(meeting.sequence, row.sent_sequence + 1)


def _sort_key(action: Action) -> tuple[int, str]:
    return (_ORDER[type(action)], action.uid if not isinstance(action, Hold) else "")
