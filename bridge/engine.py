"""The sync engine: read calendars, plan, and apply each action to Exchange exactly once.

Rules kept here (design §4):
- Every Exchange side effect is journaled in `outbox` *before* the request and marked done
  *after* it. An interrupted operation is finished before anything else happens to its item:
  a step that was started but not marked done is first checked against the server (draft still
  in Drafts? sequence already bumped? cancellation draft already made?) and only repeated when
  the check says it did not happen. So a crash between any two requests never produces a second
  invitation, update or cancellation, and never loses one.
- One bad item never blocks the others: each action runs in its own try/except; a failure is
  recorded with an exponential back-off and the pass goes on.
- One mailbox is handled by one worker at a time, across threads (a lock) and processes
  (`flock` on state/locks/<mailbox>.lock); mailboxes run in parallel up to `sync.workers`.
"""

from __future__ import annotations

import fcntl
import logging
import secrets
import threading
import zoneinfo
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bridge import ical, plan
from bridge.calendars import CalendarStore
from bridge.config import Config, UserConfig
from bridge.exchange import errors
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox
from bridge.journal import JournaledRun, StepHook
from bridge.meeting import Meeting
from bridge.meeting_codec import decode_meeting, encode_meeting
from bridge.state import ItemRow, JournalEntry, State

__all__ = ["Engine", "MailboxReport", "ReportLine"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]

REQUEST = "IPM.Schedule.Meeting.Request"
CANCELED = "IPM.Schedule.Meeting.Canceled"
def _as_organizer(meeting: Meeting, user: UserConfig, kind: str) -> Meeting:
    """The meeting as this mailbox sends it: a meeting it organizes (including one whose
    ORGANIZER line changed after it sent the invitations, see plan's sticky ownership) goes
    out with the mailbox as organizer, which is what Exchange accepts from it."""
    owners = {user.email, *user.delegates}
    if kind == "meeting" and meeting.organizer not in owners:
        return replace(meeting, organizer=user.email)
    return meeting


# The fields an attendee sees in the request; an adopted meeting is re-sent only if they differ.
def _visible(meeting: Meeting) -> tuple[object, ...]:
    return (
        meeting.start_utc(),
        meeting.end_utc(),
        meeting.summary,
        meeting.location,
        sorted(a.email for a in meeting.invitees()),
    )


@dataclass(frozen=True)
class ReportLine:
    action: str
    uid: str
    result: str


@dataclass
class MailboxReport:
    user: str
    lines: list[ReportLine] = field(default_factory=list)
    failed: int = 0

    def add(self, action: str, uid: str, result: str) -> None:
        self.lines.append(ReportLine(action, uid, result))


class Crash(BaseException):
    """Raised by a test hook to simulate the process dying between two steps.

    A BaseException, so that no `except Exception` on the way records anything: like a
    killed process, it leaves the journal exactly as it was at that moment."""


