"""The normalized meeting: what calbridge knows about one calendar event.

Rule kept here: a `Meeting` is a frozen, validated value with no I/O. Both sides of the bridge
(iCalendar in `bridge.ical`, Exchange properties in `exchange/props.py`) convert to and from it,
and the planner compares meetings only through `content_hash()`, which covers the fields an
attendee would notice and nothing else (DTSTAMP, LAST-MODIFIED, PRODID and property order never
count).
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "Attendee",
    "AttendeeKind",
    "AttendeeRole",
    "BusyStatus",
    "Meeting",
    "MeetingError",
    "Override",
    "Sensitivity",
    "normalize_address",
    "parse_address",
]


class MeetingError(ValueError):
    """An event that cannot be a valid `Meeting` (the message says which field and why)."""


class AttendeeRole(enum.StrEnum):
    REQUIRED = "REQ-PARTICIPANT"
    OPTIONAL = "OPT-PARTICIPANT"
    NON_PARTICIPANT = "NON-PARTICIPANT"
    CHAIR = "CHAIR"


class AttendeeKind(enum.StrEnum):
    PERSON = "INDIVIDUAL"
    ROOM = "ROOM"
    RESOURCE = "RESOURCE"
    GROUP = "GROUP"


class BusyStatus(enum.StrEnum):
    """Exchange's `urn:schemas:calendar:busystatus` strings (reference §4.2)."""

    FREE = "FREE"
    TENTATIVE = "TENTATIVE"
    BUSY = "BUSY"
    OOF = "OOF"


class Sensitivity(enum.StrEnum):
    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"
    CONFIDENTIAL = "CONFIDENTIAL"


# RFC 5322 3.2.3 atext, plus letters and digits beyond ASCII (RFC 6531 addresses); no quoted
# local parts and no domain literals: Exchange 2003 recipients never need them, and each is a way
# to smuggle a second address ("a@b"@evil.example) past a reader that splits differently.
_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~")
_LOCAL_MAX, _DOMAIN_MAX, _LABEL_MAX = 64, 253, 63  # RFC 5321 4.5.3.1


def _atom_char(char: str) -> bool:
    return char in _ATEXT or (ord(char) > 0x7F and char.isalnum())


def _label_ok(label: str) -> bool:
    return (
        0 < len(label) <= _LABEL_MAX
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c == "-" or c.isalnum() for c in label)
    )


def normalize_address(address: str) -> str:
    """Lower-case an e-mail address and strip a `mailto:` prefix; reject what is not an address.

    Lenient on purpose: it also reads meetings stored by older versions (state snapshots) and
    addresses Exchange reports. Input from a calendar goes through the strict `parse_address`.
    """
    value = address.strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    value = value.strip().lower()
    if (not value or "@" not in value or any(c in value for c in '\r\n\t ,;<>"')
            or not value.isprintable()):  # U+0085, U+2028 ...: no mail envelope takes them
        raise MeetingError(f"not an e-mail address: {address[:80]!r}")
    return value


def parse_address(address: str) -> str:
    """One e-mail address (RFC 5322 dot-atom addr-spec), lower-cased, without ``mailto:``.

    Exactly one address or an error: ``bob@x:carol@x``, ``x:carol@x``, ``carol@x@evil.example``,
    a blank, a control or a line/paragraph separator inside, quoted local parts and domain
    literals are refused, so a value can never reach Exchange as several recipients.
    """
    value = normalize_address(address)
    local, _, domain = value.rpartition("@")
    if (
        not local
        or len(local) > _LOCAL_MAX
        or len(domain) > _DOMAIN_MAX
        or any(not part or not all(map(_atom_char, part)) for part in local.split("."))
        or not all(_label_ok(label) for label in domain.split("."))
    ):
        raise MeetingError(f"not an e-mail address: {address[:80]!r}")
    return value


