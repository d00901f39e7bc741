"""vobject's time-zone registry, kept per request instead of per process.

vobject (Radicale's parser) remembers every VTIMEZONE it has parsed in one process-wide
TZID → tzinfo map and falls back to it for a TZID that an object names without defining. So a
zone alice invented ("Mars/Olympus", with her own TZNAMEs) was lent to bob's event naming the
same TZID, and Radicale stored bob's event with alice's definition in it: one user's data in
another's calendar.

Rule kept here: every thread has its own map, and the CalDAV front door (`bridge.gate`) empties
it at the start of each request. An object still resolves the zones it defines itself (they are
registered while it is parsed) and the IANA names vobject knows by itself; nothing registered
by one request is seen by another.
"""

from __future__ import annotations

import threading
from datetime import tzinfo

from vobject import icalendar as vobject_icalendar

__all__ = ["install", "new_request"]

_local = threading.local()
_installed = threading.Lock()
_done: list[bool] = []


def _zones() -> dict[str, tzinfo]:
    zones: dict[str, tzinfo] | None = getattr(_local, "zones", None)
    if zones is None:
        zones = _local.zones = {}
    return zones


def _register(tzid: str | bytes, zone: tzinfo) -> None:
    key = tzid.decode("utf-8") if isinstance(tzid, bytes) else tzid
    _zones()[key] = zone


def _lookup(tzid: str | bytes, smart: bool = True) -> tzinfo | None:
    key = tzid.decode("utf-8") if isinstance(tzid, bytes) else tzid
    found = _zones().get(key)
    if found is None and smart and key:
        found = _original_lookup(key, smart)  # vobject's own fallback for IANA names
    return found


_original_lookup = vobject_icalendar.getTzid


def new_request() -> None:
    """Forget every zone this thread registered (called per CalDAV request)."""
    _local.zones = {}


def install() -> None:
    """Route vobject's registry through the per-thread maps (idempotent)."""
    with _installed:
        if _done:
            return
        vobject_icalendar.registerTzid = _register
        vobject_icalendar.getTzid = _lookup
        _done.append(True)
