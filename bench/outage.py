"""Section 5: an Exchange outage, then recovery: how long until everything pending has arrived.

A full calbridge with its sync loop (`autosync=True`, interval 60 s; 10 s with `--quick`). After
a warm-up meeting, every request to the simulator answers 503 (`faults.add(".", status=503,
count=None)`) for the outage (300 s; 20 s with `--quick`); alice saves meetings with bob during
it (one at the start, then evenly spread): the mailbox pauses (`bridge.outage`: no item spends an
attempt) and the change rows stay; each interval's pass visits it and starts with the probe. Then
the fault is removed, and the figure is the time from that moment until every one of those
meetings' request is in bob's Inbox (checked in the simulator's store), against one interval.
"""

from __future__ import annotations

import logging
import time

from bench.common import (
    caldav_session,
    make_calendar,
    put_event,
    running_service,
    section,
    temp_dir,
    vevent,
)
from bench.latency import InboxWatch

MEETINGS = 5
POLL_S = 0.05


def run(outage_s: float, command: str) -> dict[str, float]:
    interval = 60.0 if outage_s >= 60 else 10.0
    section(f"5. Exchange down for {outage_s:g} s, then back (sync interval {interval:g} s)",
            command)
    quiet = [logging.getLogger(n) for n in ("bridge.exchange.http", "bridge.engine")]
    levels = [q.level for q in quiet]
    for logger in quiet:  # every refused request is a warning: hundreds of lines
        logger.setLevel(logging.ERROR)
    try:
        return _run(outage_s, interval)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def _run(outage_s: float, interval: float) -> dict[str, float]:
    with temp_dir("outage") as tmp, running_service(
        tmp / "state", autosync=True, interval=interval
    ) as service:
        app = service.simulator.app
        inbox = InboxWatch(service.simulator.store, "bob")
        http = caldav_session("alice")
        calendar = make_calendar(http, service.caldav_url, "alice", "calendar")
        attendees = ("bob@example.com",)
        put_event(http, calendar, "outage-warmup", vevent("outage-warmup", 0, attendees=attendees))
        _wait(inbox, ["outage-warmup"], 60)
        app.faults.add(".", status=503, count=None)
        down = time.monotonic()
        uids = [f"outage-{n}" for n in range(MEETINGS)]
        for number, uid in enumerate(uids):
            target = down + outage_s * number / MEETINGS
            time.sleep(max(0.0, target - time.monotonic()))
            put_event(http, calendar, uid, vevent(uid, number + 1, attendees=attendees))
        time.sleep(max(0.0, down + outage_s - time.monotonic()))
        refused = sum(1 for e in app.log.entries() if e.status == 503)
        app.faults.clear()
        back = time.monotonic()
        arrived = _wait(inbox, uids, 3 * interval + 600)
        http.close()
    recovery = arrived - back
    print(
        f"  {MEETINGS} meetings saved during the outage; {refused} requests answered 503;"
        f" all {MEETINGS} requests in bob's Inbox {recovery:.1f} s after Exchange came back"
        f" (target: within one interval, {interval:g} s): "
        f"{'ok' if recovery <= interval else 'OVER'}"
    )
    return {"recovery_s": recovery, "interval_s": interval}


def _wait(inbox: InboxWatch, uids: list[str], timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while not all(inbox.arrived(u) for u in uids):
        if time.monotonic() > deadline:
            missing = [u for u in uids if not inbox.arrived(u)]
            raise RuntimeError(f"still not in bob's Inbox after {timeout:g} s: {missing}")
        time.sleep(POLL_S)
    return time.monotonic()
