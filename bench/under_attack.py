"""Another user's PUT → Inbox latency while hostile clients attack the CalDAV door (issue 8).

One calbridge (Radicale + plugin + engine + embedded simulator, live sync loop) in this process.
First carol sends meetings to bob one at a time with nobody attacking (the baseline); then the
same while `--attackers` threads PUT, without pause, the attacks of issue 8 as alice:
the runaway VTIMEZONE (MINUTELY/SECONDLY and HOURLY), one attendee line naming three addresses,
1,999 attendees (stored, then held: the bridge's cap is 500), a 4.5 MB description (413 at the
door) and a reminder of -P9999999W (held). Each figure is the time from carol's PUT until her
request is in bob's Inbox (read from the simulator's store); peak RSS is this whole process's.

Run: .venv/bin/python -m bench.under_attack [--meetings 20] [--attackers 8]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import threading
import time

import requests

from bench.common import (
    caldav_session,
    make_calendar,
    nproc,
    peak_rss_mib,
    put_event,
    rss_mib,
    running_service,
    section,
    summary,
    table,
    temp_dir,
    vevent,
)
from bench.front_door import attack as vtimezone_attack
from bench.latency import InboxWatch


def _event(uid: str, *lines: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//attacker//EN", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20261125T120000Z", "DTSTART:20270301T100000Z",
        "DTEND:20270301T110000Z", "SUMMARY:attack",
        "ORGANIZER:mailto:alice@example.com", *lines, "END:VEVENT", "END:VCALENDAR", "",
    ])


def attacks() -> list[tuple[str, str]]:
    many = [f"ATTENDEE:mailto:guest{i}@outside.example" for i in range(1999)]
    return [
        ("vtimezone-minutely", vtimezone_attack("a1", "FREQ=MINUTELY", "FREQ=SECONDLY;INTERVAL=7")),
        ("vtimezone-hourly", vtimezone_attack("a2", "FREQ=HOURLY", "FREQ=HOURLY")),
        ("three-in-one", _event("a3", "ATTENDEE:mailto:bob@example.com:carol@example.com:"
                                      "dave@example.com")),
        ("1999-attendees", _event("a4", *many)),
        ("4.5MB-description", _event("a5", "DESCRIPTION:" + "x" * (4_500_000))),
        ("reminder", _event("a6", "ATTENDEE:mailto:bob@example.com", "BEGIN:VALARM",
                            "ACTION:DISPLAY", "TRIGGER:-P9999999W", "END:VALARM")),
    ]


def _attack_loop(calendar: str, stop: threading.Event, answers: dict[str, dict[int, int]],
                 lock: threading.Lock, offset: int) -> None:
    session = caldav_session("alice")
    for number, (name, text) in zip(itertools.count(offset), itertools.cycle(attacks())):
        if stop.is_set():
            break
        href = f"{name}-{number % 4}"
        body = text.replace("UID:a", f"UID:{href}-a", 1)  # one UID per file: no 409 for a UID
        try:
            status = session.put(f"{calendar}{href}.ics", data=body.encode(),
                                 headers={"Content-Type": "text/calendar"}, timeout=60).status_code
        except requests.RequestException:
            status = 0
        with lock:
            answers.setdefault(name, {}).setdefault(status, 0)
            answers[name][status] += 1
    session.close()


def _measure(service: object, carol_calendar: str, watch: InboxWatch, prefix: str,
             meetings: int) -> list[float]:
    http = caldav_session("carol")
    latencies = []
    for index in range(meetings):
        uid = f"{prefix}-{index}"
        text = vevent(uid, index, attendees=("bob@example.com",)).replace(
            "mailto:alice@example.com", "mailto:carol@example.com").replace(
            "CN=Alice Example", "CN=Carol Example")
        started = time.perf_counter()
        put_event(http, carol_calendar, uid, text)
        latencies.append(watch.wait(uid, started))
    http.close()
    return latencies


def run(meetings: int, attackers: int, command: str) -> None:
    section("Another user's PUT → Inbox latency during the issue 8 attacks", command)
    with temp_dir("attack") as tmp, running_service(tmp / "state", autosync=True,
                                                     interval=60) as service:
        watch = InboxWatch(service.simulator.store, "bob")
        carol = make_calendar(caldav_session("carol"), service.caldav_url, "carol", "calendar")
        alice = make_calendar(caldav_session("alice"), service.caldav_url, "alice", "calendar")
        _measure(service, carol, watch, "warmup", 2)  # login + discovery
        rss_before = rss_mib()
        quiet = _measure(service, carol, watch, "quiet", meetings)
        stop, lock = threading.Event(), threading.Lock()
        answers: dict[str, dict[int, int]] = {}
        threads = [threading.Thread(target=_attack_loop, args=(alice, stop, answers, lock, i))
                   for i in range(attackers)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the attack is under way before carol starts
        attacked = _measure(service, carol, watch, "attacked", meetings)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        rss_after = rss_mib()
    rows = []
    for name, values in (("no attack", quiet), (f"{attackers} attackers", attacked)):
        s = summary(values)
        rows.append([name, s["n"], s["p50"], s["p95"], s["max"]])
    print(table(["carol → bob, ms", "n", "p50", "p95", "max"], rows))
    print()
    print("  attack answers (status: count): " + "; ".join(
        f"{name} {dict(sorted(codes.items()))}" for name, codes in sorted(answers.items())))
    print(f"  RSS {rss_before:.0f} → {rss_after:.0f} MiB, process peak {peak_rss_mib():.0f} MiB;"
          f" nproc {nproc()}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the door's one line per refusal is not a figure
    parser = argparse.ArgumentParser(prog="python -m bench.under_attack", description=__doc__)
    parser.add_argument("--meetings", type=int, default=20)
    parser.add_argument("--attackers", type=int, default=8)
    args = parser.parse_args()
    run(args.meetings, args.attackers,
        f".venv/bin/python -m bench.under_attack --meetings {args.meetings}"
        f" --attackers {args.attackers}")


if __name__ == "__main__":
    main()
