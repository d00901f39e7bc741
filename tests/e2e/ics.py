"""Small iCalendar texts as CalDAV clients write them (test data)."""

from __future__ import annotations

ROOM = "ATTENDEE;CN=Room 101;CUTYPE=ROOM;ROLE=NON-PARTICIPANT:mailto:room-101@example.com"
BOB = "ATTENDEE;CN=Bob Example;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:bob@example.com"
CAROL = "ATTENDEE;CN=Carol Example;ROLE=OPT-PARTICIPANT;RSVP=TRUE:mailto:carol@example.com"
ALICE_ORGANIZES = "ORGANIZER;CN=Alice Example:mailto:alice@example.com"


def event(
    uid: str,
    *lines: str,
    start: str = "DTSTART:20261210T140000Z",
    end: str = "DTEND:20261210T150000Z",
    summary: str = "Planning",
    dtstamp: str = "20261125T120000Z",
    organizer: str | None = ALICE_ORGANIZES,
) -> str:
    body = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{dtstamp}",
        start,
        end,
        f"SUMMARY:{summary}",
        *([organizer] if organizer else []),
        *lines,
        "END:VEVENT",
    ]
    return "\r\n".join(body)


def calendar(*events: str) -> str:
    return "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calbridge tests//EN", *events,
         "END:VCALENDAR", ""]
    )


def meeting(uid: str = "planning-1", **kwargs: str) -> str:
    return calendar(event(uid, BOB, CAROL, ROOM, **kwargs))
