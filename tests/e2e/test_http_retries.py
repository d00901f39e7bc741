"""http.py retries a GET after a read time-out: `?Cmd=getcancel` is a GET with a side effect."""

from __future__ import annotations

import pytest

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, MESSAGE_CLASS


def test_getcancel_read_timeout_leaves_no_stray_cancellation_draft(bridge_with) -> None:  # type: ignore[no-untyped-def]
    bridge = bridge_with(timeout=1.0)
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.delete()
    # The server does the work, but answers after the client gave up (a slow Exchange). The
    # fault acts after the request was carried out, so there is no race with the read-back.
    bridge.sim.faults.add(r"^GET .*Cmd=getcancel", delay=2.0, count=1, after=True)
    bridge.sync()  # not repeated blindly: the outcome is read back later
    bridge.sync_later()
    bob = [i for i in bridge.exchange.inbox("bob") if i.get(MESSAGE_CLASS) == CANCELED]
    assert len(bob) == 1
    drafts = bridge.exchange.items("alice", "Drafts")
    assert drafts == [], f"stray drafts left behind: {drafts}"


def test_stale_stray_draft_is_never_sent_later(bridge_with) -> None:  # type: ignore[no-untyped-def]
    from bridge.engine import Crash
    from tests.e2e.conftest import CANCELED, REQUEST, UID
    from tests.e2e.test_exactly_once import crashing_engine

    dave = "ATTENDEE;CN=Dave Example;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:dave@example.com"
    bridge = bridge_with(timeout=1.0)
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.delete()
    bridge.sim.faults.add(r"^GET .*Cmd=getcancel", delay=2.0, count=1, after=True)
    bridge.sync()  # the getcancel timed out: its outcome is read back later
    bridge.sync_later()  # cancelled once
    # the meeting comes back (restored), now with dave too, and is cancelled again
    # (a new subject: the sim lists Drafts by name, so the stray sorts first; real Exchange
    # SEARCH without ORDER BY gives no order at all, and adopt_draft takes found[0])
    again = calendar.save_event(ics.calendar(ics.event(
        "planning-1", ics.BOB, ics.CAROL, dave, dtstamp="20261125T150000Z",
        summary="Zoom planning")))
    bridge.sync_later()
    assert len(bridge.exchange.inbox("dave", REQUEST)) == 1
    again.delete()
    with pytest.raises(Crash):
        crashing_engine(bridge, "cancel_draft", "sent").sync()
    bridge.sync_later()
    got = [i for i in bridge.exchange.inbox("dave", CANCELED) if i.get(UID) == "planning-1"]
    assert len(got) == 1


def test_sendappt_read_timeout_then_immediate_retry_sends_update_once(bridge_with) -> None:  # type: ignore[no-untyped-def]
    import time

    from tests.e2e.conftest import REQUEST
    from tests.e2e.test_exactly_once import MOVED

    bridge = bridge_with(timeout=1.0)
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.meeting(**MOVED)
    event.save()
    bridge.sim.faults.add(r"^POST /exchange/alice/Calendar/", delay=2.5, count=1)
    bridge.sync()  # read time-out: failed, retry after the back-off
    engine = bridge.service.engine
    assert engine is not None
    engine.state.reset_retry("alice")  # `calbridge retry` right away
    bridge.sync()
    time.sleep(2.5)  # the slow first POST completes on the server
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 2  # invitation + one update
