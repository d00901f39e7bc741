"""One pull pass over one mailbox: tags → listing → decisions → writes into Radicale.

Rules kept here:

- **Idle costs one request**: the folders' contenttags (`contenttag.read_tags`); a folder whose
  tag did not move is not listed.
- **Only what changed is fetched**: rows are compared with `PullMemory`'s etags; each changed
  item costs one GET. Memory holds one SEARCH page, one MIME and one write batch at a time
  (`BATCH` events), plus the url → (etag, uid) map of what was applied.
- **Nothing sends.** Writes go through `into_caldav` (inside ``bridge_write()``); answers to
  invitations are the engine's journaled ``answer`` operation, not part of a pull.
- **One bad item never stops the pass**: its reason is logged once, in one line, and kept in
  `PassResult.problems` for `status`; its etag is remembered, so it is not retried every pass
  (a new version of it has a new etag and is read again).
- **Memory and records through `PullMemory`'s hooks**: a folder's per-item memory is loaded
  only when its tag moved and saved once that folder is handled (a pass that fails half-way
  saves nothing of that folder: the next one lists it again, and unchanged events are written
  as "unchanged"); every event written, removed, answered or refused is reported to the hooks.
- **Nothing is removed on a listing's word alone.** Range-paged SEARCH is no snapshot (an item
  deleted between pages shifts the rows; a short page or a 416 ends the listing early), so a
  remembered Calendar URL missing from the listing is confirmed gone with one PROPFIND Depth 0
  (`Mailbox.exists`) before its event is deleted; one that still exists is kept in memory with
  an empty etag, so the next listing reads it again, and nothing is deleted. Deletions are
  rare, so one request per removed item is the price. (The Inbox's missing rows are only
  forgotten, never acted on, so they need no check.)
- **An older Calendar copy never undoes a newer invitation**: a Calendar item whose SEQUENCE
  is lower than the one recorded for its UID (`PullMemory.known_sequence`, e.g. an update
  pulled from the Inbox before Exchange updated the copy) is skipped, routinely (an INFO line,
  not a problem); its etag is remembered, so it is read again only when it changes.
- Calendar items whose UID is the user's own event (the meetings calbridge pushed) are left to
  the two-sided state (issue 10 point 4): given `own_items` (`bridge.pull.own_items`), an
  Exchange-side edit of them is settled there (`own_edits` decides); without it `into_caldav`
  refuses them, and they are counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from bridge.exchange.mailbox import Mailbox
from bridge.pull import contenttag, decide, guards, listing, mapping
from bridge.pull.into_caldav import PulledCalendar
from bridge.pull.own_items import OwnItems, Settled

__all__ = ["BATCH", "Folder", "PassResult", "PullMemory", "pull_mailbox"]

logger = logging.getLogger(__name__)

BATCH = 200
_RESPONSE_STATUS = "http://schemas.microsoft.com/mapi/responsestatus"
_PARTSTAT = {2: "TENTATIVE", 3: "ACCEPTED", 4: "DECLINED", 5: "NEEDS-ACTION"}  # §4.4
Folder = Literal["calendar", "inbox"]


@dataclass
class PullMemory:
    """What a mailbox's pull remembers between passes, in memory only.

    The hooks below do nothing here; `bridge.pull.memory.StoredMemory` keeps the same memory
    in the state database and records what the pass wrote (the pass calls them, and nothing
    else of the state)."""

    tags: contenttag.FolderTags | None = None
    calendar: dict[str, tuple[str, str]] = field(default_factory=dict)  # url -> (etag, uid)
    inbox: dict[str, str] = field(default_factory=dict)  # url -> etag

    def load(self, folder: Folder) -> None:
        """The folder's tag moved: its per-item memory is needed now."""

    def save(self, folder: Folder, tag: str | None) -> None:
        """The folder was handled: remember its tag and its items."""

    def answers(self, uids: list[str]) -> dict[str, str | None]:
        """The user's answer as Exchange holds it, for the UIDs it knows (`pulled` rows)."""
        return {}

    def taken(self, pulled: list[mapping.Pulled], unsent: frozenset[str] = frozenset()) -> None:
        """These events are in the user's calendar as written (created, updated or
        unchanged); one call per write batch. For the UIDs in `unsent` the event shows the
        user's answer that Exchange has not received yet: what Exchange holds is unchanged."""

    def removed(self, uid: str) -> None:
        """The pulled event `uid` is no longer in the user's calendar."""

    def replied(self, reply: decide.Reply) -> None:
        """An attendee's answer was recorded on the user's own meeting."""

    def problem(self, uid: str, reason: str) -> None:
        """`uid` could not be taken, for `reason` (already logged)."""

    def known_sequence(self, uid: str) -> int | None:
        """The SEQUENCE of the pulled event `uid` as last written; None when not known."""
        return None


@dataclass
class PassResult:
    requests: int = 0
    written: int = 0
    removed: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)  # (uid, reason)


