"""The real-world data set: every VEVENT with RRULE or RECURRENCE-ID in the calendars shipped with
the installed `icalendar` and `recurring-ical-events` packages goes through calbridge (CalDAV
client → Radicale → engine) to the simulator, and what Exchange then serves (GET ``Translate:
f`` of the organizer's appointment) is expanded over two years and compared with the source,
expanded the same way by recurring-ical-events. Every series must match, or be held with its
reason (refused at the CalDAV PUT: by the front door's own screen, or by Radicale's validation,
e.g. PERIOD values vobject cannot read, which the door answers with a reason too, never a bare
400; or an error/skip reason in the state).

One rule is applied to the expectation, from the standards rather than from calbridge: an
all-day occurrence whose end is not after its start (``DTSTART:20190101`` with
``DTEND:20190101``, as calendarlabs.com's feeds write holidays) lasts one day, as RFC 5545 §3.6.1
gives a date start without a usable end, and Exchange holds an all-day event as a span of 24 h
or more (reference §2.1). Such series are counted apart.

Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import caldav
import icalendar
import recurring_ical_events

from bridge import vobject_quirks
from tests.e2e.conftest import UID, Bridge
from tests.e2e.test_recurring import served

Occurrence = tuple[object, object]
_MAX_OCCURRENCES = 2000


def _sources() -> list[Path]:
    roots = [Path(icalendar.__file__).parent, Path(recurring_ical_events.__file__).parent]
    return sorted(p for root in roots for p in root.rglob("*.ics"))


def _series(path: Path, index: int) -> list[tuple[str, str]]:
    """(uid, one VCALENDAR per UID) for the UIDs of a file with RRULE or RECURRENCE-ID; the
    UID gets the file's index so that equal UIDs of different files stay apart."""
    try:
        calendar = icalendar.Calendar.from_ical(path.read_bytes())
    except Exception:  # not iCalendar at all (some files test broken input): not a series
        return []
    zones = calendar.walk("VTIMEZONE")
    by_uid: dict[str, list[icalendar.cal.Component]] = {}
    for event in calendar.walk("VEVENT"):
        by_uid.setdefault(str(event.get("UID", "")), []).append(event)
    found = []
    for uid, events in by_uid.items():
        if not uid or not any("RRULE" in e or "RECURRENCE-ID" in e for e in events):
            continue
        out = icalendar.Calendar()
        out.add("VERSION", "2.0")
        out.add("PRODID", "-//calbridge dataset test//EN")
        for zone in zones:
            out.add_component(zone)
        new_uid = f"ds{index}-{uid}"[:200]
        for event in events:
            event["UID"] = icalendar.vText(new_uid)
            out.add_component(event)
        found.append((new_uid, out.to_ical().decode("utf-8")))
    return found


def _span(start: object, end: object) -> Occurrence:
    """An occurrence in UTC; an all-day one that ends where it starts lasts one day (module
    docstring)."""
    if not isinstance(start, datetime) and isinstance(start, date) and end == start:
        end = start + timedelta(days=1)
    return _instant(start), _instant(end)


