"""The pure mapping of Exchange items to CalDAV events, on byte fixtures in the simulator's and
the reference's shapes, and property tests against hostile text."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.pull import guards, mapping
from exchange_sim import calendar_mime

CAL = "urn:schemas:calendar:"
START = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
URL = "http://exchange.example.com/exchange/alice/Inbox/Roadmap.EML"

# A request as Exchange 2003 renders it for GET Translate: f (multipart/alternative, QP).
REQUEST_MIME = (
    b"Subject: Roadmap\r\nFrom: Bob Example <bob@example.com>\r\nTo: alice@example.com\r\n"
    b"Content-class: urn:content-classes:calendarmessage\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="----=_NextPart_x"\r\n\r\n'
    b"------=_NextPart_x\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nAgenda\r\n"
    b"------=_NextPart_x\r\nContent-Type: text/calendar; charset=\"utf-8\"; method=REQUEST\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 11.0 MIMEDIR//EN\r\n"
    b"VERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:{ABC-1}\r\n"
    b"DTSTAMP:20261201T100000Z\r\nDTSTART:20261210T140000Z\r\nDTEND:20261210T150000Z\r\n"
    b"SEQUENCE:0\r\nSUMMARY:Roadmap\r\nORGANIZER:mailto:bob@example.com\r\n"
    b"ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:alice@example.com\r\n"
    b"ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:carol@example.com\r\n"
    b"X-MICROSOFT-CDO-BUSYSTATUS:BUSY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    b"------=_NextPart_x--\r\n")


def sim_mime(message_class: str, **changes: object) -> bytes:
    """The simulator's rendering of a meeting message (what GET Translate: f returns)."""
    props: dict[str, object] = {
        "DAV:contentclass": "urn:content-classes:calendarmessage",
        "http://schemas.microsoft.com/exchange/outlookmessageclass": message_class,
        "urn:schemas:httpmail:subject": "Roadmap",
        "urn:schemas:mailheader:from": "Bob Example <bob@example.com>",
        "urn:schemas:mailheader:to": "alice@example.com, room-101@example.com",
        CAL + "uid": "{ABC-1}", CAL + "sequence": 0, CAL + "organizer": "bob@example.com",
        CAL + "dtstart": START, CAL + "dtend": START + timedelta(hours=1),
    }
    props.update(changes)
    return calendar_mime.render(props, None)


def vevent(text: str, index: int = 0) -> icalendar.cal.Component:
    return icalendar.Calendar.from_ical(text).walk("VEVENT")[index]


def partstats(event: icalendar.cal.Component) -> dict[str, str]:
    found = event.get("ATTENDEE") or []
    return {str(a).lower().removeprefix("mailto:"): str(a.params.get("PARTSTAT", ""))
            for a in (found if isinstance(found, list) else [found])}


def test_outlook_shaped_request_becomes_needs_action_for_the_user() -> None:
    pulled = mapping.invitation(mapping.calendar_text(REQUEST_MIME), exchange_url=URL,
                                user="Alice@Example.com")
    event = vevent(pulled.text)
    assert (pulled.uid, pulled.sequence) == ("{ABC-1}", 0)
    assert partstats(event)["alice@example.com"] == "NEEDS-ACTION"
    mine = next(a for a in event["ATTENDEE"] if "alice" in str(a))
    assert mine.params["RSVP"] == "TRUE"
    assert str(event["ORGANIZER"]) == "mailto:bob@example.com"
    assert (str(event[mapping.ORIGIN]), str(event[mapping.EXCHANGE_URL]),
            str(event[mapping.CLASS])) == ("exchange", URL, "IPM.Schedule.Meeting.Request")
    assert "METHOD" not in icalendar.Calendar.from_ical(pulled.text)
    assert mapping.is_pulled(pulled.text)


def test_user_reached_by_bcc_is_added_as_attendee() -> None:
    ics = mapping.calendar_text(sim_mime("IPM.Schedule.Meeting.Request"))
    pulled = mapping.invitation(ics, exchange_url=URL, user="dave@example.com")
    assert partstats(vevent(pulled.text))["dave@example.com"] == "NEEDS-ACTION"


def answered(text: str, partstat: str, user: str = "alice@example.com") -> str:
    """What the user's client does: their own ATTENDEE line gets the new PARTSTAT."""
    calendar = icalendar.Calendar.from_ical(text)
    for event in calendar.walk("VEVENT"):
        for attendee in event.get("ATTENDEE"):
            if str(attendee).lower() == "mailto:" + user:
                attendee.params["PARTSTAT"] = partstat
                attendee.params.pop("RSVP", None)
    return calendar.to_ical().decode()