def pull_mailbox(mailbox: Mailbox, target: PulledCalendar, memory: PullMemory,
                 own_items: OwnItems | None = None) -> PassResult:
    result = PassResult()
    first = mailbox.session.request_count
    now = contenttag.read_tags(mailbox)
    calendar_moved, inbox_moved = contenttag.moved(memory.tags, now)
    if calendar_moved:
        memory.load("calendar")
        _calendar(mailbox, target, memory, result, own_items)
        memory.save("calendar", now.calendar)
    if inbox_moved:
        memory.load("inbox")
        _inbox(mailbox, target, memory, result)
        memory.save("inbox", now.inbox)
    memory.tags = now
    result.requests = mailbox.session.request_count - first
    return result


def _problem(result: PassResult, memory: PullMemory, uid: str, reason: str, *,
             warning: bool = True) -> None:
    logger.log(logging.WARNING if warning else logging.INFO, "pull: %r: %s", uid[:120], reason)
    if warning:
        result.problems.append((uid, reason))
        memory.problem(uid, reason)


def _calendar(mailbox: Mailbox, target: PulledCalendar, memory: PullMemory,
              result: PassResult, own_items: OwnItems | None = None) -> None:
    known = {url: etag for url, (etag, _) in memory.calendar.items()}
    listed: set[str] = set()
    batch: list[mapping.Pulled] = []
    for row in listing.calendar_rows(mailbox):
        listed.add(row.url)
        if known.get(row.url) == row.etag:
            continue
        memory.calendar[row.url] = (row.etag, row.uid)
        status = row.props.get(_RESPONSE_STATUS)
        own = _PARTSTAT.get(status) if isinstance(status, int) else None
        try:
            ics = mapping.calendar_text(listing.fetch_mime(mailbox, row.url))
            if own_items is not None and (mine := own_items.claims(row.uid, row.url)):
                _settled(result, memory, own_items.settle(mine, ics, row.etag))
                continue
            pulled = mapping.appointment(ics, exchange_url=row.url, user=mailbox.address,
                                         message_class=row.message_class, own_partstat=own)
        except (mapping.BadItem, guards.TooLarge) as error:
            _problem(result, memory, row.uid, str(error))
            continue
        newest = memory.known_sequence(pulled.uid)
        if newest is not None and pulled.sequence < newest:
            _problem(result, memory, pulled.uid, f"Calendar copy at SEQUENCE {pulled.sequence} "
                     f"is older than the {newest} already pulled: not written", warning=False)
            continue
        batch.append(pulled)
        if len(batch) >= BATCH:
            _write(target, memory, mailbox.address, batch, result)
    _write(target, memory, mailbox.address, batch, result)
    for url in [u for u in memory.calendar if u not in listed]:
        _, uid = memory.calendar[url]
        if mailbox.exists(url):  # listed short (Range paging shifted): not gone, read again
            memory.calendar[url] = ("", uid)
            continue
        del memory.calendar[url]
        outcome = target.delete(uid).outcome  # never the user's own event
        if outcome == "deleted":
            result.removed += 1
        if outcome in ("deleted", "absent"):
            memory.removed(uid)


def _write(target: PulledCalendar, memory: PullMemory, address: str,
           batch: list[mapping.Pulled], result: PassResult) -> None:
    taken: list[mapping.Pulled] = []
    unsent: set[str] = set()
    outcomes = target.upsert(batch, address=address,
                             exchange_answers=memory.answers([p.uid for p in batch]))
    for pulled, outcome in zip(batch, outcomes, strict=True):
        if outcome.outcome in ("created", "updated"):
            result.written += 1
        if outcome.outcome in ("created", "updated", "unchanged"):
            taken.append(pulled)
            if outcome.kept_answer:
                unsent.add(pulled.uid)
        elif outcome.outcome == "refused":
            _problem(result, memory, outcome.uid, outcome.reason)
    memory.taken(taken, frozenset(unsent))
    for pulled in batch:
        for note in pulled.notes:
            _problem(result, memory, pulled.uid, note)
    batch.clear()


def _settled(result: PassResult, memory: PullMemory, settled: Settled) -> None:
    if settled.outcome == "taken":
        result.written += 1
    elif settled.outcome in ("refused", "left"):
        _problem(result, memory, settled.uid, settled.reason)


def _inbox(mailbox: Mailbox, target: PulledCalendar, memory: PullMemory,
           result: PassResult) -> None:
    changed, gone = listing.diff(memory.inbox, listing.inbox_rows(mailbox))
    for url in gone:  # answered, deleted or moved: forgotten, so the memory stays bounded
        memory.inbox.pop(url, None)
    for row in sorted(changed, key=decide.order_key):
        memory.inbox[row.url] = row.etag
        mime: bytes | Exception
        try:
            mime = listing.fetch_mime(mailbox, row.url)
        except guards.TooLarge as error:
            mime = error
        outcome = decide.for_message(row, mime, user=mailbox.address,
                                     existing=target.get(row.uid))
        if isinstance(outcome, decide.Skip):
            _problem(result, memory, outcome.uid, outcome.reason, warning=outcome.warning)
        elif isinstance(outcome, decide.Reply):
            written = target.record_reply(outcome.uid, outcome.text, address=mailbox.address,
                                          based_on=outcome.based_on, again=outcome.again)
            if written.outcome == "updated":
                result.written += 1
                memory.replied(outcome)
            elif written.outcome == "unchanged":
                memory.replied(outcome)
            else:
                _problem(result, memory, outcome.uid, written.reason)
        else:
            _write(target, memory, mailbox.address, [outcome.pulled], result)
