"""`calbridge run` as a real process: two instances side by side, clean shutdown on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import caldav
import requests

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, Exchange, free_port
from tests.sim.davclient import login_fba


def start(state_dir: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    caldav_port, sim_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", "--state-dir", str(state_dir),
         "--caldav-port", str(caldav_port), "--sim-port", str(sim_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.options(f"http://127.0.0.1:{caldav_port}/", timeout=1)
            return process, caldav_port, sim_port
        except requests.ConnectionError:
            if process.poll() is not None:
                raise AssertionError(process.stdout.read().decode()) from None  # type: ignore[union-attr]
            time.sleep(0.1)
    process.kill()
    raise AssertionError("calbridge run did not start")


def test_two_instances_side_by_side(tmp_path: Path) -> None:
    first, second = start(tmp_path / "one"), start(tmp_path / "two")
    try:
        for index, (_process, caldav_port, _sim_port) in enumerate((first, second)):
            client = caldav.DAVClient(url=f"http://127.0.0.1:{caldav_port}/alice/",
                                      username="alice", password="demo")
            # The default calendar `calbridge run` creates for every user.
            calendar = client.calendar(url=f"http://127.0.0.1:{caldav_port}/alice/calendar/")
            calendar.save_event(ics.meeting(f"instance-{index}"))
        for index, (_process, _caldav_port, sim_port) in enumerate((first, second)):
            admin = requests.Session()
            base = f"http://127.0.0.1:{sim_port}"
            login_fba(admin, base, "svc-calbridge", "demo")
            exchange = Exchange(base, admin)
            exchange.wait_for(lambda ex=exchange: ex.inbox("bob", REQUEST))
            (request,) = exchange.inbox("bob", REQUEST)
            assert request["urn:schemas:calendar:uid"] == f"instance-{index}"
        assert (tmp_path / "one" / "bridge.sqlite").exists()
        assert (tmp_path / "two" / "bridge.sqlite").exists()
    finally:
        outputs = []
        for process, _c, _s in (first, second):
            process.send_signal(signal.SIGTERM)
            outputs.append((process.wait(timeout=30), process.stdout.read().decode()))  # type: ignore[union-attr]
    for code, output in outputs:
        assert code == 0, output
        assert "calbridge stopped" in output
        assert "demo" not in output.replace("(password: demo)", "")
