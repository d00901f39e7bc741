"""Exchange requests for a series with 50 exceptions, counted from the simulator's log.

A full calbridge (Radicale + plugin + engine + simulator, sync loop off); alice's CalDAV client
PUTs a weekly series with 50 overrides (25 moved, 25 cancelled) and Bob invited, one
`engine.sync()` runs, and every request of that pass is counted. Then: a whole-series change (the
summary), a change of one occurrence (moved, cancelled by an override, cancelled by an EXDATE),
and for comparison the same steps for an ordinary single meeting. A figure counts only when the
message it is for really arrived in Bob's Inbox (its class, and for an occurrence message that
occurrence's RECURRENCE-ID); otherwise the row says what is missing. Run:
``.venv/bin/python -m bench.recurring``.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import (
    MESSAGE_CLASS,
    REQUEST_CLASS,
    caldav_session,
    make_calendar,
    put_event,
    running_service,
    section,
    table,
    temp_dir,
)

COMMAND = ".venv/bin/python -m bench.recurring"
# The figures before issue 9's create change (commit 9eebbf1, same command): a create sent its
# request as a draft (PUT + PROPPATCH into Drafts for a series) and a MOVE.
BEFORE = {
    "series + 50 exceptions: create": 5,
    "series + 50 exceptions: whole-series change": 3,
    "series: one more occurrence moved": 3,
    "series: one occurrence cancelled (override)": 3,
    "series: one occurrence cancelled (EXDATE)": 3,
    "single meeting: create": 3,
    "single meeting: update": 2,
}
BOB = "ATTENDEE;CN=Bob;ROLE=REQ-PARTICIPANT:mailto:bob@example.com"
ORGANIZER = "ORGANIZER;CN=Alice:mailto:alice@example.com"
REQUEST = REQUEST_CLASS
CANCELED = "IPM.Schedule.Meeting.Canceled"
RECURRENCE_ID = "urn:schemas:calendar:recurrenceid"


def _event(uid: str, summary: str, *lines: str, start: str = "20270104T090000") -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261201T000000Z",
                        f"DTSTART;TZID=Europe/Berlin:{start}",
                        f"DTEND;TZID=Europe/Berlin:{start[:9]}{int(start[9:11]) + 1:02d}0000",
                        f"SUMMARY:{summary}", ORGANIZER, BOB, *lines, "END:VEVENT"])


def _calendar(*events: str) -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calbridge bench//EN",
                        *events, "END:VCALENDAR", ""])


def _series(summary: str, exceptions: int, *extra: str, cancel_week: int = 0) -> str:
    uid = "bench-series"
    master = _event(uid, summary, "RRULE:FREQ=WEEKLY;COUNT=60", *extra)
    overrides = []
    for week in range(1, exceptions + 1):
        day = f"{_week_date(week)}"
        if week % 2:
            overrides.append(_event(uid, f"{summary} (moved)",
                                    f"RECURRENCE-ID;TZID=Europe/Berlin:{day}T090000",
                                    start=f"{day}T140000"))
        else:
            overrides.append(_event(uid, summary, "STATUS:CANCELLED",
                                    f"RECURRENCE-ID;TZID=Europe/Berlin:{day}T090000",
                                    start=f"{day}T090000"))
    if cancel_week:
        day = f"{_week_date(cancel_week)}"
        overrides.append(_event(uid, summary, "STATUS:CANCELLED",
                                f"RECURRENCE-ID;TZID=Europe/Berlin:{day}T090000",
                                start=f"{day}T090000"))
    return _calendar(master, *overrides)


def _occurrence(week: int) -> datetime:
    """The UTC start of the series' occurrence in `week` (09:00 Berlin, winter or summer)."""
    day = date(2027, 1, 4) + timedelta(weeks=week)
    local = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    return local.astimezone(UTC)


def _week_date(week: int) -> str:
    day = date(2027, 1, 4) + timedelta(weeks=week)
    return f"{day:%Y%m%d}"


