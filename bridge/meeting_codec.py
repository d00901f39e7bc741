"""The `Meeting` as JSON, and back: how the state database keeps the last sent version.

Rule kept here: a lossless round trip for everything calbridge stores. Instants keep their zone
name (or, for another tzinfo, their offset), all-day dates stay dates, enums are stored by value
and tuples come back as tuples. A snapshot written by a newer calbridge still decodes: keys this
one does not know are ignored (so a Cancel can always find the attendees it must tell).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    Override,
    Sensitivity,
)

__all__ = ["decode_meeting", "encode_meeting"]


def encode_meeting(meeting: Meeting) -> str:
    """The `Meeting` as JSON: instants keep their zone name (or offset), dates stay dates."""
    data = {f.name: _encode_value(getattr(meeting, f.name)) for f in fields(Meeting)}
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_meeting(text: str) -> Meeting:
    """Inverse of `encode_meeting`; keys a newer calbridge wrote and this one lacks are ignored."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a meeting snapshot must be a JSON object")
    kwargs: dict[str, Any] = {}
    for f in fields(Meeting):
        if f.name not in data:
            continue
        raw = data[f.name]
        if f.name == "attendees":
            value: Any = tuple(_decode_attendee(a) for a in raw)
        elif f.name == "overrides":
            # Before calbridge sent overrides, a snapshot held their RECURRENCE-IDs as strings,
            # always none (such a series was never sent): only objects are overrides.
            value = tuple(_decode_override(o) for o in raw if isinstance(o, dict))
        elif f.name == "busy_status":
            value = BusyStatus(raw)
        elif f.name == "sensitivity":
            value = Sensitivity(raw)
        else:
            value = _decode_value(raw)
            if isinstance(value, list):
                value = tuple(value)
        kwargs[f.name] = value
    return Meeting(**kwargs)


def _encode_value(value: object) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat(), "$tz": _zone_name(value)}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Attendee | Override):
        return {f.name: _encode_value(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode_value(v) for k, v in value.items()}
    return value


def _zone_name(value: datetime) -> str | None:
    tz = value.tzinfo
    if isinstance(tz, ZoneInfo):
        return tz.key
    if tz is UTC:
        return "UTC"
    return None  # another tzinfo: the offset in the ISO text keeps the instant


def _decode_value(raw: Any) -> Any:
    if isinstance(raw, dict):
        if "$datetime" in raw:
            value = datetime.fromisoformat(raw["$datetime"])
            zone = raw.get("$tz")
            if zone == "UTC":
                return value.astimezone(UTC)
            if zone:
                try:
                    return value.astimezone(ZoneInfo(zone))
                except (ZoneInfoNotFoundError, ValueError):
                    return value
            return value
        if "$date" in raw:
            return date.fromisoformat(raw["$date"])
        return {k: _decode_value(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_decode_value(v) for v in raw]
    return raw


def _decode_attendee(raw: Mapping[str, Any]) -> Attendee:
    known = {f.name for f in fields(Attendee)}
    kwargs = {k: v for k, v in raw.items() if k in known}
    if "role" in kwargs:
        kwargs["role"] = AttendeeRole(kwargs["role"])
    if "kind" in kwargs:
        kwargs["kind"] = AttendeeKind(kwargs["kind"])
    return Attendee(**kwargs)


def _decode_override(raw: Mapping[str, Any]) -> Override:
    known = {f.name for f in fields(Override)}
    kwargs: dict[str, Any] = {}
    for key, item in raw.items():
        if key not in known:
            continue
        if key == "attendees":
            kwargs[key] = tuple(_decode_attendee(a) for a in item)
        else:
            kwargs[key] = _decode_value(item)
    return Override(**kwargs)
