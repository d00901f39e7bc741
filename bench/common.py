"""Shared helpers: ports, temp services, iCalendar texts, percentiles and tables."""

from __future__ import annotations

import os
import resource
import socket
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import requests

from bridge.config import load_config
from bridge.service import Service

PASSWORD = "demo"  # the embedded demo's CalDAV and Exchange password
REQUEST_CLASS = "IPM.Schedule.Meeting.Request"
MESSAGE_CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
UID_PROP = "urn:schemas:calendar:uid"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"calbridge-bench-{prefix}-") as name:
        yield Path(name)


@contextmanager
def running_service(
    state_dir: Path,
    *,
    autosync: bool,
    interval: float = 3600,
    cancel_grace: float | None = None,
    **changes: object,
) -> Iterator[Service]:
    """A full calbridge (Radicale + plugin + engine + embedded simulator) on free ports;
    `cancel_grace` overrides the configured wait before a deleted event is cancelled, and
    `changes` replace other fields of the configuration (e.g. `users=...`)."""
    config = load_config(None, state_dir=state_dir, caldav_port=free_port(), sim_port=free_port())
    config = replace(config, interval=interval, **changes)  # type: ignore[arg-type]
    if cancel_grace is not None:
        config = replace(config, cancel_grace=cancel_grace)
    service = Service(config, autosync=autosync)
    service.start()
    try:
        yield service
    finally:
        service.stop()


# -- iCalendar texts ---------------------------------------------------------------------------


def vevent(
    uid: str,
    index: int,
    *,
    attendees: Sequence[str] = (),
    summary: str | None = None,
    hour_shift: int = 0,
    dtstamp: str = "20261125T120000Z",
) -> str:
    """A one-event VCALENDAR; `attendees` (addresses) make it a meeting organized by alice."""
    month = 1 + index % 12
    day = 1 + (index // 12) % 28
    hour = 7 + (index + hour_shift) % 10
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//calbridge bench//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{dtstamp}",
        f"DTSTART:2027{month:02d}{day:02d}T{hour:02d}0000Z",
        f"DTEND:2027{month:02d}{day:02d}T{hour:02d}4500Z",
        f"SUMMARY:{summary or f'Bench event {index}'}",
    ]
    if attendees:
        lines.append("ORGANIZER;CN=Alice Example:mailto:alice@example.com")
        lines.extend(
            f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{address}" for address in attendees
        )
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


# -- CalDAV over HTTP --------------------------------------------------------------------------


def caldav_session(user: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    session.auth = (user, password)
    session.trust_env = False
    return session


def make_calendar(session: requests.Session, base_url: str, user: str, name: str) -> str:
    """MKCALENDAR `/<user>/<name>/` (fine if it exists); returns its URL."""
    url = f"{base_url.rstrip('/')}/{user}/{name}/"
    session.request("PROPFIND", f"{base_url.rstrip('/')}/{user}/", headers={"Depth": "0"})
    answer = session.request("MKCALENDAR", url)
    if answer.status_code not in (201, 405, 409):
        raise RuntimeError(f"MKCALENDAR {url} answered {answer.status_code}")
    return url


def put_event(session: requests.Session, calendar_url: str, uid: str, text: str) -> float:
    """PUT one event; returns its duration in ms (raises on a non-2xx answer)."""
    started = time.perf_counter()
    answer = session.put(
        f"{calendar_url}{uid}.ics",
        data=text.encode(),
        headers={"Content-Type": "text/calendar; charset=utf-8"},
    )
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code not in (201, 204):
        raise RuntimeError(f"PUT {uid} answered {answer.status_code}: {answer.text[:200]}")
    return elapsed


# -- figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (`fraction` in [0, 1])."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.50),
        "p95": percentile(values, 0.95),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 1) -> str:
    """A plain-text table; floats with `digits` decimals, numbers right-aligned."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.{digits}f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    texts = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(r[i]) for r in texts)) if texts else len(str(h))
        for i, h in enumerate(headers)
    ]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] == "" for row in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "  " + " | ".join(parts).rstrip()

    out = [line([str(h) for h in headers]), "  " + "-+-".join("-" * w for w in widths)]
    out.extend(line(r) for r in texts)
    return "\n".join(out)


def section(title: str, command: str) -> None:
    print()
    print(f"== {title}")
    print(f"   reproduce: {command}")
    print(f"   nproc: {nproc()}")
    print()


def rss_mib() -> float:
    """Current resident set size (from /proc), MiB."""
    try:
        with open("/proc/self/statm") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def peak_rss_mib() -> float:
    """Peak RSS of this process so far (getrusage; KiB on Linux), MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def nproc() -> int:
    """What `nproc` prints: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
