"""Failure isolation (design §1 "one bad VEVENT yields a per-event error, never a crash")."""

from __future__ import annotations

import pytest

from tests.e2e import ics
from tests.e2e.conftest import CANCELED, REQUEST, Bridge


@pytest.mark.xfail(
    strict=True,
    reason="CalendarStore.events() lets Radicale's RuntimeError for one unreadable file escape; "
    "the whole mailbox pass fails and no other event of the user is synced",
)
def test_one_unreadable_file_does_not_block_the_mailbox(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(ics.meeting())
    # A hand edit / restore / disk error leaves one file Radicale cannot parse.
    folder = bridge.config.state_dir / "collections" / "collection-root" / "alice" / "calendar"
    (folder / "broken.ics").write_text("BEGIN:VCALENDAR\r\nthis is not icalendar\r\n")
    reports = bridge.sync()
    assert not any(line.action == "pass" for r in reports for line in r.lines), reports
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1


@pytest.mark.xfail(
    strict=True,
    reason="an unreadable calendar file is silently left out by Radicale's get_all(); the "
    "planner sees the synced meeting as gone and cancels it (design: an unreadable file is "
    "'never a deletion')",
)
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