def _instant(value: object) -> object:
    """An instant in UTC; floating times and all-day dates are in sync.timezone (UTC here),
    where Exchange keeps an all-day event as local midnights (reference §2.1)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return value


def _occurrences(text: str) -> list[Occurrence] | None:
    """Two years of occurrences from the series' first start, or None if the reference
    library cannot expand the text."""
    try:
        calendar = icalendar.Calendar.from_ical(text)
        starts = [e["DTSTART"].dt for e in calendar.walk("VEVENT") if "DTSTART" in e]
        first = min(s if isinstance(s, datetime) else datetime.combine(s, datetime.min.time())
                    for s in [d.replace(tzinfo=None) if isinstance(d, datetime) else d
                              for d in starts])
        window = (first.date() - timedelta(days=1), first.date() + timedelta(days=731))
        found = []
        for event in recurring_ical_events.of(calendar).between(*window):
            if len(found) > _MAX_OCCURRENCES:
                break
            if str(event.get("STATUS", "")).upper() == "CANCELLED":
                continue
            end = event.get("DTEND") or event.get("DTSTART")
            found.append(_span(event["DTSTART"].dt, end.dt))
    except Exception:
        return None
    return sorted(found, key=repr)


def _zero_length_all_day(text: str) -> bool:
    calendar = icalendar.Calendar.from_ical(text)
    return any("DTEND" in e and not isinstance(e["DTSTART"].dt, datetime)
               and e["DTEND"].dt == e["DTSTART"].dt for e in calendar.walk("VEVENT"))


def _refusal(error: caldav.lib.error.DAVError) -> str:
    """Who refused a PUT: the door's screen, Radicale (its message explained by the door), or
    nobody said why (a bare 400)."""
    text = " ".join(str(error).split())
    if any(reason in text for _, reason in vobject_quirks._KNOWN) or (
            vobject_quirks._PREFIX in text):
        return "held: refused by Radicale's validation, with the door's reason"
    if "Bad Request Bad Request" in text or text.endswith("Bad Request"):
        return "refused with a bare 400 (no reason)"
    return "held: refused by the front door's screen, with its reason"


def _window_of(text: str) -> tuple[date, date]:
    calendar = icalendar.Calendar.from_ical(text)
    starts = [e["DTSTART"].dt for e in calendar.walk("VEVENT") if "DTSTART" in e]
    first = min(s.date() if isinstance(s, datetime) else s for s in starts)
    return first - timedelta(days=1), first + timedelta(days=731)


def _served_occurrences(served_text: str, window: tuple[date, date]) -> list[Occurrence]:
    calendar = icalendar.Calendar.from_ical(served_text)
    found = []
    for event in recurring_ical_events.of(calendar).between(*window):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        end = event.get("DTEND") or event.get("DTSTART")
        found.append((_instant(event["DTSTART"].dt), _instant(end.dt)))
        if len(found) > _MAX_OCCURRENCES + 1:
            break
    return sorted(found, key=repr)


def test_every_series_of_the_data_set_matches_or_is_held_with_its_reason(bridge: Bridge) -> None:
    calendar = bridge.calendar()
    series: dict[str, str] = {}
    for index, path in enumerate(_sources()):
        series.update(_series(path, index))
    assert len(series) > 50, "the installed packages ship their test calendars"
    verdicts: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    expected: dict[str, list[Occurrence]] = {}
    for uid, text in series.items():
        wanted = _occurrences(text)
        if wanted is None:
            verdicts["the reference library cannot expand the source"] += 1
            continue
        try:
            calendar.save_event(text)
        except caldav.lib.error.DAVError as refused:
            verdicts[_refusal(refused)] += 1
            reasons[uid] = " ".join(str(refused).split())[-300:]
            continue
        expected[uid] = wanted
    bridge.sync()
    engine = bridge.service.engine
    assert engine is not None
    hrefs = {str(i.get(UID)): str(i["href"]) for i in bridge.exchange.calendar("alice")}
    mismatches = []
    for uid, wanted in expected.items():
        row = engine.state.get_item("alice", uid)
        held = row is not None and row.status != "synced"
        if held:
            reason = (row.last_error or row.skip_reason) if row is not None else None
            assert reason, f"{uid} is neither synced nor held with a reason ({row})"
            verdicts["held: error or skip reason in calbridge status"] += 1
            reasons[uid] = reason
            continue
        assert uid in hrefs, f"{uid} synced but not on Exchange"
        got = _served_occurrences(served(bridge, hrefs[uid]), _window_of(series[uid]))
        if got == wanted:
            one_day = _zero_length_all_day(series[uid])
            verdicts["matches (all-day, DTEND = DTSTART: one day)" if one_day else "matches"] += 1
        else:
            mismatches.append((uid, wanted[:3], got[:3], len(wanted), len(got)))
    with contextlib.suppress(Exception):
        print(f"\ndata set: {len(series)} series from {len(_sources())} files: {dict(verdicts)}")
        for uid, reason in sorted(reasons.items()):
            print(f"  held {uid}: {reason}")
    for mismatch in mismatches:
        print("MISMATCH", mismatch)
    assert not mismatches, mismatches
    assert not verdicts["refused with a bare 400 (no reason)"], reasons
