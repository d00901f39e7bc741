"""Pull latency: from an Exchange colleague's invitation landing in the Inbox to the event in
the user's CalDAV calendar (issue 10, "Speed").

bob sends alice a meeting over WebDAV as Outlook does (KB 308373: appointment, request in
Drafts, MOVE to the submission URI); the simulator delivers it before the MOVE returns, so
that moment is "landed". The event is "in CalDAV" when its `pulled` row exists: the pass
writes the row right after the event is stored (same pass, same thread).

Two measurements, because waiting for the default 60 s interval per sample is too slow:

1. **pass**: a service with no scheduler; after each invitation, one run of the pull job
   (`Service.pull_now()`, the scheduled job's body, over every demo mailbox) is timed.
2. **live**: a service with its scheduler at `--live-interval` seconds; invitations are sent
   at random moments and the benchmark polls for the row. This checks the model below.

Model (the invitation lands at a uniformly random moment of the interval I, and is taken by
the next run): latency = U·I + pass, U uniform on [0, 1). The table gives its p50/p95 from
the measured pass times (every pass time combined with 100 evenly spaced U), at the live
interval (to compare with the live figures) and at the default interval.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import requests

from bench.common import percentile, running_service, section, summary, table, temp_dir
from bridge.config import load_config
from bridge.service import Service
from tests.sim.davclient import login_fba
from tests.sim.test_transport import HTTP_START, send_meeting

POLL_S = 0.01
TIMEOUT_S = 60.0


def _invite(bob: requests.Session, service: Service, n: int) -> tuple[str, float]:
    _, uid = send_meeting(bob, service.sim_url or "", "bob", f"latency-{n}",
                          subject=f"Latency {n}", start=HTTP_START, to="alice@example.com")
    return uid, time.perf_counter()


def _bob(service: Service) -> requests.Session:
    session = requests.Session()
    login_fba(session, service.sim_url or "", "bob", "demo")
    return session


def pass_times(state_dir: Path, count: int) -> list[float]:
    times: list[float] = []
    with running_service(state_dir, autosync=False) as service, _bob(service) as bob:
        service.pull_now()  # the initial pull
        for n in range(count):
            _invite(bob, service, n)
            started = time.perf_counter()
            report = service.pull_now()
            times.append(time.perf_counter() - started)
            assert report is not None and report.pulled["alice"].written == 1
    return times


def live(state_dir: Path, count: int, interval: float) -> list[float]:
    found: list[float] = []
    rng = random.Random(10)
    with running_service(state_dir, autosync=True, pull_interval=interval) as service, \
            _bob(service) as bob:
        assert service.engine is not None
        state = service.engine.state
        time.sleep(interval)  # past the initial pull
        for n in range(count):
            time.sleep(rng.uniform(0, interval))
            uid, landed = _invite(bob, service, n)
            deadline = landed + TIMEOUT_S
            while state.pulled("alice", uid) is None:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"invitation {n} not pulled in {TIMEOUT_S:.0f} s")
                time.sleep(POLL_S)
            found.append(time.perf_counter() - landed)
    return found


def model(passes: list[float], interval: float) -> list[float]:
    return [(k + 0.5) / 100 * interval + p for p in passes for k in range(100)]


def run(count: int, live_interval: float, command: str) -> None:
    default = load_config(None).pull_interval
    section(f"pull latency: invitation in the Inbox -> event in CalDAV ({count} invitations)",
            command)
    with temp_dir("bench-pull-latency") as root:
        passes = pass_times(root / "pass", count)
        measured = live(root / "live", count, live_interval)
    rows = [
        ("pull pass (4 mailboxes, 1 new invitation)", *_cells(summary(passes))),
        (f"live, interval {live_interval:g} s (measured)", *_cells(summary(measured))),
        (f"model U*{live_interval:g} s + pass", *_cells(summary(model(passes, live_interval)))),
        (f"model U*{default:g} s + pass (default interval)",
         *_cells(summary(model(passes, default)))),
    ]
    print(table(("what", "n", "p50 s", "p95 s", "max s"), rows, digits=3))
    print(f"   default sync.pull_interval = {default:g} s: p50 ~ I/2, p95 ~ 0.95*I, plus the "
          f"pass ({percentile(passes, 0.5) * 1000:.0f} ms p50 here)")


def _cells(figures: dict[str, float]) -> tuple[object, ...]:
    return int(figures["n"]), figures["p50"], figures["p95"], figures["max"]


def main() -> None:
    import argparse
    import logging

    parser = argparse.ArgumentParser(prog="python -m bench.pull_latency", description=__doc__)
    parser.add_argument("--invitations", type=int, default=20)
    parser.add_argument("--live-interval", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("radicale").setLevel(logging.ERROR)
    run(args.invitations, args.live_interval,
        f".venv/bin/python -m bench.pull_latency --invitations {args.invitations} "
        f"--live-interval {args.live_interval:g}")


if __name__ == "__main__":
    main()
