"""Section 1: Exchange requests per meeting operation, counted from the simulator's log.

Two levels:
- client: the step methods of `bridge.exchange.mailbox.Mailbox` against the simulator (FBA),
  after login and discovery, composed here without a journal: `create_meeting` (create +
  invite), `update_meeting` (PROPPATCH + sendappt), `cancel_meeting` (getcancel + MOVE + DELETE).
- engine: a full calbridge (Radicale + plugin + engine + simulator, sync loop off); alice PUTs a
  meeting over CalDAV, one `engine.sync(full=False)` (the service's pass) runs, and every
  request of that pass is counted (journaled steps and read-backs included). Login and
  discovery happen on a warm-up meeting. A cancellation waits out `sync.cancel_grace` (a DELETE
  may be the first half of a move): its figure counts every pass from the DELETE until the
  cancellation is in bob's Inbox, so it only exists if the cancellation really arrived.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bench.common import (
    PASSWORD,
    caldav_session,
    make_calendar,
    put_event,
    running_service,
    section,
    table,
    temp_dir,
    vevent,
)
from bench.latency import InboxWatch
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox
from bridge.meeting import Attendee, AttendeeRole, Meeting
from exchange_sim.server import running_simulator
from tests.exchange.unjournaled import cancel_meeting, create_meeting, update_meeting

CANCELED_CLASS = "IPM.Schedule.Meeting.Canceled"
CANCEL_TIMEOUT_S = 30.0
# create+invite was 3 (draft PROPPATCH + MOVE) before issue 9: now the request is one PROPPATCH
# of the submission URI
TARGETS = {"create+invite": 2, "update (sendappt)": 2, "cancel": 3}
# The engine reads each pushed meeting once before changing or removing it (issue 10: an OWA
# edit is settled by the conflict rule, never overwritten unseen; bridge/pull/job.before_push).
ENGINE_TARGETS = {**TARGETS, "update (sendappt)": 3, "cancel": 4}
START = datetime(2027, 3, 1, 9, tzinfo=UTC)





def _meeting(index: int) -> Meeting:
    start = START + timedelta(days=index)
    return Meeting(
        uid=f"bench-op-{index}",
        start=start,
        end=start + timedelta(hours=1),
        summary=f"Bench meeting {index}",
        location="Room 1",
        organizer="alice@example.com",
        attendees=(
            Attendee("bob@example.com", "Bob Example", AttendeeRole.REQUIRED),
            Attendee("carol@example.com", "Carol Example", AttendeeRole.OPTIONAL),
        ),
    )


class _Counter:
    """Counts the simulator's log entries made by one block of work."""

    def __init__(self, log: object) -> None:
        self.log = log
        self.counts: dict[str, list[int]] = {}
        self.shapes: dict[str, Counter[str]] = {}
        self.times: dict[str, list[float]] = {}
        self.errors: list[str] = []

    def measure(self, name: str, work: object) -> None:
        before = len(self.log)  # type: ignore[arg-type]
        started = time.perf_counter()
        work()  # type: ignore[operator]
        elapsed = (time.perf_counter() - started) * 1000
        entries = self.log.entries()[before:]  # type: ignore[attr-defined]
        self.counts.setdefault(name, []).append(len(entries))
        self.times.setdefault(name, []).append(elapsed)
        shape = " ".join(_short(e) for e in entries)
        self.shapes.setdefault(name, Counter())[shape] += 1
        self.errors.extend(
            f"{name}: {e.method} {e.path} -> {e.status}" for e in entries if e.status >= 400
        )

    def rows(self, with_target: bool, targets: dict[str, int] = TARGETS) -> list[list[object]]:
        rows: list[list[object]] = []
        for name, counts in self.counts.items():
            shape = self.shapes[name].most_common(1)[0][0]
            row: list[object] = [name, len(counts), min(counts), max(counts)]
            times = sorted(self.times[name])
            row.append(times[len(times) // 2])
            if with_target:
                target = targets.get(name)
                row.append("-" if target is None else f"<= {target}")
                row.append("-" if target is None else ("ok" if max(counts) <= target else "OVER"))
            row.append(shape)
            rows.append(row)
        return rows


def _short(entry: object) -> str:
    method = entry.method  # type: ignore[attr-defined]
    query = entry.query  # type: ignore[attr-defined]
    if "Cmd=" in query or "cmd=" in query:
        return f"{method}?{query.split('=', 1)[1].split('&', 1)[0]}"
    return method


def client_level(repeat: int) -> tuple[list[list[object]], list[str], int]:
    with running_simulator(auth="fba") as sim:
        credentials = Credentials("svc-calbridge", PASSWORD)
        session = ExchangeSession(SessionConfig(server_url=sim.base_url, credentials=credentials))
        mailbox = Mailbox(session, "alice", "alice@example.com")
        before = len(sim.app.log)
        mailbox.discover()
        setup = len(sim.app.log) - before  # forms login + root PROPFIND
        counter = _Counter(sim.app.log)
        for index in range(repeat):
            meeting = _meeting(index)
            moved = replace(
                meeting,
                start=meeting.start + timedelta(hours=2),  # type: ignore[operator]
                end=meeting.end + timedelta(hours=2),  # type: ignore[operator]
                sequence=1,
            )
            counter.measure("create+invite", lambda m=meeting: create_meeting(mailbox, m))
            counter.measure("update (sendappt)", lambda m=moved: update_meeting(mailbox, m))
            counter.measure("cancel", lambda m=moved: cancel_meeting(mailbox, m))
            plain = replace(meeting, uid=f"bench-plain-{index}", attendees=(), organizer=None)
            counter.measure("plain appointment create", lambda m=plain: create_meeting(mailbox, m))
        session.close()
    return counter.rows(with_target=True), counter.errors, setup


def engine_level(repeat: int) -> tuple[list[list[object]], list[str], int]:
    # No cancellation grace: the pass after the DELETE is the one that cancels (with the grace
    # it would only defer, and the cancel would be counted as 0 requests).
    with temp_dir("ops") as tmp, running_service(
        tmp / "state", autosync=False, cancel_grace=0.0
    ) as service:
        engine = service.engine
        assert engine is not None
        log = service.simulator.app.log
        http = caldav_session("alice")
        calendar = make_calendar(http, service.caldav_url, "alice", "calendar")
        attendees = ("bob@example.com", "carol@example.com")
        cancels = InboxWatch(service.simulator.store, "bob", CANCELED_CLASS)
        before = len(log)
        put_event(http, calendar, "bench-warmup", vevent("bench-warmup", 0, attendees=attendees))
        engine.sync()
        setup = len(log) - before

        def passes() -> None:
            engine.sync(full=False)

        counter = _Counter(log)
        for index in range(1, repeat + 1):
            uid = f"bench-eng-{index}"
            put_event(http, calendar, uid, vevent(uid, index, attendees=attendees))
            counter.measure("create+invite", passes)
            put_event(
                http,
                calendar,
                uid,
                vevent(uid, index, attendees=attendees, hour_shift=2, dtstamp="20261126T120000Z"),
            )
            counter.measure("update (sendappt)", passes)
            answer = http.delete(f"{calendar}{uid}.ics")
            if answer.status_code not in (200, 204):
                raise RuntimeError(f"DELETE {uid} answered {answer.status_code}")
            counter.measure("cancel", lambda u=uid: _cancel_until_delivered(engine, cancels, u))
            plain = f"bench-eng-plain-{index}"
            put_event(http, calendar, plain, vevent(plain, index))
            counter.measure("plain appointment create", passes)
        counter.measure("idle pass (nothing changed)", passes)
        http.close()
    return counter.rows(with_target=True, targets=ENGINE_TARGETS), counter.errors, setup


def _cancel_until_delivered(engine: object, inbox: InboxWatch, uid: str) -> None:
    """Passes until `uid`'s cancellation is in bob's Inbox (the first one defers it)."""
    deadline = time.monotonic() + CANCEL_TIMEOUT_S
    while not inbox.arrived(uid):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the cancellation of {uid} did not arrive")
        engine.sync(full=False)  # type: ignore[attr-defined]
        due = engine.wake_at  # type: ignore[attr-defined]
        if due is not None and not inbox.arrived(uid):
            time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.05)


def run(repeat: int, command: str) -> dict[str, object]:
    section("1. Exchange requests per operation (simulator request log, FBA)", command)
    headers = ["operation", "runs", "min", "max", "p50 ms", "target", "", "requests (typical)"]
    rows, errors, setup = client_level(repeat)
    print(f"  client level (Mailbox, after login + discovery = {setup} requests):")
    print(table(headers, rows))
    print()
    engine_rows, engine_errors, engine_setup = engine_level(repeat)
    print(
        "  engine level (CalDAV PUT/DELETE, then engine.sync(full=False) passes; the cancel row"
        " counts every pass until the cancellation is in bob's Inbox (grace period waited out);"
        f" warm-up pass incl. login + discovery = {engine_setup} requests):"
    )
    print(table(headers, engine_rows))
    for problem in [*errors, *engine_errors][:10]:
        print(f"  ! error status: {problem}")
    return {"client": rows, "engine": engine_rows}
