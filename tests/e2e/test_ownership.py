"""Ownership changes after invitations went out (design §4 "never send on behalf of someone
else" must not turn into "never tell the people this mailbox already invited")."""

from __future__ import annotations

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, Bridge


def test_meeting_that_became_foreign_still_gets_its_cancellation(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    # alice's client now writes her other address (not configured as a delegate)
    event.data = ics.calendar(ics.event(
        "planning-1", ics.BOB, ics.CAROL, dtstamp="20261125T140000Z",
        organizer="ORGANIZER;CN=Alice Example:mailto:a.example@example.com"))
    event.save()
    bridge.sync()
    event.delete()
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", CANCELED)) == 1
