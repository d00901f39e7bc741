"""An OWA/Outlook edit to an event calbridge pushed: what the pull does with it (pure).

Issue 10 point 4. The event is the user's own (a state ``items`` row: calbridge wrote it to
Exchange), so the pull never writes it as a pulled event; this table decides instead, from
three versions compared on their `Shape`:

- *sent*: what calbridge last wrote to Exchange (the row's snapshot);
- *exchange*: what Exchange holds now (the item's MIME, read because its etag moved);
- *caldav*: the event in the user's calendar now, and whether it changed since the last sync
  (its content hash differs from what was sent: an edit the push has not sent yet).

Rules kept here:

- **Changed means changed in content** (vdirsyncer's rule, reference "radicale-and-sync-anchors"
  §2.1): an etag that moved with the same `Shape` is no change. Our own PROPPATCH and sendappt
  move the etag too, so the push needs no extra request to record one: the next pull reads the
  item once and finds it in step with what was sent.
- **The Shape is what Exchange holds faithfully**: start and end (as instants, or dates for an
  all-day event), all-day, SUMMARY, LOCATION and the invitees' addresses. Text is compared with
  its outer blanks and line-end spelling ignored. Description, reminders, categories and the
  recurrence pattern are not compared: Exchange rewrites bodies (HTML) and recurrence text, so
  comparing them would report edits nobody made.
- **One rule for a conflict: the CalDAV version wins.** When both sides changed between two
  passes (or the event was deleted in CalDAV), the CalDAV event is the organizer's calendar of
  record; the push then sends it to the attendees, so every copy ends up agreeing. Exchange's
  version is kept whole in the state (``conflicts``) and logged in one line.
- **An unfinished push wins too**: a row whose push operation is unfinished (open journal) is
  about to be written by the push as it resumes; an Exchange version that is neither what was
  sent nor what CalDAV holds (the push's own half-written state) is kept as a conflict, never
  applied. Only a row with no snapshot at all (nothing known to compare with) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.meeting import Meeting

__all__ = [
    "Agree",
    "Decision",
    "InStep",
    "KeepCalDAV",
    "Leave",
    "Shape",
    "TakeExchange",
    "decide",
    "shape_of",
]


@dataclass(frozen=True)
class Shape:
    """The part of an event that both sides hold faithfully (see the module rules)."""

    start: str
    end: str
    all_day: bool
    summary: str
    location: str
    invitees: tuple[str, ...]


def _text(value: str) -> str:
    return value.replace("\r\n", "\n").strip()


def shape_of(meeting: Meeting, user: str) -> Shape:
    """`meeting` as compared here; `user` (the mailbox's address) is never an invitee."""
    fields = meeting.meaningful_fields()
    skip = {user.lower(), (meeting.organizer or "").lower()}
    return Shape(
        start=str(fields["start"]),
        end=str(fields["end"]),
        all_day=meeting.all_day,
        summary=_text(meeting.summary),
        location=_text(meeting.location),
        invitees=tuple(sorted({a.email for a in meeting.attendees} - skip)),
    )


@dataclass(frozen=True)
class Leave:
    """Not the pull's to settle now (the reason is logged at INFO)."""

    reason: str


@dataclass(frozen=True)
class InStep:
    """Exchange holds what calbridge sent (our own write moved the etag): nothing to do."""


@dataclass(frozen=True)
class Agree:
    """Exchange already holds what the CalDAV event says: nothing to write on either side."""


@dataclass(frozen=True)
class TakeExchange:
    """Only Exchange changed: its version goes into the CalDAV event, and nothing is sent."""


@dataclass(frozen=True)
class KeepCalDAV:
    """Both changed (or the CalDAV event is gone): the CalDAV side wins; Exchange's version is
    the losing one, kept in ``conflicts``."""

    reason: str


Decision = Leave | InStep | Agree | TakeExchange | KeepCalDAV


def decide(
    *,
    sent: Shape | None,
    exchange: Shape,
    caldav: Shape | None,
    caldav_changed: bool,
    unfinished: bool,
) -> Decision:
    """The decision table.

    Args:
        sent: the Shape of what calbridge last wrote to Exchange; None if it never wrote one.
        exchange: the Shape of the item Exchange holds now.
        caldav: the Shape of the CalDAV event now; None when it is no longer in the calendar.
        caldav_changed: the CalDAV event differs from what was sent (an edit not pushed yet).
        unfinished: the push has an open journal (an operation in progress) for this event.
    """
    if sent is None:
        return Leave("calbridge holds no copy of what it wrote to Exchange")
    if exchange == sent:
        return InStep()
    if caldav is not None and exchange == caldav:
        return Agree()
    if unfinished:
        return KeepCalDAV("edited in Exchange while a push operation was unfinished: the push "
                          "wins")
    if caldav is None:
        return KeepCalDAV("edited in Exchange, deleted in CalDAV: the deletion wins")
    if caldav_changed:
        return KeepCalDAV("edited in Exchange and in CalDAV since the last sync: the CalDAV "
                          "version wins")
    return TakeExchange()
