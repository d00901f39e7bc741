"""The front door's check of an iCalendar body: refuse what would make a parser run away.

Rule kept here: Radicale parses every PUT with vobject, and vobject (through dateutil) expands a
VTIMEZONE's rules and builds every component in memory before anything of calbridge sees the
item; a 500-byte VTIMEZONE with ``FREQ=MINUTELY`` from 1601 grows a process by gigabytes without
end. So the body is checked first, here, by a scan of its unfolded content lines that costs one
pass over the text and a few counters — no parser, no date arithmetic, nothing that grows with
what the text asks for. A body passes, or gets one `Refusal` with an HTTP status and a short
reason for the user.

What is refused (`Limits`, every number explained where it is defined):

- more components, attendees per component, RDATE/EXDATE values or RRULEs per component, or a
  deeper nesting than any real calendar object has;
- in a VTIMEZONE, an observance rule that is not the yearly shape every real zone uses;
- elsewhere, a recurrence rule whose COUNT is over the cap, or that repeats more than once a day
  (FREQ=SECONDLY/MINUTELY/HOURLY, or several BYHOUR/BYMINUTE/BYSECOND values) without a COUNT;
- BEGIN/END lines that do not pair up.

Everything else (property syntax, dates, UIDs) is left to Radicale and to `bridge.ical`, which are
safe once these bounds hold. Pure: text in, verdict out; no I/O, no logging.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["DOOR", "Limits", "Refusal", "decode_body", "screen", "screen_vtimezone_rule"]


@dataclass(frozen=True)
class Limits:
    """Bounds on one calendar object (one PUT body, or one event of an import)."""

    # 4 MiB: Radicale holds a body being parsed at many times its size (a 4 MiB PUT raises
    # calbridge's peak RSS from 66 to 130 MiB, bench/front_door.py); an event with a few
    # attached documents still fits (the simulator's MIME cap for an Exchange item is 4 MiB as
    # well). Bigger calendars go through `calbridge import`, which checks each event alone.
    max_bytes: int = 4 * 1024 * 1024
    # 2,000 BEGIN lines: a long series with a few hundred modified occurrences, each with an
    # alarm, plus full-history VTIMEZONEs, stays far below; a collection-wide PUT of a big
    # calendar does not (use `calbridge import`).
    max_components: int = 2000
    # VCALENDAR > VEVENT > VALARM (or > VTIMEZONE > STANDARD) is depth 3; 8 leaves room for
    # vendor extensions while keeping vobject's recursion shallow.
    max_depth: int = 8
    # 2,000 ATTENDEE lines per component: a parser-safety bound, well above the 500 the bridge
    # sends to Exchange (`fit.MAX_INVITEES`), so a big meeting is still stored in the calendar
    # and held with a reason rather than refused.
    max_attendees: int = 2000
    # 5,000 RDATE (and, separately, EXDATE) values per component: ten years of a daily series'
    # exceptions; the simulator holds an event to the same number.
    max_date_values: int = 5000
    # RFC 5545 says RRULE SHOULD NOT occur more than once; a few are tolerated.
    max_rules: int = 4
    # 10,000: Radicale's own default `max_vevent_rrule_occurrence` (it rejects a larger COUNT
    # itself, but only after vobject has parsed the whole body).
    max_count: int = 10_000
    # STANDARD/DAYLIGHT sub-components of one VTIMEZONE: full-history zones (tzurl.org "full")
    # list a few hundred, nearly all with RDATEs only, which are cheap.
    max_observances: int = 500
    # Observances with an RRULE in one VTIMEZONE: dateutil expands each yearly rule from its own
    # DTSTART on every lookup (20 from 1601 cost Radicale ~0.4 s per PUT, 100 cost 1.6 s,
    # bench/front_door.py); Outlook writes 2, a full-history US zone about 10.
    max_zone_rules: int = 20


DOOR = Limits()


@dataclass(frozen=True)
class Refusal:
    """Why a body is refused: an HTTP status (400, 413 or 415) and a one-line reason."""

    status: int
    reason: str


# What a real zone's observance RRULE may hold (every zone in tzdata, Outlook and Exchange
# VTIMEZONEs: yearly, one month, one weekday, or a week of month days with BYDAY=SU).
_TZ_RULE_PARTS = frozenset(
    {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYMONTH", "BYDAY", "BYMONTHDAY", "BYSETPOS", "WKST"}
)
_SUB_DAILY = frozenset({"SECONDLY", "MINUTELY", "HOURLY"})
_OBSERVANCES = frozenset({"STANDARD", "DAYLIGHT"})
# A property name, after an optional group prefix ("item1.RRULE", which vobject accepts).
_NAME = re.compile(r"(?:[A-Za-z0-9-]+\.)*([A-Za-z0-9-]+)")


def decode_body(body: bytes, content_type: str) -> str | Refusal:
    """The text Radicale will parse: the declared charset (else UTF-8, else Latin-1, as Radicale
    falls back), or a 415 for a charset Python does not know."""
    match = re.search(r";\s*charset\s*=\s*\"?([^\";\s]+)", content_type, re.IGNORECASE)
    if match:
        try:
            return body.decode(match.group(1))
        except LookupError:
            return Refusal(415, f"unsupported charset {match.group(1)[:40]!r}")
        except UnicodeDecodeError:
            pass  # Radicale then tries UTF-8 and Latin-1, so the scan does too
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _unfolded(text: str) -> Iterator[str]:
    """Logical content lines (RFC 5545 3.1: a line starting with a space or tab continues)."""
    current: list[str] = []
    for line in re.split(r"\r\n|\n|\r", text):
        if line[:1] in (" ", "\t") and current:
            current.append(line[1:])
            continue
        if current:
            yield "".join(current)
        current = [line]
    if current:
        yield "".join(current)


def _split(line: str) -> tuple[str, str]:
    """(NAME upper-cased, value) of a content line; the value starts after the first colon that
    is not inside a quoted parameter value."""
    match = _NAME.match(line)
    if match is None:
        return "", ""
    name = match.group(1).upper()
    quoted = False
    for index in range(match.end(), len(line)):
        char = line[index]
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return name, line[index + 1 :]
    return name, ""


def _rule_parts(value: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in value.split(";"):
        key, _, item = part.partition("=")
        parts[key.strip().upper()] = item.strip().upper()
    return parts


def screen_vtimezone_rule(value: str) -> str | None:
    """Why an observance RRULE of a VTIMEZONE is refused, or None when it has a real zone's shape.

    dateutil evaluates an observance's RRULE from its DTSTART on every lookup, so only what real
    zones use passes: FREQ=YEARLY, at most one BYMONTH and one BYDAY value, at most seven
    BYMONTHDAY values ("8,9,...,14" with BYDAY=SU is a real "second Sunday"), and no
    BYHOUR/BYMINUTE/BYSECOND/BYYEARDAY/BYWEEKNO.
    """
    parts = _rule_parts(value)
    freq = parts.get("FREQ", "")
    if freq != "YEARLY":
        return f"a time zone rule must be yearly (FREQ={freq[:20] or 'missing'})"
    extra = sorted(set(parts) - _TZ_RULE_PARTS)
    if extra:
        return f"a time zone rule cannot use {', '.join(p[:20] for p in extra[:3])}"
    for key, most in (("BYMONTH", 1), ("BYDAY", 1), ("BYMONTHDAY", 7)):
        if key in parts and len(parts[key].split(",")) > most:
            return f"a time zone rule has too many {key} values"
    return None


def _event_rule(value: str, limits: Limits) -> str | None:
    parts = _rule_parts(value)
    count = parts.get("COUNT")
    if count is not None:
        if not count.isdigit() or len(count) > 9 or int(count) > limits.max_count:
            return f"recurrence COUNT={count[:12]} is over the limit of {limits.max_count}"
        return None
    freq = parts.get("FREQ", "")
    several = any(len(parts.get(k, "").split(",")) > 1 for k in ("BYHOUR", "BYMINUTE", "BYSECOND"))
    if freq in _SUB_DAILY or several:
        return (
            "a rule repeating more than once a day needs a COUNT "
            f"(at most {limits.max_count})"
        )
    return None


def _rule_reason(component: str, value: str, limits: Limits) -> str | None:
    # STANDARD/DAYLIGHT anywhere are read as zone observances; every other component's rule as
    # an event's (vobject expands the rules of unknown components as well).
    if component in _OBSERVANCES:
        return screen_vtimezone_rule(value)
    return _event_rule(value, limits)


@dataclass
class _Component:
    name: str
    attendees: int = 0
    rdates: int = 0
    exdates: int = 0
    rules: int = 0
    observances: int = 0
    zone_rules: int = 0


def screen(text: str, limits: Limits = DOOR) -> Refusal | None:
    """Check an iCalendar (or any vobject) text against `limits`; None when it may be parsed."""
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        return Refusal(413, f"the calendar object is larger than {limits.max_bytes} bytes")
    stack: list[_Component] = []
    components = 0
    for line in _unfolded(text):
        name, value = _split(line)
        if not name:
            continue
        top = stack[-1] if stack else None
        if name == "BEGIN":
            kind = value.strip().upper()
            components += 1
            if components > limits.max_components:
                return Refusal(400, f"more than {limits.max_components} components")
            if len(stack) >= limits.max_depth:
                return Refusal(400, f"components nested deeper than {limits.max_depth}")
            if top is not None and kind in _OBSERVANCES and top.name == "VTIMEZONE":
                top.observances += 1
                if top.observances > limits.max_observances:
                    return Refusal(
                        400, f"a VTIMEZONE with more than {limits.max_observances} observances"
                    )
            stack.append(_Component(kind))
        elif name == "END":
            if not stack or stack[-1].name != value.strip().upper():
                return Refusal(400, f"END:{value.strip()[:30]} does not close an open component")
            stack.pop()
        elif top is None:
            continue
        elif name == "ATTENDEE":
            top.attendees += 1
            if top.attendees > limits.max_attendees:
                return Refusal(400, f"more than {limits.max_attendees} attendees in one component")
        elif name in ("RDATE", "EXDATE"):
            values = value.count(",") + 1
            if name == "RDATE":
                top.rdates += values
                over = top.rdates > limits.max_date_values
            else:
                top.exdates += values
                over = top.exdates > limits.max_date_values
            if over:
                return Refusal(400, f"more than {limits.max_date_values} {name} values")
        elif name in ("RRULE", "EXRULE"):
            top.rules += 1
            if top.rules > limits.max_rules:
                return Refusal(400, f"more than {limits.max_rules} recurrence rules")
            if top.name in _OBSERVANCES and len(stack) > 1:
                stack[-2].zone_rules += 1
                if stack[-2].zone_rules > limits.max_zone_rules:
                    return Refusal(400, f"a VTIMEZONE with more than {limits.max_zone_rules} rules")
            # A parser that ignores quotes would take the value after the first colon: both
            # readings must pass.
            for candidate in dict.fromkeys((value, line.partition(":")[2])):
                reason = _rule_reason(top.name, candidate, limits)
                if reason is not None:
                    return Refusal(400, reason)
    if stack:
        return Refusal(400, f"BEGIN:{stack[-1].name[:30]} is never closed")
    return None
