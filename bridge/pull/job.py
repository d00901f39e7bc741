"""The service's pull job: one pull pass over every user's mailbox (design §4b).

Rules kept here:

- **Every user the engine syncs** (configured and provisioned: `Engine.config.users` is read
  once per run), through `Engine.mailbox_for` — the push's Exchange session, with the same
  credentials rule (the service account, or the user's own login).
- **Skipped, with the reason logged at debug level**: a user whose Exchange the push found
  down (`Engine.paused`; its next push pass probes), and every user once the state is damaged.
- **Never two pulls of one mailbox at once**: a per-mailbox lock taken without waiting; a
  mailbox whose previous pull still runs is skipped this time (its next run catches up: the
  tags say what moved). Mailboxes run in parallel up to `sync.workers`.
- **Never beside a push pass of the same mailbox**: the pass runs under the engine's mailbox
  lock, as `own_items` requires (Exchange-side edits of pushed events are settled there); a
  push pass of that mailbox waits for the pull, and the pull for it.
- **Before a push changes what Exchange holds** (`before_push`, the engine's hook, inside its
  mailbox lock): each meeting the pass will update, cancel or delete is read first and, when
  Exchange no longer holds what calbridge sent, settled by the conflict rule, so an OWA edit
  is never overwritten unseen by the push's PROPPATCH. One PROPFIND per such meeting; creates
  pay nothing. (An edit made in OWA between this read and the PROPPATCH, milliseconds, is
  still overwritten: Exchange 2003's PROPPATCH takes no If-Match the reference documents.)
- **One mailbox's failure stops only that mailbox**: logged in one line (a bug with its
  traceback, `bridge.failures.log_failure`) and kept as its last pass's error for `status`.
- **Progress in the log**: a line per mailbox whose pass changed something (listing pages log
  their own progress), and a summary line per run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bridge.config import UserConfig
from bridge.engine import Engine
from bridge.exchange.props import GETETAG, meeting_from_props
from bridge.failures import log_failure
from bridge.pull import listing, mapping, own_edits
from bridge.pull.into_caldav import PulledCalendar
from bridge.pull.mailbox_pass import PassResult, pull_mailbox
from bridge.pull.memory import StoredMemory
from bridge.pull.own_items import OwnItems
from bridge.state import StateDamaged

__all__ = ["PullJob", "RunReport"]

logger = logging.getLogger(__name__)


@dataclass
class RunReport:
    """What one run of the job did, per user name."""

    pulled: dict[str, PassResult] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


class PullJob:
    """Pull passes over the engine's users; `run()` is what the service schedules."""

    def __init__(self, engine: Engine, radicale_configuration: Any, calendar: str,
                 *, stopping: Callable[[], bool] = lambda: False) -> None:
        self._engine = engine
        self._configuration = radicale_configuration
        self._calendar = calendar or "calendar"
        self._stopping = stopping
        self._targets: dict[str, PulledCalendar] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # over the two dicts above

    def run(self, users: Sequence[UserConfig] | None = None) -> RunReport:
        """One pass over `users` (default: every user the engine syncs)."""
        engine = self._engine
        chosen = list(engine.config.users if users is None else users)
        report = RunReport()
        paused: Mapping[str, str] = engine.paused
        todo = []
        for user in chosen:
            if engine.state.damage is not None:
                report.skipped[user.name] = "the state database is damaged"
            elif user.name in paused:
                report.skipped[user.name] = f"Exchange did not answer: {paused[user.name]}"
            else:
                todo.append(user)
        for name, reason in report.skipped.items():
            logger.debug("pull of %s skipped: %s", name, reason)
        started = time.monotonic()
        workers = max(1, min(engine.config.workers, len(todo) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pull") as pool:
            for user, outcome in zip(todo, pool.map(self._one, todo), strict=True):
                if isinstance(outcome, PassResult):
                    report.pulled[user.name] = outcome
                elif outcome is not None:
                    report.failed[user.name] = outcome
        requests = sum(r.requests for r in report.pulled.values())
        written = sum(r.written + r.removed for r in report.pulled.values())
        logger.log(logging.INFO if written or report.failed else logging.DEBUG,
                   "pull: %d mailbox(es) in %.1f s, %d Exchange request(s), %d event(s) "
                   "changed, %d failed", len(report.pulled), time.monotonic() - started,
                   requests, written, len(report.failed))
        return report

    def _one(self, user: UserConfig) -> PassResult | str | None:
        """One mailbox: its result, the error text, or None when skipped (busy, stopping)."""
        lock = self._lock(user.mailbox)
        if self._stopping() or not lock.acquire(blocking=False):
            logger.debug("pull of %s skipped: a pull of it is still running", user.name)
            return None
        engine = self._engine
        state = engine.state
        try:
            mailbox = engine.mailbox_for(user)
            memory = StoredMemory(state, user.mailbox, mailbox.address,
                                  rooms=engine.config.gal_rooms)
            own = OwnItems(state, self._configuration, user=user.name, mailbox=user.mailbox,
                           address=mailbox.address, default_tz=engine.config.timezone)
            # The push's own per-mailbox lock (threads and processes): `OwnItems` writes a
            # CalDAV event and its items row as one step that no push pass may see half done.
            with engine._exclusive(user):
                result = pull_mailbox(mailbox, self._target(user.name), memory, own)
            state.note_pull_pass(user.mailbox)
        except StateDamaged:
            return "the state database is damaged"  # the service reports it once
        except Exception as error:  # one mailbox's failure never stops the others
            log_failure(f"pull of {user.name}", error)
            try:
                state.note_pull_pass(user.mailbox, error=str(error) or type(error).__name__)
            except Exception:  # the state itself failed: already logged above
                logger.debug("pull error of %s not recorded", user.name, exc_info=True)
            return str(error) or type(error).__name__
        finally:
            lock.release()
        if result.written or result.removed or result.problems:
            logger.info("pull of %s: %d written, %d removed, %d problem(s), %d request(s)",
                        user.name, result.written, result.removed, len(result.problems),
                        result.requests)
        return result

    def before_push(self, user: UserConfig, uids: Sequence[str]) -> None:
        """Run by the engine inside its mailbox lock, before a push pass changes or removes
        the meetings `uids` already on Exchange: each one's appointment is read (one PROPFIND)
        and compared with what calbridge sent; only one that differs is fetched whole (one
        GET) and settled by the conflict rule (`OwnItems.settle`), so an OWA edit made since
        the last pull is kept in `conflicts` when it loses instead of being overwritten unseen
        by the push's PROPPATCH. A failure here is logged and the push goes on."""
        if self._stopping() or not uids:
            return
        engine = self._engine
        state = engine.state
        try:
            mailbox = engine.mailbox_for(user)
            own = OwnItems(state, self._configuration, user=user.name, mailbox=user.mailbox,
                           address=mailbox.address, default_tz=engine.config.timezone)
            for uid in uids:
                row = state.get_item(user.mailbox, uid)
                if row is None or not row.exchange_url or row.snapshot is None:
                    continue
                found = mailbox.read(row.exchange_url)
                if found is None:
                    continue  # gone from Exchange: the push's own rules handle it
                there = meeting_from_props(found.props, href=found.href, zone=mailbox.zone)
                if own_edits.shape_of(there, mailbox.address) == own_edits.shape_of(
                        row.snapshot, mailbox.address):
                    continue  # Exchange holds what calbridge sent
                ics = mapping.calendar_text(listing.fetch_mime(mailbox, row.exchange_url))
                settled = own.settle(row, ics, str(found.props.get(GETETAG) or ""))
                if settled.outcome in ("refused", "left"):
                    logger.warning("before the push of %s %r: %s", user.name, uid[:120],
                                   settled.reason)
        except Exception as error:  # the push must not depend on the pull working
            log_failure(f"the check of {user.name}'s Exchange edits before its push", error)

    def _lock(self, mailbox: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(mailbox, threading.Lock())

    def _target(self, name: str) -> PulledCalendar:
        with self._guard:
            target = self._targets.get(name)
            if target is None:
                target = self._targets[name] = PulledCalendar(
                    self._configuration, name, self._calendar)
            return target
