"""CalDAV request time with Exchange logins (warm cache) vs htpasswd, measured in the same run.

Run: `.venv/bin/python -m bench.caldav_login [--requests N]` (not part of `make bench`).

Two full calbridge services in this process (embedded simulator, sync loop off), identical but
for `caldav.auth`: "htpasswd" (Radicale checks a SHA-512-crypt hash, 5,000 rounds, on every
request) and "exchange" (the first request asks the simulator; later ones hit the in-memory
HMAC cache). The same authenticated `PROPFIND Depth: 0` of alice's calendar goes to each over
one keep-alive session per service, alternating in rounds of 20 (and which service starts a
round alternates too), after warm-up requests that are not counted. Target: ratio ≤ 1.05.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import requests

from bench.common import PASSWORD, free_port, section, summary, table, temp_dir
from bridge.config import load_config
from bridge.service import Service

ROUND = 20
WARMUP = 10
KINDS = ("htpasswd", "exchange")
BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:"><prop>'
    b"<getetag/><resourcetype/></prop></propfind>"
)


@contextmanager
def service(state_dir: Path, caldav_auth: str) -> Iterator[Service]:
    config = load_config(None, state_dir=state_dir, caldav_port=free_port(), sim_port=free_port())
    running = Service(replace(config, caldav_auth=caldav_auth), autosync=False)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def propfind(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    answer = session.request("PROPFIND", url, data=BODY, headers={"Depth": "0"}, timeout=30)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 207:
        raise SystemExit(f"PROPFIND {url} answered {answer.status_code}")
    return elapsed


def run(count: int, command: str) -> dict[str, float]:
    section("CalDAV login: Exchange (warm cache) vs htpasswd, same run", command)
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    targets: dict[str, tuple[requests.Session, str]] = {}
    with ExitStack() as stack:
        services = {}
        for kind in KINDS:
            tmp = stack.enter_context(temp_dir(f"login-{kind}"))
            services[kind] = running = stack.enter_context(service(tmp / "state", kind))
            session = requests.Session()
            session.auth = ("alice", PASSWORD)
            stack.callback(session.close)
            url = running.calendar_url("alice")
            for _ in range(WARMUP):
                propfind(session, url)
            targets[kind] = (session, url)
        done = round_number = 0
        while done < count:
            batch = min(ROUND, count - done)
            for kind in KINDS if round_number % 2 == 0 else KINDS[::-1]:
                session, url = targets[kind]
                times[kind].extend(propfind(session, url) for _ in range(batch))
            done += batch
            round_number += 1
        probes = services["exchange"].caldav_configuration.get("auth", "type").state.probes
    stats = {kind: summary(times[kind]) for kind in KINDS}
    rows: list[list[object]] = [
        [kind, s["n"], s["p50"], s["p95"], s["max"], s["mean"]] for kind, s in stats.items()
    ]
    exchange, htpasswd = stats["exchange"], stats["htpasswd"]
    ratios = {key: exchange[key] / htpasswd[key] for key in ("p50", "p95", "max", "mean")}
    rows.append(["ratio exchange/htpasswd", "", *ratios.values()])
    print(table(["PROPFIND ms", "n", "p50", "p95", "max", "mean"], rows, digits=3))
    print()
    print(f"  {WARMUP} warm-up requests per service not counted; rounds of {ROUND}, alternating;"
          f" logins sent to Exchange during the whole run: {probes}.")
    return {"ratio_p50": ratios["p50"], "ratio_mean": ratios["mean"], "probes": float(probes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests per service")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("radicale").setLevel(logging.ERROR)
    run(args.requests, f".venv/bin/python -m bench.caldav_login --requests {args.requests}")


if __name__ == "__main__":
    main()
