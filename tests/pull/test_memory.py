"""The pure helpers of bridge/pull/memory.py: the user's own PARTSTAT as written, and which
replying attendee is a room."""

from __future__ import annotations

from bridge.pull.decide import Reply
from bridge.pull.memory import own_partstat, room_of_reply

EVENT = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN",
    "BEGIN:VEVENT", "UID:m-1", "DTSTAMP:20261201T090000Z", "DTSTART:20261210T140000Z",
    "SUMMARY:Roadmap", "ORGANIZER:mailto:bob@example.com",
    "ATTENDEE;PARTSTAT=TENTATIVE:mailto:Alice@Example.com",
    "ATTENDEE;CUTYPE=ROOM;PARTSTAT=DECLINED:mailto:room-101@example.com",
    "ATTENDEE;PARTSTAT=DECLINED:mailto:hall@example.com",
    "END:VEVENT",
    "BEGIN:VEVENT", "UID:m-1", "DTSTAMP:20261201T090000Z", "RECURRENCE-ID:20261217T140000Z",
    "DTSTART:20261217T150000Z", "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.com",
    "END:VEVENT", "END:VCALENDAR", ""])


def test_the_users_own_partstat_is_read_from_the_master_event() -> None:
    assert own_partstat(EVENT, "alice@example.com") == "TENTATIVE"
    assert own_partstat(EVENT, "dave@example.com") is None
    assert own_partstat("not a calendar", "alice@example.com") is None


def test_a_room_is_cutype_room_or_a_configured_room_address() -> None:
    assert room_of_reply(Reply("m-1", EVENT, "room-101@example.com", "DECLINED")) == (
        "room-101@example.com")
    assert room_of_reply(Reply("m-1", EVENT, "hall@example.com", "DECLINED")) is None
    assert room_of_reply(Reply("m-1", EVENT, "hall@example.com", "DECLINED"),
                         rooms=["Hall@example.com"]) == "hall@example.com"
    assert room_of_reply(Reply("m-1", EVENT, "alice@example.com", "TENTATIVE")) is None
