"""Pull figures: the initial pull of a large Exchange calendar, then an idle pull pass.

`python -m bench.pull_initial --items 10000`: alice's simulated Calendar gets N appointments
(written into the simulator's store in one transaction, as if made in OWA over the years), then
one `pull_mailbox` pass brings them into her CalDAV calendar: wall and CPU time
(`time.process_time()`, all threads: pull, Radicale storage and simulator), Exchange requests,
the pass's peak Python allocation (tracemalloc) and RSS. Then idle passes (nothing changed):
requests per mailbox (target 1) and CPU. Not yet a section of `python -m bench` (that file is
outside this work's area); the lead adds it as "pull".
"""

from __future__ import annotations

import argparse
import logging
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from bench.common import peak_rss_mib, rss_mib, running_service, table, temp_dir
from bridge.pull import mailbox_pass
from bridge.pull.into_caldav import PulledCalendar
from bridge.service import radicale_configuration

_CAL = "urn:schemas:calendar:"
_START = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)


def seed(store: object, count: int) -> None:
    from exchange_sim.store import Store

    assert isinstance(store, Store)
    folder = store.folder_path("alice", "calendar")
    with store.transaction():
        for n in range(count):
            start = _START + timedelta(days=n // 4, hours=2 * (n % 4))
            store.write(f"{folder}/bench-{n}.EML", {
                "DAV:contentclass": "urn:content-classes:appointment",
                "http://schemas.microsoft.com/exchange/outlookmessageclass": "IPM.Appointment",
                "urn:schemas:httpmail:subject": f"Appointment {n}",
                _CAL + "uid": f"bench-pull-{n}", _CAL + "dtstart": start,
                _CAL + "dtend": start + timedelta(hours=1), _CAL + "location": "Desk",
                _CAL + "busystatus": "BUSY", _CAL + "instancetype": 0})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_initial", description=__doc__)
    parser.add_argument("--items", type=int, default=10000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with temp_dir("bench-pull") as state, running_service(state / "state",
                                                          autosync=False) as service:
        seed(service.simulator.app.store, args.items)
        (user,) = [u for u in service.config.users if u.name == "alice"]
        assert service.engine is not None
        mailbox = service.engine.mailbox_for(user)
        target = PulledCalendar(radicale_configuration(service.config, with_server=False),
                                "alice")
        memory = mailbox_pass.PullMemory()
        rss_before = rss_mib()
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        first = mailbox_pass.pull_mailbox(mailbox, target, memory)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows = [("initial", args.items, first.written, first.requests, wall, cpu,
                 peak / 2**20, rss_mib() - rss_before)]
        for n in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            idle = mailbox_pass.pull_mailbox(mailbox, target, memory)
            rows.append((f"idle {n + 1}", args.items, idle.written, idle.requests,
                         time.perf_counter() - wall, time.process_time() - cpu, 0.0, 0.0))
    print(table(("pass", "items", "written", "Exchange requests", "wall s", "CPU s",
                 "peak alloc MiB", "RSS growth MiB"), rows, digits=3))
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