def test_update_moving_the_meeting_resets_the_answer_and_a_retitle_keeps_it() -> None:
    first = mapping.invitation(mapping.calendar_text(sim_mime("IPM.Schedule.Meeting.Request")),
                               exchange_url=URL, user="alice@example.com")
    accepted = answered(first.text, "ACCEPTED")
    assert partstats(vevent(accepted))["alice@example.com"] == "ACCEPTED"
    retitled = mapping.calendar_text(sim_mime(
        "IPM.Schedule.Meeting.Request", **{"urn:schemas:httpmail:subject": "Roadmap v2",
                                           CAL + "sequence": 1}))
    kept = mapping.invitation(retitled, exchange_url=URL, user="alice@example.com",
                              previous=accepted)
    assert partstats(vevent(kept.text))["alice@example.com"] == "ACCEPTED"
    moved = mapping.calendar_text(sim_mime(
        "IPM.Schedule.Meeting.Request", **{CAL + "sequence": 2,
                                           CAL + "dtstart": START + timedelta(days=1),
                                           CAL + "dtend": START + timedelta(days=1, hours=1)}))
    reset = mapping.invitation(moved, exchange_url=URL, user="alice@example.com",
                               previous=kept.text)
    event = vevent(reset.text)
    assert partstats(event)["alice@example.com"] == "NEEDS-ACTION"
    assert event.decoded("DTSTART") == START + timedelta(days=1) and reset.sequence == 2
    with pytest.raises(mapping.Stale):
        mapping.invitation(retitled, exchange_url=URL, user="alice@example.com",
                           previous=reset.text)


def test_cancellation_marks_the_event_cancelled_and_free() -> None:
    first = mapping.invitation(mapping.calendar_text(sim_mime("IPM.Schedule.Meeting.Request")),
                               exchange_url=URL, user="alice@example.com")
    cancel = mapping.calendar_text(sim_mime("IPM.Schedule.Meeting.Canceled",
                                            **{CAL + "sequence": 1}))
    pulled = mapping.cancellation(first.text, cancel, exchange_url=URL)
    event = vevent(pulled.text)
    assert (str(event["STATUS"]), str(event["TRANSP"])) == ("CANCELLED", "TRANSPARENT")
    assert str(event[mapping.CLASS]) == "IPM.Schedule.Meeting.Canceled" and pulled.sequence == 1


def test_cancellation_of_one_occurrence_cancels_only_that_occurrence() -> None:
    series = sim_mime("IPM.Schedule.Meeting.Request", **{CAL + "rrule": ["FREQ=DAILY;COUNT=5"]})
    first = mapping.invitation(mapping.calendar_text(series), exchange_url=URL,
                               user="alice@example.com")
    rid = START + timedelta(days=2)
    cancel = mapping.calendar_text(sim_mime(
        "IPM.Schedule.Meeting.Canceled", **{CAL + "recurrenceid": rid, CAL + "dtstart": rid,
                                            CAL + "dtend": rid + timedelta(hours=1),
                                            CAL + "sequence": 1}))
    pulled = mapping.cancellation(first.text, cancel, exchange_url=URL)
    master, override = icalendar.Calendar.from_ical(pulled.text).walk("VEVENT")
    assert "STATUS" not in master and master.get("RRULE") is not None
    assert override.decoded("RECURRENCE-ID") == rid and str(override["STATUS"]) == "CANCELLED"


def organizer_event() -> str:
    return mapping.appointment(mapping.calendar_text(sim_mime(
        "IPM.Appointment", **{"DAV:contentclass": "urn:content-classes:appointment"})),
        exchange_url=URL, user="bob@example.com").text


@pytest.mark.parametrize(("suffix", "partstat"), [("Pos", "ACCEPTED"), ("Neg", "DECLINED"),
                                                  ("Tent", "TENTATIVE")])
def test_replies_set_the_attendees_partstat(suffix: str, partstat: str) -> None:
    reply = mapping.calendar_text(sim_mime(
        "IPM.Schedule.Meeting.Resp." + suffix,
        **{"urn:schemas:mailheader:from": "Room 101 <room-101@example.com>",
           "urn:schemas:mailheader:to": "bob@example.com"}))
    outcome = mapping.apply_reply(organizer_event(), reply, "IPM.Schedule.Meeting.Resp." + suffix)
    assert (outcome.attendee, outcome.partstat, outcome.changed) == (
        "room-101@example.com", partstat, True)
    assert partstats(vevent(outcome.text))["room-101@example.com"] == partstat
    again = mapping.apply_reply(outcome.text, reply, "IPM.Schedule.Meeting.Resp." + suffix)
    assert not again.changed


def test_reply_from_someone_never_invited_is_refused() -> None:
    reply = mapping.calendar_text(sim_mime(
        "IPM.Schedule.Meeting.Resp.Pos",
        **{"urn:schemas:mailheader:from": "Mallory <mallory@example.com>",
           "urn:schemas:mailheader:to": "bob@example.com"}))
    with pytest.raises(mapping.NotInvited, match=r"mallory@example\.com"):
        mapping.apply_reply(organizer_event(), reply, "IPM.Schedule.Meeting.Resp.Pos")


def test_reply_to_an_older_version_is_stale() -> None:
    event = organizer_event()
    reply = mapping.calendar_text(sim_mime(
        "IPM.Schedule.Meeting.Resp.Pos",
        **{"urn:schemas:mailheader:from": "room-101@example.com",
           "urn:schemas:mailheader:to": "bob@example.com"}))
    with pytest.raises(mapping.Stale):
        mapping.apply_reply(event, reply, "IPM.Schedule.Meeting.Resp.Pos", sent_sequence=3)
    assert mapping.apply_reply(event, reply, "IPM.Schedule.Meeting.Resp.Pos",
                               sent_sequence=0).changed


