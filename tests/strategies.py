"""Hypothesis strategies shared by the test suites.

Rule kept here: every value a strategy draws is one the bridge must carry unchanged, so
`parse_event(to_ical(m)) == m` holds for every `meetings()` example. Text never holds a control
character other than TAB and LF (the iCalendar reader drops the others), names and categories are
stripped, times are whole minutes in 2000-2037 and never the second pass of a repeated wall-clock
hour (iCalendar cannot write that with a TZID).
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    Sensitivity,
)

__all__ = [
    "PARTSTATS",
    "RRULES",
    "ZONES",
    "attendees",
    "emails",
    "free_text",
    "meetings",
    "names",
]

# IANA zones with different daylight-saving rules (north, south, none, half-hour offset).
ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Europe/London")

# Recurrence rules in the canonical spelling icalendar writes (FREQ first, BYDAY before BYMONTH).
RRULES = (
    "FREQ=DAILY;COUNT=5",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU",
    "FREQ=MONTHLY;BYMONTHDAY=15",
    "FREQ=MONTHLY;COUNT=6;BYDAY=1MO",
    "FREQ=MONTHLY;BYDAY=-1FR",
    "FREQ=YEARLY;COUNT=3",
)

PARTSTATS = ("NEEDS-ACTION", "ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")


def free_text(max_size: int = 80) -> st.SearchStrategy[str]:
    """Any Unicode text a person may type, with line breaks and tabs, without other controls."""
    return st.text(
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\t\n"),
        max_size=max_size,
    )


def names(max_size: int = 30) -> st.SearchStrategy[str]:
    """Display names (CN): one line, stripped, with the punctuation iCalendar must quote.

    No backslash: icalendar's reader takes one before ``; : ,`` or at the end of a parameter for
    an escape, so `to_ical` drops those (see `bridge.ical.writer._param_value`).
    """
    alphabet = st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp"), exclude_characters="\\"
    )
    return st.text(alphabet, max_size=max_size).map(lambda s: " ".join(s.split()))


def emails() -> st.SearchStrategy[str]:
    # RFC 5322 dot-atoms: no leading, trailing or doubled dot (normalize_address refuses them)
    atom = st.text(string.ascii_lowercase + string.digits + "_-", min_size=1, max_size=6)
    local = st.lists(atom, min_size=1, max_size=3).map(".".join)
    domain = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=10)
    tld = st.sampled_from(["org", "com", "de", "example"])
    return st.builds(lambda a, b, c: f"{a}@{b}.{c}", local, domain, tld)


def uids() -> st.SearchStrategy[str]:
    return st.text(string.ascii_letters + string.digits + "-_.@:;,/+", min_size=1, max_size=40)


def attendees() -> st.SearchStrategy[Attendee]:
    return st.builds(
        Attendee,
        email=emails(),
        name=names(),
        role=st.sampled_from(AttendeeRole),
        kind=st.sampled_from(AttendeeKind),
        partstat=st.sampled_from(PARTSTATS),
    )


def _instants() -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: d.replace(second=0, microsecond=0))


def _in_zone(zone: ZoneInfo | None) -> st.SearchStrategy[datetime]:
    """Whole-minute instants expressed in `zone` (UTC when None), never on a repeated hour's
    second pass (fold=1)."""
    if zone is None:
        return _instants()
    return _instants().map(lambda d: d.astimezone(zone)).filter(lambda d: d.fold == 0)


@st.composite
def _timed(draw: st.DrawFn) -> dict[str, object]:
    tzid = draw(st.none() | st.sampled_from(ZONES))
    zone = ZoneInfo(tzid) if tzid else None
    start = draw(_in_zone(zone))
    length = timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))
    end = (start.astimezone(UTC) + length).astimezone(zone or UTC)
    if end.fold:
        end = start
    extra = st.lists(_in_zone(zone), max_size=3)
    return {"start": start, "end": end, "tzid": tzid, "all_day": False, "_dates": extra}


@st.composite
def _all_day(draw: st.DrawFn) -> dict[str, object]:
    start = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)))
    end = start + timedelta(days=draw(st.integers(1, 14)))
    extra = st.lists(st.dates(min_value=date(2000, 1, 1), max_value=date(2037, 12, 31)), max_size=3)
    return {"start": start, "end": end, "tzid": None, "all_day": True, "_dates": extra}


@st.composite
def meetings(
    draw: st.DrawFn, *, all_day: bool | None = None, recurring: bool | None = None
) -> Meeting:
    """A valid `Meeting`: timed (UTC or an IANA zone) or all-day, with attendees of every role and
    kind, an optional organizer, and optionally a recurrence (RRULE, RDATE, EXDATE).

    ``all_day`` / ``recurring`` force that shape when given.
    """
    when = draw(_all_day() if all_day else _timed() if all_day is False else _all_day() | _timed())
    dates = when.pop("_dates")
    is_recurring = draw(st.booleans()) if recurring is None else recurring
    rrule = (draw(st.sampled_from(RRULES)),) if is_recurring else ()
    organizer = draw(st.none() | emails())
    people = draw(st.lists(attendees(), max_size=6, unique_by=lambda a: a.email))
    categories = draw(
        st.lists(names(20).filter(bool), max_size=4, unique=True).map(tuple)
    )
    return Meeting(
        uid=draw(uids()),
        summary=draw(free_text()),
        location=draw(free_text(40)),
        description=draw(free_text(200)),
        sequence=draw(st.integers(0, 10_000)),
        organizer=organizer,
        organizer_name=draw(names()) if organizer else "",
        attendees=tuple(people),
        rrule=rrule,
        rdates=tuple(draw(dates)) if is_recurring else (),  # type: ignore[arg-type]
        exdates=tuple(draw(dates)) if is_recurring else (),  # type: ignore[arg-type]
        busy_status=draw(st.sampled_from(BusyStatus)),
        sensitivity=draw(st.sampled_from(Sensitivity)),
        categories=categories,
        reminder_minutes=draw(st.none() | st.integers(0, 14 * 24 * 60)),
        status=draw(st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED"])),
        **when,  # type: ignore[arg-type]
    )
