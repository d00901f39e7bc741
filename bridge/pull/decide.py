"""What one pulled Inbox message does to the user's calendar (pure: the pass's decision table).

Rules kept here (issue 10 points 2-3 and "Bad input"); each row of the table below gives a
`Write`, a `Reply` (the organizer's own event gets an attendee's PARTSTAT) or a `Skip` whose
reason is logged in one line and shown in `status`. Nothing here sends, ever.

| message            | calendar holds              | outcome                                      |
|--------------------|-----------------------------|----------------------------------------------|
| Request            | nothing / a pulled event    | Write (new, or update; Stale → Skip)         |
| Request, Canceled  | a pulled event organized by | Skip: a stranger's message with the UID      |
|                    | someone else                | (organizer: the iCalendar's, else the row's) |
| Request            | the user's own event        | Skip: UID collision                          |
| Request, bad MIME  | nothing / a pulled event    | Write from the row's properties, with a note |
| Canceled           | a pulled event              | Write STATUS:CANCELLED (Stale → Skip)        |
| Canceled           | nothing / the user's own    | Skip                                         |
| Resp.*             | an event the user organizes | Reply (not invited / stale / same → Skip)    |
| Resp.*, From is    | an event the user organizes | Skip: a reply in someone else's name         |
| not the attendee   |                             |                                              |
| Resp.*             | nothing                     | Skip: the meeting was deleted                |
| Resp.*             | someone else's meeting      | Skip: the user does not organize it          |
| anything else      | -                           | Skip                                         |

The replying attendee is the reply's own ATTENDEE line; the row's From
(``urn:schemas:httpmail:from``, ``Name <addr>`` or a bare address) must name the same address
when it holds one (a From without ``@`` is taken as unknown and not compared: the reference
does not say what form Exchange 2003 gives it for internal senders).

Messages of one meeting are applied in SEQUENCE order; at equal SEQUENCE a cancellation comes
after the request (creation times can tie; `order_key`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.pull import guards, listing, mapping

__all__ = ["Reply", "Skip", "Write", "for_message", "order_key"]

_REQUEST = "IPM.Schedule.Meeting.Request"
_CANCELED = "IPM.Schedule.Meeting.Canceled"
_RESPONSE = "IPM.Schedule.Meeting.Resp."


@dataclass(frozen=True)
class Write:
    pulled: mapping.Pulled


@dataclass(frozen=True)
class Reply:
    uid: str
    text: str
    attendee: str
    partstat: str
    based_on: str = ""  # the event `text` was built from (a newer one gets the reply again)
    reply_ics: str = ""
    message_class: str = ""

    def again(self, current: str) -> str | None:
        """The reply laid over `current`, the event as it is now; None: nothing to change."""
        try:
            outcome = mapping.apply_reply(current, self.reply_ics, self.message_class)
        except (mapping.BadItem, mapping.NotInvited, mapping.Stale):
            return None
        return outcome.text if outcome.changed else None


@dataclass(frozen=True)
class Skip:
    uid: str
    reason: str
    warning: bool = True  # False: routine (out of date, already recorded)


def order_key(row: listing.Row) -> tuple[str, int, int]:
    return row.uid, row.sequence, 1 if row.message_class == _CANCELED else 0


def for_message(row: listing.Row, mime: bytes | Exception, *, user: str,
                existing: str | None, sent_sequence: int | None = None
                ) -> Write | Reply | Skip:
    """The outcome of one Inbox message. `mime` is the fetched body, or the error that kept it
    from being fetched (`guards.TooLarge`); `existing` the calendar's event with the row's UID;
    `sent_sequence` the SEQUENCE the state last sent for it (replies to older ones are stale)."""
    klass = row.message_class
    pulled_before = existing is not None and mapping.is_pulled(existing)
    try:
        if klass == _REQUEST:
            return _request(row, mime, user=user, existing=existing, pulled_before=pulled_before)
        if klass == _CANCELED:
            if existing is None or not pulled_before:
                return Skip(row.uid, "cancellation for a meeting not in the calendar (or the "
                                     "user's own event): nothing changed")
            verdict = guards.same_organizer("cancellation", _organizer(existing),
                                            _message_organizer(row, mime))
            if not verdict.write:
                return Skip(row.uid, verdict.reason)
            return Write(mapping.cancellation(existing, _text(mime), exchange_url=row.url))
        if klass.startswith(_RESPONSE):
            if existing is None:
                return Skip(row.uid, "response for a meeting that has already been deleted")
            if (_organizer(existing) or user).lower() != user.lower():
                return Skip(row.uid, "response for a meeting the user does not organize")
            reply_ics = _text(mime)
            outcome = mapping.apply_reply(existing, reply_ics, klass,
                                          sent_sequence=sent_sequence)
            sender = _sender_of(row)
            if sender is not None and sender != outcome.attendee.lower():
                return Skip(row.uid, f"reply from {sender[:200]} on behalf of "
                                     f"{outcome.attendee[:200]}: not recorded")
            if not outcome.changed:
                return Skip(row.uid, f"{outcome.attendee} {outcome.partstat}: already recorded",
                            warning=False)
            return Reply(row.uid, outcome.text, outcome.attendee, outcome.partstat,
                         based_on=existing, reply_ics=reply_ics, message_class=klass)
    except mapping.Stale as stale:
        return Skip(row.uid, f"out of date: {stale}", warning=False)
    except (mapping.BadItem, mapping.NotInvited, guards.TooLarge) as error:
        return Skip(row.uid, str(error))
    return Skip(row.uid, f"message class {klass[:60]!r} is not a meeting message", warning=False)


def _text(mime: bytes | Exception) -> str:
    if isinstance(mime, Exception):
        raise guards.TooLarge(str(mime)) if isinstance(mime, guards.TooLarge) else mapping.BadItem(
            "the item could not be fetched")
    return mapping.calendar_text(mime)


def _request(row: listing.Row, mime: bytes | Exception, *, user: str, existing: str | None,
             pulled_before: bool) -> Write | Skip:
    if existing is not None and not pulled_before:
        verdict = guards.may_write(False, _organizer(existing), _organizer_of(row), user)
        return Skip(row.uid, verdict.reason)
    previous = existing if pulled_before else None
    if previous is not None:
        verdict = guards.same_organizer("request", _organizer(previous),
                                        _message_organizer(row, mime))
        if not verdict.write:
            return Skip(row.uid, verdict.reason)
    try:
        ics = _text(mime)
        return Write(mapping.invitation(ics, exchange_url=row.url, user=user, previous=previous))
    except (mapping.BadItem, guards.TooLarge) as error:
        if not row.uid or row.props.get("urn:schemas:calendar:dtstart") is None:
            raise mapping.BadItem(f"{error}; the row has no start time either") from error
        fallback = mapping.invitation(listing.row_calendar(row), exchange_url=row.url, user=user,
                                      previous=previous)
        return Write(mapping.Pulled(fallback.uid, fallback.sequence, fallback.text,
                                    (*fallback.notes, f"{error}: built from the item's "
                                                      f"properties, without its body")))


def _organizer(text: str) -> str | None:
    try:
        event = mapping.parse_calendar(text).walk("VEVENT")[0]
    except mapping.BadItem:
        return None
    organizer = event.get("ORGANIZER")
    return None if organizer is None else str(organizer).lower().removeprefix("mailto:")


def _organizer_of(row: listing.Row) -> str | None:
    return listing.organizer_address(row.props.get("urn:schemas:calendar:organizer"))


def _sender_of(row: listing.Row) -> str | None:
    """The address in the row's From, lower-cased; None when it holds none."""
    found = listing.organizer_address(row.props.get("urn:schemas:httpmail:from"))
    return found if found is not None and "@" in found else None


def _message_organizer(row: listing.Row, mime: bytes | Exception) -> str | None:
    """The message's organizer: its iCalendar's ORGANIZER, else the row's."""
    try:
        found = _organizer(_text(mime))
    except (mapping.BadItem, guards.TooLarge):
        found = None
    return found or _organizer_of(row)
