"""A user's calendar app (the `caldav` library) against a running calbridge and Exchange."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.e2e import ics
from tests.e2e.conftest import ACCEPTED, CANCELED, REQUEST, SEQUENCE, UID, Bridge

T14 = datetime(2026, 12, 10, 14, tzinfo=UTC)
T16 = datetime(2026, 12, 10, 16, tzinfo=UTC)


def test_meeting_lifecycle_through_the_live_loop(live_bridge: Bridge) -> None:
    """alice creates, moves and deletes a meeting; the running service does the rest."""
    calendar = live_bridge.calendar("alice")
    exchange = live_bridge.exchange

    event = calendar.save_event(ics.meeting())
    exchange.wait_for(lambda: exchange.inbox("bob", REQUEST) and exchange.inbox("carol", REQUEST))
    exchange.wait_for(lambda: exchange.inbox("alice", ACCEPTED))
    assert [i[UID] for i in exchange.calendar("room-101")] == ["planning-1"]
    assert [i[UID] for i in exchange.calendar("alice")] == ["planning-1"]

    event.data = ics.meeting(
        start="DTSTART:20261210T160000Z", end="DTEND:20261210T170000Z", dtstamp="20261125T130000Z"
    )
    event.save()
    exchange.wait_for(lambda: len(exchange.inbox("bob", REQUEST)) == 2)
    exchange.wait_for(lambda: len(exchange.inbox("carol", REQUEST)) == 2)
    for who in ("bob", "carol"):
        update = max(exchange.inbox(who, REQUEST), key=lambda i: i[SEQUENCE])  # type: ignore[arg-type, return-value]
        assert update["urn:schemas:calendar:dtstart"] == T16
    assert exchange.calendar("room-101")[0]["urn:schemas:calendar:dtstart"] == T16

    event.delete()
    exchange.wait_for(lambda: exchange.inbox("bob", CANCELED) and exchange.inbox("carol", CANCELED))
    exchange.wait_for(lambda: not exchange.calendar("alice"))
    assert exchange.calendar("room-101") == []
    # Exactly once each, even after more passes of the loop.
    live_bridge.sync()
    for who in ("bob", "carol"):
        assert len(exchange.inbox(who, REQUEST)) == 2
        assert len(exchange.inbox(who, CANCELED)) == 1


def test_dtstamp_only_change_sends_nothing(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.meeting(dtstamp="20261126T080000Z")
    event.save()
    reports = bridge.sync()
    assert not [line for r in reports for line in r.lines if line.action == "update"]
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1


def test_all_day_event_and_weekly_series_with_exdate(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(
        ics.calendar(
            ics.event(
                "offsite-1",
                ics.BOB,
                start="DTSTART;VALUE=DATE:20261214",
                end="DTEND;VALUE=DATE:20261216",
                summary="Offsite",
            )
        )
    )
    calendar.save_event(
        ics.calendar(
            ics.event(
                "weekly-1",
                ics.BOB,
                "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=6",
                "EXDATE:20261221T090000Z",
                start="DTSTART:20261207T090000Z",
                end="DTEND:20261207T093000Z",
                summary="Weekly sync",
            )
        )
    )
    bridge.sync()
    by_uid = {i[UID]: i for i in bridge.exchange.calendar("alice")}
    offsite = by_uid["offsite-1"]
    assert offsite["urn:schemas:calendar:alldayevent"] is True
    assert offsite["urn:schemas:calendar:dtstart"] == datetime(2026, 12, 14, tzinfo=UTC)
    assert offsite["urn:schemas:calendar:dtend"] == datetime(2026, 12, 16, tzinfo=UTC)
    weekly = by_uid["weekly-1"]
    assert weekly["urn:schemas:calendar:rrule"] == ["FREQ=WEEKLY;COUNT=6;BYDAY=MO"]
    assert weekly["urn:schemas:calendar:exdate"] == [datetime(2026, 12, 21, 9, tzinfo=UTC)]
    requests_ = {i[UID] for i in bridge.exchange.inbox("bob", REQUEST)}
    assert requests_ == {"offsite-1", "weekly-1"}
    grid = bridge.service.engine.freebusy(  # type: ignore[union-attr]
        ["alice@example.com"], datetime(2026, 12, 21, 9, tzinfo=UTC),
        datetime(2026, 12, 28, 10, tzinfo=UTC), 30,
    )
    digits = grid["alice@example.com"]
    assert digits[0] == "0"  # the excluded Monday is free
    assert digits[7 * 48] == "2"  # the next Monday 09:00 is busy


def test_meeting_where_alice_is_only_an_attendee_sends_nothing(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    calendar.save_event(
        ics.calendar(
            ics.event(
                "bobs-meeting",
                "ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:alice@example.com",
                ics.CAROL,
                organizer="ORGANIZER:mailto:bob@example.com",
            )
        )
    )
    bridge.sync()
    assert [i[UID] for i in bridge.exchange.calendar("alice")] == ["bobs-meeting"]
    for who in ("bob", "carol", "alice"):
        assert bridge.exchange.inbox(who) == []
    (event,) = calendar.events()
    event.delete()
    bridge.sync()
    assert bridge.exchange.calendar("alice") == []
    assert bridge.exchange.inbox("carol") == []
    assert bridge.exchange.inbox("bob") == []


def test_event_without_attendees_is_a_plain_appointment(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.calendar(ics.event("dentist", summary="Dentist")))
    bridge.sync()
    (appointment,) = bridge.exchange.calendar("alice")
    assert appointment["urn:schemas:httpmail:subject"] == "Dentist"
    event.delete()
    bridge.sync()
    assert bridge.exchange.calendar("alice") == []
    assert bridge.exchange.items("alice", "Sent Items") == []


def test_series_with_overridden_occurrence_is_sent_not_skipped(bridge: Bridge) -> None:
    # issue 9: no series is skipped merely because it has overrides (the occurrences Exchange
    # then serves are compared with the client's in tests/e2e/test_recurring.py)
    calendar = bridge.calendar("alice")
    calendar.save_event(
        ics.calendar(
            ics.event("series-x", ics.BOB, "RRULE:FREQ=DAILY;COUNT=5",
                      start="DTSTART:20261207T090000Z", end="DTEND:20261207T100000Z"),
            ics.event("series-x", ics.BOB, "RECURRENCE-ID:20261208T090000Z",
                      start="DTSTART:20261208T110000Z", end="DTEND:20261208T120000Z"),
        )
    )
    calendar.save_event(ics.meeting("fine-1"))
    bridge.sync()
    assert {i[UID] for i in bridge.exchange.inbox("bob", REQUEST)} == {"fine-1", "series-x"}
    state = bridge.service.engine.state  # type: ignore[union-attr]
    assert "series-x" not in dict(state.skip_reasons("alice"))
    assert state.get_item("alice", "series-x").status == "synced"


def test_removed_attendee_gets_a_cancellation_and_the_others_an_update(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    event = calendar.save_event(ics.meeting())
    bridge.sync()
    event.data = ics.calendar(ics.event("planning-1", ics.BOB, dtstamp="20261125T140000Z"))
    event.save()
    bridge.sync()
    bridge.sync()
    exchange = bridge.exchange
    assert len(exchange.inbox("bob", REQUEST)) == 2 and exchange.inbox("bob", CANCELED) == []
    assert len(exchange.inbox("carol", REQUEST)) == 1
    assert len(exchange.inbox("carol", CANCELED)) == 1
    assert exchange.calendar("room-101") == []  # the room was removed: booking freed


def test_delete_then_put_elsewhere_is_a_move_not_a_cancellation(live_bridge: Bridge) -> None:
    """Clients that move an event to another calendar as DELETE then PUT."""
    import time

    work = live_bridge.calendar("alice")
    other = live_bridge.calendar("alice", "team")
    exchange = live_bridge.exchange
    event = work.save_event(ics.meeting())
    exchange.wait_for(lambda: exchange.inbox("bob", REQUEST))
    event.delete()
    time.sleep(0.8)  # longer than the wake-up debounce: a pass runs in between
    other.save_event(ics.meeting())
    time.sleep(live_bridge.config.cancel_grace + 1.5)
    live_bridge.sync()
    assert exchange.inbox("bob", CANCELED) == []
    assert len(exchange.inbox("bob", REQUEST)) == 1
    assert [i[UID] for i in exchange.calendar("alice")] == ["planning-1"]


def test_a_real_deletion_is_cancelled_once_the_grace_period_is_over(live_bridge: Bridge) -> None:
    exchange = live_bridge.exchange
    event = live_bridge.calendar("alice").save_event(ics.meeting())
    exchange.wait_for(lambda: exchange.inbox("bob", REQUEST))
    event.delete()
    # no other write wakes the service: the deferred pass is scheduled by itself
    exchange.wait_for(lambda: exchange.inbox("bob", CANCELED), timeout=20)
    # the appointment is deleted by the step after the cancellation was sent
    exchange.wait_for(lambda: exchange.calendar("alice") == [], timeout=10)
    assert len(exchange.inbox("bob", CANCELED)) == 1
