"""`calbridge run`: a change saved while a pass is running must still be synced promptly."""

from __future__ import annotations

import time

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge
from tests.e2e.test_exactly_once import MOVED


def test_change_saved_during_a_running_pass_is_synced_soon(live_bridge: Bridge) -> None:
    calendar = live_bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    live_bridge.exchange.wait_for(lambda: live_bridge.exchange.inbox("bob", REQUEST))
    live_bridge.sim.faults.add(r"^POST /exchange/alice/Calendar/", delay=2.0, count=1)
    event.data = ics.meeting(**MOVED)
    event.save()  # wakes a pass that hangs 2 s in sendappt
    time.sleep(0.8)
    calendar.save_event(ics.meeting("second-1"))  # saved while that pass runs
    live_bridge.exchange.wait_for(
        lambda: any(i.get(UID) == "second-1" for i in live_bridge.exchange.inbox("bob", REQUEST)),
        timeout=10.0,
    )
