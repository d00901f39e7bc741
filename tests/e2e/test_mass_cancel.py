"""The mass-cancellation guard (design §4: "if a calendar that had synced meetings suddenly has
none (or loses more than a configured share at once), cancellations are held")."""

from __future__ import annotations

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, Bridge


def test_deleting_a_whole_calendar_holds_its_cancellations(bridge: Bridge) -> None:
    work = bridge.calendar("alice", "calendar")
    project = bridge.calendar("alice", "project")
    for n in range(4):
        work.save_event(ics.meeting(f"work-{n}"))
    for n in range(3):
        project.save_event(ics.meeting(f"project-{n}"))
    bridge.sync()
    project.delete()  # a client "removes" a subscribed/old calendar, or a sync tool wipes it
    reports = bridge.sync()
    assert bridge.exchange.inbox("bob", CANCELED) == [], reports
    assert any(line.action == "hold" for r in reports for line in r.lines)
