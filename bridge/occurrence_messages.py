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
from datetime import date, datetime, timedelta
from typing import Literal

from bridge.meeting import Attendee, Meeting, Override

__all__ = [
    "OccurrenceMessage",
    "occurrence_meeting",
    "occurrence_messages",
    "only_occurrences_changed",
]

_OCCURRENCE_FIELDS = ("overrides", "exdates")


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


def only_occurrences_changed(meeting: Meeting, previous: Meeting | None) -> bool:
    """True when the change is to single occurrences only: overrides added, changed or removed,
    or EXDATEs added, and nothing else of the series (so no whole-series message is due)."""
    if previous is None:
        return False
    now, before = meeting.meaningful_fields(), previous.meaningful_fields()
    if any(now[k] != before[k] for k in now if k not in _OCCURRENCE_FIELDS) or now == before:
        return False
    return {_key(d) for d in previous.exdates} <= {_key(d) for d in meeting.exdates}


def _whole_occurrence(meeting: Meeting, rid: datetime | date) -> Override:
    """An occurrence as the series itself has it (for an EXDATE, or an override taken back)."""
    if isinstance(meeting.start, datetime) and isinstance(rid, datetime):
        end: datetime | date = rid + (meeting.end_utc() - meeting.start_utc())
    else:
        end = rid + timedelta(days=meeting.end.toordinal() - meeting.start.toordinal())
    return Override(rid, rid, end, summary=meeting.summary, location=meeting.location,
                    description=meeting.description)


def _series_messages(meeting: Meeting, previous: Meeting) -> list[OccurrenceMessage]:
    """What the series invitees are owed when only occurrences changed (no series message)."""
    invitees = meeting.invitees()
    before = {o.key: o for o in previous.overrides}
    now = {o.key: o for o in meeting.overrides}
    found: list[OccurrenceMessage] = []
    for key, override in now.items():
        old = before.get(key)
        if old is not None and old.meaningful_fields(meeting.organizer) == (
                override.meaningful_fields(meeting.organizer)):
            continue
        kind: Literal["request", "cancel"] = "cancel" if override.cancelled else "request"
        named = {a.email for a in override.attendees}
        people = tuple(a for a in invitees if not named or a.email in named or kind == "cancel")
        if people:
            found.append(OccurrenceMessage(kind, override, people))
    for key, old in before.items():
        if key not in now and invitees:  # taken back: the occurrence as the series has it
            found.append(OccurrenceMessage("request", _whole_occurrence(meeting, old.recurrence_id),
                                           invitees))
    old_exdates = {_key(d) for d in previous.exdates}
    for excluded in meeting.exdates:
        if _key(excluded) not in old_exdates and invitees:
            found.append(OccurrenceMessage("cancel", _whole_occurrence(meeting, excluded),
                                           invitees))
    return found


def _key(value: datetime | date) -> str:
    return Override(value, value, value).key


def occurrence_messages(
    meeting: Meeting, previous: Meeting | None, *, series_sent: bool = True
) -> tuple[OccurrenceMessage, ...]:
    """The occurrence messages due. `series_sent` False: no whole-series message goes out
    (`only_occurrences_changed`), so the series invitees are told about each changed
    occurrence too, one message per occurrence."""
    before = {o.key: o for o in previous.overrides} if previous is not None else {}
    now = {o.key: o for o in meeting.overrides}
    found: list[OccurrenceMessage] = []
    if not series_sent and previous is not None:
        found += _series_messages(meeting, previous)
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
    return _merged(found)


def _merged(messages: list[OccurrenceMessage]) -> tuple[OccurrenceMessage, ...]:
    """One message per occurrence and kind, to everyone it concerns (one submission each)."""
    merged: dict[tuple[str, str], OccurrenceMessage] = {}
    for message in messages:
        key = (message.kind, message.occurrence.key)
        if key in merged:
            known = merged[key]
            seen = {a.email for a in known.attendees}
            more = tuple(a for a in message.attendees if a.email not in seen)
            merged[key] = replace(known, attendees=known.attendees + more)
        else:
            merged[key] = message
    return tuple(merged.values())


def occurrence_meeting(meeting: Meeting, message: OccurrenceMessage, sequence: int) -> Meeting:
    """The single occurrence as the message carries it (its own times and text, no rule; its
    sequence at least the override's own, which attendees' copies compare against)."""
    occurrence = message.occurrence
    sequence = max(sequence, occurrence.sequence)
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
