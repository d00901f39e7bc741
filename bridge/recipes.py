"""The journaled recipes: how each operation reaches Exchange, one declared step at a time.

Rules kept here (design §4):
- Every Exchange side effect runs through `JournaledRun.step()` under a step name from the
  operation's table (`bridge.operations`); a recipe run again after a crash skips the steps
  found done and checks a started one against the server before repeating it.
- The same code runs a fresh operation and resumes an interrupted one: `entries` is the open
  journal (empty for a fresh run), the payload its typed first entry.
- Only this module and `bridge.recovery` write an operation's outcome to the state (the row
  synced or cancelled, the journal closed).

Size: over 400 lines because each operation's recipe reads best whole, beside its step table's
order (create, update with its occurrence messages, cancel, delete); the Exchange requests
themselves live in `bridge.exchange.mailbox`, the messages about single occurrences in
`bridge.occurrence_messages`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from bridge.config import UserConfig
from bridge.exchange import errors
from bridge.exchange.mailbox import Mailbox
from bridge.journal import JournaledRun, StepHook
from bridge.meeting import Meeting
from bridge.occurrence_messages import (
    OccurrenceMessage,
    occurrence_meeting,
    occurrence_messages,
    only_occurrences_changed,
)
from bridge.operations import (
    CancelPayload,
    CreatePayload,
    Location,
    Payload,
    UpdatePayload,
)
from bridge.state import ItemKind, JournalEntry, State

__all__ = ["CANCELED", "REQUEST", "Recipes", "as_organizer"]

REQUEST = "IPM.Schedule.Meeting.Request"
CANCELED = "IPM.Schedule.Meeting.Canceled"


def as_organizer(meeting: Meeting, user: UserConfig, kind: str) -> Meeting:
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


class Recipes:
    """The recipes of one mailbox (one user), each a journaled run of declared steps."""

    def __init__(
        self,
        state: State,
        user: UserConfig,
        mailbox: Mailbox,
        *,
        clock: Callable[[], datetime],
        settle: timedelta,
        hook: StepHook | None = None,
    ) -> None:
        self.state, self.user, self.mailbox = state, user, mailbox
        self.clock, self._settle, self._hook = clock, settle, hook

    def perform(
        self,
        uid: str,
        payload: Payload,
        entries: list[JournalEntry] | None = None,
        where: Location | None = None,
    ) -> None:
        """Run (or, given its open journal `entries`, resume) the operation of `payload`."""
        entries = entries or []
        where = where or Location()
        if isinstance(payload, CreatePayload):
            self.create(payload, entries, where)
        elif isinstance(payload, UpdatePayload):
            self.update(payload, entries, where)
        else:
            self.cancel(uid, payload, entries)

    def _journaled(self, uid: str, payload: Payload, entries: list[JournalEntry]) -> JournaledRun:
        return JournaledRun(
            self.state,
            self.user.mailbox,
            uid,
            payload,
            entries,
            self._hook,
            clock=self.clock,
            settle=self._settle,
        )

    # -- create ------------------------------------------------------------------------------

    def create(
        self, payload: CreatePayload, entries: list[JournalEntry], where: Location
    ) -> None:
        meeting = payload.sent
        wire = as_organizer(meeting, self.user, payload.kind)
        mailbox = self.mailbox
        run = self._journaled(meeting.uid, payload, entries)
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
            # Whether the attendees need an update is decided from what Exchange had *before*
            # it is overwritten, and journaled with the step (its marker: "send:<sequence>" or
            # "quiet:<sequence>"), so a crash after the overwrite cannot lose the update.
            decision = run.marker("adopted")
            if decision is None:
                existing = mailbox.read_meeting(url)
                news = existing is None or _visible(existing) != _visible(wire)
                known = str(existing.sequence) if existing is not None else ""
                decision = f"{'send' if payload.send and news else 'quiet'}:{known}"

            def overwrite() -> None:
                mailbox.write_appointment(wire, create=False)

            run.step("adopted", url, overwrite, marker=decision)
            verdict, _, known_text = decision.partition(":")
            known_sequence = int(known_text) if known_text else None
            if verdict == "send":
                sequence = self._send_update(run, wire, url, known_sequence)
            elif known_sequence is not None:
                sequence = max(sequence, known_sequence)
        elif payload.send and "draft_written" in run.entries:
            # a journal of an older version: its request was written into Drafts; MOVE it
            draft = mailbox.draft_url(meeting.uid, "request", meeting.sequence)
            run.step("draft_written", draft, lambda: mailbox.write_draft(wire, draft))
            self._send_draft(run, "draft_sent", draft, wire, REQUEST)
        elif payload.send:
            self._send_request(run, wire)
        if payload.send:
            self._occurrences(run, wire, None, sequence)
        self._synced(meeting, payload.kind, sequence, url, where)

    # -- update ------------------------------------------------------------------------------

    def update(
        self, payload: UpdatePayload, entries: list[JournalEntry], where: Location
    ) -> None:
        meeting = payload.sent
        wire = as_organizer(meeting, self.user, payload.kind)
        mailbox = self.mailbox
        run = self._journaled(meeting.uid, payload, entries)
        url = mailbox.appointment_url(meeting.uid)

        # exceptions the series had before go only with a PUT of the whole series
        had_exceptions = payload.previous is not None and bool(payload.previous.overrides)

        def write() -> None:
            try:
                mailbox.write_appointment(wire, create=False, had_exceptions=had_exceptions)
            except (errors.PreconditionFailed, errors.NotFound):
                # Someone deleted the appointment on Exchange: put it back.
                mailbox.write_appointment(wire, create=True)

        run.step("update_written", url, write)
        sequence = meeting.sequence
        if payload.send and only_occurrences_changed(meeting, payload.previous):
            # one message per changed occurrence, no whole-series update (issue 9)
            if payload.sent_sequence is not None:
                sequence = max(sequence, payload.sent_sequence)
            self._occurrences(run, wire, payload.previous, sequence, series_sent=False)
        elif payload.send:
            sequence = self._send_update(run, wire, url, payload.sent_sequence)
            self._uninvite(run, wire, payload.previous, sequence)
            self._occurrences(run, wire, payload.previous, sequence)
        self._synced(meeting, payload.kind, sequence, url, where)

    def _synced(
        self, meeting: Meeting, kind: ItemKind, sequence: int, url: str, where: Location
    ) -> None:
        """The operation is complete: record what Exchange holds and close its journal."""
        self.state.mark_synced(
            self.user.mailbox,
            meeting.uid,
            meeting=meeting,
            kind=kind,
            sequence=sequence,
            exchange_url=url,
            collection=where.collection,
            href=where.href,
            radicale_etag=where.radicale_etag,
        )
        self.state.clear_journal(self.user.mailbox, meeting.uid)

    def _send_update(self, run: JournaledRun, meeting: Meeting, url: str, known: int | None) -> int:
        """OWA sendappt, journaled; the marker is the sequence the server will then report.

        `known` is the appointment's sequence as last recorded (the server bumps it by one on
        every sendappt); only without it is it read from the server (one PROPFIND more).
        """
        mailbox = self.mailbox
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

    def _send_request(self, run: JournaledRun, meeting: Meeting) -> None:
        """The invitation, straight to the submission URI (reference §3.2): one PROPPATCH, or
        for a series with exceptions one PUT of its iCalendar (§2.3: exceptions exist only
        there). The attempt id it carries is journaled (the step's marker) before it goes;
        a resumed step sends only when Sent Items has no copy carrying it."""
        mailbox = self.mailbox
        attempt = run.marker("request_sent") or secrets.token_hex(16)
        series = bool(meeting.overrides)

        def went_out(_entry: JournalEntry) -> bool:
            if series:
                return attempt in mailbox.sent_series_attempts(meeting.uid, meeting.sequence)
            return attempt in mailbox.sent_attempts(meeting.uid)

        def send() -> None:
            if series:
                mailbox.submit_series(meeting, attempt=attempt)
            else:
                mailbox.submit_message(meeting, kind="request", attempt=attempt)

        run.step("request_sent", mailbox.folders.sendmsg, send, marker=attempt, check=went_out)

    def _send_draft(
        self,
        run: JournaledRun,
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
        mailbox = self.mailbox

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

    def _uninvite(
        self, run: JournaledRun, meeting: Meeting, previous: Meeting | None, sequence: int
    ) -> None:
        """Attendees removed by this update get a cancellation (OWA's sendappt only writes to
        the attendees the meeting has now; Outlook would tell the removed ones too)."""
        if previous is None:
            return
        staying = {a.email for a in meeting.invitees()}
        removed = tuple(a for a in previous.invitees() if a.email not in staying)
        if not removed:
            return
        farewell = replace(meeting, attendees=removed, sequence=sequence)
        mailbox = self.mailbox
        draft = mailbox.draft_url(meeting.uid, "uninvite", sequence)
        run.step(
            "uninvite_written", draft, lambda: mailbox.write_draft(farewell, draft, kind="cancel")
        )
        self._send_draft(run, "uninvite_sent", draft, farewell, CANCELED, "cancel")

    def _occurrences(
        self,
        run: JournaledRun,
        meeting: Meeting,
        previous: Meeting | None,
        sequence: int,
        *,
        series_sent: bool = True,
    ) -> None:
        """Messages about single occurrences (`occurrence_messages`): to people the series
        message does not reach, or, when only occurrences changed, to everyone concerned
        instead of a series message. Each is one PROPPATCH of the submission URI (no draft),
        carrying the step's attempt id and its index; a resumed step sends only the messages
        whose copy with that id Sent Items lacks."""
        messages = occurrence_messages(meeting, previous, series_sent=series_sent)
        if "occurrences_written" in run.entries:
            self._legacy_occurrences(run, meeting, messages, sequence)
            return
        if not messages:
            return
        mailbox = self.mailbox
        # Journaled (as the step's marker) before the first message goes out.
        attempt = run.marker("occurrences_sent") or secrets.token_hex(16)
        tags = [f"{attempt}/{index}" for index in range(len(messages))]
        sent: set[str] = set()

        def all_sent(_entry: JournalEntry) -> bool:
            sent.update(mailbox.sent_attempts(meeting.uid))
            return sent.issuperset(tags)

        def send() -> None:
            for tag, message in zip(tags, messages, strict=True):
                if tag not in sent:  # empty unless resumed: then the ones Sent Items lacks
                    run.touch("occurrences_sent")  # settle counts from the latest message
                    mailbox.submit_message(occurrence_meeting(meeting, message, sequence),
                                           kind=message.kind, attempt=tag,
                                           recurrence_id=message.occurrence.recurrence_id)

        run.step("occurrences_sent", mailbox.folders.sendmsg, send, marker=attempt,
                 check=all_sent)

    def _legacy_occurrences(
        self,
        run: JournaledRun,
        meeting: Meeting,
        messages: tuple[OccurrenceMessage, ...],
        sequence: int,
    ) -> None:
        """The occurrence messages of a journal an older version left: drafts written into
        Drafts (step "occurrences_written", its marker their URLs), then each MOVEd once. A
        draft still in Drafts is unsent and is MOVEd now; one gone from Drafts was sent."""
        mailbox = self.mailbox

        def name(message: OccurrenceMessage) -> str:
            # the older version's names: the occurrence (in the uid), the kind, the sequence
            return mailbox.draft_url(f"{meeting.uid}\n{message.occurrence.key}",
                                     "occurrence" if message.kind == "request" else "occcancel",
                                     max(sequence, message.occurrence.sequence))

        def write() -> str:  # only when its writing was interrupted: nothing was sent yet
            drafts = []
            for message in messages:
                draft = name(message)
                mailbox.write_draft(occurrence_meeting(meeting, message, sequence), draft,
                                    kind=message.kind,
                                    recurrence_id=message.occurrence.recurrence_id)
                drafts.append(draft)
            return "\n".join(drafts)

        written = run.step("occurrences_written", mailbox.draft_url(meeting.uid, "occurrence",
                                                                    sequence), write)
        drafts = [d for d in written.split("\n") if d]

        def send() -> None:
            for draft in drafts:
                try:
                    mailbox.send_draft(draft)
                except errors.NotFound:
                    continue  # gone from Drafts: MOVEd by the interrupted attempt, so sent

        run.step("occurrences_sent", drafts[0] if drafts else "", send)

    # -- cancel / delete ---------------------------------------------------------------------

    def cancel(self, uid: str, payload: CancelPayload, entries: list[JournalEntry]) -> None:
        mailbox = self.mailbox
        run = self._journaled(uid, payload, entries)
        url = mailbox.appointment_url(uid)
        if payload.send:
            self._send_cancellation(run, uid, payload, url)
        run.step("appointment_deleted", url, lambda: mailbox.delete(url))
        self.state.mark_cancelled(self.user.mailbox, uid, sequence=payload.sequence)
        self.state.clear_journal(self.user.mailbox, uid)

    def _send_cancellation(
        self, run: JournaledRun, uid: str, payload: CancelPayload, url: str
    ) -> None:
        mailbox = self.mailbox
        previous = payload.previous
        sequence = payload.sequence or 0

        def make_draft() -> str:
            try:
                return mailbox.get_cancel_draft(url)
            except errors.NotFound:
                if previous is None:
                    return ""  # nothing on Exchange and nothing known: nobody to tell
                # The appointment is gone from Exchange (deleted in OWA?): the attendees
                # still hold the meeting, so build the cancellation ourselves.
                own = mailbox.draft_url(uid, "cancel", sequence)
                cancelled = replace(as_organizer(previous, self.user, "meeting"), sequence=sequence)
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
        if not draft:
            return

        def send() -> None:
            try:
                mailbox.send_draft(draft)
            except errors.NotFound:  # the user deleted the waiting draft: make another
                replacement = make_draft()
                if replacement:
                    mailbox.send_draft(replacement)

        run.step(
            "cancel_sent",
            draft,
            send,
            check=lambda _entry: not mailbox.exists(draft)
            and mailbox.was_sent(uid, CANCELED, 0, whole_series=True),
        )
