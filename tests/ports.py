"""Free TCP ports for the servers the tests start.

Rule kept here: a port is taken from below the kernel's ephemeral range (Linux: 32768-60999),
in a block of its own per pytest-xdist worker. A port the kernel hands out for ``bind(0)`` is
an ephemeral one, and so is the local port of every outgoing connection: between the probe and
the server's own bind, a client connection of another test could take it ("Address already in
use", seen in CI). Below the range only our own probes hand ports out, and each worker probes
its own block, in order, skipping any port that is busy (or still in TIME_WAIT).
"""

from __future__ import annotations

import itertools
import os
import socket
import threading

__all__ = ["free_port"]

_FIRST = 20000
_BLOCK = 1500  # ports per worker: 8 workers fit below 32768
_lock = threading.Lock()


def _worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # gw0, gw1, ... (none: one process)
    digits = name.removeprefix("gw")
    return int(digits) % 8 if digits.isdigit() else 0


_start = _FIRST + _worker_index() * _BLOCK
_candidates = itertools.cycle(range(_start + os.getpid() % 97, _start + _BLOCK))


def free_port() -> int:
    """A port of this worker's block that nothing listens on or holds right now."""
    with _lock:
        for _ in range(_BLOCK):
            port = next(_candidates)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port left in this worker's block")