@dataclass(frozen=True)
class Attendee:
    email: str
    name: str = ""
    role: AttendeeRole = AttendeeRole.REQUIRED
    kind: AttendeeKind = AttendeeKind.PERSON
    partstat: str = "NEEDS-ACTION"

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", normalize_address(self.email))
        if any(c in self.name for c in "\r\n"):
            object.__setattr__(self, "name", " ".join(self.name.split()))

    @property
    def is_resource(self) -> bool:
        """Rooms and equipment: Exchange wants them as resources (Bcc), not as people."""
        return self.kind in (AttendeeKind.ROOM, AttendeeKind.RESOURCE) or (
            self.role is AttendeeRole.NON_PARTICIPANT
        )


@dataclass(frozen=True)
class Override:
    """One changed or cancelled occurrence of a series: a RECURRENCE-ID VEVENT.

    `recurrence_id` is the occurrence's original start (same kind as the series' DTSTART); the
    other fields are the occurrence's own. ``status`` CANCELLED means it does not take place.
    """

    recurrence_id: datetime | date
    start: datetime | date
    end: datetime | date
    summary: str = ""
    location: str = ""
    description: str = ""
    attendees: tuple[Attendee, ...] = ()
    status: str = "CONFIRMED"
    sequence: int = 0

    def __post_init__(self) -> None:
        for name in ("recurrence_id", "start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime) and value.tzinfo is None:
                raise MeetingError(f"an override's {name} must be aware (got {value!r})")
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise MeetingError("an override's start and end must be of one kind")
        if _stamp(self.end) < _stamp(self.start):
            raise MeetingError("an override ends before it starts")

    @property
    def cancelled(self) -> bool:
        return self.status.strip().upper() == "CANCELLED"

    @property
    def key(self) -> str:
        """The occurrence it replaces, as comparable text (an instant in UTC, or a date)."""
        return _stamp(self.recurrence_id)

    def meaningful_fields(self, organizer: str | None) -> dict[str, object]:
        return {
            "recurrence_id": self.key,
            "start": _stamp(self.start),
            "end": _stamp(self.end),
            "summary": self.summary,
            "location": self.location,
            "description": self.description,
            "attendees": sorted(
                [a.email, a.role.value, a.kind.value]
                for a in self.attendees
                if a.email != organizer
            ),
            "status": self.status,
        }


@dataclass(frozen=True)
class Meeting:
    """One event. `start`/`end` are aware datetimes, or dates when `all_day` is true.

    `tzid` is the IANA zone the event was written in (None = UTC or unknown); times are always
    aware, so the zone matters only for display and recurrence expansion.
    """

    uid: str
    start: datetime | date
    end: datetime | date
    summary: str = ""
    location: str = ""
    description: str = ""
    sequence: int = 0
    organizer: str | None = None
    organizer_name: str = ""
    attendees: tuple[Attendee, ...] = ()
    all_day: bool = False
    tzid: str | None = None
    rrule: tuple[str, ...] = ()
    rdates: tuple[datetime | date, ...] = ()
    exdates: tuple[datetime | date, ...] = ()
    # changed and cancelled occurrences of a series (RECURRENCE-ID), sorted by recurrence id
    overrides: tuple[Override, ...] = ()
    busy_status: BusyStatus = BusyStatus.BUSY
    sensitivity: Sensitivity = Sensitivity.PUBLIC
    categories: tuple[str, ...] = ()
    reminder_minutes: int | None = None
    status: str = "CONFIRMED"
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.uid or any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in self.uid):
            raise MeetingError("UID is missing or contains control characters")
        for name in ("summary", "location", "description"):
            # A leading byte-order mark is an encoding artefact, not text (icalendar drops it
            # when writing, so keeping it would make a meeting differ from its own iCalendar).
            value = getattr(self, name)
            if value.startswith("\ufeff"):
                object.__setattr__(self, name, value.lstrip("\ufeff"))
        if self.all_day:
            if isinstance(self.start, datetime) or isinstance(self.end, datetime):
                raise MeetingError("an all-day event needs DATE values for start and end")
            if self.end == self.start:  # RFC 5545: a one-day event (bridge.ical reads it so too)
                object.__setattr__(self, "end", self.start + timedelta(days=1))
        else:
            for name in ("start", "end"):
                value = getattr(self, name)
                if not isinstance(value, datetime) or value.tzinfo is None:
                    raise MeetingError(f"{name} must be an aware datetime (got {value!r})")
        if _stamp(self.end) < _stamp(self.start):  # instants, so DST `fold` counts
            raise MeetingError("the event ends before it starts")
        if self.organizer is not None:
            object.__setattr__(self, "organizer", normalize_address(self.organizer))
        if self.sequence < 0:
            raise MeetingError("SEQUENCE must not be negative")
        if self.overrides:
            if not self.is_recurring:
                raise MeetingError("modified occurrences (RECURRENCE-ID) of an event that does "
                                   "not recur")
            keys = [o.key for o in self.overrides]
            if len(set(keys)) != len(keys):
                twice = sorted({k for k in keys if keys.count(k) > 1})[0]
                raise MeetingError(f"two modified occurrences (RECURRENCE-ID) for {twice}")
            object.__setattr__(self, "overrides", tuple(sorted(self.overrides,
                                                               key=lambda o: o.key)))

    # -- views -------------------------------------------------------------------------------

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule or self.rdates)

    def invitees(self) -> tuple[Attendee, ...]:
        """Everyone who gets a message: all attendees but the organizer himself."""
        return tuple(a for a in self.attendees if a.email != self.organizer)

    @property
    def has_invitees(self) -> bool:
        return bool(self.invitees())

    def required(self) -> tuple[Attendee, ...]:
        return tuple(
            a
            for a in self.invitees()
            if not a.is_resource and a.role in (AttendeeRole.REQUIRED, AttendeeRole.CHAIR)
        )

    def optional(self) -> tuple[Attendee, ...]:
        return tuple(
            a for a in self.invitees() if not a.is_resource and a.role is AttendeeRole.OPTIONAL
        )

    def resources(self) -> tuple[Attendee, ...]:
        return tuple(a for a in self.invitees() if a.is_resource)

    def start_utc(self, zone: object | None = None) -> datetime:
        """Start as an aware UTC datetime; an all-day date starts at local midnight in `zone`."""
        return _to_utc(self.start, zone)

    def end_utc(self, zone: object | None = None) -> datetime:
        return _to_utc(self.end, zone)

    # -- identity of content -----------------------------------------------------------------

    def meaningful_fields(self) -> dict[str, object]:
        """The fields whose change an attendee must be told about (input of `content_hash`)."""
        return {
            "start": _stamp(self.start),
            "end": _stamp(self.end),
            "all_day": self.all_day,
            "summary": self.summary,
            "location": self.location,
            "description": self.description,
            "organizer": self.organizer,
            "attendees": sorted(
                [a.email, a.role.value, a.kind.value] for a in self.invitees()
            ),
            "rrule": sorted(self.rrule),
            "rdates": sorted(_stamp(d) for d in self.rdates),
            "exdates": sorted(_stamp(d) for d in self.exdates),
            "overrides": [o.meaningful_fields(self.organizer) for o in self.overrides],
            "busy_status": self.busy_status.value,
            "sensitivity": self.sensitivity.value,
            "categories": sorted(self.categories),
            "reminder_minutes": self.reminder_minutes,
            "status": self.status,
            # The zone shapes every later occurrence of a series (09:00 Berlin is not 08:00 UTC
            # after a daylight-saving change); for a single event the instants say it all.
            "tzid": self.tzid if self.is_recurring else None,
        }

    def content_hash(self) -> str:
        payload = json.dumps(self.meaningful_fields(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _stamp(value: datetime | date) -> str:
    """A comparable text form: instants in UTC, dates as dates (so zone spelling never counts)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def _to_utc(value: datetime | date, zone: object | None) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    midnight = datetime(value.year, value.month, value.day)
    if zone is None:
        return midnight.replace(tzinfo=UTC)
    return midnight.replace(tzinfo=zone).astimezone(UTC)  # type: ignore[arg-type]  # callers pass a tzinfo

