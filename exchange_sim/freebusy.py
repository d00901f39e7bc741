"""Free/busy for ``GET /public/?cmd=freebusy``: expand, merge into digits, render.

Rule kept here: free/busy is a pure function of the busy periods and the requested window. Time
is cut into half-open slots ``[start + i*interval, start + (i+1)*interval)``; a slot takes the
highest status of any period that overlaps it (OOF 3 > BUSY 2 > TENTATIVE 1 > FREE 0; a period
ending exactly where a slot starts does not touch it). Nothing here reads the store, a clock or
the network, and nothing logs.

Sources: protocol reference §7.1 (query, ``WM`` XML, digits, HTML colours), §4.2 (precedence),
observed traffic step 4 (DavMail finds the literal ``<a:fbdata>``, so the ``a:`` prefix is fixed).

Limits, against hostile input: a window holds at most `MAX_SLOTS` slots; a recurrence yields at
most `MAX_OCCURRENCES` occurrences and is abandoned after `MAX_SCANNED` instances (so a
``FREQ=SECONDLY`` rule started years before the window stops early and reports nothing for it).
A rule that can never match (``FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31``) still costs dateutil a
walk to year 9999, a few seconds; that is the remaining worst case.
Recurrences are expanded in the appointment's zone when one is given (reference §4.5: the zone
drives recurrence expansion), so a weekly 09:00 Europe/Berlin meeting stays at 09:00 local across
a daylight-saving change; without a zone they are expanded in UTC.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from xml.sax.saxutils import escape as _xml_escape

from dateutil.rrule import rrule as _Rrule
from dateutil.rrule import rruleset, rrulestr

__all__ = [
    "ALL_ATTENDEES",
    "DEFAULT_INTERVAL",
    "MAX_OCCURRENCES",
    "MAX_SCANNED",
    "MAX_SLOTS",
    "NO_DATA",
    "STATUS_DIGITS",
    "FreeBusyEntry",
    "all_attendees",
    "fbdata",
    "occurrences",
    "parse_freebusy_query",
    "render_html",
    "render_xml",
]

MAX_OCCURRENCES = 5000
"""Most occurrences `occurrences` returns for one appointment."""

MAX_SCANNED = 200_000
"""Most recurrence instances examined (before the window too) for one appointment."""

MAX_SLOTS = 100_000
"""Most digits in one ``fbdata`` string."""

DEFAULT_INTERVAL = 30

STATUS_DIGITS: dict[str, str] = {"FREE": "0", "TENTATIVE": "1", "BUSY": "2", "OOF": "3"}
"""``urn:schemas:calendar:busystatus`` → fbdata digit (reference §7.1)."""

NO_DATA = "4"
"""The digit for "no free/busy information" (reference §7.1)."""

ALL_ATTENDEES = "All Attendees"

# HTML page colours (reference §7.1, from a client that scrapes them). The reference gives no
# colour for FREE; this light grey is our choice, distinct from "no information" white.
_HTML_COLOURS = {"0": "#E8E8E8", "1": "#99CCFF", "2": "#0000FF", "3": "#660066", "4": "#FFFFFF"}
_HTML_LABELS = {
    "0": "Free",
    "1": "Tentative",
    "2": "Busy",
    "3": "Out of Office",
    "4": "No Information",
}

# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --------------------------------------------------------------------------------------------
# Expansion


def _require_aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    return value.astimezone(UTC)


def _parse_rule(text: str, dtstart: datetime, zone: tzinfo = UTC) -> _Rrule:
    body = text.strip()
    if body[:6].upper() == "RRULE:":
        body = body[6:]
    if not body or any(c in body for c in ":\r\n"):
        raise ValueError(f"invalid rrule {text[:80]!r}: expected one FREQ=...;... value")
    try:
        rule = rrulestr(body, dtstart=dtstart, ignoretz=True)
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(f"invalid rrule {text[:80]!r}: {e}") from e
    if not isinstance(rule, _Rrule):  # pragma: no cover - rrulestr returns a set only for sets
        raise ValueError(f"invalid rrule {text[:80]!r}")
    until = _utc_until(body)
    if until is not None and zone is not UTC:
        # ignoretz read a UTC UNTIL as a wall clock; compare it in the zone's terms instead.
        rule = rule.replace(until=until.astimezone(zone).replace(tzinfo=None))
    return rule


def _utc_until(body: str) -> datetime | None:
    for part in body.split(";"):
        name, _, value = part.partition("=")
        value = value.strip().upper()
        if name.strip().upper() == "UNTIL" and value.endswith("Z") and "T" in value:
            try:
                return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            except ValueError as e:
                raise ValueError(f"invalid rrule UNTIL {value[:40]!r}") from e
    return None


def _wall_to_utc(naive: datetime, zone: tzinfo) -> datetime:
    """The UTC instant of a wall-clock time in `zone`, by RFC 5545 §3.3.5 whatever the tzinfo
    class (zoneinfo and dateutil's VTIMEZONE zones treat gaps and folds differently)."""
    offsets = {
        (naive + shift).replace(tzinfo=zone).utcoffset() or timedelta(0)
        for shift in (timedelta(hours=-6), timedelta(0), timedelta(hours=6))
    }
    candidates = sorted((naive - offset).replace(tzinfo=UTC) for offset in offsets)
    for candidate in candidates:  # earliest first: of a repeated time, the first
        if candidate.astimezone(zone).replace(tzinfo=None) == naive:
            return candidate
    # A gap: the offset in force before it (the one six hours earlier).
    before = (naive - timedelta(hours=6)).replace(tzinfo=zone).utcoffset() or timedelta(0)
    return (naive - before).replace(tzinfo=UTC)


def occurrences(
    start: datetime,
    end: datetime,
    rrule: list[str],
    exdates: list[datetime],
    rdates: list[datetime],
    window_start: datetime,
    window_end: datetime,
    zone: tzinfo | None = None,
) -> list[tuple[datetime, datetime]]:
    """Occurrences of an appointment that overlap ``[window_start, window_end)``, in UTC.

    ``start``/``end`` are the first occurrence; every occurrence lasts ``end - start``. The
    series is DTSTART itself, the ``rrule`` strings (``FREQ=WEEKLY;COUNT=5``, an ``RRULE:``
    prefix is accepted) and ``rdates``, less ``exdates`` (exact instants). The rules run on
    the wall clock of ``zone`` (UTC when None): each occurrence keeps DTSTART's local time and
    weekday there. A local time that does not exist (the spring gap) is read with the offset
    before the gap, one that occurs twice means the first time (RFC 5545 §3.3.5; the
    reference is silent on what Exchange does). A zero-length occurrence overlaps when it lies
    inside the window. Sorted by start.

    Raises:
        ValueError: naive datetimes, ``end < start``, or a malformed rule.
    """
    start = _require_aware("start", start)
    end = _require_aware("end", end)
    window_start = _require_aware("window_start", window_start)
    window_end = _require_aware("window_end", window_end)
    if end < start:
        raise ValueError("end is before start")
    duration = end - start

    def overlaps(occ_start: datetime) -> bool:
        occ_end = occ_start + duration
        if duration:
            return occ_start < window_end and occ_end > window_start
        return window_start <= occ_start < window_end

    if not rrule and not rdates:
        return [(start, end)] if overlaps(start) else []

    where = zone or UTC

    def local(value: datetime) -> datetime:
        return value.astimezone(where).replace(tzinfo=None)

    local_start = local(start)
    series = rruleset()
    series.rdate(local_start)  # RFC 5545: DTSTART is always the first instance
    for text in rrule:
        series.rrule(_parse_rule(text, local_start, where))
    for value in rdates:
        series.rdate(local(_require_aware("rdate", value)))
    excluded = {_require_aware("exdate", value) for value in exdates}

    # Wall-clock bounds with a margin wider than any UTC offset: instances outside them are
    # skipped or end the walk without the (costly) conversion to UTC.
    margin = timedelta(days=2)
    first_wall = local(window_start) - duration - margin
    last_wall = local(window_end) + margin
    to_utc = (lambda naive: naive.replace(tzinfo=UTC)) if where is UTC else (
        lambda naive: _wall_to_utc(naive, where))

    result: list[tuple[datetime, datetime]] = []
    for scanned, naive in enumerate(series):
        if scanned >= MAX_SCANNED or naive >= last_wall:
            break
        if naive < first_wall:
            continue
        occ_start = to_utc(naive)
        if occ_start in excluded:  # an EXDATE is an instant (the same UTC moment)
            continue
        if overlaps(occ_start):
            result.append((occ_start, occ_start + duration))
            if len(result) >= MAX_OCCURRENCES:
                break
    return result


# --------------------------------------------------------------------------------------------
# Digits


def _slot_count(start: datetime, end: datetime, interval_minutes: int) -> int:
    if isinstance(interval_minutes, bool) or not isinstance(interval_minutes, int):
        raise ValueError("interval must be a whole number of minutes")
    if interval_minutes < 1:
        raise ValueError(f"interval must be at least 1 minute, got {interval_minutes}")
    if end <= start:
        raise ValueError("end must be after start")
    try:
        step = timedelta(minutes=interval_minutes)
    except OverflowError as e:
        raise ValueError(f"interval of {interval_minutes} minutes is too large") from e
    count = -((start - end) // step)  # ceiling: a last partial slot still counts
    if count > MAX_SLOTS:
        raise ValueError(f"window holds {count} intervals; at most {MAX_SLOTS} are allowed")
    return count


def fbdata(
    busy: Iterable[tuple[datetime, datetime, str]],
    start: datetime,
    end: datetime,
    interval_minutes: int,
) -> str:
    """One digit per interval from ``start``: ``0`` free, ``1`` tentative, ``2`` busy, ``3`` OOF.

    ``busy`` holds ``(period_start, period_end, busystatus)`` with the status as stored in
    ``urn:schemas:calendar:busystatus`` (``FREE``/``TENTATIVE``/``BUSY``/``OOF``, any case).
    The last interval may reach past ``end`` when the window is not a whole number of intervals.

    Raises:
        ValueError: ``interval_minutes < 1``, ``end <= start``, more than `MAX_SLOTS`
            intervals, naive datetimes, or an unknown status.
    """
    start = _require_aware("start", start)
    end = _require_aware("end", end)
    count = _slot_count(start, end, interval_minutes)
    step = timedelta(minutes=interval_minutes)
    slots = bytearray(b"0" * count)
    for period_start, period_end, status in busy:
        digit = STATUS_DIGITS.get(status.upper()) if isinstance(status, str) else None
        if digit is None:
            raise ValueError(f"unknown busy status {status!r}")
        if digit == "0":
            continue
        p_start = _require_aware("busy period start", period_start)
        p_end = _require_aware("busy period end", period_end)
        if p_end <= p_start or p_end <= start:
            continue
        first = max(0, (p_start - start) // step)
        last = min(count, -((start - p_end) // step))  # exclusive, ceiling
        code = ord(digit)
        for index in range(first, last):
            if slots[index] < code:
                slots[index] = code
    return slots.decode("ascii")


# --------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class FreeBusyEntry:
    """One ``a:item`` of the answer: a recipient (or the aggregate) and its digits."""

    display_name: str
    email: str | None
    fbdata: str


def all_attendees(entries: Sequence[FreeBusyEntry]) -> FreeBusyEntry:
    """The "All Attendees" aggregate: the highest digit of every position.

    ``4`` (no information) loses against any known status and survives only where every entry
    says ``4``; how Exchange merges it is NOT FOUND in the reference, this is our reading.

    Raises:
        ValueError: no entries, or fbdata strings of different lengths.
    """
    if not entries:
        raise ValueError("all_attendees needs at least one entry")
    width = len(entries[0].fbdata)
    if any(len(entry.fbdata) != width for entry in entries):
        raise ValueError("fbdata strings differ in length")
    merged: list[str] = []
    for column in zip(*(entry.fbdata for entry in entries), strict=True):
        known = [digit for digit in column if digit != NO_DATA]
        merged.append(max(known) if known else NO_DATA)
    return FreeBusyEntry(display_name=ALL_ATTENDEES, email=None, fbdata="".join(merged))


def _with_aggregate(entries: Sequence[FreeBusyEntry]) -> list[FreeBusyEntry]:
    # The reference shows "All Attendees" first when several u= were asked for; whether
    # Exchange 2003 also sends it for a single u= is NOT FOUND. We add it for 2+ users only,
    # which matches the single-user answer DavMail was observed to accept (step 4).
    if len(entries) >= 2:
        return [all_attendees(entries), *entries]
    return list(entries)


def _xml_text(value: str) -> str:
    return _xml_escape(_XML_INVALID.sub("", value))


def render_xml(entries: Sequence[FreeBusyEntry]) -> bytes:
    """The IE answer: ``<a:response xmlns:a="WM">`` with one ``a:item`` per entry, UTF-8.

    With two or more entries the "All Attendees" aggregate (no ``a:email``) comes first.
    Names and addresses are XML-escaped; characters XML cannot carry are dropped.
    """
    parts = ['<?xml version="1.0"?><a:response xmlns:a="WM"><a:recipients>']
    for entry in _with_aggregate(entries):
        parts.append(f"<a:item><a:displayname>{_xml_text(entry.display_name)}</a:displayname>")
        if entry.email is not None:
            parts.append(f'<a:email type="SMTP">{_xml_text(entry.email)}</a:email>')
        parts.append(f"<a:type>1</a:type><a:fbdata>{_xml_text(entry.fbdata)}</a:fbdata></a:item>")
    parts.append("</a:recipients></a:response>")
    return "".join(parts).encode("utf-8")


def render_html(entries: Sequence[FreeBusyEntry], start: datetime, interval_minutes: int) -> bytes:
    """The non-IE answer: an HTML table, one row per entry, one coloured cell per interval.

    Cell colours: ``#99CCFF`` tentative, ``#0000FF`` busy, ``#660066`` OOF, ``#FFFFFF`` no
    information (reference §7.1), ``#E8E8E8`` free (our choice; the reference gives none).
    Column heads are the interval starts in UTC. Everything is HTML-escaped.

    Raises:
        ValueError: ``interval_minutes < 1``.
    """
    if interval_minutes < 1:
        raise ValueError(f"interval must be at least 1 minute, got {interval_minutes}")
    start = _require_aware("start", start)
    rows = _with_aggregate(entries)
    width = max((len(entry.fbdata) for entry in rows), default=0)
    step = timedelta(minutes=interval_minutes)
    out = [
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01//EN">\n'
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<title>Free/Busy</title></head><body>\n"
        '<table border="1" cellspacing="0">\n<tr><th></th>'
    ]
    for index in range(width):
        label = (start + index * step).strftime("%Y-%m-%d %H:%M")
        out.append(f"<th>{html.escape(label)}</th>")
    out.append("</tr>\n")
    for entry in rows:
        name = html.escape(entry.display_name)
        if entry.email is not None:
            name += f" &lt;{html.escape(entry.email)}&gt;"
        out.append(f"<tr><td>{name}</td>")
        for digit in entry.fbdata:
            colour = _HTML_COLOURS.get(digit, _HTML_COLOURS[NO_DATA])
            label = _HTML_LABELS.get(digit, _HTML_LABELS[NO_DATA])
            out.append(f'<td bgcolor="{colour}" title="{label}">&nbsp;</td>')
        out.append("</tr>\n")
    out.append("</table></body></html>\n")
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------------------------
# Query


def _parse_instant(name: str, value: str) -> datetime:
    text = value.strip()
    # An unencoded "+01:00" arrives as " 01:00" once the query is form-decoded.
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as e:
        raise ValueError(f"{name}={value[:40]!r} is not an ISO-8601 date-time") from e
    if parsed.tzinfo is None:
        raise ValueError(f"{name}={value[:40]!r} needs a zone: Z or a numeric offset")
    return parsed.astimezone(UTC)


def parse_freebusy_query(query: str) -> tuple[datetime, datetime, int, list[str]]:
    """Read ``start``, ``end``, ``interval`` and every ``u`` of a freebusy query string.

    Names are case-insensitive (``Start``); other parameters (``cmd``) are ignored. ``start`` and
    ``end`` need ``Z`` or an offset and come back in UTC. ``interval`` defaults to 30. Each ``u``
    loses a leading ``SMTP:`` (any case); bare addresses are accepted as they are.

    Raises:
        ValueError: a parameter missing, repeated (except ``u``), or invalid; no ``u``;
            ``end <= start``; or more than `MAX_SLOTS` intervals.
    """
    try:
        pairs = urllib.parse.parse_qsl(
            query.removeprefix("?"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=10_000,
        )
    except ValueError as e:
        raise ValueError(f"unreadable query string: {e}") from e
    single: dict[str, str] = {}
    users: list[str] = []
    for raw_name, value in pairs:
        name = raw_name.lower()
        if name == "u":
            address = value.strip()
            if address[:5].upper() == "SMTP:":
                address = address[5:].strip()
            if not address:
                raise ValueError("empty u= parameter")
            users.append(address)
        elif name in ("start", "end", "interval"):
            if name in single:
                raise ValueError(f"{name} is given more than once")
            single[name] = value
    for name in ("start", "end"):
        if name not in single:
            raise ValueError(f"missing {name} parameter")
    start = _parse_instant("start", single["start"])
    end = _parse_instant("end", single["end"])
    interval = DEFAULT_INTERVAL
    if "interval" in single:
        text = single["interval"].strip()
        if not text.isascii() or not text.isdigit():
            raise ValueError(f"interval={single['interval'][:20]!r} is not a whole number")
        interval = int(text)
    if not users:
        raise ValueError("missing u parameter (at least one recipient)")
    _slot_count(start, end, interval)
    return start, end, interval, users
