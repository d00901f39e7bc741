"""Pull figures: the initial pull of a large Exchange calendar, then an idle pull pass.

`python -m bench --only pull` (or `python -m bench.pull_initial --items 10000`): alice's
simulated Calendar gets N appointments (written into the simulator's store in one transaction,
as if made in OWA over the years), then one run of the service's pull job over her mailbox
(`PullJob.run`, the scheduled path: memory and `pulled` rows in the state database) brings them
into her CalDAV calendar: wall and CPU time (`time.process_time()`, all threads: pull, Radicale
storage, SQLite and simulator), Exchange requests, the pass's peak Python allocation
(tracemalloc) and RSS. Then idle passes (nothing changed): requests per mailbox (target 1) and
CPU.
"""

from __future__ import annotations

import argparse
import logging
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

from bench.common import peak_rss_mib, rss_mib, running_service, section, table, temp_dir

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


def run(items: int, command: str) -> None:
    section(f"pull: initial pull of {items} Exchange items, then idle pull passes", command)
    with temp_dir("bench-pull") as state, running_service(state / "state",
                                                          autosync=False) as service:
        seed(service.simulator.app.store, items)
        (user,) = [u for u in service.config.users if u.name == "alice"]
        assert service.puller is not None
        rss_before = rss_mib()
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        first = service.puller.run([user]).pulled["alice"]
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows = [("initial", items, first.written, first.requests, wall, cpu,
                 peak / 2**20, rss_mib() - rss_before)]
        for n in range(3):
            wall, cpu = time.perf_counter(), time.process_time()
            idle = service.puller.run([user]).pulled["alice"]
            rows.append((f"idle {n + 1}", items, idle.written, idle.requests,
                         time.perf_counter() - wall, time.process_time() - cpu, 0.0, 0.0))
    print(table(("pass", "items", "written", "Exchange requests", "wall s", "CPU s",
                 "peak alloc MiB", "RSS growth MiB"), rows, digits=3))
    print(f"   peak RSS {peak_rss_mib():.0f} MiB; CPU is the whole process (pull, Radicale "
          f"storage, SQLite and the simulator answering)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_initial", description=__doc__)
    parser.add_argument("--items", type=int, default=10000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("radicale").setLevel(logging.ERROR)
    run(args.items, f".venv/bin/python -m bench.pull_initial --items {args.items}")


if __name__ == "__main__":
    main()