def _shape(entries: list[object]) -> str:
    counts = Counter(e.method + (f"?{e.query.split('=', 1)[1].split('&', 1)[0]}"  # type: ignore[attr-defined]
                                 if "Cmd=" in e.query else "") for e in entries)  # type: ignore[attr-defined]
    return ", ".join(f"{n}x {m}" for m, n in counts.items())


class _Inbox:
    """Bob's Inbox, straight from the simulator's store: the messages that arrived since the
    last look, as (message class, RECURRENCE-ID or None)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.folder = store.folder_path("bob", "inbox")
        self.seen = self._paths()

    def _paths(self) -> set[str]:
        return {item.path for item in self.store.children(self.folder)}

    def new(self) -> list[tuple[str, datetime | None]]:
        found = []
        for item in self.store.children(self.folder):
            if item.path not in self.seen:
                self.seen.add(item.path)
                rid = item.props.get(RECURRENCE_ID)
                found.append((str(item.props.get(MESSAGE_CLASS)),
                              rid.astimezone(UTC) if isinstance(rid, datetime) else None))
        return found


def main() -> None:
    run(COMMAND)


def run(command: str) -> None:
    section("Recurring series: Exchange requests per sync pass (simulator request log)", command)
    rows: list[list[object]] = []
    with temp_dir("recurring") as tmp, running_service(tmp / "state", autosync=False) as service:
        engine = service.engine
        assert engine is not None
        log = service.simulator.app.log
        inbox = _Inbox(service.simulator.store)
        http = caldav_session("alice")
        calendar = make_calendar(http, service.caldav_url, "alice", "calendar")
        put_event(http, calendar, "warmup", _calendar(_event("warmup", "Warm-up")))
        engine.sync()  # login and discovery

        def measure(name: str, uid: str, text: str,
                    expected: list[tuple[str, datetime | None]]) -> None:
            put_event(http, calendar, uid, text)
            inbox.new()
            before = len(log)
            engine.sync()
            entries = log.entries()[before:]
            failed = [f"{e.method} {e.status}" for e in entries if e.status >= 400]
            arrived = inbox.new()
            if sorted(arrived, key=str) == sorted(expected, key=str):
                count: object = len(entries)
                delivered = ", ".join(_said(m) for m in arrived)
            else:  # not counted: the pass did not do what the user asked
                count, delivered = "-", f"expected {expected}, Inbox got {arrived}"
            rows.append([name, BEFORE.get(name, "-"), count, _shape(entries), delivered,
                         ", ".join(failed) or "-"])

        series = (REQUEST, None)
        measure("series + 50 exceptions: create", "bench-series", _series("Sync", 50), [series])
        measure("series + 50 exceptions: whole-series change", "bench-series",
                _series("Sync v2", 50), [series])
        measure("series: one more occurrence moved", "bench-series", _series("Sync v2", 51),
                [(REQUEST, _occurrence(51))])
        measure("series: one occurrence cancelled (override)", "bench-series",
                _series("Sync v2", 51, cancel_week=53), [(CANCELED, _occurrence(53))])
        week = 55
        exdate = f"EXDATE;TZID=Europe/Berlin:{_week_date(week)}T090000"
        measure("series: one occurrence cancelled (EXDATE)", "bench-series",
                _series("Sync v2", 51, exdate, cancel_week=53), [(CANCELED, _occurrence(week))])
        measure("single meeting: create", "bench-single",
                _calendar(_event("bench-single", "One")), [series])
        measure("single meeting: update", "bench-single",
                _calendar(_event("bench-single", "One v2")), [series])
        http.close()
    print(table(["operation", "before", "requests", "shape", "arrived in Bob's Inbox",
                 "failed"], rows))


def _said(message: tuple[str, datetime | None]) -> str:
    kind = "request" if message[0] == REQUEST else "cancellation"
    return f"{kind} of {message[1]:%Y-%m-%d %H:%M}Z" if message[1] else f"{kind} (whole)"


if __name__ == "__main__":
    sys.exit(main())
