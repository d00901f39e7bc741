"""Events moved between calendars (same UID: neither a cancellation nor a new invitation)."""

from __future__ import annotations

import requests

from tests.e2e import ics
from tests.e2e.conftest import Bridge


def test_move_between_calendars_sends_nothing(bridge: Bridge) -> None:
    work = bridge.calendar("alice", "calendar")
    bridge.calendar("alice", "project")
    event = work.save_event(ics.meeting())
    bridge.sync()
    source = str(event.url)
    target = source.replace("/calendar/", "/project/")
    moved = requests.request("MOVE", source, headers={"Destination": target},
                             auth=("alice", "demo"), timeout=10)
    assert moved.status_code in (201, 204), moved.text
    bridge.sync()
    bridge.sync()
    assert len(bridge.exchange.inbox("bob")) == 1  # the original request only
    engine = bridge.service.engine
    assert engine is not None
    row = engine.state.get_item("alice", "planning-1")
    assert row is not None and row.status == "synced"
