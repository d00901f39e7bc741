"""Who holds a listening TCP port, and does that process have this state folder's database open?

Rule kept here: identify the program by local facts only (Linux `/proc`), never by talking to
it — sending a CalDAV password to whatever squats on the port would hand it over. The listening
socket's inode comes from `/proc/net/tcp{,6}`; the process is the one with a descriptor on that
socket; it is "this calbridge" when it also has `<state_dir>/bridge.sqlite` open. Reading other
processes' descriptors needs the same user (run the check as the service's user) or root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Holder", "find_holder", "listening_inodes"]

_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def listening_inodes(lines: Iterable[str], port: int) -> set[str]:
    """Socket inodes of LISTEN entries on `port` in `/proc/net/tcp` or `tcp6` text (pure)."""
    inodes: set[str] = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1]:
            continue  # the header, or a line we do not understand
        _address, _, hex_port = fields[1].rpartition(":")
        try:
            local_port = int(hex_port, 16)
        except ValueError:
            continue
        if local_port == port and fields[3] == _LISTEN and fields[9] != "0":
            inodes.add(fields[9])
    return inodes


@dataclass(frozen=True)
class Holder:
    """What is known about the listener: its pid (None: not visible to us) and whether it
    has the database open."""

    pid: int | None
    command: str
    has_database: bool


def find_holder(port: int, database: Path, proc: Path = Path("/proc")) -> Holder | None:
    """The process listening on `port`; None when /proc cannot tell (not Linux)."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            text = (proc / "net" / table).read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        inodes |= listening_inodes(text.splitlines(), port)
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    wanted = os.path.realpath(database)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        links = _fd_links(entry)
        if not targets & links:
            continue
        return Holder(int(entry.name), _command(entry), wanted in links)
    return Holder(None, "", False)  # a listener we may not look into (another user)


def _fd_links(process: Path) -> set[str]:
    try:
        descriptors = list((process / "fd").iterdir())
    except OSError:
        return set()
    links: set[str] = set()
    for descriptor in descriptors:
        try:
            links.add(os.readlink(descriptor))
        except OSError:
            continue
    return links


def _command(process: Path) -> str:
    try:
        raw = (process / "cmdline").read_bytes()
    except OSError:
        return ""
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:120]
