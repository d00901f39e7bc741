"""What Radicale's parser (vobject) cannot take, and what the front door does about it.

Rules kept here (design §1, bad input gets a clear per-event reason):

- **Mend only what has one meaning for every reader.** `mend` drops an RRULE or EXRULE line
  whose value is empty (``RRULE:``, as calendarlabs.com's holiday feeds write it). RFC 5545 has
  no empty rule, vobject refuses the whole object ("empty string"), and icalendar and
  recurring-ical-events read it as no rule at all; without the line every reader sees that same
  single event. Nothing else is changed: other defects are the client's to fix, and a guess
  would change what it meant.
- **Explain the rest.** When Radicale refuses a PUT (a bare "400 Bad Request"), `explain` turns
  its parser's message into a reason the user can act on; a message it does not know is passed
  on, cut to one short line, after a calbridge prefix. Never empty.

Pure: text in, text out; no I/O, no logging.
"""

from __future__ import annotations

import re

__all__ = ["explain", "mend"]

# A whole content line (not folded: a continuation would start with a space or a tab) naming an
# RRULE or EXRULE, with any parameters, and nothing after its colon.
_EMPTY_RULE = re.compile(r"^(?:RRULE|EXRULE)(?:;[^:\r\n]*)?:[ \t]*(?:\r\n|\n|\r(?!\n))(?![ \t])",
                         re.IGNORECASE | re.MULTILINE)

_PREFIX = "the calendar server could not store this event"
# Radicale's (and vobject's) messages, by a stable part of their text → what to tell the user.
_KNOWN = (
    ("PERIOD not supported", "an RDATE with PERIOD values (VALUE=PERIOD) cannot be stored: the "
     "calendar server's parser does not read them; give the extra occurrences as date-time "
     "RDATEs, or as modified occurrences (RECURRENCE-ID) when their length differs"),
    ("Multiple main components", "several VEVENTs with this UID have no RECURRENCE-ID: one "
     "calendar object holds one event or series, and only its modified occurrences "
     "(RECURRENCE-ID) share its UID"),
    ("Main component missing", "modified occurrences (RECURRENCE-ID) without their series: the "
     "calendar server keeps several occurrences of one UID only together with the VEVENT that "
     "has no RECURRENCE-ID"),
    ("Overwritten recurrence with RRULESET", "a modified occurrence (RECURRENCE-ID) has a rule "
     "of its own (RRULE or RDATE): only the series itself recurs"),
    ("Multiple VEVENT components with different UIDs", "one calendar object holds VEVENTs with "
     "different UIDs: put each event under its own URL"),
    ("missing DTSTART", "a VEVENT has no DTSTART"),
)
_MAX_DETAIL = 160


def mend(text: str) -> str | None:
    """`text` without its empty RRULE/EXRULE lines; None when there is nothing to mend."""
    mended = _EMPTY_RULE.sub("", text)
    return mended if mended != text else None


def explain(message: str | None) -> str:
    """The reason to give for Radicale's refusal of a PUT whose parser said `message`."""
    if message:
        for known, reason in _KNOWN:
            if known in message:
                return reason
        detail = " ".join(message.split())
        detail = re.sub(r"[^\x20-\x7e\u00a0-\uffff]", "", detail)[:_MAX_DETAIL]
        if detail:
            return f"{_PREFIX}: its iCalendar could not be read ({detail})"
    return f"{_PREFIX}: its iCalendar could not be read"
