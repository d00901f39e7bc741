"""Reading a whole text: iCalendar bytes or text → one `ParsedEvent` per UID.

Rule kept here: parsing never raises on bad input (only a `default_tz` that is not a time zone is
the caller's error). Floating times are in `default_tz`. icalendar rejects a whole text for one bad
value outside a VEVENT's own properties (a VALARM's TRIGGER, a VTIMEZONE); such a text is read
again one VEVENT at a time (`_recover`). A calendar object that holds only a task or a journal
(VTODO/VJOURNAL) is skipped. Pure: text in, values out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

from icalendar import Calendar, Component, Timezone
from icalendar.parser import Contentlines

from bridge.ical.common import _clean, _decode, _show
from bridge.ical.events import ParsedEvent, _Group, _outcome
from bridge.ical.properties import _uid
from bridge.ical.zones import _known_zone, _Source, _Zone, _zone_for


def _floating_zone(default_tz: str) -> _Zone:
    iana = _known_zone(default_tz)
    if iana is None:
        raise ValueError(f"default_tz {default_tz!r} is not a known time zone")
    return _zone_for(iana)


def _add_timezones(source: _Source, component: Component) -> None:
    for tz in component.walk("VTIMEZONE"):
        if isinstance(tz, Timezone) and "TZID" in tz:
            source.vtimezones.setdefault(str(tz["TZID"]).strip(), tz)


def _components(
    parsed: Sequence[Component], floating: _Zone
) -> Iterator[tuple[Component, _Source]]:
    for top in parsed:
        if top.name == "VEVENT":  # a bare VEVENT without VCALENDAR: tolerated
            yield top, _Source(None, floating)
            continue
        if top.name != "VCALENDAR":
            continue
        source = _Source(top if isinstance(top, Calendar) else None, floating)
        _add_timezones(source, top)
        for event in top.subcomponents:
            if event.name == "VEVENT":
                yield event, source


def _line_parts(line: str) -> tuple[str, str]:
    """(NAME, value) of a content line as icalendar's tokenizer reads it; ("", "") if it cannot."""
    try:
        name, _params, value = line.parts()  # type: ignore[attr-defined]  # Contentline.parts is missing from icalendar's types
    except (ValueError, AttributeError):
        return "", ""
    return str(name).upper(), str(value)


def _recover(content: str, floating: _Zone) -> list[_Group] | None:
    """Read a text that icalendar rejects as a whole one top-level component at a time.

    icalendar gives up on the whole text for a bad value outside a VEVENT's own properties (a
    VALARM's TRIGGER, a VTIMEZONE). Its own tokenizer cuts the text into content lines; each
    VEVENT is then parsed alone, in a VCALENDAR with the header and every VTIMEZONE that parses,
    so the bad one gets an error and the others are read normally. Returns None when the text has
    no complete BEGIN:VCALENDAR … END:VCALENDAR structure.
    """
    header: list[str] = []
    blocks: list[list[str]] = []
    depth = calendars = 0
    for line in Contentlines.from_ical(content):  # type: ignore[no-untyped-call]  # unannotated in icalendar
        if not line:
            continue
        name = _line_parts(line)[0]
        if name == "BEGIN":
            depth += 1
            if depth == 2:
                blocks.append([])
        if depth >= 2:
            blocks[-1].append(line)
        elif depth == 1 and name not in ("BEGIN", "END") and not calendars:
            header.append(line)
        if name == "END":
            depth -= 1
            if depth < 0:
                return None
            calendars += depth == 0
    if depth != 0 or not calendars:
        return None

    def wrap(lines: list[str]) -> str:
        return "\r\n".join(["BEGIN:VCALENDAR", *header, *lines, "END:VCALENDAR", ""])

    try:
        calendar: Calendar | None = Calendar.from_ical(wrap([]))
    except Exception:
        header, calendar = [], None
    source = _Source(calendar, floating)
    events: list[tuple[list[str], str]] = []
    for block in blocks:
        kind = _line_parts(block[0])[1].upper()
        if kind == "VEVENT":
            events.append((block, wrap(block)))
        elif kind == "VTIMEZONE":
            with contextlib.suppress(Exception):  # a bad VTIMEZONE: its events say "unknown"
                _add_timezones(source, Calendar.from_ical(wrap(block)))
    groups: list[_Group] = []
    for block, text in events:
        try:
            parsed = Calendar.from_ical(text)
        except Exception as exc:
            uid = next((v.strip() for n, v in map(_line_parts, block) if n == "UID"), "") or None
            error = f"cannot parse this event: {_show(exc, 120)}"
            groups.append(_Group(uid, source, unreadable=(error, text)))
            continue
        groups.extend(_Group(_uid(e), source, [e]) for e in parsed.walk("VEVENT"))
    return groups


