"""`bridge.meeting_codec`: a stored snapshot decodes to the very `Meeting` that was sent."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    MeetingError,
    Override,
    Sensitivity,
    normalize_address,
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


def _series_with_overrides() -> Meeting:
    return meeting(
        "s1@x",
        tzid="Europe/Berlin",
        rrule=("FREQ=WEEKLY;COUNT=6",),
        overrides=(
            Override(
                recurrence_id=datetime(2025, 3, 10, 10, 0, tzinfo=BERLIN),
                start=datetime(2025, 3, 10, 14, 0, tzinfo=BERLIN),
                end=datetime(2025, 3, 10, 15, 0, tzinfo=BERLIN),
                summary="Planning (moved)",
                attendees=(Attendee("dora@example.org", "Dora"),),
                sequence=2,
            ),
            Override(
                recurrence_id=datetime(2025, 3, 17, 10, 0, tzinfo=BERLIN),
                start=datetime(2025, 3, 17, 10, 0, tzinfo=BERLIN),
                end=datetime(2025, 3, 17, 11, 0, tzinfo=BERLIN),
                status="CANCELLED",
            ),
        ),
    )


def test_a_series_with_overrides_round_trips() -> None:
    series = _series_with_overrides()
    back = decode_meeting(encode_meeting(series))
    assert back == series and back.content_hash() == series.content_hash()
    assert back.overrides[1].cancelled and back.overrides[0].attendees[0].name == "Dora"


def test_a_snapshot_from_before_overrides_decodes() -> None:
    # Older versions stored RECURRENCE-IDs as strings (always none: such series were skipped).
    old = json.loads(encode_meeting(meeting("o1@x", rrule=("FREQ=DAILY;COUNT=2",))))
    old["overrides"] = ["20250310T090000Z"]
    assert decode_meeting(json.dumps(old)).overrides == ()


def test_an_override_changes_the_content_hash() -> None:
    series = _series_with_overrides()
    plain = meeting("s1@x", tzid="Europe/Berlin", rrule=("FREQ=WEEKLY;COUNT=6",))
    moved_again = replace(series, overrides=(replace(series.overrides[0], location="Room 2"),
                                             series.overrides[1]))
    assert len({plain.content_hash(), series.content_hash(), moved_again.content_hash()}) == 3


def test_an_address_with_a_character_no_mail_envelope_takes_is_refused_even_leniently() -> None:
    for bad in ("x\x85y@y.com", "x@y\u2028.com", "x\x0b@y.com"):
        with pytest.raises(MeetingError):
            normalize_address(bad)
    assert normalize_address("MAILTO:Bob@Example.com") == "bob@example.com"
