"""Section 4: Radicale PUT time with the calbridge storage plugin vs plain multifilesystem.

Two Radicale servers in this process (tests/radicale_server.py), same configuration except
`[storage] type` (`radicale_plugin` vs `multifilesystem`), fsync on as `calbridge run` has it
(`--no-fsync` to compare without). The same number of sequential PUTs of single new events go
to each over one keep-alive `requests.Session` per server, alternating in rounds of 10 (and which
server starts a round alternates too) so that drift (page cache, CPU frequency, the growing
collections) hits both alike. The plugin has no wake-up callback registered here (as with
`autosync=False`); its cost is the journal row in SQLite.
"""

from __future__ import annotations

from contextlib import ExitStack

from bench.common import (
    caldav_session,
    make_calendar,
    put_event,
    section,
    summary,
    table,
    temp_dir,
    vevent,
)
from tests.radicale_server import start_radicale

ROUND = 10
WARMUP = 5
USER = "alice"


def run(puts: int, fsync: bool, command: str) -> dict[str, float]:
    section("4. Radicale PUT time: calbridge plugin vs plain multifilesystem (same run)", command)
    kinds = ("radicale_plugin", "multifilesystem")
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with ExitStack() as stack:
        targets = {}
        for kind in kinds:
            tmp = stack.enter_context(temp_dir(f"put-{kind}"))
            extra = {"storage": {"type": kind, "_filesystem_fsync": str(fsync)}}
            base_url, _configuration = stack.enter_context(
                start_radicale(tmp, {USER: "demo"}, extra_config=extra)
            )
            session = caldav_session(USER)
            stack.callback(session.close)
            calendar = make_calendar(session, base_url, USER, "calendar")
            for index in range(WARMUP):
                uid = f"warmup-{index}"
                put_event(session, calendar, uid, _event(uid, index))
            targets[kind] = (session, calendar)
        done = 0
        round_number = 0
        while done < puts:
            batch = min(ROUND, puts - done)
            order = kinds if round_number % 2 == 0 else kinds[::-1]
            for kind in order:
                session, calendar = targets[kind]
                for index in range(done, done + batch):
                    uid = f"bench-put-{index}"
                    times[kind].append(put_event(session, calendar, uid, _event(uid, index)))
            done += batch
            round_number += 1
    stats = {kind: summary(times[kind]) for kind in kinds}
    rows = [
        [kind, s["n"], s["p50"], s["p95"], s["max"], s["mean"]] for kind, s in stats.items()
    ]
    plugin, plain = stats["radicale_plugin"], stats["multifilesystem"]
    rows.append(
        [
            "ratio plugin/plain",
            "",
            plugin["p50"] / plain["p50"],
            plugin["p95"] / plain["p95"],
            plugin["max"] / plain["max"],
            plugin["mean"] / plain["mean"],
        ]
    )
    print(table(["PUT ms (fsync " + ("on" if fsync else "off") + ")", "n", "p50", "p95", "max",
                 "mean"], rows, digits=2))
    print()
    print(
        f"  {WARMUP} warm-up PUTs per server not counted; rounds of {ROUND}, alternating order;"
        " one new event per PUT, collections grow to the same size."
    )
    return {"ratio_p50": plugin["p50"] / plain["p50"], "ratio_p95": plugin["p95"] / plain["p95"]}


def _event(uid: str, index: int) -> str:
    return vevent(uid, index, attendees=("bob@example.com",) if index % 2 else ())
