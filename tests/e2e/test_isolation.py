"""Unreadable calendar files (design §3/plan.Snapshot: an unreadable file is never a deletion)."""

from __future__ import annotations

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, Bridge


def test_corrupted_file_of_a_synced_meeting_is_not_a_cancellation(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting())
    bridge.sync()
    folder = bridge.config.state_dir / "collections" / "collection-root" / "alice" / "calendar"
    (path,) = [p for p in folder.glob("*.ics")]
    path.write_text(path.read_text()[:60])  # truncated by a full disk / bad restore
    bridge.sync()
    assert bridge.exchange.inbox("bob", CANCELED) == []
    assert len(bridge.exchange.calendar("alice")) == 1
