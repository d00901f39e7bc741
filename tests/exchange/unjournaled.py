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
    if meeting.has_invitees:  # straight to the submission URI, as the engine sends it
        if meeting.overrides:
            mailbox.submit_series(meeting, attempt="unjournaled")
        else:
            mailbox.submit_message(meeting, kind="request", attempt="unjournaled")
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