class Engine:
    """Syncs every configured user's calendars to their Exchange mailbox."""

    def __init__(
        self,
        config: Config,
        state: State,
        calendars: CalendarStore,
        *,
        clock: Clock | None = None,
        step_hook: StepHook | None = None,
    ) -> None:
        self.config = config
        self.state = state
        self.calendars = calendars
        self._clock = clock or (lambda: datetime.now(UTC))
        # Test seam (bridge.journal.StepHook) around every side effect.
        self._step_hook = step_hook
        self._zone = zoneinfo.ZoneInfo(config.timezone)
        # A request that timed out may still be carried out by the server afterwards: its
        # outcome is read back only once it cannot be in flight any more.
        self._settle = timedelta(seconds=max(60.0, 2 * config.timeout))
        # Deleted events wait `cancel_grace` before they are cancelled (a DELETE then PUT move
        # must not cancel and re-invite); first-seen-gone times live in memory: a restart only
        # restarts the wait.
        self._grace = timedelta(seconds=config.cancel_grace)
        self._gone_since: dict[tuple[str, str], datetime] = {}
        self._gone_lock = threading.Lock()
        self.wake_at: datetime | None = None  # when a deferred cancellation becomes due
        self._mailboxes: dict[str, Mailbox] = {}
        self._mailboxes_lock = threading.Lock()
        self._user_locks = {u.name: threading.Lock() for u in config.users}
        self._lock_dir = config.state_dir / "locks"

    def close(self) -> None:
        with self._mailboxes_lock:
            for mailbox in self._mailboxes.values():
                mailbox.session.close()
            self._mailboxes.clear()

    # -- entry points ------------------------------------------------------------------------

    def sync(
        self,
        users: list[str] | None = None,
        *,
        dry_run: bool = False,
        allow_mass_cancel: bool = False,
    ) -> list[MailboxReport]:
        """One pass over `users` (default: all); returns a report per user."""
        chosen = [self.config.user(name) for name in users] if users else list(self.config.users)
        self.wake_at = None
        pending = self.state.pending_changes(include_bridge=True) if not dry_run else []
        latest_change = pending[-1].id if pending else None
        workers = max(1, min(self.config.workers, len(chosen)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
            reports = list(
                pool.map(lambda u: self._sync_user(u, dry_run, allow_mass_cancel), chosen)
            )
        if latest_change is not None:
            self.state.ack_changes(latest_change)
        return reports

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

    # -- one mailbox -------------------------------------------------------------------------

    def _sync_user(
        self, user: UserConfig, dry_run: bool, allow_mass_cancel: bool
    ) -> MailboxReport:
        report = MailboxReport(user.name)
        with self._exclusive(user):
            run_id = self.state.start_run(user.mailbox, now=self._clock()) if not dry_run else 0
            try:
                self._pass(user, report, dry_run, allow_mass_cancel)
            except Exception as error:  # the whole mailbox failed (e.g. discovery): report it
                logger.error("sync of %s failed: %s", user.name, error)
                report.failed += 1
                report.add("pass", "-", f"failed: {error}")
            if not dry_run:
                counts: dict[str, int] = {}
                for line in report.lines:
                    key = line.result.split(":", 1)[0]
                    counts[key] = counts.get(key, 0) + 1
                self.state.finish_run(
                    run_id,
                    counts=counts,
                    errors=[
                        f"{ln.uid}: {ln.result}" for ln in report.lines if "failed" in ln.result
                    ],
                    now=self._clock(),
                )
        return report

    def _pass(
        self, user: UserConfig, report: MailboxReport, dry_run: bool, allow_mass_cancel: bool
    ) -> None:
        mailbox_name = user.mailbox
        now = self._clock()
        blocked: set[str] = set()
        if not dry_run:
            blocked = self._recover(user, report, now)
        rows = self.state.items(mailbox_name)
        snapshots = self._snapshots(user, rows)
        actions = plan.plan(
            user.email,
            snapshots,
            rows,
            delegates=frozenset(user.delegates),
            allow_mass_cancel=allow_mass_cancel,
            mass_cancel_threshold=self.config.mass_cancel_threshold,
            mass_cancel_min=self.config.mass_cancel_min,
            now=now,
        )
        by_uid = {s.uid: s for s in snapshots if not s.gone}
        self._forget_returned(mailbox_name, by_uid)
        held = False
        for action in actions:
            if isinstance(action, plan.Hold):
                held = True
                report.add("hold", f"{action.count} meetings", action.reason)
                if not dry_run:
                    self.state.set_hold(mailbox_name, action.uids, action.reason, now=now)
                continue
            name = type(action).__name__.lower()
            if dry_run:
                report.add(name, action.uid, f"planned: {action.reason}")
                continue
            if action.uid in blocked:
                continue
            if self._in_grace(mailbox_name, action, by_uid, now):
                report.add(name, action.uid, "deferred: the event may come back (cancel_grace)")
                continue
            try:
                self._apply(user, action, by_uid.get(action.uid))
                report.add(name, action.uid, f"done: {action.reason}")
                logger.info("%s: %s %s (%s)", user.name, name, action.uid, action.reason)
            except Exception as error:
                logger.warning("%s %s for %s failed: %s", name, action.uid, user.name, error)
                self.state.mark_failed(mailbox_name, action.uid, str(error), self._clock())
                report.failed += 1
                report.add(name, action.uid, f"failed: {error}")
        if not dry_run:
            if not held:
                self.state.clear_hold(mailbox_name)
            self._note_seen(mailbox_name, snapshots, actions, rows)

    def _in_grace(
        self,
        mailbox: str,
        action: plan.Action,
        present: dict[str, plan.Snapshot],
        now: datetime,
    ) -> bool:
        """Whether a removal of a deleted event waits: it was first seen gone < grace ago."""
        if not isinstance(action, plan.Cancel | plan.Delete) or action.uid in present:
            return False  # not a removal, or STATUS:CANCELLED (the event is still there)
        if self._grace <= timedelta(0):
            return False
        with self._gone_lock:
            first = self._gone_since.setdefault((mailbox, action.uid), now)
            due = first + self._grace
            if now >= due:
                return False
            self.wake_at = due if self.wake_at is None else min(self.wake_at, due)
            return True

    def _forget_returned(self, mailbox: str, present: dict[str, plan.Snapshot]) -> None:
        with self._gone_lock:
            for key in [k for k in self._gone_since if k[0] == mailbox and k[1] in present]:
                del self._gone_since[key]

    def _snapshots(self, user: UserConfig, rows: list[ItemRow]) -> list[plan.Snapshot]:
        """Parse the user's events; unchanged files reuse the stored meeting (no parse)."""
        known = {
            (r.collection, r.href): r
            for r in rows
            if r.status == "synced" and r.snapshot is not None and r.radicale_etag
        }
        located = {(r.collection, r.href): r.uid for r in rows if r.href}
        snapshots: list[plan.Snapshot] = []
        for event in self.calendars.events(user.name):
            if event.text is None:
                # Damaged file: never a deletion. Tie it to the event it held, if we know it.
                uid = located.get(
                    (event.collection, event.href), f"(unreadable: {event.collection}/{event.href})"
                )
                snapshots.append(
                    plan.Snapshot(
                        uid,
                        None,
                        event.href,
                        None,
                        error="the calendar file cannot be read (damaged or too large)",
                        collection=event.collection,
                    )
                )
                continue
            row = known.get((event.collection, event.href))
            if row is not None and row.radicale_etag == event.etag:
                snapshots.append(
                    plan.Snapshot(
                        row.uid, row.snapshot, event.href, event.etag, collection=event.collection
                    )
                )
                continue
            parsed = ical.parse_event(event.text, default_tz=self.config.timezone)
            uid = parsed.uid or f"(no UID: {event.collection}/{event.href})"
            snapshots.append(
                plan.Snapshot(
                    uid,
                    parsed.meeting,
                    event.href,
                    event.etag,
                    skipped=parsed.skipped,
                    error=parsed.error,
                    collection=event.collection,
                )
            )
        return snapshots

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

    # -- applying actions --------------------------------------------------------------------

    def _apply(self, user: UserConfig, action: plan.Action, snap: plan.Snapshot | None) -> None:
        mailbox_name = user.mailbox
        if isinstance(action, plan.Skip | plan.Reject):
            self.state.mark_skipped(
                mailbox_name,
                action.uid,
                action.reason,
                error=action.error if isinstance(action, plan.Reject) else None,
                content_hash=action.content_hash,
                radicale_etag=action.etag,
                collection=snap.collection if snap else None,
                href=snap.href if snap else None,
            )
            return
        if self.state.get_item(mailbox_name, action.uid) is None:
            self.state.upsert_item(ItemRow(mailbox_name, action.uid, status="pending"))
        where = {
            "collection": snap.collection if snap else None,
            "href": snap.href if snap else None,
            "radicale_etag": snap.etag if snap else None,
        }
        if isinstance(action, plan.Create):
            payload = _payload(action.meeting, action.kind, action.sequence, action.send_invites)
            self._create(user, payload, [], where)
        elif isinstance(action, plan.Update):
            payload = _payload(action.meeting, action.kind, action.sequence, action.send_update)
            payload["previous"] = encode_meeting(action.previous) if action.previous else None
            row = self.state.get_item(mailbox_name, action.uid)
            payload["sent_sequence"] = row.sent_sequence if row is not None else None
            self._update(user, payload, [], where)
        elif isinstance(action, plan.Cancel):
            payload = {
                "previous": encode_meeting(action.previous) if action.previous else None,
                "sequence": action.sequence,
                "send": True,
            }
            self._cancel(user, action.uid, payload, [])
        elif isinstance(action, plan.Delete):
            self._cancel(user, action.uid, {"previous": None, "sequence": None, "send": False}, [])

    def _create(
        self, user: UserConfig, payload: dict, entries: list[JournalEntry], where: dict
    ) -> None:
        meeting = replace(decode_meeting(payload["meeting"]), sequence=payload["sequence"])
        wire = _as_organizer(meeting, user, payload["kind"])
        mailbox = self.mailbox_for(user)
        run = self._run(user, meeting.uid, "create", payload, entries)
        url = mailbox.appointment_url(meeting.uid)
        fresh = not entries
        # The attempt id is journaled (as the step's marker) before the first request, so the
        # appointment our own request made is recognised even when its answer was lost.
        attempt = run.marker("appointment_written") or secrets.token_hex(16)

        def write() -> str:
            if mailbox.create_appointment(wire, attempt=attempt):
                return "created"
            if mailbox.created_by(url) == attempt:
                # Our request took effect, its answer was lost and the retry of the conditional
                # write got 412: the appointment is ours and nobody has been told yet.
                return "created"
            if fresh:
                # There is no journal, yet Exchange has it: the state was lost or restored from
                # a backup. The attendees already hold this meeting; adopt it, never re-invite.
                return "adopted"
            mailbox.write_appointment(wire, create=False)  # our crashed attempt made it
            return "created"

        sequence = meeting.sequence
        if run.step("appointment_written", url, write, marker=attempt) == "adopted":
            existing = mailbox.read_meeting(url)
            run.step("adopted", url, lambda: mailbox.write_appointment(wire, create=False))
            if payload["send"] and (existing is None or _visible(existing) != _visible(wire)):
                known = existing.sequence if existing is not None else None
                sequence = self._send_update(run, mailbox, wire, url, known)
            elif existing is not None:
                sequence = max(sequence, existing.sequence)
        elif payload["send"]:
            draft = mailbox.draft_url(meeting.uid, "request", meeting.sequence)
            run.step("draft_written", draft, lambda: mailbox.write_draft(wire, draft))
            self._send_draft(run, mailbox, "draft_sent", draft, wire, REQUEST)
        self._synced(user, meeting, payload["kind"], sequence, url, where)

    def _update(
        self, user: UserConfig, payload: dict, entries: list[JournalEntry], where: dict
    ) -> None:
        meeting = replace(decode_meeting(payload["meeting"]), sequence=payload["sequence"])
        wire = _as_organizer(meeting, user, payload["kind"])
        mailbox = self.mailbox_for(user)
        run = self._run(user, meeting.uid, "update", payload, entries)
        url = mailbox.appointment_url(meeting.uid)

        def write() -> None:
            try:
                mailbox.write_appointment(wire, create=False)
            except (errors.PreconditionFailed, errors.NotFound):
                # Someone deleted the appointment on Exchange: put it back.
                mailbox.write_appointment(wire, create=True)

        run.step("update_written", url, write)
        sequence = meeting.sequence
        if payload["send"]:
            sequence = self._send_update(run, mailbox, wire, url, payload.get("sent_sequence"))
            self._uninvite(run, mailbox, wire, payload, sequence)
        self._synced(user, meeting, payload["kind"], sequence, url, where)

    def _synced(
        self, user: UserConfig, meeting: Meeting, kind: str, sequence: int, url: str, where: dict
    ) -> None:
        """The operation is complete: record what Exchange holds and close its journal."""
        self.state.mark_synced(
            user.mailbox,
            meeting.uid,
            meeting=meeting,
            kind=kind,  # type: ignore[arg-type]
            sequence=sequence,
            exchange_url=url,
            **where,
        )
        self.state.clear_journal(user.mailbox, meeting.uid)

    @staticmethod
    def _send_update(
        run: JournaledRun, mailbox: Mailbox, meeting: Meeting, url: str, known: int | None
    ) -> int:
        """OWA sendappt, journaled; the marker is the sequence the server will then report.

        `known` is the appointment's sequence as last recorded (the server bumps it by one on
        every sendappt); only without it is it read from the server (one PROPFIND more).
        """
        expected = run.marker("update_sent")
        if expected is None:
            current = known if known is not None else mailbox.sequence_of(url) or 0
            expected = str(current + 1)

        def send() -> None:
            try:
                mailbox.post_sendappt(meeting, url)
            except errors.NotFound:
                # Deleted on Exchange after its update was written: write it again and send.
                mailbox.write_appointment(meeting, create=True)
                mailbox.post_sendappt(meeting, url)

        run.step(
            "update_sent",
            url,
            send,
            marker=expected,
            check=lambda entry: (mailbox.sequence_of(url) or 0) >= int(entry.marker or 0),
        )
        # What the attendees now hold is the server's sequence (sendappt writes it).
        return int(expected)

    @staticmethod
    def _send_draft(
        run: JournaledRun,
        mailbox: Mailbox,
        step: str,
        draft: str,
        message: Meeting,
        message_class: str,
        kind: str = "request",
    ) -> None:
        """MOVE a deterministic draft to the submission URI, journaled.

        Proof of sending is a copy in Sent Items, not the draft's absence (the user may have
        deleted a draft that waited for a retry); a missing, unsent draft is written again.
        """

        def send() -> None:
            try:
                mailbox.send_draft(draft)
            except errors.NotFound:
                mailbox.write_draft(message, draft, kind=kind)
                mailbox.send_draft(draft)

        run.step(
            step,
            draft,
            send,
            check=lambda _entry: not mailbox.exists(draft)
            and mailbox.was_sent(message.uid, message_class, message.sequence),
        )

    @staticmethod
    def _uninvite(
        run: JournaledRun, mailbox: Mailbox, meeting: Meeting, payload: dict, sequence: int
    ) -> None:
        """Attendees removed by this update get a cancellation (OWA's sendappt only writes to
        the attendees the meeting has now; Outlook would tell the removed ones too)."""
        if not payload.get("previous"):
            return
        previous = decode_meeting(payload["previous"])
        staying = {a.email for a in meeting.invitees()}
        removed = tuple(a for a in previous.invitees() if a.email not in staying)
        if not removed:
            return
        farewell = replace(meeting, attendees=removed, sequence=sequence)
        draft = mailbox.draft_url(meeting.uid, "uninvite", sequence)
        run.step(
            "uninvite_written", draft, lambda: mailbox.write_draft(farewell, draft, kind="cancel")
        )
        Engine._send_draft(run, mailbox, "uninvite_sent", draft, farewell, CANCELED, "cancel")

    def _cancel(
        self, user: UserConfig, uid: str, payload: dict, entries: list[JournalEntry]
    ) -> None:
        mailbox = self.mailbox_for(user)
        op = "cancel" if payload["send"] else "delete"
        run = self._run(user, uid, op, payload, entries)
        url = mailbox.appointment_url(uid)
        if payload["send"]:
            previous = decode_meeting(payload["previous"]) if payload["previous"] else None

            def make_draft() -> str:
                try:
                    return mailbox.get_cancel_draft(url)
                except errors.NotFound:
                    if previous is None:
                        return ""  # nothing on Exchange and nothing known: nobody to tell
                    # The appointment is gone from Exchange (deleted in OWA?): the attendees
                    # still hold the meeting, so build the cancellation ourselves.
                    own = mailbox.draft_url(uid, "cancel", payload["sequence"] or 0)
                    cancelled = replace(
                        _as_organizer(previous, user, "meeting"), sequence=payload["sequence"] or 0
                    )
                    mailbox.write_draft(cancelled, own, kind="cancel")
                    return own

            def adopt_draft(_entry: JournalEntry) -> str | bool:
                # The interrupted getcancel made the newest draft; older ones are strays of
                # earlier attempts (old sequence, maybe old attendees): deleted, never sent.
                found = mailbox.find_cancel_drafts(uid)
                for stray in found[:-1]:
                    mailbox.delete(stray)
                return found[-1] if found else False

            draft = run.step("cancel_draft", url, make_draft, check=adopt_draft)

            def send() -> None:
                try:
                    mailbox.send_draft(draft)
                except errors.NotFound:  # the user deleted the waiting draft: make another
                    replacement = make_draft()
                    if replacement:
                        mailbox.send_draft(replacement)

            if draft:
                run.step(
                    "cancel_sent",
                    draft,
                    send,
                    check=lambda _entry: not mailbox.exists(draft)
                    and mailbox.was_sent(uid, CANCELED, 0),
                )
        run.step("appointment_deleted", url, lambda: mailbox.delete(url))
        self.state.mark_cancelled(user.mailbox, uid, sequence=payload.get("sequence"))
        self.state.clear_journal(user.mailbox, uid)

    def _undo_unsent_create(
        self, user: UserConfig, uid: str, payload: dict, entries: list[JournalEntry]
    ) -> bool:
        """An interrupted create that never reached its send step is undone (its appointment
        and draft deleted, which tells nobody anything) and planned again from the calendar as
        it is now: the event may be gone or changed meanwhile, and its attendees must get the
        current version, or nothing. An adopted meeting (the attendees already hold it) and a
        create whose send step started are finished instead."""
        steps = {e.step: e for e in entries}
        adopted = steps.get("appointment_written") and steps["appointment_written"].marker
        if "draft_sent" in steps or adopted == "adopted" or "adopted" in steps:
            return False
        mailbox = self.mailbox_for(user)
        if payload.get("send"):
            mailbox.delete(mailbox.draft_url(uid, "request", payload.get("sequence") or 0))
        mailbox.delete(mailbox.appointment_url(uid))
        self.state.clear_journal(user.mailbox, uid)
        return True

    def _run(
        self, user: UserConfig, uid: str, op: str, payload: dict, entries: list[JournalEntry]
    ) -> JournaledRun:
        return JournaledRun(
            self.state,
            user.mailbox,
            uid,
            op,
            payload,
            entries,
            self._step_hook,
            clock=self._clock,
            settle=self._settle,
        )

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self, user: UserConfig, report: MailboxReport, now: datetime) -> set[str]:
        """Finish every interrupted operation of this mailbox; returns UIDs still blocked."""
        blocked: set[str] = set()
        for _mailbox, uid in self.state.open_journals(user.mailbox):
            row = self.state.get_item(user.mailbox, uid)
            if row is not None and row.status == "failed" and row.next_attempt_at:
                if row.next_attempt_at > now:
                    blocked.add(uid)
                    continue
            entries = self.state.open_journal(user.mailbox, uid)
            if not entries:
                continue
            op, payload = entries[0].op, entries[0].payload or {}
            where = {"collection": None, "href": None, "radicale_etag": None}
            try:
                if op == "create" and self._undo_unsent_create(user, uid, payload, entries):
                    report.add("resume", uid, "done: undid a create that had sent nothing")
                    continue
                if op == "create":
                    self._create(user, payload, entries, where)
                elif op == "update":
                    self._update(user, payload, entries, where)
                else:
                    self._cancel(user, uid, payload, entries)
                report.add("resume", uid, f"done: finished an interrupted {op}")
                logger.info("%s: resumed and finished an interrupted %s of %s", user.name, op, uid)
            except Exception as error:
                logger.warning("resuming %s of %s failed: %s", op, uid, error)
                self.state.mark_failed(user.mailbox, uid, str(error), self._clock())
                report.failed += 1
                report.add("resume", uid, f"failed: {error}")
                blocked.add(uid)
        return blocked

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
            auth=config.auth,  # type: ignore[arg-type]
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


def _payload(meeting: Meeting, kind: str, sequence: int, send: bool) -> dict:
    return {"meeting": encode_meeting(meeting), "kind": kind, "sequence": sequence, "send": send}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"

