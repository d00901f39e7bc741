"""Who is owed a message about one occurrence when a series changes (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bridge.meeting import Attendee, Meeting, Override
from bridge.occurrence_messages import (
    occurrence_meeting,
    occurrence_messages,
    only_occurrences_changed,
)

START = datetime(2026, 12, 7, 9, tzinfo=UTC)
BOB, CAROL, DAVE = (Attendee(f"{n}@example.com") for n in ("bob", "carol", "dave"))


def series(*overrides: Override) -> Meeting:
    return Meeting(uid="s", start=START, end=START + timedelta(hours=1), organizer="a@example.com",
                   attendees=(BOB, CAROL), rrule=("FREQ=DAILY;COUNT=5",), overrides=overrides)


def day(n: int, *people: Attendee, **changes: object) -> Override:
    rid = START + timedelta(days=n)
    return replace(Override(rid, rid + timedelta(hours=2), rid + timedelta(hours=3),
                            attendees=people), **changes)


def test_someone_invited_to_one_occurrence_gets_it_once() -> None:
    first = series(day(1, BOB, CAROL, DAVE))
    [message] = occurrence_messages(first, None)
    assert (message.kind, message.attendees) == ("request", (DAVE,))
    assert occurrence_messages(first, first) == ()  # told already: nothing again
    moved = series(day(1, BOB, CAROL, DAVE, location="Room 2"))
    assert [m.kind for m in occurrence_messages(moved, first)] == ["request"]


def test_taken_off_an_occurrence_gets_its_cancellation() -> None:
    first = series(day(1, BOB, CAROL, DAVE))
    for later in (series(day(1, BOB, CAROL)), series(), series(day(1, status="CANCELLED"))):
        [message] = occurrence_messages(later, first)
        assert (message.kind, message.attendees) == ("cancel", (DAVE,))
    without_carol = series(day(1, BOB))
    [message] = occurrence_messages(without_carol, series())
    assert (message.kind, message.attendees) == ("cancel", (CAROL,))


def test_series_invitees_need_nothing_beyond_the_series_message() -> None:
    assert occurrence_messages(series(day(1), day(2, status="CANCELLED")), series()) == ()


def test_the_message_is_the_occurrence_alone() -> None:
    first = series(day(1, BOB, CAROL, DAVE, summary="Moved"))
    [message] = occurrence_messages(first, None)
    alone = occurrence_meeting(first, message, 3)
    assert (alone.start, alone.summary, alone.rrule, alone.overrides, alone.sequence) == (
        START + timedelta(days=1, hours=2), "Moved", (), (), 3)
    assert alone.attendees == (DAVE,)


def test_when_only_occurrences_change_everyone_gets_one_message_per_occurrence() -> None:
    first = series()
    moved = series(day(1), day(2, status="CANCELLED"), day(3, BOB, CAROL, DAVE))
    assert only_occurrences_changed(moved, first)
    messages = occurrence_messages(moved, first, series_sent=False)
    assert [(m.kind, m.occurrence.key, [a.email for a in m.attendees]) for m in messages] == [
        ("request", day(1).key, ["bob@example.com", "carol@example.com"]),
        ("cancel", day(2).key, ["bob@example.com", "carol@example.com"]),
        ("request", day(3).key, ["bob@example.com", "carol@example.com", "dave@example.com"]),
    ]
    excluded = replace(first, exdates=(START + timedelta(days=4),))
    assert only_occurrences_changed(excluded, first)
    [gone] = occurrence_messages(excluded, first, series_sent=False)
    assert gone.kind == "cancel" and gone.occurrence.start == START + timedelta(days=4)
    assert not only_occurrences_changed(replace(moved, summary="New"), first)
    assert not only_occurrences_changed(first, excluded)  # an EXDATE taken back: series message
