"""Which occurrences a series has: enough to tell whether a RECURRENCE-ID names one of them.

Rule kept here: bounded work whatever the rule. A series is expanded in its own zone, from its
start, for at most `MAX_STEPS` occurrences (a daily series runs 270 years before that); a
RECURRENCE-ID beyond them is "not found", which the caller reports as a reason, never a hang.
Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rruleset, rrulestr

from bridge.meeting import Meeting

__all__ = ["MAX_STEPS", "occurs"]

MAX_STEPS = 100_000


def _local(value: datetime | date, meeting: Meeting) -> datetime:
    """A start as the series counts it: wall time in its zone (dates at midnight, naive)."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time())
    try:
        zone = ZoneInfo(meeting.tzid) if meeting.tzid else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return value.astimezone(zone)


def occurs(meeting: Meeting, recurrence_id: datetime | date) -> bool:
    """Does the series (RRULE and RDATE; EXDATE does not matter) have an occurrence starting
    at `recurrence_id`? False also for a kind other than DTSTART's, or beyond `MAX_STEPS`."""
    if isinstance(recurrence_id, datetime) != isinstance(meeting.start, datetime):
        return False
    start = _local(meeting.start, meeting)
    wanted = _local(recurrence_id, meeting)
    rules = rruleset()
    for text in meeting.rrule:
        rules.rrule(rrulestr(text, dtstart=start))
    for extra in meeting.rdates:
        rules.rdate(_local(extra, meeting))
    rules.rdate(start)  # DTSTART is the first occurrence (RFC 5545 3.8.5.3)
    for moment in itertools.islice(rules, MAX_STEPS):
        if moment == wanted:
            return True
        if moment > wanted:
            return False
    return False
