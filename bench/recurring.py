"""Exchange requests for a series with 50 exceptions, counted from the simulator's log.

A full calbridge (Radicale + plugin + engine + simulator, sync loop off); alice's CalDAV client
PUTs a weekly series with 50 overrides (25 moved, 25 cancelled) and Bob invited, one
`engine.sync()` runs, and every request of that pass is counted. Then: a whole-series change (the
summary), a change of one occurrence (one more override), and for comparison the same steps for
an ordinary single meeting. Run: ``.venv/bin/python -m bench.recurring``.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import date, timedelta

from bench.common import (
    caldav_session,
    make_calendar,
    put_event,
    running_service,
    section,
    table,
    temp_dir,
)

COMMAND = ".venv/bin/python -m bench.recurring"
BOB = "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:bob@example.com"
ORGANIZER = "ORGANIZER;CN=Alice:mailto:alice@example.com"


def _event(uid: str, summary: str, *lines: str, start: str = "20270104T090000") -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261201T000000Z",
                        f"DTSTART;TZID=Europe/Berlin:{start}",
                        f"DTEND;TZID=Europe/Berlin:{start[:9]}{int(start[9:11]) + 1:02d}0000",
                        f"SUMMARY:{summary}", ORGANIZER, BOB, *lines, "END:VEVENT"])


def _calendar(*events: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calbridge bench//EN",
                        *events, "END:VCALENDAR", ""])


def _series(summary: str, exceptions: int) -> str:
    uid = "bench-series"
    master = _event(uid, summary, "RRULE:FREQ=WEEKLY;COUNT=60")
    overrides = []
    for week in range(1, exceptions + 1):
        day = f"2027{_week_date(week)}"
        if week % 2:
            overrides.append(_event(uid, f"{summary} (moved)",
                                    f"RECURRENCE-ID;TZID=Europe/Berlin:{day}T090000",
                                    start=f"{day}T140000"))
        else:
            overrides.append(_event(uid, summary, "STATUS:CANCELLED",
                                    f"RECURRENCE-ID;TZID=Europe/Berlin:{day}T090000",
                                    start=f"{day}T090000"))
    return _calendar(master, *overrides)


def _week_date(week: int) -> str:
    day = date(2027, 1, 4) + timedelta(weeks=week)
    assert day.year == 2027
    return f"{day:%m%d}"


def _shape(entries: list[object]) -> str:
    counts = Counter(e.method + (f"?{e.query.split('=', 1)[1].split('&', 1)[0]}"  # type: ignore[attr-defined]
                                 if "Cmd=" in e.query else "") for e in entries)  # type: ignore[attr-defined]
    return ", ".join(f"{n}x {m}" for m, n in counts.items())


def main() -> None:
    section("Recurring series: Exchange requests per sync pass (simulator request log)", COMMAND)
    rows: list[list[object]] = []
    with temp_dir("recurring") as tmp, running_service(tmp / "state", autosync=False) as service:
        engine = service.engine
        assert engine is not None
        log = service.simulator.app.log
        http = caldav_session("alice")
        calendar = make_calendar(http, service.caldav_url, "alice", "calendar")
        put_event(http, calendar, "warmup", _calendar(_event("warmup", "Warm-up")))
        engine.sync()  # login and discovery

        def measure(name: str, uid: str, text: str) -> None:
            put_event(http, calendar, uid, text)
            before = len(log)
            engine.sync()
            entries = log.entries()[before:]
            failed = [f"{e.method} {e.status}" for e in entries if e.status >= 400]
            rows.append([name, len(entries), _shape(entries), ", ".join(failed) or "-"])

        measure("series + 50 exceptions: create", "bench-series", _series("Sync", 50))
        measure("series + 50 exceptions: whole-series change", "bench-series",
                _series("Sync v2", 50))
        measure("series: one more occurrence moved", "bench-series", _series("Sync v2", 51))
        measure("single meeting: create", "bench-single", _calendar(_event("bench-single", "One")))
        measure("single meeting: update", "bench-single",
                _calendar(_event("bench-single", "One v2")))
        http.close()
    print(table(["operation", "requests", "shape", "failed"], rows))


if __name__ == "__main__":
    sys.exit(main())
