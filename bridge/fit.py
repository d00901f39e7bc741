"""What Exchange 2003 can hold: a `Meeting` is fitted to it, or refused with a reason.

Rule kept here: nothing is sent that Exchange would refuse forever (a 413 on every pass) or
store as something else (a year 0001, a reminder of 6×10¹² seconds). A meeting either fits, is
fitted by trimming long text with a note the attendees can read (the full text stays in the
CalDAV calendar), or is refused with a per-event reason that `calbridge status` shows. The
modified occurrences of a series (RECURRENCE-ID overrides) are held to the same limits: their
own text is trimmed the same way and their dates must fit, since Exchange keeps them as
exceptions of the master and sends them in the same messages. The numbers and their reasons are
below. Pure: no I/O, no logging.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime

from bridge.meeting import Attendee, Meeting, Override

__all__ = [
    "FIRST_DATE",
    "LAST_DATE",
    "MAX_DESCRIPTION_BYTES",
    "MAX_INVITEES",
    "MAX_NAME_BYTES",
    "MAX_REMINDER_MINUTES",
    "MAX_TEXT_BYTES",
    "Unfit",
    "fit",
]

# MAPI keeps times as FILETIME, counted from 1601-01-01, and Outlook uses 4501-01-01 as "no
# date"; dates outside 1601-01-01 .. 4500-12-31 are refused (the reference is silent on this:
# these are the limits of Outlook's date fields). Durations then stay below 2^31 minutes too.
FIRST_DATE = date(1601, 1, 1)
LAST_DATE = date(4500, 12, 31)
# calendar:reminderoffset is a 32-bit "int" in seconds (reference §2.1: dt:dt="int"), so a
# reminder may be at most (2^31 - 1) / 60 minutes before the start, about 68 years.
MAX_REMINDER_MINUTES = (2**31 - 1) // 60
# 128 KiB of description (about 60 pages of text). The description travels HTML-escaped in the
# sendappt form, where one byte can become six (`"` → `&quot;`): 768 KiB, under the 1 MiB the
# simulator accepts for an OWA form; the PROPPATCH (text and HTML) stays far below its 8 MiB.
MAX_DESCRIPTION_BYTES = 128 * 1024
# Summary and location are one line in every Exchange view; 2 KiB keeps them (and the forms
# that carry them) small whatever a client sends.
MAX_TEXT_BYTES = 2048
# A display name longer than this is cut (with "…"): it is shown in one header line.
MAX_NAME_BYTES = 256
# 500 invitees per meeting. The reference is silent on Exchange 2003's recipient limits (the
# organization's "recipient limit" is an administrator's setting, not in the SDK/KB texts we
# have); 500 individual requests is already past any meeting people attend, keeps the to/cc/bcc
# properties around 40 KB, and a meeting with 5,000 external attendees stalled the simulator.
MAX_INVITEES = 500

_TRIM_NOTE = (
    "\n\n[calbridge: the description was trimmed to {limit} bytes for Exchange 2003; the full "
    "text is in the organizer's CalDAV calendar]"
)
_UNTIL = re.compile(r"(?:^|;)UNTIL=(\d{4})(\d{2})(\d{2})", re.IGNORECASE)


class Unfit(ValueError):
    """The meeting holds a value Exchange 2003 cannot; the message is the reason for the user."""


def _cut(text: str, limit: int, suffix: str = "") -> str:
    """`text` if it fits in `limit` UTF-8 bytes, else its longest prefix (whole characters) that
    fits together with `suffix`, then `suffix`."""
    data = text.encode("utf-8", "surrogatepass")
    if len(data) <= limit:
        return text
    room = max(0, limit - len(suffix.encode("utf-8")))
    return data[:room].decode("utf-8", "ignore") + suffix


def _day(value: date) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _check_dates(meeting: Meeting) -> None:
    named = [("the start", meeting.start), ("the end", meeting.end)]
    named += [("an RDATE", d) for d in meeting.rdates]
    named += [("an EXDATE", d) for d in meeting.exdates]
    for what, value in named:
        day = _day(value)
        if not FIRST_DATE <= day <= LAST_DATE:
            raise Unfit(
                f"{what} ({day.isoformat()}) is outside the dates Exchange 2003 can hold "
                f"({FIRST_DATE.year}–{LAST_DATE.year})"
            )
    for override in meeting.overrides:
        for what, value in (("the start", override.start), ("the end", override.end)):
            day = _day(value)
            if not FIRST_DATE <= day <= LAST_DATE:
                raise Unfit(
                    f"{what} of the modified occurrence {override.key} ({day.isoformat()}) is "
                    f"outside the dates Exchange 2003 can hold ({FIRST_DATE.year}–"
                    f"{LAST_DATE.year})"
                )
    for rule in meeting.rrule:
        match = _UNTIL.search(rule)
        if match and not FIRST_DATE.year <= int(match.group(1)) <= LAST_DATE.year:
            raise Unfit(
                f"the series ends in the year {match.group(1)}, outside the dates Exchange 2003 "
                f"can hold ({FIRST_DATE.year}–{LAST_DATE.year})"
            )


def fit(meeting: Meeting) -> Meeting:
    """`meeting` as Exchange 2003 can hold it: long texts trimmed (the description with a note).

    Raises:
        Unfit: a date outside 1601–4500, a reminder beyond 32 bits of seconds, or more invitees
            than `MAX_INVITEES`.
    """
    _check_dates(meeting)
    if meeting.reminder_minutes is not None and meeting.reminder_minutes > MAX_REMINDER_MINUTES:
        raise Unfit(
            f"the reminder {meeting.reminder_minutes} minutes before the start is more than "
            f"Exchange 2003 can hold ({MAX_REMINDER_MINUTES} minutes, about 68 years)"
        )
    invitees = len(meeting.invitees())
    if invitees > MAX_INVITEES:
        raise Unfit(
            f"{invitees} attendees: calbridge sends a meeting to at most {MAX_INVITEES} "
            "(use a distribution list for more)"
        )
    changes: dict[str, object] = {
        **_texts(meeting.summary, meeting.location, meeting.description),
        "organizer_name": _cut(meeting.organizer_name, MAX_NAME_BYTES, "…"),
    }
    attendees = _names(meeting.attendees)
    if attendees != meeting.attendees:
        changes["attendees"] = attendees
    overrides = tuple(_fit_override(o) for o in meeting.overrides)
    if overrides != meeting.overrides:
        changes["overrides"] = overrides
    if all(getattr(meeting, k) == v for k, v in changes.items()):
        return meeting
    return replace(meeting, **changes)  # type: ignore[arg-type]  # the keys and values come from Meeting fields


def _texts(summary: str, location: str, description: str) -> dict[str, str]:
    note = _TRIM_NOTE.format(limit=MAX_DESCRIPTION_BYTES)
    return {
        "description": _cut(description, MAX_DESCRIPTION_BYTES, note),
        "summary": _cut(summary, MAX_TEXT_BYTES, "…"),
        "location": _cut(location, MAX_TEXT_BYTES, "…"),
    }


def _names(attendees: tuple[Attendee, ...]) -> tuple[Attendee, ...]:
    return tuple(
        a if len(a.name.encode("utf-8", "surrogatepass")) <= MAX_NAME_BYTES
        else replace(a, name=_cut(a.name, MAX_NAME_BYTES, "…"))
        for a in attendees
    )


def _fit_override(override: Override) -> Override:
    """A modified occurrence with its own text and attendee names trimmed like the series'."""
    changes: dict[str, object] = dict(
        _texts(override.summary, override.location, override.description))
    attendees = _names(override.attendees)
    if attendees != override.attendees:
        changes["attendees"] = attendees
    if all(getattr(override, k) == v for k, v in changes.items()):
        return override
    return replace(override, **changes)  # type: ignore[arg-type]  # Override's own fields
