"""A recurring series with its exceptions: how they are kept on the master, and its occurrences.

Rules kept here (protocol reference §4.1, §4.5, §4.6; davmail-client §4.2):

* An exception (instancetype 3) belongs to its master: Exchange serves it inside the master's
  iCalendar, and DavMail never lists it on its own. Chosen storage: the master item keeps its
  exceptions in one private multivalued property, `EXCEPTIONS`, one JSON object per exception
  (its ``recurrenceid`` plus its own times, subject, location, busy status and attendees, under
  their full property names). Kept on the master's row, an exception is created, replaced,
  moved, copied and deleted with the master in the same transaction, and nothing can orphan
  it. The store never shows `PRIVATE` properties to PROPFIND or SEARCH, and PROPPATCH cannot
  set them (the reference names no WebDAV property for them).
* A cancelled occurrence is not an exception: it is an ``exdate`` of the master.
* An occurrence is expanded in the appointment's zone (`zones.zone_of`); the master's
  occurrences at an exception's ``recurrenceid`` give way to the exception's own span.

Pure: no store, no network, no clock, no logging.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from exchange_sim import freebusy, zones
from exchange_sim.store import PRIVATE_NAMESPACE

__all__ = [
    "EXCEPTIONS",
    "EXCEPTION_FIELDS",
    "PRIVATE",
    "Occurrence",
    "decode_exceptions",
    "encode_exceptions",
    "occurrences",
]

_CAL = "urn:schemas:calendar:"
_HEADER = "urn:schemas:mailheader:"

PRIVATE = PRIVATE_NAMESPACE
"""Namespace of the simulator's own bookkeeping properties (never served)."""

EXCEPTIONS = PRIVATE + "exceptions"

EXCEPTION_FIELDS = (
    _CAL + "recurrenceid", _CAL + "dtstart", _CAL + "dtend", _CAL + "location",
    _CAL + "busystatus", _CAL + "sequence", "urn:schemas:httpmail:subject",
    "urn:schemas:httpmail:textdescription", _HEADER + "to", _HEADER + "cc", _HEADER + "bcc",
)  # fmt: skip
"""What an exception keeps of its own (everything else comes from the master)."""

_TIMES = frozenset({_CAL + "recurrenceid", _CAL + "dtstart", _CAL + "dtend"})


@dataclass(frozen=True)
class Occurrence:
    """One occurrence in UTC with its busy status (an exception's own, else the master's)."""

    start: datetime
    end: datetime
    busystatus: str


def encode_exceptions(exceptions: Iterable[Mapping[str, object]]) -> list[str]:
    """The `EXCEPTIONS` value: one JSON object per exception, sorted by recurrence id; a later
    exception with the same recurrence id replaces an earlier one."""
    by_id: dict[datetime, dict[str, object]] = {}
    for exception in exceptions:
        rid = exception.get(_CAL + "recurrenceid")
        if not isinstance(rid, datetime):
            raise ValueError("an exception needs a recurrenceid")
        kept: dict[str, object] = {}
        for name in EXCEPTION_FIELDS:
            value = exception.get(name)
            if isinstance(value, datetime):
                kept[name] = value.astimezone(UTC).isoformat()
            elif isinstance(value, str | int) and not isinstance(value, bool):
                kept[name] = value
        by_id[rid.astimezone(UTC)] = kept
    return [json.dumps(by_id[rid], sort_keys=True) for rid in sorted(by_id)]


def decode_exceptions(props: Mapping[str, object]) -> list[dict[str, object]]:
    """The exceptions kept on a master (entries that are not well formed are skipped)."""
    value = props.get(EXCEPTIONS)
    result: list[dict[str, object]] = []
    for text in value if isinstance(value, list) else []:
        try:
            data = json.loads(str(text))
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        exception: dict[str, object] = {}
        for name, item in data.items():
            if name in _TIMES:
                try:
                    exception[name] = datetime.fromisoformat(str(item)).astimezone(UTC)
                except ValueError:
                    continue
            elif name in EXCEPTION_FIELDS and isinstance(item, str | int):
                exception[name] = item
        if isinstance(exception.get(_CAL + "recurrenceid"), datetime):
            result.append(exception)
    return result


def _busy(props: Mapping[str, object], default: str = "BUSY") -> str:
    busy = str(props.get(_CAL + "busystatus") or default).upper()
    return busy if busy in freebusy.STATUS_DIGITS else default


def _dates(value: object) -> list[datetime]:
    values = value if isinstance(value, list | tuple) else [value]
    return [v for v in values if isinstance(v, datetime)]


def _strings(value: object) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v]
    return [str(value)] if value else []


def _zone(props: Mapping[str, object]) -> tzinfo | None:
    """The series' zone; a stored zone that cannot be used counts as none (UTC), as the GET
    rendering does (chosen: Exchange would not have stored it; the reference is silent)."""
    try:
        return zones.zone_of(props)
    except zones.ZoneError:
        return None


def occurrences(props: Mapping[str, object], window_start: datetime,
                window_end: datetime) -> list[Occurrence]:
    """The occurrences of an appointment (or meeting message) overlapping the window, sorted.

    Raises:
        ValueError: a rule that cannot be expanded.
    """
    start, end = props.get(_CAL + "dtstart"), props.get(_CAL + "dtend")
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return []
    master_busy = _busy(props)
    exceptions = decode_exceptions(props)
    moved = [e[_CAL + "recurrenceid"] for e in exceptions]
    spans = freebusy.occurrences(
        start, end, _strings(props.get(_CAL + "rrule")),
        _dates(props.get(_CAL + "exdate")) + _dates(moved), _dates(props.get(_CAL + "rdate")),
        window_start, window_end, _zone(props))
    result = [Occurrence(s, e, master_busy) for s, e in spans]
    for exception in exceptions:
        own_start = exception.get(_CAL + "dtstart", exception[_CAL + "recurrenceid"])
        if not isinstance(own_start, datetime):
            continue
        own_end = exception.get(_CAL + "dtend")
        if not isinstance(own_end, datetime):
            own_end = own_start + (end - start)
        for s, e in freebusy.occurrences(own_start, max(own_start, own_end), [], [], [],
                                         window_start, window_end):
            result.append(Occurrence(s, e, _busy(exception, master_busy)))
    result.sort(key=lambda o: (o.start, o.end))
    return result
