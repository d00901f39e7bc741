"""Where the running `calbridge run` of a state folder can be reached.

Rule kept here: `calbridge run` writes `<state_dir>/instance.json` (mode 0600) once every part
listens, and removes it when it stops; the other commands on the same state folder read it, so
`calbridge freebusy` or `sync` reach the embedded simulator on the port that instance really
uses (`run --sim-port N`) instead of the configured one. A file left behind by a killed process
is ignored: its process is gone.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["FILENAME", "Instance", "read", "remove", "write"]

FILENAME = "instance.json"


@dataclass(frozen=True)
class Instance:
    pid: int
    caldav_url: str
    sim_url: str | None  # the embedded simulator's base URL (None: a real Exchange)


def write(state_dir: Path, instance: Instance) -> Path:
    """Record `instance` atomically, readable by the owner only."""
    path = state_dir / FILENAME
    partial = state_dir / f".{FILENAME}.{os.getpid()}"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(asdict(instance), handle)
    os.replace(partial, path)
    return path


def read(state_dir: Path) -> Instance | None:
    """The running instance of `state_dir`, or None (no file, unreadable, or its process gone)."""
    try:
        raw = json.loads((state_dir / FILENAME).read_text(encoding="utf-8"))
        instance = Instance(
            pid=int(raw["pid"]),
            caldav_url=str(raw["caldav_url"]),
            sim_url=str(raw["sim_url"]) if raw.get("sim_url") else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return instance if _alive(instance.pid) else None


def remove(state_dir: Path, pid: int) -> None:
    """Remove the file if it still describes process `pid` (never another instance's)."""
    path = state_dir / FILENAME
    try:
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) == pid:
            path.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True
