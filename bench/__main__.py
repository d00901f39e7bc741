"""`python -m bench`: run the benchmark sections and print their figures."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from datetime import UTC, datetime

from bench.common import nproc

SECTIONS = ("ops", "recurring", "answers", "latency", "idle", "scale", "outage", "put", "open",
            "door", "pull", "pull-latency")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run, from {','.join(SECTIONS)}")
    parser.add_argument("--ops", type=int,
                        help="meetings per operation count, answers per answer kind (default 10)")
    parser.add_argument("--meetings", type=int, help="meetings for the latency run (default 50)")
    parser.add_argument("--events", type=int, help="stored events for the idle pass (10000)")
    parser.add_argument("--users", type=int, help="users for the scale section (default 500)")
    parser.add_argument("--user-events", type=int,
                        help="events per user for the scale section (default 2000)")
    parser.add_argument("--outage", type=float,
                        help="seconds Exchange is down in the outage section (default 300)")
    parser.add_argument("--puts", type=int, help="PUTs per Radicale server (default 200)")
    parser.add_argument("--items", type=int, help="state items for the open timing (10000)")
    parser.add_argument("--seed", choices=("bulk", "import_events"), default="bulk",
                        help="how the idle-pass events are stored (see bench/idle_sync.py)")
    parser.add_argument("--no-fsync", action="store_true",
                        help="Radicale PUT comparison without fsync (default: fsync on, as run)")
    parser.add_argument("--pull-items", type=int,
                        help="Exchange items for the initial and idle pull (default 10000)")
    parser.add_argument("--invitations", type=int,
                        help="invitations for the pull latency (default 20)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show warnings from logs")
    args = parser.parse_args(argv)
    quick = args.quick
    args.ops = args.ops or (3 if quick else 10)
    args.meetings = args.meetings or (10 if quick else 50)
    args.events = args.events or (1000 if quick else 10000)
    args.puts = args.puts or (50 if quick else 200)
    args.items = args.items or (1000 if quick else 10000)
    args.users = args.users or (20 if quick else 500)
    args.user_events = args.user_events or (200 if quick else 2000)
    args.outage = args.outage or (20.0 if quick else 300.0)
    args.pull_items = args.pull_items or (1000 if quick else 10000)
    args.invitations = args.invitations or (5 if quick else 20)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="   [log] %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("radicale").setLevel(logging.ERROR)  # start-up chatter
    command = " ".join([".venv/bin/python -m bench", *map(shlex.quote, argv)])
    started = time.perf_counter()
    print(f"calbridge benchmarks — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, nproc {nproc()}")
    print(f"command: {command}")

    def repro(*extra: str) -> str:
        return " ".join([".venv/bin/python -m bench", *extra])

    if "ops" in args.only:
        from bench import requests_per_op

        requests_per_op.run(args.ops, repro("--only ops", f"--ops {args.ops}"))
    if "recurring" in args.only:
        from bench import recurring

        recurring.run(repro("--only recurring"))
    if "answers" in args.only:
        from bench import answers

        answers.run(args.ops, repro("--only answers", f"--ops {args.ops}"))
    if "latency" in args.only:
        from bench import latency

        latency.run(args.meetings, repro("--only latency", f"--meetings {args.meetings}"))
    if "idle" in args.only:
        from bench import idle_sync

        idle_sync.run(
            args.events,
            args.seed,
            repro("--only idle", f"--events {args.events}", f"--seed {args.seed}"),
        )
    if "scale" in args.only:
        from bench import scale

        scale.run(
            args.users,
            args.user_events,
            repro("--only scale", f"--users {args.users}", f"--user-events {args.user_events}"),
        )
    if "outage" in args.only:
        from bench import outage

        outage.run(args.outage, repro("--only outage", f"--outage {args.outage:g}"))
    if "put" in args.only:
        from bench import radicale_put

        extra = ["--no-fsync"] if args.no_fsync else []
        radicale_put.run(
            args.puts, not args.no_fsync, repro("--only put", f"--puts {args.puts}", *extra)
        )
    if "open" in args.only:
        from bench import state_open

        state_open.run(args.items, repro("--only open", f"--items {args.items}"))
    if "door" in args.only:
        from bench import front_door

        front_door.run(False, repro("--only door"))
    if "pull" in args.only:
        from bench import pull_initial

        pull_initial.run(args.pull_items, repro("--only pull", f"--pull-items {args.pull_items}"))
    if "pull-latency" in args.only:
        from bench import pull_latency

        pull_latency.run(args.invitations, 2.0,
                         repro("--only pull-latency", f"--invitations {args.invitations}"))
    print()
    print(f"total bench time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
