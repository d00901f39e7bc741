"""Exchange requests per answer to a pulled invitation (issue 10: "requests per accept/decline").

A full calbridge (Radicale + plugin + engine + simulator, sync loop off): bob invites alice
from Exchange, a pull brings the invitation into alice's calendar (and its `pulled` row is
recorded), alice sets her PARTSTAT in her CalDAV client, and one `engine.sync(full=False)`
(the service's wake-up pass) runs. Every simulator request of that pass is counted, and a run
counts only when the reply really is in bob's Inbox. Login and discovery happen on a warm-up
answer. Target: 2 (one SEARCH that finds the request and reads the Sent Items marker, one
``GET ?Cmd=``): the marker must be read before the send, so fewer cannot prove exactly once.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter

from bench.common import section, table, temp_dir
from tests.e2e.answering import REPLIES, answer_in_client, invite_alice, replies_at_bob
from tests.e2e.conftest import make_config, running_bridge

TARGET = 2


def run(repeat: int, command: str) -> dict[str, object]:
    section("answers: Exchange requests per accept / decline (engine pass, simulator log)",
            command)
    rows: list[list[object]] = []
    with temp_dir("answers") as state, running_bridge(make_config(state)) as bridge:
        warm = invite_alice(bridge, "warm-up")
        answer_in_client(bridge, warm, "ACCEPTED")
        bridge.sync(full=False)
        for partstat, label in (("ACCEPTED", "accept"), ("DECLINED", "decline")):
            counts: list[int] = []
            millis: list[float] = []
            shapes: Counter[str] = Counter()
            for index in range(repeat):
                uid = invite_alice(bridge, f"{label}-{index}")
                answer_in_client(bridge, uid, partstat)
                first = len(bridge.sim.log)
                started = time.perf_counter()
                bridge.sync(full=False)
                elapsed = (time.perf_counter() - started) * 1000
                entries = bridge.sim.log.entries()[first:]  # before the check's own SEARCH
                if replies_at_bob(bridge, uid) != [REPLIES[partstat]]:
                    continue  # not counted: the reply did not arrive
                counts.append(len(entries))
                millis.append(elapsed)
                shapes[" + ".join(e.method for e in entries)] += 1
            typical = shapes.most_common(1)[0][0] if shapes else "-"
            rows.append([label, len(counts), min(counts, default=0), max(counts, default=0),
                         statistics.median(millis) if millis else 0.0, TARGET,
                         "ok" if counts and max(counts) <= TARGET else "OVER", typical])
    print(table(["answer", "runs", "min", "max", "p50 ms", "target", "", "requests (typical)"],
                rows))
    return {"answers": rows}
