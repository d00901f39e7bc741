"""Peak memory of calbridge under the VTIMEZONE attack (issue 8 item 1), with the front door.

A full calbridge (Radicale + plugin + engine + embedded simulator) runs in a child process; this
process sends the attacks over HTTP and reads the child's resident memory from /proc (VmRSS now,
VmHWM = peak since start). Rows, in order, on the same service:

- idle: after start-up and one ordinary PUT;
- 8 PUTs at once of the ~500-byte VTIMEZONE with FREQ=MINUTELY / FREQ=SECONDLY;INTERVAL=7;
- 8 PUTs at once of the FREQ=HOURLY variant;
- one legitimate 4 MiB PUT (the largest body the door lets through);
- an ordinary meeting PUT afterwards (the service still answers).

`--without-door` runs the HOURLY variant once without the door, in a child limited to 3 GiB of
address space and 60 s, for comparison (the MINUTELY one never ends without the door, so it is
not run).

Run: .venv/bin/python -m bench.front_door [--without-door]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.common import caldav_session, make_calendar, nproc, table, vevent

ZONE = "Mars/Olympus"


def attack(uid: str, standard: str, daylight: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//EN",
        "BEGIN:VTIMEZONE", f"TZID:{ZONE}",
        "BEGIN:STANDARD", "DTSTART:16010101T000000", f"RRULE:{standard}",
        "TZOFFSETFROM:+0100", "TZOFFSETTO:+0000", "END:STANDARD",
        "BEGIN:DAYLIGHT", "DTSTART:16010101T000000", f"RRULE:{daylight}",
        "TZOFFSETFROM:+0000", "TZOFFSETTO:+0100", "END:DAYLIGHT",
        "END:VTIMEZONE",
        "BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20261125T120000Z",
        f"DTSTART;TZID={ZONE}:20261210T140000", f"DTEND;TZID={ZONE}:20261210T150000",
        "SUMMARY:x", "END:VEVENT", "END:VCALENDAR", "",
    ])


MINUTELY = ("FREQ=MINUTELY", "FREQ=SECONDLY;INTERVAL=7")
HOURLY = ("FREQ=HOURLY", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU")


def _child(state_dir: str, door: bool) -> None:
    """The service: prints its CalDAV URL, runs until stdin closes."""
    import logging

    logging.basicConfig(level=logging.ERROR)
    if not door:
        from bridge import gate

        gate.install = lambda: None  # the baseline: Radicale as it was before the door
    from bench.common import running_service

    with running_service(Path(state_dir), autosync=False) as service:
        print(service.caldav_url, flush=True)
        sys.stdin.read()


def _memory(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MiB."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def _start(
    state_dir: str, door: bool, limit_bytes: int | None
) -> tuple[subprocess.Popen[str], str]:
    def limit() -> None:
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from bench.front_door import _child; "
         f"_child({state_dir!r}, {door!r})"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=limit,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url:
        raise RuntimeError("the service did not start")
    return child, url


def _parallel(url: str, texts: list[str], timeout: float) -> tuple[list[str], float]:
    answers: list[str] = [""] * len(texts)

    def one(index: int) -> None:
        session = caldav_session("alice")
        try:
            reply = session.put(f"{url}a{index}-{time.monotonic_ns()}.ics",
                                data=texts[index].encode(), timeout=timeout,
                                headers={"Content-Type": "text/calendar"})
            answers[index] = str(reply.status_code)
        except requests.RequestException as error:
            answers[index] = type(error).__name__

    started = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers, time.perf_counter() - started


def _verdict(answers: list[str]) -> str:
    return ", ".join(f"{answers.count(a)}× {a}" for a in sorted(set(answers)))


def run_with_door() -> None:
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-door-") as state:
        child, base = _start(state, door=True, limit_bytes=None)
        try:
            session = caldav_session("alice")
            calendar = make_calendar(session, base, "alice", "calendar")
            meeting = [vevent(f"m-{i}", i, attendees=["bob@example.com"]) for i in range(2)]
            answers, seconds = _parallel(calendar, meeting[:1], timeout=30)
            rows.append(["one ordinary PUT after start", _verdict(answers), seconds,
                         *_memory(child.pid)])
            for name, (standard, daylight) in (("MINUTELY/SECONDLY", MINUTELY), ("HOURLY", HOURLY)):
                texts = [attack(f"attack-{i}", standard, daylight) for i in range(8)]
                answers, seconds = _parallel(calendar, texts, timeout=120)
                rows.append([f"8 VTIMEZONE {name} PUTs at once", _verdict(answers), seconds,
                             *_memory(child.pid)])
            filler = "DESCRIPTION:" + "x" * (4 * 1024 * 1024 - 400) + "\r\nSUMMARY:"
            big = vevent("big", 1).replace("SUMMARY:", filler)
            answers, seconds = _parallel(calendar, [big], timeout=120)
            rows.append([f"one legitimate PUT of {len(big.encode()):,} bytes", _verdict(answers),
                         seconds, *_memory(child.pid)])
            answers, seconds = _parallel(calendar, meeting[1:], timeout=30)
            rows.append(["one ordinary PUT afterwards", _verdict(answers), seconds,
                         *_memory(child.pid)])
        finally:
            child.communicate("", timeout=60)
    print(table(["step", "answers", "seconds", "RSS MiB", "peak RSS MiB"], rows, digits=2))


def run_without_door() -> None:
    limit = 3 * 1024**3
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-nodoor-") as state:
        child, base = _start(state, door=False, limit_bytes=limit)
        try:
            session = caldav_session("alice")
            calendar = make_calendar(session, base, "alice", "calendar")
            before = _memory(child.pid)
            answers, seconds = _parallel(calendar, [attack("hourly", *HOURLY)], timeout=60)
            after = _memory(child.pid)
        finally:
            child.kill()
            child.wait()
    print(table(["step (no door, 3 GiB address-space limit)", "answers", "seconds", "RSS MiB",
                 "peak RSS MiB"],
                [["idle", "", 0.0, *before],
                 ["1 VTIMEZONE HOURLY PUT", _verdict(answers), seconds, *after]], digits=2))


def run(without_door: bool, command: str) -> None:
    print()
    print("== front door: calbridge's memory under the VTIMEZONE attack (issue 8)")
    print(f"   reproduce: {command}")
    print(f"   nproc: {nproc()}")
    print()
    run_with_door()
    if without_door:
        print()
        run_without_door()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.front_door", description=__doc__)
    parser.add_argument("--without-door", action="store_true",
                        help="also run one HOURLY attack without the door, for comparison")
    arguments = parser.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    run(arguments.without_door, " ".join([".venv/bin/python -m bench.front_door", *sys.argv[1:]]))
