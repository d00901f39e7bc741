"""The sync engine's pass loop: read calendars, plan, apply, one mailbox at a time.

Size: over 400 lines because the pass loop, its locks and the work-list adapter that decides
what a pass reads are one sequence; recipes, recovery, failures and outages have modules of
their own.

Rules kept here:
- A pass over a mailbox first settles interrupted operations (`bridge.recovery`, and the
  answers to pulled invitations, `bridge.answering`), then plans
  (`bridge.plan`, pure) and applies each action through its journaled recipe
  (`bridge.recipes`). This module only applies what the planner decided: deferrals included.
  Last, the user's answers to pulled invitations among the events read go out
  (`bridge.answering`, the only code that sends for an event the pull wrote).
- One bad item never blocks the others: each action runs in its own try/except; an expected
  failure is one log line, an unexpected one (a bug) is logged once with its traceback
  (`bridge.failures`). Only transient failures back off; a permanent refusal is terminal.
- An outage is a condition of the server, not of an item (`bridge.outage`): the mailbox pauses,
  the item spends no attempt, nothing else is tried this pass, and the next pass starts with a
  probe; once Exchange answers, everything goes out exactly once (the journal knows what was
  started).
- A pass costs what changed: the service's passes read only what the `changes` rows and the
  collections' signatures say moved (`bridge.worklist`), and unchanged files are not parsed
  again (`bridge.snapshots`); the full reconcile (`sync(full=True)`) reads every calendar.
- One mailbox is handled by one worker at a time, across threads (a lock) and processes
  (`flock` on state/locks/<mailbox>.lock); mailboxes run in parallel up to `sync.workers`.
- Users come from the configuration, plus those provisioned at run time (`add_user`: people
  who log in with their Exchange password, bridge/provisioning.py). Adding one swaps in a new
  frozen `Config` under a lock: a pass reads `self.config` once per use and sees either the old
  list or the new one, never half of it.
- What the engine keeps in memory is bounded by the calendars: first-seen-gone times are the
  planner's Defers of the mailbox's last pass.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from bridge import plan, worklist
from bridge.answering import Answering
from bridge.calendars import CalendarEvent, CalendarStore
from bridge.collection_tokens import CollectionTokens
from bridge.config import Config, UserConfig
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox
from bridge.failures import describe, log_failure, record_failure
from bridge.journal import StepHook
from bridge.operations import Location, payload_for
from bridge.outage import Outages
from bridge.recipes import Recipes
from bridge.recovery import recover
from bridge.report import (
    Deferred,
    Done,
    Failed,
    Held,
    MailboxReport,
    Paused,
    Planned,
    ReportLine,
    Skipped,
)
from bridge.snapshots import CalendarSource, Event, SnapshotReader
from bridge.state import ItemRow, State

__all__ = ["Crash", "Engine", "MailboxReport", "ReportLine"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Crash(BaseException):
    """Raised by a test hook to simulate the process dying between two steps.

    A BaseException, so that no `except Exception` on the way records anything: like a
    killed process, it leaves the journal exactly as it was at that moment."""


class _Paused(Exception):
    """Exchange does not answer this mailbox: stop the pass, record nothing against items."""


class Engine:
    """Syncs every configured user's calendars to their Exchange mailbox."""

    def __init__(
        self,
        config: Config,
        state: State,
        calendars: CalendarSource,
        *,
        clock: Clock | None = None,
        step_hook: StepHook | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.calendars = calendars
        self._work: dict[str, worklist.UserWork] = {}  # this pass: user -> what to read
        self.snapshots = SnapshotReader(_WorkListSource(calendars, self._work), config.timezone,
                                        pulled_uid=self._is_pulled)
        self.tokens = CollectionTokens(state.path)
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        # Test seam (bridge.journal.StepHook) around every side effect.
        self._step_hook = step_hook
        self._zone = zoneinfo.ZoneInfo(config.timezone)
        # A request that timed out may still be carried out by the server afterwards: its
        # outcome is read back only once it cannot be in flight any more.
        self._settle = timedelta(seconds=max(60.0, 2 * config.timeout))
        self._grace = timedelta(seconds=config.cancel_grace)
        # Per mailbox, replaced at the end of each pass (so bounded by what is there now):
        # when the planner's deferred removals were first seen gone (in memory: a restart only
        # restarts a wait of `cancel_grace`).
        self._gone: dict[str, dict[str, datetime]] = {}
        self._outages = Outages()
        self._memory_lock = threading.Lock()
        self.wake_at: datetime | None = None  # when a deferred item becomes due
        self._mailboxes: dict[str, Mailbox] = {}
        self._mailboxes_lock = threading.Lock()
        self._user_locks = {u.name: threading.Lock() for u in config.users}
        self._users_lock = threading.Lock()  # serializes `add_user`
        self._lock_dir = config.state_dir / "locks"
        # Set by the service to its pull job's `before_push` (bridge.pull.job): runs inside
        # the mailbox lock before a pass changes or removes meetings already on Exchange.
        self.before_push: Callable[[UserConfig, list[str]], None] | None = None
        self.answering = Answering(
            state, calendars.configuration if isinstance(calendars, CalendarStore) else None,
            clock=self._clock, settle=self._settle, hook=step_hook,
            calendar=config.default_calendar)

    def _is_pulled(self, user: str, uid: str) -> bool:
        """Is `uid` an event the pull wrote for `user` (see `SnapshotReader`)?"""
        mailbox = next((u.mailbox for u in self.config.users if u.name == user), None)
        return mailbox is not None and self.state.pulled(mailbox, uid) is not None

    def close(self) -> None:
        self.tokens.close()  # reopened if a pass still running needs it
        with self._mailboxes_lock:
            for mailbox in self._mailboxes.values():
                mailbox.session.close()
            self._mailboxes.clear()

    def add_user(self, user: UserConfig) -> bool:
        """Sync `user` from the next pass on (safe while a pass runs); False when known."""
        with self._users_lock:
            if any(u.name == user.name for u in self.config.users):
                return False
            self._user_locks.setdefault(user.name, threading.Lock())
            self.config = replace(self.config, users=(*self.config.users, user))
        logger.info("%s is synced from now on (mailbox %s)", user.name, user.mailbox)
        return True

    @property
    def paused(self) -> dict[str, str]:
        """Users whose Exchange did not answer in their last pass, and why."""
        return self._outages.paused()

    # -- entry points ------------------------------------------------------------------------

    def sync(
        self,
        users: list[str] | None = None,
        *,
        dry_run: bool = False,
        allow_mass_cancel: bool = False,
        full: bool = True,
    ) -> list[MailboxReport]:
        """One pass over `users` (default: all); returns a report per user visited.

        `full=False` (the service's wake-ups and interval passes): only what the ``changes``
        rows and the collections' signatures say moved is read and planned, and a user with
        nothing to do is not visited (`bridge.worklist`). `full=True` (the reconcile, and every
        CLI pass) reads every calendar. Either way a change row is acknowledged only by a pass
        that processed it and did not fail or pause as a whole.
        """
        chosen = [self.config.user(name) for name in users] if users else list(self.config.users)
        self.wake_at = None
        work = self._work_list(chosen, full=full or dry_run or allow_mass_cancel)
        visit = [u for u in chosen if u.name in work.users]
        self._work.clear()
        self._work.update(work.users)
        workers = max(1, min(self.config.workers, len(visit) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
            reports = list(
                pool.map(lambda u: self._sync_user(u, dry_run, allow_mass_cancel), visit)
            )
        if dry_run:
            return reports
        acked = list(work.ack_now)
        for user, report in zip(visit, reports, strict=True):
            if any(line.action == "pass" for line in report.lines):
                continue  # failed or paused as a whole: its rows stay, it is read again
            user_work = work.users[user.name]
            acked.extend(user_work.change_ids)
            self.tokens.replace(user.name, user_work.signatures)
        for name, signatures in work.settled.items():
            self.tokens.replace(name, signatures)
        if acked:
            self.tokens.ack(acked)
        return reports

    def _work_list(self, chosen: list[UserConfig], *, full: bool) -> worklist.WorkList:
        names = [u.name for u in chosen]
        store = self.calendars
        signatures: dict[str, dict[str, str]] = {}
        if isinstance(store, _Signed):
            with store.read_lock():
                # Under Radicale's lock: every write so far has its rows, none is half done.
                changes = self.state.pending_changes(include_bridge=True)
                signatures = store.signatures(names)
        else:  # a source that cannot say what moved: read it all
            full = True
            changes = self.state.pending_changes(include_bridge=True)
        by_mailbox = {u.mailbox: u.name for u in chosen}
        forced: dict[str, str] = {}
        for mailbox in self.tokens.busy_mailboxes():
            if mailbox in by_mailbox:
                forced[by_mailbox[mailbox]] = "unfinished operation or held cancellations"
        with self._memory_lock:
            for mailbox, deferred in self._gone.items():
                if deferred and mailbox in by_mailbox:
                    forced[by_mailbox[mailbox]] = "a deleted event waits for its cancellation"
        for name in self.paused:  # the pass starts with the probe (bridge.outage)
            forced[name] = "paused: Exchange did not answer"
        retry = {
            by_mailbox[m]: uids
            for m, uids in self.tokens.due_retries(self._clock()).items()
            if m in by_mailbox
        }
        known = {u.name for u in self.config.users}
        wanted = set(names)
        # Only the users asked for: rows of the others stay for their own pass.
        mine = [c for c in changes if c.user in wanted or c.user not in known]
        return worklist.build(
            names, mine, signatures, self.tokens.stored(), forced=forced, retry_uids=retry,
            full=full,
        )

    def freebusy(
        self,
        addresses: list[str],
        start: datetime,
        end: datetime,
        interval: int,
        *,
        user: str | None = None,
    ) -> dict[str, str]:
        """Free/busy digits per address, asked through `user`'s (default: first) session."""
        who = self.config.user(user) if user else self.config.users[0]
        return self.mailbox_for(who).freebusy(addresses, start, end, interval)

    def mailbox_for(self, user: UserConfig) -> Mailbox:
        with self._mailboxes_lock:
            mailbox = self._mailboxes.get(user.name)
            if mailbox is None:
                mailbox = Mailbox(
                    ExchangeSession(self._session_config(user)),
                    user.mailbox,
                    user.email,
                    zone=self._zone,
                )
                self._mailboxes[user.name] = mailbox
            return mailbox

    def recipes_for(self, user: UserConfig) -> Recipes:
        return Recipes(
            self.state,
            user,
            self.mailbox_for(user),
            clock=self._clock,
            settle=self._settle,
            hook=self._step_hook,
        )

    # -- one mailbox -------------------------------------------------------------------------

    def _sync_user(
        self, user: UserConfig, dry_run: bool, allow_mass_cancel: bool
    ) -> MailboxReport:
        report = MailboxReport(user.name)
        with self._exclusive(user):
            run_id = self.state.start_run(user.mailbox, now=self._clock()) if not dry_run else 0
            try:
                self._pass(user, report, dry_run, allow_mass_cancel)
            except _Paused as paused:
                report.paused = str(paused)
                report.add("pass", "-", Paused(str(paused)))
            except Exception as error:  # the whole mailbox failed (e.g. discovery): report it
                log_failure(f"sync of {user.name}", error)
                report.add("pass", "-", Failed(str(error)))
            if not dry_run:
                self.state.finish_run(
                    run_id, counts=report.counts(), errors=report.errors(), now=self._clock()
                )
        return report

    def _pass(
        self, user: UserConfig, report: MailboxReport, dry_run: bool, allow_mass_cancel: bool
    ) -> None:
        mailbox_name = user.mailbox
        now = self._clock()
        blocked: set[str] = set()
        unsettled_answers: set[str] = set()
        if not dry_run:
            if user.name in self.paused:
                still_down = self._outages.probe(user.name, self.mailbox_for(user))
                if still_down is not None:
                    raise _Paused(still_down)
            recovered = recover(
                self.recipes_for(user), report, now, on_outage=lambda e: self._pause_on(user, e)
            )
            blocked = recovered.blocked
            self._wake(recovered.due)
            unsettled_answers = self._resume_answers(user, report)
        rows, snapshots = self._read(user)
        actions = self._plan(user, snapshots, rows, allow_mass_cancel, now)
        if not self._reads_all(user) and any(
            isinstance(a, plan.Cancel | plan.Delete | plan.Hold | plan.Defer) for a in actions
        ):
            # A removal is judged against the whole mailbox (mass-cancellation guard, grace).
            rows, snapshots = self._read_all(user, "removal")
            actions = self._plan(user, snapshots, rows, allow_mass_cancel, now)
        changing = [a.uid for a in actions if isinstance(a, plan.Update | plan.Cancel | plan.Delete)
                    and a.uid not in blocked]
        if not dry_run and self.before_push is not None and changing:
            self.before_push(user, changing)  # settle OWA edits first (bridge.pull.job)
        by_uid = {s.uid: s for s in snapshots if not s.gone}
        held = False
        deferred: dict[str, datetime] = {}
        for action in actions:
            if isinstance(action, plan.Hold):
                held = True
                report.add("hold", f"{action.count} meetings", Held(action.reason))
                if not dry_run:
                    self.state.set_hold(mailbox_name, action.uids, action.reason, now=now)
                continue
            name = type(action).__name__.lower()
            if dry_run:
                report.add(name, action.uid, Planned(action.reason))
                continue
            if action.uid in blocked:
                continue
            if isinstance(action, plan.Defer):
                deferred[action.uid] = action.since
                self._wake(action.until)
                report.add(name, action.uid, Deferred(action.reason, until=action.until))
                continue
            self._apply_one(user, report, action, by_uid.get(action.uid))
        if not dry_run:
            with self._memory_lock:
                self._gone[mailbox_name] = deferred
            if not held:
                self.state.clear_hold(mailbox_name)
            self._note_seen(mailbox_name, snapshots, actions, rows)
            self._answer(user, report, unsettled_answers)

    def _plan(
        self,
        user: UserConfig,
        snapshots: list[plan.Snapshot],
        rows: list[ItemRow],
        allow_mass_cancel: bool,
        now: datetime,
    ) -> list[plan.Action]:
        with self._memory_lock:
            gone_since = dict(self._gone.get(user.mailbox, {}))
        return plan.plan(
            user.email,
            snapshots,
            rows,
            delegates=frozenset(user.delegates),
            allow_mass_cancel=allow_mass_cancel,
            mass_cancel_threshold=self.config.mass_cancel_threshold,
            mass_cancel_min=self.config.mass_cancel_min,
            cancel_grace=self._grace,
            gone_since=gone_since,
            now=now,
        )

    def _reads_all(self, user: UserConfig) -> bool:
        work = self._work.get(user.name)
        return work is None or work.full

    def _read(self, user: UserConfig) -> tuple[list[ItemRow], list[plan.Snapshot]]:
        """The rows and the calendar events this pass plans: all of them, or (work list) the
        changed places and every row they may concern (`_WorkListSource` reads the files)."""
        if self._reads_all(user):
            rows = self.state.items(user.mailbox)
            return rows, self.snapshots.read(user.name, rows)
        work = self._work[user.name]
        where = self.tokens.places_of(user.mailbox, work.uids)
        if any(place is None for place in where.values()):
            return self._read_all(user, "a row has no place")
        places = set(work.places) | {p for p in where.values() if p is not None}
        self._work[user.name] = replace(work, places=frozenset(places))
        uids = set(work.uids) | self.tokens.uids_at(user.mailbox, places)
        rows = [r for uid in sorted(uids) if (r := self.state.get_item(user.mailbox, uid))]
        snapshots = self.snapshots.read(user.name, rows)
        # An event found here may belong to a row recorded elsewhere (a UID that moved, or a
        # second file with the same UID), and a row may point elsewhere: only the whole
        # picture can tell which.
        have = {r.uid for r in rows}
        for snap in snapshots:
            if not snap.gone and snap.uid not in have:
                if self.state.get_item(user.mailbox, snap.uid) is not None:
                    return self._read_all(user, "a UID moved")
        for row in rows:
            if row.collection and row.href and (row.collection, row.href) not in places:
                if row.status != "cancelled":
                    return self._read_all(user, "a UID moved")
        return rows, snapshots

    def _read_all(
        self, user: UserConfig, reason: str
    ) -> tuple[list[ItemRow], list[plan.Snapshot]]:
        self._work[user.name] = replace(self._work[user.name], full=True, reason=reason)
        return self._read(user)

    def _apply_one(
        self,
        user: UserConfig,
        report: MailboxReport,
        action: plan.ItemAction,
        snap: plan.Snapshot | None,
    ) -> None:
        name = type(action).__name__.lower()
        if isinstance(action, plan.Skip | plan.Reject):
            self.state.mark_skipped(
                user.mailbox,
                action.uid,
                action.reason,
                error=action.error if isinstance(action, plan.Reject) else None,
                content_hash=action.content_hash,
                radicale_etag=action.etag,
                collection=snap.collection if snap else None,
                href=snap.href if snap else None,
            )
            report.add(name, action.uid, Skipped(action.reason))
            return
        try:
            self._apply(user, action, snap)
        except Exception as error:
            self._pause_on(user, error)
            log_failure(f"{name} {action.uid} for {user.name}", error)
            failed = describe(error)
            meeting = getattr(action, "meeting", None)
            record_failure(
                self.state,
                user.mailbox,
                action.uid,
                failed,
                self._clock(),
                content_hash=meeting.content_hash() if meeting is not None else None,
                radicale_etag=snap.etag if snap is not None and meeting is not None else None,
            )
            report.add(name, action.uid, failed)
            return
        report.add(name, action.uid, Done(action.reason))
        logger.info("%s: %s %s (%s)", user.name, name, action.uid, action.reason)

    def _apply(self, user: UserConfig, action: plan.ItemAction, snap: plan.Snapshot | None) -> None:
        """Run the journaled recipe of one Create, Update, Cancel or Delete."""
        if self.state.get_item(user.mailbox, action.uid) is None:
            self.state.upsert_item(ItemRow(user.mailbox, action.uid, status="pending"))
        row = self.state.get_item(user.mailbox, action.uid)
        payload = payload_for(action, row.sent_sequence if row is not None else None)
        where = Location(snap.collection, snap.href, snap.etag) if snap else Location()
        self.recipes_for(user).perform(action.uid, payload, [], where)

    # -- answers to pulled invitations (bridge.answering) -----------------------------------

    def _resume_answers(self, user: UserConfig, report: MailboxReport) -> set[str]:
        """Settle the user's interrupted answers; returns the UIDs still unsettled."""
        if not self.state.open_answers(user.mailbox):
            return set()
        found = self.answering.resume(user, self.mailbox_for(user), report,
                                      on_outage=lambda e: self._pause_on(user, e))
        self._wake(found.due)
        return found.blocked

    def _answer(self, user: UserConfig, report: MailboxReport, unsettled: set[str]) -> None:
        events = self.snapshots.take_pulled(user.name)
        if events:
            self.answering.answer(user, self.mailbox_for(user), events, report,
                                  full=self._reads_all(user), blocked=unsettled,
                                  on_outage=lambda e: self._pause_on(user, e))

    def _pause_on(self, user: UserConfig, error: Exception) -> None:
        """Raise `_Paused` when `error` means Exchange does not answer (`bridge.outage`)."""
        reason = self._outages.confirm(user.name, self.mailbox_for(user), error)
        if reason is not None:
            raise _Paused(reason) from error

    def _wake(self, due: datetime | None) -> None:
        if due is not None:
            with self._memory_lock:
                self.wake_at = due if self.wake_at is None else min(self.wake_at, due)

    def _note_seen(
        self,
        mailbox: str,
        snapshots: list[plan.Snapshot],
        actions: list[plan.Action],
        rows: list[ItemRow],
    ) -> None:
        """Refresh the Radicale side of synced items that changed only in unmeaningful ways
        (rows read at the start of the pass are current for every item no action touched)."""
        touched = {a.uid for a in actions if not isinstance(a, plan.Hold)}
        by_uid = {r.uid: r for r in rows}
        for snap in snapshots:
            if snap.meeting is None or snap.uid in touched or snap.skipped or snap.error:
                continue
            row = by_uid.get(snap.uid)
            if row is not None and row.status == "synced" and row.radicale_etag != snap.etag:
                self.state.note_seen(
                    mailbox,
                    snap.uid,
                    collection=snap.collection,
                    href=snap.href,
                    radicale_etag=snap.etag,
                    content_hash=snap.meeting.content_hash(),
                )

    # -- plumbing ----------------------------------------------------------------------------

    def _session_config(self, user: UserConfig) -> SessionConfig:
        config = self.config
        if config.service_username is not None and config.service_password is not None:
            credentials = Credentials(config.service_username, config.service_password.reveal())
        else:
            assert user.exchange_username is not None and user.exchange_password is not None
            credentials = Credentials(user.exchange_username, user.exchange_password.reveal())
        return SessionConfig(
            server_url=config.server_url(),
            credentials=credentials,
            auth=config.auth,  # type: ignore[arg-type]  # config validated it
            verify=config.verify,
            insecure=config.insecure,
            read_timeout=config.timeout,
        )

    @contextmanager
    def _exclusive(self, user: UserConfig) -> Iterator[None]:
        """One worker per mailbox: a thread lock, then a file lock shared with other processes."""
        with self._user_locks.setdefault(user.name, threading.Lock()):
            self._lock_dir.mkdir(parents=True, exist_ok=True)
            path = self._lock_dir / f"{_safe(user.mailbox)}.lock"
            with open(path, "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)


@runtime_checkable
class _Signed(Protocol):
    """A calendar source that can say what moved (`bridge.calendars.CalendarStore`)."""

    def events(self, user: str) -> Sequence[CalendarEvent]: ...
    def read_lock(self) -> AbstractContextManager[None]: ...
    def signatures(self, users: Sequence[str]) -> dict[str, dict[str, str]]: ...
    def events_at(
        self, user: str, places: Iterable[tuple[str, str]]
    ) -> Sequence[CalendarEvent]: ...


class _WorkListSource:
    """The calendars as this pass's work list lets the snapshot reader see them: every event
    of a user read in full, only the listed places of a user read partially."""

    def __init__(self, calendars: CalendarSource, work: dict[str, worklist.UserWork]) -> None:
        self._calendars = calendars
        self._work = work

    def events(self, user: str) -> Sequence[Event]:
        work = self._work.get(user)
        if work is not None and not work.full and isinstance(self._calendars, _Signed):
            return self._calendars.events_at(user, work.places)
        return self._calendars.events(user)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"

