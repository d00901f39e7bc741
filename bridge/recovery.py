"""Recovery: every interrupted operation of a mailbox is settled before anything new happens.

Rules kept here (design §4), decided from the operations' step tables (`bridge.operations`):
- An operation none of whose *sending* steps started has told nobody anything: a create is
  undone (its appointment deleted, and the request draft an older version wrote) and planned
  again from the calendar as it is now, so the attendees get the current version or nothing. An
  adopted create (the attendees held the meeting already) and any operation whose sending step
  started are finished instead.
- A row waiting for its back-off stays blocked until it is due; a row Exchange refused for good
  (`plan.refused`) is abandoned when nothing was sent (the planner then waits for the event to
  change), and otherwise stays blocked until `calbridge retry`.
- A step whose outcome cannot be read back yet (its request may still be in flight) defers the
  item to the end of the settle time; that is not a failure and costs no attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from bridge import plan
from bridge.failures import describe, log_failure, record_failure
from bridge.journal import OutcomeUnknown
from bridge.operations import CreatePayload, Payload, UpdatePayload, decode_payload
from bridge.recipes import Recipes
from bridge.report import Deferred, Done, MailboxReport
from bridge.state import JournalEntry

__all__ = ["Recovered", "recover"]

logger = logging.getLogger(__name__)


@dataclass
class Recovered:
    """UIDs whose operation is still open (the plan must not touch them this pass), and the
    earliest time a deferred one becomes due."""

    blocked: set[str] = field(default_factory=set)
    due: datetime | None = None


def recover(
    recipes: Recipes,
    report: MailboxReport,
    now: datetime,
    *,
    on_outage: Callable[[Exception], None],
) -> Recovered:
    """Finish (or undo) every interrupted operation of `recipes`' mailbox.

    `on_outage(error)` is called with every failure first: it raises (and so ends the pass,
    recording nothing against the item) when the failure means Exchange does not answer.
    """
    state, mailbox = recipes.state, recipes.user.mailbox
    found = Recovered()
    for _mailbox, uid in state.open_journals(mailbox):
        row = state.get_item(mailbox, uid)
        if row is not None and row.status == "failed" and row.next_attempt_at is not None:
            if row.next_attempt_at > now:
                found.blocked.add(uid)
                continue
        entries = state.open_journal(mailbox, uid)
        if not entries:
            continue
        op = entries[0].op
        payload = decode_payload(op, entries[0].payload)
        try:
            if row is not None and plan.refused(row, _content_hash(payload)):
                if not _abandon(recipes, uid, payload, entries):
                    found.blocked.add(uid)
                continue
            if isinstance(payload, CreatePayload) and _undo_unsent_create(
                recipes, uid, payload, entries
            ):
                report.add("resume", uid, Done("undid a create that had sent nothing"))
                continue
            recipes.perform(uid, payload, entries)
            report.add("resume", uid, Done(f"finished an interrupted {op}"))
            logger.info("%s: resumed and finished an interrupted %s of %s",
                        recipes.user.name, op, uid)
        except OutcomeUnknown as unknown:
            until = unknown.until
            report.add("resume", uid, Deferred(str(unknown), until=until))
            found.blocked.add(uid)
            found.due = until if found.due is None else min(found.due, until)
        except Exception as error:
            on_outage(error)
            log_failure(f"resuming {op} of {uid} for {recipes.user.name}", error)
            failed = describe(error)
            record_failure(state, mailbox, uid, failed, recipes.clock(),
                           content_hash=_content_hash(payload))
            report.add("resume", uid, failed)
            found.blocked.add(uid)
    return found


def _content_hash(payload: Payload) -> str | None:
    if isinstance(payload, CreatePayload | UpdatePayload):
        return payload.meeting.content_hash()
    return None


def _committed(payload: Payload, entries: list[JournalEntry]) -> bool:
    """Whether a step that may have told someone something has started (or the create
    adopted a meeting its attendees already hold)."""
    steps = {e.step: e for e in entries}
    if steps.keys() & payload.op.sending_steps:
        return True
    written = steps.get("appointment_written")
    return written is not None and written.marker == "adopted"


def _undo_unsent_create(
    recipes: Recipes, uid: str, payload: CreatePayload, entries: list[JournalEntry]
) -> bool:
    """An interrupted create that never reached a sending step is undone (its appointment and
    draft deleted, which tells nobody anything); the planner then creates it again."""
    if _committed(payload, entries):
        return False
    mailbox = recipes.mailbox
    if payload.send and any(e.step == "draft_written" for e in entries):
        # an older version's journal: its request draft goes too (now nothing waits in Drafts)
        mailbox.delete(mailbox.draft_url(uid, "request", payload.sequence))
    mailbox.delete(mailbox.appointment_url(uid))
    recipes.state.clear_journal(recipes.user.mailbox, uid)
    return True


def _abandon(
    recipes: Recipes, uid: str, payload: Payload, entries: list[JournalEntry]
) -> bool:
    """A refused operation that told nobody anything is dropped; True when it was."""
    if isinstance(payload, CreatePayload):
        return _undo_unsent_create(recipes, uid, payload, entries)
    if _committed(payload, entries):
        return False
    recipes.state.clear_journal(recipes.user.mailbox, uid)
    return True
