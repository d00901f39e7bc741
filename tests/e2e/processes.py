"""`calbridge` as a user runs it: real processes, started from a shell in the project folder.

Test helpers (not tests): `start_run()` starts `calbridge run` and waits until its CalDAV port
answers; `cli()` runs one command to completion. Both use this checkout's code and an explicit
umask, so file modes do not depend on the shell that runs the tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}


USUAL_UMASK = 0o022  # a login shell's usual umask: calbridge must not rely on a stricter one


@dataclass
class Cli:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli(*args: str, timeout: float = 60) -> Cli:
    done = subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=ENV,
        umask=USUAL_UMASK,
    )
    return Cli(done.returncode, done.stdout, done.stderr)


@dataclass
class RunningCalbridge:
    process: subprocess.Popen[str]
    caldav_port: int
    sim_port: int | None

    @property
    def caldav_url(self) -> str:
        return f"http://127.0.0.1:{self.caldav_port}/"

    def stop(self, timeout: float = 60) -> tuple[int, str]:
        """SIGTERM, as a service manager stops it; returns the exit code and all output."""
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, output


def start_run(*args: str, embedded: bool = True) -> RunningCalbridge:
    """`calbridge run ARGS` on a free CalDAV port and (embedded) a free simulator port."""
    caldav_port = free_port()
    sim_port = free_port() if embedded else None
    ports = ["--caldav-port", str(caldav_port)]
    if sim_port is not None:
        ports += ["--sim-port", str(sim_port)]
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "run", *args, *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env=ENV,
        umask=USUAL_UMASK,
    )
    running = RunningCalbridge(process, caldav_port, sim_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.options(running.caldav_url, timeout=1)
            return running
        except requests.ConnectionError:
            if process.poll() is not None:
                raise AssertionError(process.communicate()[0]) from None
            time.sleep(0.1)
    process.kill()
    raise AssertionError("calbridge run did not start:\n" + process.communicate()[0])
