"""Journals an older calbridge left open are resumed safely (design §4, exactly once).

Older versions sent a create's request as a draft in Drafts MOVEd to the submission URI
(steps ``draft_written``, ``draft_sent``) and the occurrence messages the same way
(``occurrences_written``, then ``occurrences_sent`` MOVEing each draft). Each test runs the
real engine up to the point the older version would have reached, writes the rest of that
version's journal into the real state file and its drafts into the simulator with the same
requests it made, then restarts: every attendee ends with exactly one copy of each message,
and no draft is left in Drafts. Expected counts are what the user did (`check`).
"""

from __future__ import annotations

import pytest

from bridge.engine import Crash
from bridge.exchange.mailbox import Mailbox
from bridge.occurrence_messages import occurrence_meeting, occurrence_messages
from bridge.operations import CREATE, UPDATE, CreatePayload, UpdatePayload, decode_payload
from bridge.recipes import as_organizer
from bridge.state import State
from tests.e2e.conftest import Bridge
from tests.e2e.test_exactly_once import check, crashing_engine, prepare, restarted

UID = "planning-1"


def _stopped_after(bridge: Bridge, scenario: str, step: str) -> tuple[State, Mailbox]:
    """The scenario run up to `step` done, then the process dies (a real crash hook)."""
    prepare(bridge, scenario)
    engine = crashing_engine(bridge, step, "after")
    with pytest.raises(Crash):
        engine.sync()
    engine.close()
    service = bridge.service.engine
    assert service is not None
    return service.state, service.mailbox_for(bridge.config.user("alice"))


def _journal(state: State, op: str, step: str, target: str, *, done: str | None = None,
             marker: str | None = None) -> None:
    entry = state.journal_start("alice", UID, op, step, target_url=target,  # type: ignore[arg-type]
                                marker=marker)
    if done is not None:
        state.journal_done(entry, done)


def test_legacy_steps_stay_declared() -> None:
    assert {"draft_written", "draft_sent", "occurrences_written"} <= set(CREATE.step_names)
    assert set(CREATE.legacy_step_names) == {"draft_written", "draft_sent",
                                             "occurrences_written"}
    assert UPDATE.legacy_step_names == ("occurrences_written",)
    assert "draft_sent" in CREATE.sending_steps  # a started one commits the create


@pytest.mark.parametrize("where", ["written", "move_started", "moved"])
def test_create_request_left_as_a_draft(bridge: Bridge, where: str) -> None:
    state, mailbox = _stopped_after(bridge, "create", "appointment_written")
    (first, *_) = state.open_journal("alice", UID)
    payload = decode_payload("create", first.payload)
    assert isinstance(payload, CreatePayload)
    wire = as_organizer(payload.sent, bridge.config.user("alice"), payload.kind)
    draft = mailbox.draft_url(UID, "request", payload.sequence)
    assert mailbox.write_draft(wire, draft)  # what the older version's draft_written did
    _journal(state, "create", "draft_written", draft, done=draft)
    if where != "written":
        _journal(state, "create", "draft_sent", draft)
    if where == "moved":  # the MOVE went out; the process died before journaling it
        mailbox.send_draft(draft)
    restarted(bridge)
    check(bridge, "create")


@pytest.mark.parametrize("moved", [0, 1, 3])
def test_occurrence_drafts_left_by_an_older_version(bridge: Bridge, moved: int) -> None:
    """Dave invited to one occurrence of a series already sent: three occurrence messages
    (Bob, Carol, Dave) were drafts; the older version's occurrences_sent MOVEd `moved` of
    them before the process died."""
    state, mailbox = _stopped_after(bridge, "occurrence", "update_written")
    (first, *_) = state.open_journal("alice", UID)
    payload = decode_payload("update", first.payload)
    assert isinstance(payload, UpdatePayload)
    meeting = as_organizer(payload.sent, bridge.config.user("alice"), payload.kind)
    sequence = max(meeting.sequence, payload.sent_sequence or 0)
    messages = occurrence_messages(meeting, payload.previous, series_sent=False)
    assert messages
    drafts = []
    for message in messages:  # the older version's draft names and writes
        draft = mailbox.draft_url(f"{UID}\n{message.occurrence.key}",
                                  "occurrence" if message.kind == "request" else "occcancel",
                                  max(sequence, message.occurrence.sequence))
        mailbox.write_draft(occurrence_meeting(meeting, message, sequence), draft,
                            kind=message.kind, recurrence_id=message.occurrence.recurrence_id)
        drafts.append(draft)
    _journal(state, "update", "occurrences_written", drafts[0], done="\n".join(drafts))
    if moved:
        _journal(state, "update", "occurrences_sent", drafts[0])
        for draft in drafts[:moved]:
            mailbox.send_draft(draft)
    restarted(bridge)
    check(bridge, "occurrence")


def test_series_with_a_room_reaches_the_room_once_as_bcc(bridge: Bridge) -> None:
    """A series with an exception goes by PUT to the submission URI as message/rfc821 when it
    books a room (reference §3.2: the envelope is the only way a PUT gets Bcc): the room gets
    the request once, and Bob's copy does not show it."""
    from tests.e2e import ics
    from tests.e2e.conftest import REQUEST

    series = ics.calendar(
        ics.event(UID, ics.BOB, ics.ROOM, "RRULE:FREQ=DAILY;COUNT=3"),
        ics.event(UID, ics.BOB, ics.ROOM, "RECURRENCE-ID:20261211T140000Z",
                  start="DTSTART:20261211T160000Z", end="DTEND:20261211T170000Z"),
    )
    bridge.calendar("alice").save_event(series)
    bridge.sync()
    log = [e for e in bridge.sim.log.entries()
           if e.method == "PUT" and "DavMailSubmissionURI" in e.path]
    assert log, "the series was not PUT to the submission URI"
    assert len(bridge.exchange.inbox("room-101", REQUEST)) == 1
    (bob,) = bridge.exchange.inbox("bob", REQUEST)
    assert "room-101" not in str(bob.get("urn:schemas:mailheader:bcc") or "")
