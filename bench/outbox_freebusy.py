"""Free/busy through the scheduling outbox: a query for 10 attendees, Exchange requests and
latency, next to the same OWA free/busy GET sent directly (baseline, same run).

A simulator on a free loopback port holds the demo mailboxes plus 4 more people (10 attendees:
8 people, 2 rooms); calbridge runs against it (not embedded) with Radicale on a free port.
alice POSTs a VFREEBUSY request naming all 10 to /alice/outbox/ over one keep-alive
connection (Basic auth, as a CalDAV client does); each query is timed from send to the full
schedule-response. The first query (it logs the outbox's Exchange session in) is reported
apart. Run: .venv/bin/python -m bench.outbox_freebusy
"""

from __future__ import annotations

import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import requests

from bench.common import free_port, section, summary, table, temp_dir
from bridge.config import load_config
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox as ExchangeMailbox
from bridge.service import Service
from exchange_sim.mailboxes import Mailbox, demo_mailboxes
from exchange_sim.server import running_simulator
from exchange_sim.store import Store

QUERIES = 50
EXTRA = ("erin", "frank", "grace", "heidi")


def _query(attendees: list[str], start: datetime, end: datetime) -> bytes:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "METHOD:REQUEST",
        "BEGIN:VFREEBUSY", f"UID:{uuid.uuid4()}", "DTSTAMP:20260101T000000Z",
        "ORGANIZER:mailto:alice@example.com",
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}", f"DTEND:{end:%Y%m%dT%H%M%SZ}",
        *(f"ATTENDEE:mailto:{a}" for a in attendees), "END:VFREEBUSY", "END:VCALENDAR", "",
    ]).encode()


def main() -> None:
    section("Free/busy through the outbox, 10 attendees",
            ".venv/bin/python -m bench.outbox_freebusy")
    people = [Mailbox(a, f"{a}@example.com", a.title(), "demo") for a in EXTRA]
    attendees = [*(f"{a}@example.com" for a in ("alice", "bob", "carol", "dave", *EXTRA)),
                 "room-101@example.com", "room-102@example.com"]
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(1)
    start, end = day + timedelta(hours=7), day + timedelta(hours=19)
    body = _query(attendees, start, end)
    with temp_dir("outbox") as folder, running_simulator(
        Store(":memory:", [*demo_mailboxes(), *people])
    ) as sim:
        config = replace(
            load_config(None, state_dir=folder / "state", caldav_port=free_port()),
            exchange_url=sim.base_url, interval=3600,
        )
        service = Service(config, autosync=False)
        service.start()
        try:
            http = requests.Session()
            http.auth = ("alice", "demo")
            url = f"{service.caldav_url}alice/outbox/"
            first_log = len(sim.app.log)
            began = time.perf_counter()
            first = http.post(url, data=body, headers={"Content-Type": "text/calendar"})
            first_s = time.perf_counter() - began
            assert first.status_code == 200 and first.text.count("2.0;Success") == 10
            first_requests = len(sim.app.log) - first_log
            times, per_query = [], []
            for _ in range(QUERIES):
                before = len(sim.app.log)
                began = time.perf_counter()
                answer = http.post(url, data=body, headers={"Content-Type": "text/calendar"})
                times.append((time.perf_counter() - began) * 1000)
                assert answer.status_code == 200
                per_query.append(len(sim.app.log) - before)
            plain = []  # any authenticated CalDAV request pays Radicale's password check
            for _ in range(QUERIES):
                began = time.perf_counter()
                http.request("PROPFIND", f"{service.caldav_url}alice/calendar/",
                             headers={"Depth": "0"})
                plain.append((time.perf_counter() - began) * 1000)
            direct = ExchangeSession(SessionConfig(sim.base_url, Credentials("svc-calbridge",
                                                                             "demo")))
            mailbox = ExchangeMailbox(direct, "alice", "alice@example.com")
            mailbox.freebusy(attendees, start, end, 15)  # log in
            baseline = []
            for _ in range(QUERIES):
                began = time.perf_counter()
                mailbox.freebusy(attendees, start, end, 15)
                baseline.append((time.perf_counter() - began) * 1000)
            direct.close()
        finally:
            service.stop()
    outbox, owa, propfind = summary(times), summary(baseline), summary(plain)
    print(table(
        ["path", "queries", "Exchange req/query", "p50 ms", "p95 ms", "max ms"],
        [["outbox POST (CalDAV)", QUERIES, max(per_query), outbox["p50"], outbox["p95"],
          outbox["max"]],
         ["OWA GET direct (baseline)", QUERIES, 1, owa["p50"], owa["p95"], owa["max"]],
         ["CalDAV PROPFIND Depth 0 (baseline)", QUERIES, 0, propfind["p50"], propfind["p95"],
          propfind["max"]]],
    ))
    print(f"  first query (logs the session in): {first_s * 1000:.1f} ms, "
          f"{first_requests} Exchange requests; every later one: {sorted(set(per_query))}")


if __name__ == "__main__":
    main()
