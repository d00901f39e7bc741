"""Time zones of one calendar: a TZID → the zone its wall-clock times are read in.

Rule kept here: time zones are resolved per calendar (`_Source`), never through icalendar's
process-wide cache of VTIMEZONE definitions (there, the first file that defines "Customized Time
Zone" would decide the offsets of every later file that uses the same name). A TZID is looked up as
an IANA name, then as a Windows or Exchange 2003 display name (`windows_to_iana`), then as a
VTIMEZONE of the same calendar, which is matched to the IANA zone with the same offsets, so that
`Meeting.tzid` is always an IANA name or None. A VTIMEZONE whose rules no real zone has is refused
before its rules are expanded (the front door's check, `screen.screen_vtimezone_rule`).

Pure: the only module state is a cache of the IANA names.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import NamedTuple
from zoneinfo import ZoneInfo, available_timezones

from icalendar import Calendar, Timezone, vRecur

from bridge.ical.common import _all, _ical_text, _Reject, _show
from bridge.screen import DOOR, screen_vtimezone_rule
from bridge.timezones import WINDOWS_ZONES, windows_to_iana

# Windows time zone IDs (the registry key names Outlook and Exchange write as TZID) → IANA, for the
# zone the Windows ID stands for in most places ("001" in Unicode CLDR's windowsZones).
_UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu",
     "GMT", "Etc/GMT", "Etc/GMT+0", "Etc/GMT-0", "Etc/GMT0", "GMT+0", "GMT-0", "GMT0",
     "Greenwich", "Etc/Greenwich"}
)
@functools.cache
def _iana_names() -> dict[str, str]:
    """Known IANA names by case-folded spelling (a TZID of "europe/berlin" still resolves)."""
    names = available_timezones() - {"localtime", "Factory", "posixrules"}
    return {name.casefold(): name for name in sorted(names)}


def _iana_name(name: str) -> str | None:
    return _iana_names().get(name.strip().strip("/").casefold())


def _known_zone(name: str) -> str | None:
    """An IANA name for a zone name written by a person or a client, or None."""
    iana = _iana_name(name) or windows_to_iana(name)
    if iana is None and name.startswith("/"):
        # "Globally unique" TZIDs (RFC 5545 3.2.19) of libical and Lightning:
        # "/freeassociation.sourceforge.net/Tzfile/Europe/Berlin" → the longest IANA suffix.
        parts = name.strip("/").split("/")
        suffixes = ("/".join(parts[i:]) for i in range(1, len(parts)))
        iana = next(filter(None, map(_iana_name, suffixes)), None)
    return iana


class _Zone(NamedTuple):
    """How one TZID reads: `wall` interprets the written wall-clock time; times are then expressed
    in the IANA zone `iana` (None: UTC). `exact` is False for a zone defined only by the file's
    VTIMEZONE that no IANA zone matches: its times are kept in UTC, which is right for single
    events but would shift a series across daylight-saving changes."""

    wall: tzinfo
    iana: str | None
    exact: bool = True

    @property
    def target(self) -> tzinfo:
        return ZoneInfo(self.iana) if self.iana else UTC


_UTC_ZONE = _Zone(UTC, None)


def _zone_for(iana: str) -> _Zone:
    return _UTC_ZONE if iana in _UTC_NAMES else _Zone(ZoneInfo(iana), iana)


_MINUTE = timedelta(minutes=1)
_HALF_DAY = timedelta(hours=12)


def _equivalent_iana(custom: tzinfo, hints: Iterable[str], year: int) -> str | None:
    """The first candidate IANA zone whose offsets equal those of `custom` in `year` and the next.

    Offsets are compared weekly and 12 hours before and after every transition of the candidate,
    so a daylight-saving change on another day tells the zones apart while one at another hour of
    the same night does not (VTIMEZONEs written by hand or by old Outlook versions are often that
    rough, and no meeting at a sensible hour moves because of it). A zone built from a VTIMEZONE
    is slow to ask (dateutil expands its rules on every call), so its answers are remembered.
    """
    weekly = [datetime(year, 1, 1, tzinfo=UTC) + timedelta(weeks=n) for n in range(106)]
    seen: dict[datetime, timedelta | None] = {}

    def custom_offset(moment: datetime) -> timedelta | None:
        if moment not in seen:
            seen[moment] = moment.astimezone(custom).utcoffset()
        return seen[moment]

    known = (_iana_name(name) for name in [*hints, *WINDOWS_ZONES.values()])
    for name in dict.fromkeys(name for name in known if name):
        zone = ZoneInfo(name)

        def offset(moment: datetime, zone: tzinfo = zone) -> timedelta | None:
            return moment.astimezone(zone).utcoffset()

        if any(offset(m) != custom_offset(m) for m in weekly):
            continue
        changes = _transitions(offset, weekly)
        edges = [t for change in changes for t in (change - _HALF_DAY, change + _HALF_DAY)]
        if all(offset(t) == custom_offset(t) for t in edges):
            return name
    return None


def _transitions(
    offset: Callable[[datetime], timedelta | None], samples: list[datetime]
) -> Iterator[datetime]:
    """The first minute of each new offset between consecutive samples (one change at most)."""
    for low, high in itertools.pairwise(samples):
        if offset(low) == offset(high):
            continue
        while high - low > _MINUTE:
            middle = low + (high - low) // _MINUTE // 2 * _MINUTE
            low, high = (middle, high) if offset(middle) == offset(low) else (low, middle)
        yield high


@dataclass
class _Source:
    """What the events of one VCALENDAR share: its VTIMEZONEs, its header, the floating zone."""

    calendar: Calendar | None
    floating: _Zone
    vtimezones: dict[str, Timezone] = field(default_factory=dict)
    _zones: dict[str, _Zone] = field(default_factory=dict)

    def zone(self, tzid: str, year: int) -> _Zone:
        """The zone a TZID names; `year` is where a VTIMEZONE is compared with IANA zones (the
        first use decides for the whole calendar)."""
        if tzid not in self._zones:
            self._zones[tzid] = self._resolve(tzid, year)
        return self._zones[tzid]

    def _resolve(self, tzid: str, year: int) -> _Zone:
        iana = _iana_name(tzid) or windows_to_iana(tzid)
        if iana is not None:
            return _zone_for(iana)
        component = self.vtimezones.get(tzid.strip())
        if component is None:
            iana = _known_zone(tzid)
            if iana is None:
                raise _Reject(f"unknown time zone {_show(tzid)}")
            return _zone_for(iana)
        shape = _zone_shape(component)
        if shape is not None:
            raise _Reject(f"time zone {_show(tzid)} in this file is refused: {shape}")
        try:
            custom = component.to_tz(lookup_tzid=False)
            hints = [str(v) for v in _all(component, "X-LIC-LOCATION")]
            match = _equivalent_iana(custom, [h for h in map(_known_zone, hints) if h], year)
        except Exception as exc:
            raise _Reject(f"time zone {_show(tzid)} in this file is invalid") from exc
        return _zone_for(match) if match else _Zone(custom, None, exact=False)


def _zone_shape(component: Timezone) -> str | None:
    """Why a VTIMEZONE could make dateutil run without end (the front door's rules), or None.

    The door refuses such a PUT; a file that came another way (a hand edit, a restore) is
    checked here before `to_tz` expands its rules.
    """
    observances = [c for c in component.subcomponents if c.name in ("STANDARD", "DAYLIGHT")]
    if len(observances) > DOOR.max_observances:
        return f"more than {DOOR.max_observances} observances"
    rules = 0
    for observance in observances:
        for rule in _all(observance, "RRULE"):
            rules += 1
            text = _ical_text(rule) if isinstance(rule, vRecur) else str(rule)
            reason = screen_vtimezone_rule(text)
            if reason is not None:
                return reason
    if rules > DOOR.max_zone_rules:
        return f"more than {DOOR.max_zone_rules} rules"
    return None
