"""`calbridge run` and `calbridge sync` on one state folder: two engines, one flock per mailbox."""

from __future__ import annotations

import threading

from bridge.engine import Engine
from bridge.state import State
from tests.e2e import ics
from tests.e2e.conftest import CANCELED, REQUEST, Bridge


def test_two_engines_in_parallel_send_each_message_once(bridge: Bridge) -> None:
    engine = bridge.service.engine
    assert engine is not None
    # The second "process": its own State connection and Engine (own thread locks).
    other_state = State.open(engine.state.path)
    other = Engine(bridge.config, other_state, engine.calendars)
    calendar = bridge.calendar("alice")
    events = [calendar.save_event(ics.meeting(f"m-{n}")) for n in range(4)]

    def both() -> None:
        threads = [threading.Thread(target=e.sync) for e in (engine, other, engine, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    both()
    for event in events[:2]:
        event.delete()
    both()
    other.close()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 4
    assert len(bridge.exchange.inbox("bob", CANCELED)) == 2
