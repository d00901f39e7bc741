"""`bridge.meeting_codec`: a stored snapshot decodes to the very `Meeting` that was sent."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    Sensitivity,
)
from bridge.meeting_codec import decode_meeting, encode_meeting

BERLIN = ZoneInfo("Europe/Berlin")


def meeting(uid: str, **changes: object) -> Meeting:
    values: dict[str, object] = {
        "uid": uid,
        "start": datetime(2025, 3, 3, 10, 0, tzinfo=BERLIN),
        "end": datetime(2025, 3, 3, 11, 0, tzinfo=BERLIN),
        "summary": "Planning",
        "organizer": "alice@example.org",
    }
    values.update(changes)
    return Meeting(**values)  # type: ignore[arg-type]


def test_meeting_snapshot_round_trip() -> None:
    rich = meeting(
        "r1@x",
        start=datetime(2025, 3, 30, 1, 30, tzinfo=BERLIN),  # the night of the DST switch
        end=datetime(2025, 3, 30, 3, 30, tzinfo=BERLIN),
        description="Line 1\nLine 2 — ünïcödé",
        sequence=4,
        organizer_name="Alice A.",
        attendees=(
            Attendee("bob@example.org", name="Bob", role=AttendeeRole.OPTIONAL,
                     partstat="ACCEPTED"),
            Attendee("beamer@example.org", kind=AttendeeKind.RESOURCE,
                     role=AttendeeRole.NON_PARTICIPANT),
        ),
        tzid="Europe/Berlin",
        rrule=("FREQ=WEEKLY;COUNT=4",),
        rdates=(datetime(2025, 5, 1, 8, 0, tzinfo=UTC),),
        exdates=(datetime(2025, 4, 6, 1, 30, tzinfo=BERLIN),),
        busy_status=BusyStatus.TENTATIVE,
        sensitivity=Sensitivity.PRIVATE,
        categories=("a", "b"),
        reminder_minutes=15,
        extra={"X-FOO": "bar"},
    )
    back = decode_meeting(encode_meeting(rich))
    assert back == rich and back.extra == rich.extra
    assert back.content_hash() == rich.content_hash()
    assert back.start.tzinfo == BERLIN  # type: ignore[union-attr]
    all_day = Meeting(uid="d@x", start=date(2025, 1, 1), end=date(2025, 1, 2), all_day=True)
    assert decode_meeting(encode_meeting(all_day)) == all_day


def test_keys_of_a_newer_calbridge_are_ignored() -> None:
    text = encode_meeting(meeting("n@x")).replace('{"', '{"future_field":1,"', 1)
    assert decode_meeting(text) == meeting("n@x")
