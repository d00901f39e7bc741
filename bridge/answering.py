"""Answering pulled invitations from the CalDAV client (issue 10 point 2): the I/O shell.

Rules kept here:

- **What sends.** The user's PARTSTAT on a pulled event (``X-CALBRIDGE-ORIGIN:exchange``) read
  by this pass (the changed files; every file on a full pass) is compared with the `pulled`
  row, the answer Exchange holds; a change OWA can carry (`answers.decide`) runs the journaled
  ``answer`` operation (`bridge.operations.ANSWER`). Nothing else of a pulled event ever sends,
  and an event with no `pulled` row (the pull has not recorded it yet) sends nothing.
- **Exactly once.** The operation's steps run through `AnswerRun` (journal before and after);
  unfinished answers are settled at the start of the pass (`resume`), before any new one, and
  an event whose answer could not be settled is not answered again in that pass.
- **The outcome.** Accept and tentative: the row takes the new PARTSTAT and the journal is
  cleared in one transaction (`State.answered`). Decline: Exchange removed its copy, so the
  pulled event is removed from the calendar inside ``bridge_write()`` (echo-free) and its row
  forgotten (the journal goes with it).
- **Request gone** (deleted in OWA, or the meeting withdrawn): one log line, a pull problem
  (`calbridge status`), nothing sent. The row takes the user's answer, so the mailbox is not
  searched again every pass; an update from the organizer brings a new request and resets it.
- **A file is parsed once.** A (collection, href, etag) compared and found settled is not
  parsed again by this engine; the memory is the files of the last full pass plus those since.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from radicale import config as radicale_config

from bridge.answer_run import AnswerRun
from bridge.config import UserConfig
from bridge.exchange.mailbox import Mailbox
from bridge.failures import describe, log_failure
from bridge.journal import OutcomeUnknown, StepHook
from bridge.pull import answers, owa_answer
from bridge.pull.into_caldav import PulledCalendar
from bridge.recovery import Recovered
from bridge.report import Deferred, Done, MailboxReport, Skipped
from bridge.snapshots import Event
from bridge.state import State
from bridge.state.answers import AnswerEntry

__all__ = ["Answering"]

logger = logging.getLogger(__name__)

FileKey = tuple[str, str, str | None]  # (collection, href, etag)


class Answering:
    """One engine's answers to pulled invitations (thread-safe across mailboxes)."""

    def __init__(self, state: State, configuration: radicale_config.Configuration | None, *,
                 clock: Callable[[], datetime], settle: timedelta,
                 hook: StepHook | None = None, calendar: str = "calendar") -> None:
        """`configuration`: the Radicale storage the pull writes (None: there is none, so
        there is nothing pulled to answer); `calendar`: the collection the pull writes into
        (``caldav.default_calendar``), where a declined invitation is removed."""
        self.state, self.clock, self.settle, self.hook = state, clock, settle, hook
        self._configuration = configuration
        self._calendar_name = calendar or "calendar"
        self._calendars: dict[str, PulledCalendar] = {}
        self._settled: dict[str, set[FileKey]] = {}
        self._lock = threading.Lock()

    def _calendar(self, user: UserConfig) -> PulledCalendar | None:
        if self._configuration is None:
            return None
        with self._lock:
            calendar = self._calendars.get(user.name)
            if calendar is None:
                calendar = PulledCalendar(self._configuration, user.name,
                                          self._calendar_name)
                self._calendars[user.name] = calendar
            return calendar

    def resume(self, user: UserConfig, mailbox: Mailbox, report: MailboxReport, *,
               on_outage: Callable[[Exception], None]) -> Recovered:
        """Finish every interrupted answer of `user`'s mailbox (before anything new)."""
        found = Recovered()
        calendar = self._calendar(user)
        if calendar is None:
            return found
        for _mailbox, uid in self.state.open_answers(user.mailbox):
            entries = self.state.answer_journal(user.mailbox, uid)
            if not entries:
                continue
            try:
                payload = answers.AnswerPayload.decode(entries[0].payload or {})
            except (KeyError, TypeError, ValueError) as error:
                logger.warning("%s: the answer journal of %r is unreadable (%s): dropped",
                               user.name, uid[:120], error)
                self.state.clear_answer(user.mailbox, uid)
                continue
            outcome = self._run(user, mailbox, calendar, uid, payload, entries, report,
                                on_outage, "resume")
            if isinstance(outcome, datetime):
                found.due = outcome if found.due is None else min(found.due, outcome)
            if outcome is not True:
                found.blocked.add(uid)
        return found

    def answer(self, user: UserConfig, mailbox: Mailbox, events: Sequence[Event],
               report: MailboxReport, *, full: bool, blocked: set[str],
               on_outage: Callable[[Exception], None]) -> None:
        """Answer every PARTSTAT the user changed in the pulled `events` this pass read."""
        calendar = self._calendar(user)
        if calendar is None:
            return
        with self._lock:
            settled = set() if full else set(self._settled.get(user.name, set()))
            known = self._settled.get(user.name, set())
        for event in events:
            key = (event.collection, event.href, event.etag)
            if key in known and event.etag is not None:
                settled.add(key)
                continue
            if self._answer_one(user, mailbox, calendar, event, report, blocked, on_outage):
                settled.add(key)
        with self._lock:
            self._settled[user.name] = settled

    # -- one event ---------------------------------------------------------------------------

    def _answer_one(self, user: UserConfig, mailbox: Mailbox, calendar: PulledCalendar,
                    event: Event, report: MailboxReport, blocked: set[str],
                    on_outage: Callable[[Exception], None]) -> bool:
        """True when the file is settled (nothing to send, or answered)."""
        found = answers.own_partstat(event.text or "", user.email)
        if found is None:
            return True  # not an invitation to the user, or unreadable: nothing to answer
        uid, partstat = found
        if answers.cancelled(event.text or ""):
            return True  # the organizer withdrew it: there is nothing left to answer
        row = self.state.pulled(user.mailbox, uid)
        if row is None or uid in blocked:
            return False  # not recorded yet (sends nothing), or its last answer is unsettled
        decision = answers.decide(row.partstat, partstat)
        if decision.command is None:
            return True
        payload = answers.AnswerPayload(
            decision.command, partstat, row.sequence,
            answers.answer_key(uid, None, row.sequence, partstat),
            organizer=answers.organizer_of(event.text or ""))
        return self._run(user, mailbox, calendar, uid, payload, [], report, on_outage,
                         "answer") is True

    def _run(self, user: UserConfig, mailbox: Mailbox, calendar: PulledCalendar, uid: str,
             payload: answers.AnswerPayload, entries: list[AnswerEntry],
             report: MailboxReport, on_outage: Callable[[Exception], None],
             action: str) -> bool | datetime:
        """Run (or resume) one answer; True when finished, the due time when its outcome
        cannot be read back yet, False when it failed."""
        try:
            self._perform(mailbox, calendar, user.mailbox, uid, payload, entries)
        except owa_answer.RequestGone as gone:
            reason = f"{payload.command} not sent: {gone} (deleted in OWA, or withdrawn)"
            logger.warning("%s: answer %r: %s", user.name, uid[:120], reason)
            self.state.note_pull_problem(user.mailbox, uid, reason)
            self.state.answered(user.mailbox, uid, sequence=payload.sequence,
                                partstat=payload.partstat)
            report.add(action, uid, Skipped(reason))
            return True
        except OutcomeUnknown as unknown:
            report.add(action, uid, Deferred(str(unknown), until=unknown.until))
            return unknown.until
        except Exception as error:
            on_outage(error)
            log_failure(f"answer {payload.command} to {uid} for {user.name}", error)
            report.add(action, uid, describe(error))
            return False
        report.add(action, uid, Done(f"{payload.command}: {payload.partstat}"))
        logger.info("%s: answered %s with %s", user.name, uid, payload.command)
        return True

    def _perform(self, mailbox: Mailbox, calendar: PulledCalendar, mailbox_name: str,
                 uid: str, payload: answers.AnswerPayload, entries: list[AnswerEntry]) -> None:
        run = AnswerRun(self.state, mailbox_name, uid, payload, entries, self.hook,
                        clock=self.clock, settle=self.settle)
        marker = run.step("request_located", mailbox.root_url,
                          lambda: _located(owa_answer.survey(mailbox, uid,
                                                             organizer=payload.organizer)))
        count, _, url = marker.partition(" ")
        before = int(count)

        def sent_already(_entry: AnswerEntry) -> bool:
            nonlocal url
            now = owa_answer.survey(mailbox, uid, organizer=payload.organizer)
            if not answers.recover("request_located", before, now.replies).send:
                return True
            url = _located(now).partition(" ")[2]
            return False

        run.step("answer_sent", url,
                 lambda: owa_answer.send_answer(mailbox, url, payload.command),
                 check=sent_already)
        if payload.command != "decline":
            self.state.answered(mailbox_name, uid, sequence=payload.sequence,
                                partstat=payload.partstat)
            return
        run.step("event_removed", calendar.path, lambda: _removed(calendar, uid))
        self.state.forget_pulled(mailbox_name, uid)


def _located(found: owa_answer.Survey) -> str:
    """The step's marker: "<replies in Sent Items> <request URL>" (a URL has no space)."""
    if found.request_url is None:
        raise owa_answer.RequestGone("no meeting request with this UID in Inbox or Deleted "
                                     "Items")
    return f"{found.replies} {found.request_url}"


def _removed(calendar: PulledCalendar, uid: str) -> None:
    outcome = calendar.delete(uid)
    if outcome.outcome == "refused":  # the user's own event with the UID: never removed
        logger.warning("answer %r: the declined event stays: %s", uid[:120], outcome.reason)
