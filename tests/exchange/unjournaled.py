"""Create, update and cancel composed from `Mailbox`'s step methods, without a journal.

The engine's journaled recipes live in bridge/recipes.py; these exercise and measure the wire
only (tests/exchange and bench/ use them).
"""

from __future__ import annotations

from bridge.exchange.mailbox import Mailbox
from bridge.meeting import Meeting

__all__ = ["cancel_meeting", "create_meeting", "update_meeting"]


def create_meeting(mailbox: Mailbox, meeting: Meeting) -> str:
    url = mailbox.write_appointment(meeting, create=True)
    if meeting.has_invitees:
        draft = mailbox.draft_url(meeting.uid, "request", meeting.sequence)
        mailbox.write_draft(meeting, draft)
        mailbox.send_draft(draft)
    return url


def update_meeting(mailbox: Mailbox, meeting: Meeting) -> None:
    url = mailbox.write_appointment(meeting, create=False)
    if meeting.has_invitees:
        mailbox.post_sendappt(meeting, url)


def cancel_meeting(mailbox: Mailbox, meeting: Meeting) -> None:
    url = mailbox.appointment_url(meeting.uid)
    if meeting.has_invitees:
        mailbox.send_draft(mailbox.get_cancel_draft(url))
    mailbox.delete(url)