@pytest.mark.parametrize("mime", [
    b"not a mime message at all",
    b"Content-Type: text/plain\r\n\r\nhello",
    b"Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VCALENDAR",
    b"Content-Type: text/calendar\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!",
    b"Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:x\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n",
])
def test_malformed_mime_is_a_bad_item_with_a_one_line_reason(mime: bytes) -> None:
    with pytest.raises(mapping.BadItem) as raised:
        mapping.invitation(mapping.calendar_text(mime), exchange_url=URL,
                           user="alice@example.com")
    assert "\n" not in str(raised.value)


def test_five_megabyte_body_is_refused_before_parsing() -> None:
    big = REQUEST_MIME.replace(b"Agenda", b"A" * (5 * 1024 * 1024))
    with pytest.raises(guards.TooLarge):
        mapping.calendar_text(big)


def test_two_thousand_attendees_keep_only_the_users_line() -> None:
    to = ", ".join(f"p{n}@example.com" for n in range(2000)) + ", alice@example.com"
    ics = mapping.calendar_text(sim_mime("IPM.Schedule.Meeting.Request",
                                         **{"urn:schemas:mailheader:to": to}))
    pulled = mapping.invitation(ics, exchange_url=URL, user="alice@example.com")
    assert partstats(vevent(pulled.text)) == {"alice@example.com": "NEEDS-ACTION"}
    assert pulled.notes and "2001 attendees" in pulled.notes[0]
    assert str(vevent(pulled.text)["ORGANIZER"]) == "mailto:bob@example.com"


def test_guard_refuses_a_strangers_request_over_the_users_own_event() -> None:
    assert guards.may_write(None, None, "bob@example.com", "alice@example.com").write
    assert guards.may_write(True, "bob@example.com", "bob@example.com", "alice@example.com").write
    refused = guards.may_write(False, "alice@example.com", "bob\r\n@example.com",
                               "alice@example.com")
    assert not refused.write and "collides" in refused.reason and "\n" not in refused.reason


# -- hostile text -----------------------------------------------------------------------------

_HOSTILE = st.lists(st.sampled_from(
    [*string.ascii_letters[:8], ":", ";", ",", '"', "\\", "=", "\r", "\n", "\r\n", "\x00",
     "\x1b", "\x7f", "é", "\u2028", "\r\nATTENDEE:mailto:evil@example.com",
     "\nSTATUS:CANCELLED", "\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:x"]),
    max_size=12).map("".join)
_EXPECTED = {"UID", "DTSTAMP", "DTSTART", "DTEND", "SEQUENCE", "SUMMARY", "LOCATION",
             "DESCRIPTION", "ORGANIZER", "ATTENDEE", "TRANSP", "X-MICROSOFT-CDO-BUSYSTATUS",
             "X-MICROSOFT-CDO-ALLDAYEVENT", mapping.ORIGIN, mapping.EXCHANGE_URL, mapping.CLASS}


@settings(max_examples=150, deadline=None)
@given(summary=_HOSTILE, location=_HOSTILE, description=_HOSTILE, name=_HOSTILE,
       url=_HOSTILE)
def test_hostile_fields_never_add_a_property(summary: str, location: str, description: str,
                                             name: str, url: str) -> None:
    props = {"urn:schemas:httpmail:subject": summary, CAL + "location": location,
             "urn:schemas:httpmail:textdescription": description,
             "urn:schemas:mailheader:to": f'"{name}" <alice@example.com>'}
    try:
        mime = sim_mime("IPM.Schedule.Meeting.Request", **props)
        ics = mapping.calendar_text(mime)
    except (ValueError, mapping.BadItem):
        return  # the sender could not even build it; nothing to map
    pulled = mapping.invitation(ics, exchange_url=url, user="alice@example.com")
    calendar = icalendar.Calendar.from_ical(pulled.text)
    (event,) = calendar.walk("VEVENT")
    assert set(event.keys()) <= _EXPECTED
    sent = partstats(icalendar.Calendar.from_ical(ics).walk("VEVENT")[0])
    sent_clean = {re.sub(r"[\x00-\x1f\x7f]", "", a) for a in sent}
    kept = set(partstats(event))
    assert kept <= sent_clean | {"alice@example.com"}  # no attendee added
    readable = {a for a in sent_clean
                if re.fullmatch(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9.-]+", a)}
    assert readable <= kept  # only addresses that are not one e-mail address are left out
    assert kept == sent_clean | {"alice@example.com"} or any("left out" in n
                                                            for n in pulled.notes)
    unfolded = pulled.text.replace("\r\n ", "")
    lines = [line for line in unfolded.split("\r\n") if line]
    assert all(not any(c in line for c in "\r\n\x00\x1b\x7f") for line in lines)
    names = {line.split(":", 1)[0].split(";", 1)[0] for line in lines}
    assert names <= _EXPECTED | {"BEGIN", "END", "PRODID", "VERSION"}
