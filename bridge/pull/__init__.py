"""Pull: the user's Exchange calendar and meeting mail, into their CalDAV calendar (design §4b).

Rule kept by the package: pulling never sends mail and never looks like a user's change. The
parts, each with one job:

- `contenttag`: one PROPFIND per mailbox tells whether Calendar or Inbox moved (cheap idle pass).
- `listing`: paged SEARCH rows of Calendar and of Inbox meeting messages, and the MIME of one
  item (`GET`, `Translate: f`), bounded in size.
- `mapping`: pure; an Exchange item's iCalendar → the VEVENT the user's calendar holds (marked
  ``X-CALBRIDGE-ORIGIN:exchange``), replies → an attendee's PARTSTAT.
- `guards`: pure; what is refused or trimmed, with the one-line reason that is logged.
- `answers`: pure; a PARTSTAT change in the client → the OWA command that answers it, and the
  step table of the journaled ``answer`` operation.
- `decide`: pure; the decision table for one Inbox message (request, update, cancellation,
  reply, and every bad input), in SEQUENCE order.
- `owa_answer`: the three Exchange requests of an answer (locate, count, ``GET ?Cmd=``).
- `into_caldav`: writes pulled events into Radicale's storage inside ``bridge_write()``.
- `mailbox_pass`: one mailbox's pass, tying the above together (`PullMemory` is what the state
  must keep between passes).
"""
