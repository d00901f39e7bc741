"""The messages about single occurrences that a series change owes to people the series
message does not reach.

Rule kept here: the whole-series message (request or sendappt update) goes to the series'
invitees and carries its exceptions, so they need nothing more. Someone invited to one
occurrence only (an ATTENDEE of an override, not of the series) gets that occurrence's request
when the override is new or changed, and its cancellation when taken off it (the override
removed, cancelled, or no longer naming them); a series invitee left off an override that lists
attendees gets that occurrence's cancellation. Each message is computed from what attendees were
told before (`previous`), so a re-planned or resumed change never repeats one. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from bridge.meeting import Attendee, Meeting, Override

__all__ = ["OccurrenceMessage", "occurrence_meeting", "occurrence_messages"]


@dataclass(frozen=True)
class OccurrenceMessage:
    kind: Literal["request", "cancel"]
    occurrence: Override
    attendees: tuple[Attendee, ...]


def _extra(meeting: Meeting, override: Override) -> dict[str, Attendee]:
    """The override's attendees the series does not invite."""
    series = {a.email for a in meeting.invitees()}
    return {a.email: a for a in override.attendees
            if a.email not in series and a.email != meeting.organizer}


def _left_off(meeting: Meeting, override: Override) -> dict[str, Attendee]:
    """Series invitees an override that lists attendees leaves out."""
    if not override.attendees or override.cancelled:
        return {}
    named = {a.email for a in override.attendees}
    return {a.email: a for a in meeting.invitees() if a.email not in named}


def occurrence_messages(
    meeting: Meeting, previous: Meeting | None
) -> tuple[OccurrenceMessage, ...]:
    before = {o.key: o for o in previous.overrides} if previous is not None else {}
    now = {o.key: o for o in meeting.overrides}
    found: list[OccurrenceMessage] = []
    for key, override in now.items():
        old = before.get(key)
        was_extra = _extra(previous, old) if previous is not None and old is not None else {}
        is_extra = {} if override.cancelled else _extra(meeting, override)
        changed = old is None or old.meaningful_fields(meeting.organizer) != (
            override.meaningful_fields(meeting.organizer))
        if is_extra and changed:
            found.append(OccurrenceMessage("request", override, tuple(is_extra.values())))
        gone = [a for email, a in was_extra.items() if email not in is_extra]
        was_left = _left_off(previous, old) if previous is not None and old is not None else {}
        gone += [a for email, a in _left_off(meeting, override).items() if email not in was_left]
        if gone:
            found.append(OccurrenceMessage("cancel", override, tuple(gone)))
    for key, old in before.items():
        if key not in now and previous is not None and (was_extra := _extra(previous, old)):
            found.append(OccurrenceMessage("cancel", old, tuple(was_extra.values())))
    return tuple(found)


def occurrence_meeting(meeting: Meeting, message: OccurrenceMessage, sequence: int) -> Meeting:
    """The single occurrence as the message carries it (its own times and text, no rule)."""
    occurrence = message.occurrence
    return replace(
        meeting,
        start=occurrence.start,
        end=occurrence.end,
        summary=occurrence.summary or meeting.summary,
        location=occurrence.location or meeting.location,
        description=occurrence.description or meeting.description,
        attendees=message.attendees,
        rrule=(),
        rdates=(),
        exdates=(),
        overrides=(),
        sequence=sequence,
    )
