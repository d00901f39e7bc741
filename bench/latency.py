"""Section 2: latency from a CalDAV PUT to the meeting request in the attendee's Inbox.

A full calbridge runs with `autosync=True` (the sync loop, 60 s interval; the plugin's wake-up
starts a pass at once: no debounce since the work-list change, 300 ms before it) on free ports in
a temp state directory. alice PUTs one meeting with bob at a time (raw HTTP PUT, basic auth,
keep-alive), and the benchmark polls bob's Inbox in the simulator's store (in-process: a
content-tag check, then a scan for the UID; no HTTP, so the request log and the server threads
are not disturbed) until the request with that UID is there. The next PUT starts only then.
"""

from __future__ import annotations

import time

from bench.common import (
    MESSAGE_CLASS,
    REQUEST_CLASS,
    UID_PROP,
    caldav_session,
    make_calendar,
    put_event,
    running_service,
    section,
    summary,
    table,
    temp_dir,
    vevent,
)

BEFORE_P50_MS = 329  # brief/issue 7, measured with this section before the work list
POLL_S = 0.005
TIMEOUT_S = 90.0
WARMUP = 2


class InboxWatch:
    """Finds new messages of one class (default: meeting requests) in one mailbox's Inbox,
    straight from the store."""

    def __init__(self, store: object, alias: str, message_class: str = REQUEST_CLASS) -> None:
        self.store = store
        self.message_class = message_class
        self.folder = store.folder_path(alias, "inbox")  # type: ignore[attr-defined]
        self._tag = ""
        self._seen: set[str] = set()

    def arrived(self, uid: str) -> bool:
        if uid in self._seen:
            return True
        tag = self.store.contenttag(self.folder)  # type: ignore[attr-defined]
        if tag == self._tag:
            return False
        self._tag = tag
        for item in self.store.children(self.folder):  # type: ignore[attr-defined]
            if item.props.get(MESSAGE_CLASS) == self.message_class:
                self._seen.add(str(item.props.get(UID_PROP)))
        return uid in self._seen

    def wait(self, uid: str, started: float) -> float:
        """Milliseconds from `started` until `uid`'s request is in the Inbox."""
        while not self.arrived(uid):
            if time.perf_counter() - started > TIMEOUT_S:
                raise TimeoutError(f"request for {uid} not in the Inbox after {TIMEOUT_S} s")
            time.sleep(POLL_S)
        return (time.perf_counter() - started) * 1000


def run(meetings: int, command: str) -> dict[str, float]:
    section("2. Latency: CalDAV PUT → meeting request in the attendee's Inbox (live loop)", command)
    with temp_dir("latency") as tmp, running_service(
        tmp / "state", autosync=True, interval=60
    ) as service:
        log = service.simulator.app.log
        watch = InboxWatch(service.simulator.store, "bob")
        http = caldav_session("alice")
        calendar = make_calendar(http, service.caldav_url, "alice", "calendar")
        put_ms: list[float] = []
        latency_ms: list[float] = []
        log_before = 0
        for index in range(WARMUP + meetings):
            if index == WARMUP:
                time.sleep(0.5)  # the last warm-up MOVE is logged just after its delivery
                log_before = len(log)
            uid = f"bench-latency-{index}"
            text = vevent(uid, index, attendees=("bob@example.com",))
            started = time.perf_counter()
            put = put_event(http, calendar, uid, text)
            arrived = watch.wait(uid, started)
            if index >= WARMUP:
                put_ms.append(put)
                latency_ms.append(arrived)
        time.sleep(0.5)
        entries = log.entries()[log_before:]
        http.close()
    errors = [e for e in entries if e.status >= 400]
    lat, put = summary(latency_ms), summary(put_ms)
    rows = [
        ["PUT → request in bob's Inbox", lat["n"], lat["p50"], lat["p95"], lat["max"], lat["mean"]],
        ["  of which the PUT itself", put["n"], put["p50"], put["p95"], put["max"], put["mean"]],
    ]
    print(table(["ms", "n", "p50", "p95", "max", "mean"], rows))
    print()
    print(
        f"  {WARMUP} warm-up meetings not counted (first login + discovery); no debounce;"
        f" poll every {POLL_S * 1000:.0f} ms; Exchange requests for the {meetings} meetings:"
        f" {len(entries)} ({len(entries) / max(1, meetings):.2f} per meeting),"
        f" error statuses: {len(errors)}"
    )
    print(
        f"  before (main at 4a164db, same bench, 300 ms debounce, full pass per wake-up): "
        f"p50 {BEFORE_P50_MS} ms; after: p50 {lat['p50']:.0f} ms (target <= 50 ms)"
    )
    return lat
