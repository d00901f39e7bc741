"""Recovery paths of interrupted operations (design §4)."""

from __future__ import annotations

import pytest

from bridge.engine import Crash, Engine
from tests.e2e import ics
from tests.e2e.conftest import REQUEST, Bridge
from tests.e2e.test_exactly_once import MOVED, crashing_engine


def test_update_resumed_after_appointment_deleted_on_exchange(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.meeting(**MOVED)
    event.save()
    with pytest.raises(Crash):
        crashing_engine(bridge, "update_sent", "before").sync()
    # Meanwhile alice deletes the appointment in OWA (or an admin cleans her calendar).
    (appointment,) = bridge.exchange.calendar("alice")
    assert bridge.exchange.session.request("DELETE", str(appointment["href"])).status_code < 300
    engine = bridge.service.engine
    assert engine is not None
    bridge.sync_later(passes=3)
    row = engine.state.get_item("alice", "planning-1")
    assert row is not None and row.status == "synced", (row.status if row else None,
                                                         row.last_error if row else None)
    assert engine.state.open_journals("alice") == []
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 2


def test_state_restored_from_backup_does_not_reinvite(bridge: Bridge, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bridge.state import State

    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting())
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    engine = bridge.service.engine
    assert engine is not None
    # The state folder was not on a persistent volume / was restored from last night's backup.
    restored = State.open(tmp_path / "restored.sqlite")
    fresh = Engine(bridge.config, restored, engine.calendars)
    fresh.sync()
    fresh.close()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1


def test_create_failed_before_sending_then_event_deleted_sends_nothing(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sim.faults.add(r"^PROPPATCH /exchange/alice/Calendar/", status=503, count=None)
    bridge.sync()  # the appointment cannot be written: nothing reached Exchange
    bridge.sim.faults.clear()
    event.delete()  # the organizer gives up on the meeting
    engine = bridge.service.engine
    assert engine is not None
    engine.state.reset_retry("alice")
    bridge.sync()
    bridge.sync()
    assert bridge.exchange.inbox("bob") == [], [i.get("urn:schemas:httpmail:subject")
                                                 for i in bridge.exchange.inbox("bob")]
    assert bridge.exchange.calendar("alice") == []
