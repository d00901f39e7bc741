"""What a pull refuses, trims or leaves alone, and the one line that says why (pure).

Rules kept here (issue 10, "Bad input"): each case below gets one clear log line (the caller
logs `Verdict.reason`, without a traceback) and a status entry; nothing else is affected and
nothing is sent, because a pull never sends.

- A MIME body over `MAX_MIME_BYTES` (a 5 MB invitation) is not parsed; `decide` builds the
  event from the SEARCH row's properties instead (`listing.row_calendar`), so the invitation is
  not lost, only its long description.
- More than `MAX_ATTENDEES` attendees (2,000): the event keeps the organizer and the user's own
  ATTENDEE line only; the count goes into the note.
- A request whose UID is one of the user's own events (not pulled, and not organized by the
  request's organizer) is refused: a stranger's message never overwrites the user's event.
- A request or cancellation whose organizer is not the organizer of the pulled event with its
  UID is refused (`same_organizer`): a stranger who sends alice a message with bob's UID and a
  higher SEQUENCE neither takes bob's meeting over nor cancels it. A message with no organizer
  at all is refused the same way (Exchange stamps one on every request it delivers).
- A reply from someone who was never invited, a reply or cancellation for a meeting the
  calendar no longer holds, and a malformed MIME body are refused with their reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "MAX_ATTENDEES",
    "MAX_MIME_BYTES",
    "TooLarge",
    "Verdict",
    "attendees_to_keep",
    "check_size",
    "may_write",
    "same_organizer",
]

MAX_MIME_BYTES = 1024 * 1024  # an item's MIME; Outlook's own invitations are a few kB
MAX_ATTENDEES = 500  # more is a mailing list pasted into To; Radicale and clients slow down


class TooLarge(ValueError):
    """The item's body is over the limit; build the event from its properties instead."""


@dataclass(frozen=True)
class Verdict:
    write: bool
    reason: str = ""


def check_size(size: int, limit: int = MAX_MIME_BYTES) -> None:
    if size > limit:
        raise TooLarge(f"MIME body of {size} bytes is over the {limit}-byte limit")


def attendees_to_keep(addresses: list[str], user: str) -> set[str] | None:
    """None: keep all. Otherwise the addresses kept (the user's own line only)."""
    if len(addresses) <= MAX_ATTENDEES:
        return None
    return {user.lower()} & {a.lower() for a in addresses}


def may_write(existing_is_pulled: bool | None, existing_organizer: str | None,
              message_organizer: str | None, user: str) -> Verdict:
    """May a pulled item be written over the event with the same UID in the user's calendar?

    `existing_is_pulled` is None when the calendar has no such event. A pulled event is the
    bridge's to replace. The user's own event (no marker) is never replaced by a message from
    someone else; one the user organizes and Exchange holds too is the pushed meeting itself,
    which the two-sided state reconciles (issue 10 point 4), not this pull.
    """
    if existing_is_pulled is None or existing_is_pulled:
        return Verdict(True)
    mine = (existing_organizer or user).lower() == user.lower()
    theirs = re.sub(r"[\x00-\x1f\x7f]", "", message_organizer or "").lower()[:200]
    if mine and theirs and theirs != user.lower():
        return Verdict(False, f"UID collides with one of the user's own events; the request "
                              f"from {theirs} was not written")
    return Verdict(False, "the user's own event with this UID is kept (pushed meeting: "
                          "reconciled by the sync state, not by the pull)")


def same_organizer(kind: str, existing_organizer: str | None,
                   message_organizer: str | None) -> Verdict:
    """May a `kind` ("request", "cancellation") from `message_organizer` change the pulled
    event organized by `existing_organizer`? An event without ORGANIZER has no owner to
    protect (an appointment made in OWA): any message of its UID may change it."""
    if not existing_organizer:
        return Verdict(True)
    theirs = _shown(message_organizer) or "an unknown sender"
    if message_organizer and theirs == existing_organizer.lower():
        return Verdict(True)
    return Verdict(False, f"{kind} from {theirs} for a meeting organized by "
                          f"{_shown(existing_organizer)}: not written")


def _shown(address: str | None) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "", address or "").lower()[:200]