def _group(items: Iterable[_Group]) -> list[_Group]:
    """Merge the entries of each UID in order of appearance; entries without UID stay apart."""
    merged: list[_Group] = []
    by_uid: dict[str, _Group] = {}
    for item in items:
        if item.uid is None:
            merged.append(item)
        elif item.uid in by_uid:
            group = by_uid[item.uid]
            group.events.extend(item.events)
            group.unreadable = group.unreadable or item.unreadable
            for tzid, component in item.source.vtimezones.items():  # same UID, other VCALENDAR
                group.source.vtimezones.setdefault(tzid, component)
        else:
            by_uid[item.uid] = item
            merged.append(item)
    return merged


def parse_calendar(text: str | bytes, *, default_tz: str = "UTC") -> list[ParsedEvent]:
    """Every event of an iCalendar text, one `ParsedEvent` per UID, in order of appearance.

    ``default_tz`` is the zone of floating times (the mailbox's zone): an IANA or Windows name.
    Bad input never raises: a text that is not iCalendar gives one ParsedEvent with uid None and
    an error; VEVENTs without UID each give one. A VCALENDAR without VEVENTs gives [].

    Raises:
        ValueError: ``default_tz`` is not a known zone (a configuration error, not bad input).
    """
    floating = _floating_zone(default_tz)
    content = _decode(text)

    def whole(reason: str) -> list[ParsedEvent]:
        return [ParsedEvent(None, None, f"not an iCalendar file: {reason}", None, content)]

    if not content.strip():
        return whole("it is empty")
    try:
        parsed = Calendar.from_ical(content, multiple=True)
    except Exception as exc:
        try:
            recovered = _recover(content, floating)
        except Exception:
            recovered = None
        if recovered is None:
            return whole(_show(exc, 120))
        groups = recovered
    else:
        if not any(top.name in ("VCALENDAR", "VEVENT") for top in parsed):
            return whole("no complete BEGIN:VCALENDAR … END:VCALENDAR")
        groups = [_Group(_uid(e), source, [e]) for e, source in _components(parsed, floating)]
    return [_outcome(group) for group in _group(groups)]


def parse_event(text: str | bytes, *, default_tz: str = "UTC") -> ParsedEvent:
    """The one event of a calendar object resource (a Radicale item): one UID expected."""
    results = parse_calendar(text, default_tz=default_tz)
    if len(results) == 1:
        return results[0]
    content = _decode(text)
    if not results:
        task_uid = _task_uid(content)
        if task_uid is not None:
            return ParsedEvent(task_uid, None, None, "tasks/journals are not synced to Exchange",
                               content)
        return ParsedEvent(None, None, "no VEVENT in this calendar object", None, content)
    uids = ", ".join(_show(r.uid, 40) for r in results[:3]) + (", …" if len(results) > 3 else "")
    reason = f"expected one event, found {len(results)} (UIDs {uids})"
    return ParsedEvent(None, None, reason, None, content)


def _task_uid(content: str) -> str | None:
    """The UID of the first VTODO/VJOURNAL of a text without VEVENTs, or None."""
    try:
        parsed = Calendar.from_ical(content, multiple=True)
    except Exception:  # not iCalendar: the caller's "no VEVENT" says enough
        return None
    for top in parsed:
        for component in top.walk():
            if component.name in ("VTODO", "VJOURNAL"):
                uid = _uid(component)
                if uid is not None and uid == _clean(uid) and "\n" not in uid:
                    return uid
    return None
