"""`bridge.plan`: a decision table for every rule, and a hypothesis state machine that plans,
applies the actions to an in-memory model of the state rows and of Exchange, and plans again."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from bridge.backoff import backoff_delay
from bridge.meeting import Attendee, Meeting
from bridge.plan import (
    Action,
    Cancel,
    Create,
    Defer,
    Delete,
    Hold,
    Reject,
    Skip,
    Snapshot,
    Update,
    classify,
    plan,
    refused,
)
from bridge.state.rows import ItemRow

OWNER = "me@example.org"
BOSS = "boss@example.org"  # someone else: meetings organised by them are "foreign"
DELEGATE = "assistant-of@example.org"
OWNERS = frozenset({OWNER})
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def mtg(
    uid: str,
    *,
    organizer: str | None = OWNER,
    attendees: tuple[str, ...] = ("ann@example.org",),
    summary: str = "Sync",
    sequence: int = 0,
    status: str = "CONFIRMED",
    partstat: str = "NEEDS-ACTION",
    extra: dict[str, str] | None = None,
) -> Meeting:
    return Meeting(
        uid=uid,
        start=datetime(2025, 3, 3, 9, 0, tzinfo=UTC),
        end=datetime(2025, 3, 3, 10, 0, tzinfo=UTC),
        summary=summary,
        organizer=organizer,
        attendees=tuple(Attendee(a, partstat=partstat) for a in attendees),
        sequence=sequence,
        status=status,
        extra=extra or {},
    )


def appt(uid: str, **kw: object) -> Meeting:
    return mtg(uid, attendees=(), **kw)  # type: ignore[arg-type]


def snap(meeting: Meeting, etag: str = '"e1"', **kw: object) -> Snapshot:
    return Snapshot(uid=meeting.uid, meeting=meeting, href=f"{meeting.uid}.ics", etag=etag,
                    **kw)  # type: ignore[arg-type]


def row(meeting: Meeting, **kw: object) -> ItemRow:
    """A row as `State.mark_synced` leaves it."""
    values: dict[str, object] = {
        "mailbox": "me",
        "uid": meeting.uid,
        "content_hash": meeting.content_hash(),
        "sent_hash": meeting.content_hash(),
        "sent_sequence": meeting.sequence,
        "snapshot": meeting,
        "kind": classify(meeting, OWNERS),
        "status": "synced",
        "radicale_etag": '"e1"',
    }
    values.update(kw)
    return ItemRow(**values)  # type: ignore[arg-type]


def run(snapshots: list[Snapshot], rows: list[ItemRow], **kw: object) -> list[Action]:
    return plan(OWNER, snapshots, rows, now=NOW, **kw)  # type: ignore[arg-type]


def brief(actions: list[Action]) -> list[tuple[object, ...]]:
    """A compact, comparable form of a plan."""
    out: list[tuple[object, ...]] = []
    for a in actions:
        match a:
            case Create():
                out.append(("Create", a.uid, a.kind, a.send_invites, a.sequence))
            case Update():
                out.append(("Update", a.uid, a.kind, a.send_update, a.sequence))
            case Cancel():
                out.append(("Cancel", a.uid, a.sequence))
            case Delete():
                out.append(("Delete", a.uid))
            case Skip():
                out.append(("Skip", a.uid))
            case Reject():
                out.append(("Reject", a.uid))
            case Hold():
                out.append(("Hold", a.uids))
    return out


M, A, F = mtg("m"), appt("a"), mtg("f", organizer=BOSS)
EDITED = mtg("m", summary="Sync (moved)")
NOT_DUE = NOW + timedelta(minutes=1)
DUE = NOW - timedelta(seconds=1)

# Each case: (snapshots, rows, keyword arguments, expected brief(plan)).
CASES: dict[str, tuple[list[Snapshot], list[ItemRow], dict[str, object], list[tuple]]] = {
    # -- new events: ownership decides whether anyone gets a message
    "new appointment: no messages": ([snap(A)], [], {}, [("Create", "a", "appointment", False, 0)]),
    "new owned meeting: invitations": ([snap(M)], [], {}, [("Create", "m", "meeting", True, 0)]),
    "new meeting without ORGANIZER: owned": (
        [snap(mtg("n", organizer=None))], [], {}, [("Create", "n", "meeting", True, 0)]),
    "no ORGANIZER, only the owner attends: appointment": (
        [snap(mtg("n", organizer=None, attendees=(OWNER,)))], [], {},
        [("Create", "n", "appointment", False, 0)]),
    "organizer alone among attendees: appointment": (
        [snap(mtg("n", attendees=(OWNER,)))], [], {}, [("Create", "n", "appointment", False, 0)]),
    "new foreign meeting: appointment only": (
        [snap(F)], [], {}, [("Create", "f", "foreign", False, 0)]),
    "a delegate's meeting is owned": (
        [snap(mtg("d", organizer=DELEGATE))], [], {"delegates": frozenset({DELEGATE})},
        [("Create", "d", "meeting", True, 0)]),
    "client SEQUENCE kept on create": (
        [snap(mtg("s", sequence=5))], [], {}, [("Create", "s", "meeting", True, 5)]),
    # -- unchanged content: nothing, whatever else changed in the file
    "unchanged": ([snap(M)], [row(M)], {}, []),
    "DTSTAMP-like change only (etag, PARTSTAT, X- props)": (
        [snap(mtg("m", partstat="ACCEPTED", extra={"DTSTAMP": "x"}), etag='"e9"')],
        [row(M)], {}, []),
    # -- meaningful changes
    "owned meeting edited: update, SEQUENCE bumped": (
        [snap(EDITED)], [row(M, sent_sequence=2)], {}, [("Update", "m", "meeting", True, 3)]),
    "client bumped SEQUENCE further: kept": (
        [snap(mtg("m", summary="x", sequence=7))], [row(M, sent_sequence=2)], {},
        [("Update", "m", "meeting", True, 7)]),
    "appointment edited: silent update": (
        [snap(appt("a", summary="x"))], [row(A)], {}, [("Update", "a", "appointment", False, 0)]),
    "foreign meeting edited: silent update": (
        [snap(mtg("f", organizer=BOSS, summary="x"))], [row(F)], {},
        [("Update", "f", "foreign", False, 0)]),
    "all invitees removed: the old attendees are told": (
        [snap(appt("m"))], [row(M)], {}, [("Update", "m", "appointment", True, 1)]),
    "invitees added to an appointment: update goes out": (
        [snap(mtg("a"))], [row(A)], {}, [("Update", "a", "meeting", True, 1)]),
    # -- deletions
    "owned meeting deleted: cancel": ([], [row(M, sent_sequence=1)], {}, [("Cancel", "m", 2)]),
    "explicit 'gone' snapshot is a deletion too": (
        [Snapshot(uid="m", meeting=None)], [row(M)], {}, [("Cancel", "m", 1)]),
    "appointment deleted: delete only": ([], [row(A)], {}, [("Delete", "a")]),
    "foreign meeting deleted: delete, never cancel": ([], [row(F)], {}, [("Delete", "f")]),
    "MOVE: gone at the old href, present at the new": (
        [Snapshot(uid="m", meeting=None, href="old.ics"), snap(M)], [row(M)], {}, []),
    # -- STATUS:CANCELLED
    "STATUS:CANCELLED on a synced meeting: cancel": (
        [snap(mtg("m", status="CANCELLED", sequence=1))], [row(M)], {}, [("Cancel", "m", 1)]),
    "STATUS:CANCELLED on a foreign meeting: delete": (
        [snap(mtg("f", organizer=BOSS, status="CANCELLED"))], [row(F)], {}, [("Delete", "f")]),
    "STATUS:CANCELLED, never synced: nothing": (
        [snap(mtg("m", status="CANCELLED"))], [], {}, []),
    "STATUS:CANCELLED, already cancelled: nothing": (
        [snap(mtg("m", status="CANCELLED"))], [row(M, status="cancelled")], {}, []),
    # -- cancelled rows
    "cancelled row, event gone: nothing": ([], [row(M, status="cancelled")], {}, []),
    "cancelled row, event back: create above the cancel's SEQUENCE": (
        [snap(M)], [row(M, status="cancelled", sent_sequence=4)], {},
        [("Create", "m", "meeting", True, 5)]),
    # -- failures and retries
    "failed, not due, edited: wait": (
        [snap(EDITED)], [row(M, status="failed", next_attempt_at=NOT_DUE)], {}, []),
    "failed, not due, deleted: wait": (
        [], [row(M, status="failed", next_attempt_at=NOT_DUE)], {}, []),
    "failed update, due: retried even though the hash matches": (
        [snap(M)], [row(M, status="failed", next_attempt_at=DUE)], {},
        [("Update", "m", "meeting", True, 1)]),
    "failed create, due (never sent): create": (
        [snap(M)], [row(M, status="failed", sent_hash=None, sent_sequence=None,
                        next_attempt_at=DUE)], {}, [("Create", "m", "meeting", True, 0)]),
    "failed after `calbridge retry` (no due time): retried": (
        [], [row(M, status="failed", next_attempt_at=None)], {}, [("Cancel", "m", 1)]),
    "pending (interrupted) update: planned again": (
        [snap(M)], [row(M, status="pending")], {}, [("Update", "m", "meeting", True, 1)]),
    # -- skipped and broken events
    "inexpressible: skip": ([snap(M, skipped="overridden occurrences")], [], {}, [("Skip", "m")]),
    "inexpressible, already recorded: nothing": (
        [snap(M, skipped="overridden occurrences")],
        [row(M, status="skipped", sent_hash=None, skip_reason="overridden occurrences")],
        {}, []),
    "inexpressible, content changed since: skip again": (
        [snap(EDITED, skipped="overridden occurrences", etag='"e2"')],
        [row(M, status="skipped", sent_hash=None, skip_reason="overridden occurrences")],
        {}, [("Skip", "m")]),
    "broken file: reject": (
        [Snapshot(uid="b", meeting=None, etag='"e1"', error="bad DTSTART")], [], {},
        [("Reject", "b")]),
    "broken file, already recorded: nothing": (
        [Snapshot(uid="m", meeting=None, etag='"e1"', error="bad DTSTART")],
        [row(M, skip_reason="cannot read the event: bad DTSTART", content_hash=None)], {}, []),
    "synced meeting's file broken: reject only, never cancel": (
        [Snapshot(uid="m", meeting=None, etag='"e2"', error="bad DTSTART")], [row(M)], {},
        [("Reject", "m")]),
    "skipped event deleted before it was ever synced: delete closes the row": (
        [], [row(M, status="skipped", sent_hash=None, skip_reason="x")], {}, [("Delete", "m")]),
    "STATUS:CANCELLED wins over a skip": (
        [snap(mtg("m", status="CANCELLED"), skipped="overridden occurrences")], [row(M)], {},
        [("Cancel", "m", 1)]),
    "one UID in two files: reject, touch nothing": (
        [snap(M), Snapshot(uid="m", meeting=M, href="copy.ics")], [row(M)], {},
        [("Reject", "m")]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_decision_table(case: str) -> None:
    snapshots, rows, kwargs, expected = CASES[case]
    assert brief(run(snapshots, rows, **kwargs)) == expected


# -- the mass-cancellation guard -------------------------------------------------------------


def meetings(n: int) -> list[Meeting]:
    return [mtg(f"m{i}") for i in range(n)]


def test_guard_holds_a_mass_cancellation() -> None:
    ms = meetings(4)
    actions = run([snap(ms[3]), snap(A)], [*map(row, ms), row(A), row(appt("gone"))])
    assert brief(actions) == [("Delete", "gone"), ("Hold", ("m0", "m1", "m2"))]
    (hold,) = [a for a in actions if isinstance(a, Hold)]
    assert hold.count == 3 and "3 of 4" in hold.reason and "--allow-mass-cancel" in hold.reason


def test_guard_lifted_by_confirmation() -> None:
    ms = meetings(4)
    actions = run([snap(ms[3])], list(map(row, ms)), allow_mass_cancel=True)
    assert brief(actions) == [("Cancel", "m0", 1), ("Cancel", "m1", 1), ("Cancel", "m2", 1)]


def test_guard_lets_normal_deletions_through() -> None:
    ms = meetings(4)
    assert brief(run([snap(m) for m in ms[1:]], list(map(row, ms)))) == [("Cancel", "m0", 1)]
    # exactly half is not "more than half"
    assert len(run([snap(m) for m in ms[2:]], list(map(row, ms)))) == 2


def test_guard_needs_a_minimum_of_meetings() -> None:
    ms = meetings(2)
    assert [type(a) for a in run([], list(map(row, ms)))] == [Cancel, Cancel]
    assert [type(a) for a in run([], list(map(row, ms)), mass_cancel_min=2)] == [Hold]


def test_guard_trips_when_all_are_gone_whatever_the_threshold() -> None:
    ms = meetings(3)
    assert [type(a) for a in run([], list(map(row, ms)), mass_cancel_threshold=1.0)] == [Hold]


def test_guard_ignores_explicit_cancellations_and_counts_only_sent_meetings() -> None:
    ms = meetings(4)
    cancelled = [snap(mtg(f"m{i}", status="CANCELLED")) for i in range(3)]
    assert [type(a) for a in run([*cancelled, snap(ms[3])], list(map(row, ms)))] == [Cancel] * 3
    extra = [row(appt(f"a{i}")) for i in range(5)] + [row(mtg("x"), status="cancelled")]
    assert [type(a) for a in run([snap(ms[3])], [*map(row, ms), *extra])].count(Hold) == 1


# -- the grace period before a removal, and refusals -----------------------------------------

GRACE = timedelta(seconds=3)


def test_a_deleted_event_waits_out_the_grace_period_first_seen_now() -> None:
    (defer,) = run([], [row(M)], cancel_grace=GRACE)
    assert defer == Defer(uid=M.uid, since=NOW, until=NOW + GRACE, reason=defer.reason)
    assert "cancel_grace" in defer.reason
    # a plain appointment's delete waits too (a move must not delete and re-create it)
    (later,) = run([], [row(appt("plain"))], cancel_grace=GRACE)
    assert isinstance(later, Defer)


def test_the_removal_comes_once_the_grace_period_is_over() -> None:
    since = {M.uid: NOW - GRACE}
    assert brief(run([], [row(M)], cancel_grace=GRACE, gone_since=since)) == [
        ("Cancel", M.uid, 1)
    ]
    still = run([], [row(M)], cancel_grace=GRACE, gone_since={M.uid: NOW - GRACE / 2})
    assert [type(a) for a in still] == [Defer] and still[0].since == NOW - GRACE / 2  # type: ignore[union-attr]


def test_explicit_cancellation_and_a_returned_event_never_wait() -> None:
    cancelled = snap(mtg(M.uid, status="CANCELLED"))
    assert [type(a) for a in run([cancelled], [row(M)], cancel_grace=GRACE)] == [Cancel]
    assert run([snap(M)], [row(M)], cancel_grace=GRACE, gone_since={M.uid: NOW}) == []


def test_a_refused_version_waits_until_the_event_changes() -> None:
    failed = row(M, status="failed", attempts=1, next_attempt_at=None,
                 content_hash=EDITED.content_hash())
    assert refused(failed, EDITED.content_hash())
    assert run([snap(EDITED)], [failed]) == []
    assert [type(a) for a in run([snap(replace(EDITED, summary="again"))], [failed])] == [Update]
    # `calbridge retry` sets attempts to 0: the same version goes again
    assert [type(a) for a in run([snap(EDITED)], [replace(failed, attempts=0)])] == [Update]
    # a refused removal (no content) is not retried every pass either
    gone = row(M, status="failed", attempts=1, next_attempt_at=None, content_hash=None)
    assert run([], [gone]) == []


# -- ordering and input checks ---------------------------------------------------------------


def test_removals_come_before_additions() -> None:
    actions = run([snap(mtg("a-new")), snap(EDITED), Snapshot(uid="b", meeting=None, error="x")],
                  [row(M), row(mtg("z-old"))])
    assert [type(a) for a in actions] == [Reject, Cancel, Update, Create]


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="aware"):
        plan(OWNER, [], [], now=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="two state rows"):
        run([], [row(M), row(M)])
    with pytest.raises(ValueError):
        Snapshot(uid="x", meeting=M)


def test_update_carries_what_exchange_holds() -> None:
    (update,) = run([snap(appt("m"))], [row(M)])
    assert isinstance(update, Update) and update.previous == M
    (cancel,) = run([], [row(M)])
    assert isinstance(cancel, Cancel) and cancel.previous == M


# Modules that mean I/O (or the SQLite half of bridge.state) once they are imported.
_IO_MODULES = (
    "sqlite3", "sqlite_utils", "socket", "logging", "requests",
    "bridge.state.base", "bridge.state.store",
)


@pytest.mark.parametrize("module", ["bridge.plan", "bridge.state.rows", "bridge.state"])
def test_pure_modules_import_nothing_that_does_io(module: str) -> None:
    """The planner and the row types it takes must load without SQLite, sockets or logging;
    `bridge.state` itself loads `State` (and SQLite) only when `State` is first used."""
    code = (
        f"import sys; import {module}; "
        f"print(sorted(set({_IO_MODULES!r}) & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_state_loads_sqlite_on_first_use() -> None:
    code = (
        "import sys, bridge.state; before = 'sqlite3' in sys.modules; "
        "from bridge.state import State; print(before, 'sqlite3' in sys.modules, State.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "State"]


# -- the state machine -----------------------------------------------------------------------

UIDS = ("u0", "u1", "u2", "u3", "u4", "u5")
MACHINE_GRACE = timedelta(minutes=10)
PEOPLE = ("ann@example.org", "bob@example.org", "cid@example.org")


@dataclass
class Sent:
    """A message that reached attendees in the model."""

    method: str  # REQUEST or CANCEL
    uid: str
    sequence: int


class PlannerMachine(RuleBasedStateMachine):
    """Plan -> apply (to model rows and a model Exchange) -> plan again, under edits,
    DTSTAMP-only re-saves, deletions, cancellations, broken files and failing actions."""

    def __init__(self) -> None:
        super().__init__()
        self.calendar: dict[str, Snapshot] = {}
        self.rows: dict[str, ItemRow] = {}
        self.exchange: dict[str, Meeting] = {}
        self.outbox: list[Sent] = []
        self.cancels: Counter[str] = Counter()  # per UID since it was last created on Exchange
        self.now = NOW
        self.etags = 0
        self.fail_next = False
        self.last_holds: list[Hold] = []
        self.gone: dict[str, datetime] = {}  # the engine's memory: the last pass's Defers
        self.deleted: dict[str, Snapshot] = {}

    # -- the user edits the calendar

    def _put(self, meeting: Meeting, **kw: object) -> None:
        self.etags += 1
        self.calendar[meeting.uid] = Snapshot(
            uid=meeting.uid, meeting=meeting, href=f"{meeting.uid}.ics",
            etag=f'"{self.etags}"', **kw,  # type: ignore[arg-type]
        )

    def _current(self, uid: str) -> Meeting | None:
        found = self.calendar.get(uid)
        return found.meeting if found is not None else None

    @rule(uid=st.sampled_from(UIDS), organizer=st.sampled_from([OWNER, BOSS, None]),
          attendees=st.lists(st.sampled_from(PEOPLE), max_size=2, unique=True),
          sequence=st.integers(0, 2))
    def create(self, uid: str, organizer: str | None, attendees: list[str],
               sequence: int) -> None:
        if self._current(uid) is None:
            self._put(mtg(uid, organizer=organizer, attendees=tuple(attendees),
                          sequence=sequence))

    @rule(uid=st.sampled_from(UIDS), bump=st.booleans())
    def edit_meaningful(self, uid: str, bump: bool) -> None:
        current = self._current(uid)
        if current is not None:
            self._put(replace(current, summary=current.summary + "+",
                              sequence=current.sequence + bump))

    @rule(uid=st.sampled_from(UIDS))
    def drop_attendees(self, uid: str) -> None:
        current = self._current(uid)
        if current is not None:
            self._put(replace(current, attendees=()))

    @rule(uid=st.sampled_from(UIDS), stamp=st.integers(0, 10**6))
    def resave_dtstamp_only(self, uid: str, stamp: int) -> None:
        current = self._current(uid)
        if current is not None:
            people = tuple(replace(a, partstat="ACCEPTED") for a in current.attendees)
            self._put(replace(current, attendees=people, extra={"DTSTAMP": str(stamp)}))

    @rule(uid=st.sampled_from(UIDS))
    def delete(self, uid: str) -> None:
        found = self.calendar.pop(uid, None)
        if found is not None:
            self.deleted[uid] = found

    @rule(uid=st.sampled_from(UIDS))
    def put_back(self, uid: str) -> None:
        """A client's move: the event comes back (unchanged) after a DELETE."""
        if uid not in self.calendar and uid in self.deleted:
            self.calendar[uid] = self.deleted.pop(uid)

    @rule(uid=st.sampled_from(UIDS))
    def set_status_cancelled(self, uid: str) -> None:
        current = self._current(uid)
        if current is not None:
            self._put(replace(current, status="CANCELLED"))

    @rule(uid=st.sampled_from(UIDS))
    def break_file(self, uid: str) -> None:
        if uid in self.calendar:
            self.etags += 1
            self.calendar[uid] = Snapshot(uid=uid, meeting=None, etag=f'"{self.etags}"',
                                          error="cannot parse DTSTART")

    @rule(uid=st.sampled_from(UIDS))
    def make_inexpressible(self, uid: str) -> None:
        current = self._current(uid)
        if current is not None:
            self._put(replace(current, summary=current.summary + " (hourly)"),
                      skipped="a rule Exchange 2003 cannot hold")

    # -- the world

    @rule()
    def next_action_fails(self) -> None:
        self.fail_next = True

    @rule(minutes=st.integers(1, 90))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    # -- the engine

    @rule(allow=st.booleans())
    def sync(self, allow: bool) -> None:
        failed_before = self.fail_next
        actions = self._plan(allow)
        self._check_plan(actions)
        failed = self._apply(actions)
        self._note_seen()
        self.gone = {a.uid: a.since for a in actions if isinstance(a, Defer)}
        again = self._plan(allow)
        # Planning twice gives nothing but the (stable) holds and deferrals; a failure waits.
        assert all(isinstance(a, Hold | Defer) for a in again), again
        assert again == [a for a in actions if isinstance(a, Hold | Defer)]
        held = {uid for h in again if isinstance(h, Hold) for uid in h.uids}
        if not failed and not held and not failed_before and not self.gone:
            self._check_converged()

    def _plan(self, allow: bool) -> list[Action]:
        return plan(OWNER, list(self.calendar.values()), list(self.rows.values()),
                    allow_mass_cancel=allow, now=self.now, cancel_grace=MACHINE_GRACE,
                    gone_since=self.gone)

    def _check_plan(self, actions: list[Action]) -> None:
        uids = [a.uid for a in actions if not isinstance(a, Hold)]
        assert len(uids) == len(set(uids)), "one action per UID"
        for a in actions:
            current = self.rows.get(a.uid) if not isinstance(a, Hold) else None
            if isinstance(a, Create):
                assert current is None or current.status != "synced", "Create of a synced UID"
            if isinstance(a, Cancel):
                # never on behalf of someone else: what was sent was ours
                assert current is not None and current.kind == "meeting"
                assert a.previous is None or a.previous.organizer in (OWNER, None)
            if isinstance(a, Cancel | Delete) and a.uid not in self.calendar:
                # a deleted event is removed only after the grace period since first seen gone
                assert a.uid in self.gone and self.now >= self.gone[a.uid] + MACHINE_GRACE
            if isinstance(a, Defer):
                assert a.uid not in self.calendar and a.until > self.now
            if isinstance(a, Cancel | Delete):
                # only a deletion or STATUS:CANCELLED removes; a broken file never does
                found = self.calendar.get(a.uid)
                assert found is None or (
                    found.error is None and found.meeting is not None
                    and found.meeting.status == "CANCELLED"
                ) or (current is not None and current.status == "skipped"
                      and current.sent_hash is None), f"{a} while the calendar has {found}"
            if isinstance(a, Create | Update):
                sends = a.send_invites if isinstance(a, Create) else a.send_update
                if a.kind == "foreign":
                    assert not sends, "a message for a foreign meeting"

    def _apply(self, actions: list[Action]) -> bool:
        """Apply as the engine would; returns whether an action failed."""
        failed = False
        for a in actions:
            if isinstance(a, Hold | Defer):
                continue
            row = self.rows.get(a.uid) or ItemRow(mailbox="me", uid=a.uid)
            if isinstance(a, Skip | Reject):
                self.rows[a.uid] = replace(
                    row, skip_reason=a.reason, content_hash=a.content_hash,
                    radicale_etag=a.etag,
                    status="skipped" if row.sent_hash is None else row.status)
                continue
            if self.fail_next:  # the Exchange request fails before any side effect
                self.fail_next, failed = False, True
                attempts = row.attempts + 1
                kind = a.kind if isinstance(a, Create | Update) else row.kind
                self.rows[a.uid] = replace(row, status="failed", attempts=attempts, kind=kind,
                                           next_attempt_at=self.now + backoff_delay(attempts))
                continue
            if isinstance(a, Create | Update):
                sends = a.send_invites if isinstance(a, Create) else a.send_update
                if sends:
                    self._send("REQUEST", a.uid, a.sequence)
                if isinstance(a, Create):
                    self.cancels[a.uid] = 0
                self.exchange[a.uid] = a.meeting
                digest = a.meeting.content_hash()
                self.rows[a.uid] = replace(
                    row, status="synced", kind=a.kind, sent_hash=digest, content_hash=digest,
                    sent_sequence=a.sequence, snapshot=a.meeting, attempts=0,
                    next_attempt_at=None, skip_reason=None)
            elif isinstance(a, Cancel | Delete):
                if isinstance(a, Cancel):
                    self._send("CANCEL", a.uid, a.sequence)
                    self.cancels[a.uid] += 1
                    assert self.cancels[a.uid] == 1, "a second cancellation"
                self.exchange.pop(a.uid, None)
                self.rows[a.uid] = replace(
                    row, status="cancelled", attempts=0, next_attempt_at=None, skip_reason=None,
                    sent_sequence=a.sequence if isinstance(a, Cancel) else row.sent_sequence)
        return failed

    def _send(self, method: str, uid: str, sequence: int) -> None:
        earlier = [s.sequence for s in self.outbox if s.uid == uid]
        assert not earlier or sequence > max(earlier), "SEQUENCE must grow with every message"
        self.outbox.append(Sent(method, uid, sequence))

    def _note_seen(self) -> None:
        """The engine's `State.note_seen` for events that read fine."""
        for uid, found in self.calendar.items():
            current = self.rows.get(uid)
            if current is not None and found.meeting is not None and not (
                    found.skipped or found.error):
                self.rows[uid] = replace(current, radicale_etag=found.etag,
                                         content_hash=found.meeting.content_hash(),
                                         skip_reason=None)

    def _check_converged(self) -> None:
        """After a clean pass Exchange mirrors the calendar, and every owned meeting that was
        removed got exactly one cancellation."""
        for uid in UIDS:
            found = self.calendar.get(uid)
            row = self.rows.get(uid)
            if row is not None and row.status == "failed":
                continue  # waiting for its retry
            if found is not None and (found.error or found.skipped):
                continue  # Exchange keeps what it had
            event = found.meeting if found is not None else None
            if event is None or event.status == "CANCELLED":
                assert uid not in self.exchange
                if row is not None and row.kind == "meeting" and row.sent_hash:
                    assert self.cancels[uid] == 1, f"{uid}: {self.cancels[uid]} cancellations"
            else:
                assert uid in self.exchange
                assert self.exchange[uid].content_hash() == event.content_hash()


TestPlannerMachine = PlannerMachine.TestCase
