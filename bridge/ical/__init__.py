"""iCalendar text ⇄ `Meeting`, through the icalendar library.

Rule kept here: parsing never raises on bad input and one bad event never touches another. Every
UID in a text yields exactly one `ParsedEvent`, which holds one of three outcomes:

- `meeting`: the event as a validated `Meeting`;
- `error`: a short reason when the event is broken or asks for something Exchange 2003 cannot
  hold (unknown time zone, attendee without an e-mail address, hourly recurrence, ...);
- `skipped`: a reason when the event is valid but cannot be expressed (modified occurrences,
  RECURRENCE-ID, without their series), so that it is never half-synced; a calendar object that
  holds only a task or a journal (VTODO/VJOURNAL) is skipped too: they are not synced.

A series and its RECURRENCE-ID overrides are one `Meeting` (`Meeting.overrides`); an override
must name an occurrence of the series (`occurrences.occurs`, bounded), one override per
occurrence, and RANGE=THISANDFUTURE is refused with a reason (Exchange 2003 has no such
exception; clients split the series instead).

A meeting that reads well is then fitted to what Exchange 2003 can hold (`fit.fit`): long text
trimmed with a note, dates outside 1601–4500, oversized reminders and too many attendees refused
with a reason. A VTIMEZONE whose rules no real zone has is refused before its rules are expanded
(the front door's check, `screen.screen_vtimezone_rule`).

Time zones are resolved per calendar, never through icalendar's process-wide cache of VTIMEZONE
definitions (there, the first file that defines "Customized Time Zone" would decide the offsets of
every later file that uses the same name). A TZID is looked up as an IANA name, then as a Windows
or Exchange 2003 display name (`windows_to_iana`), then as a VTIMEZONE of the same calendar (which
is matched to the IANA zone with the same offsets, so that `Meeting.tzid` is always an IANA name or
None). Floating times are in `default_tz`. Text is kept as written except that control characters
other than TAB and LF are removed (CR and CRLF become LF).

icalendar rejects a whole text for one bad value outside a VEVENT's own properties (a VALARM's
TRIGGER, a VTIMEZONE); such a text is read again one VEVENT at a time (`_recover`).

Pure: text in, values out. No I/O, no logging; the only module state is caches of pure lookups.

Layout, one concern per module: `common` (PRODID, `_Reject`, text helpers), `zones` (a TZID → a
zone, per calendar), `properties` (reading one VEVENT's properties), `events` (one UID → one
`ParsedEvent`), `reader` (a whole text: `parse_calendar`, `parse_event`, `_recover`) and `writer`
(`to_ical`). This package re-exports the public names; callers import from `bridge.ical`.
"""

from __future__ import annotations

from bridge.ical.common import PRODID
from bridge.ical.events import ParsedEvent
from bridge.ical.properties import MAX_COUNT as MAX_COUNT
from bridge.ical.reader import parse_calendar, parse_event
from bridge.ical.writer import to_ical
from bridge.timezones import windows_to_iana

__all__ = ["PRODID", "ParsedEvent", "parse_calendar", "parse_event", "to_ical", "windows_to_iana"]
