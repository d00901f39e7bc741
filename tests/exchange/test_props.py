"""Tests of bridge.exchange.props: Meeting <-> properties, and the deterministic item names."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import getaddresses
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bridge.exchange import props as P
from bridge.exchange.webdav import build_proppatch, parse_multistatus
from bridge.meeting import (
    Attendee,
    AttendeeKind,
    AttendeeRole,
    BusyStatus,
    Meeting,
    MeetingError,
    Sensitivity,
)
from bridge.vtimezone import vtimezone_text

BERLIN = ZoneInfo("Europe/Berlin")
OWNER = "testuser@example.com"


def _meeting(**changes: object) -> Meeting:
    values: dict[str, object] = {
        "uid": "probe-7b19ceecc6f3",
        "start": datetime(2026, 12, 10, 14, 0, tzinfo=UTC),
        "end": datetime(2026, 12, 10, 15, 0, tzinfo=UTC),
        "summary": "Probe meeting",
        "location": "Room 1",
        "description": "Line 1\nLine <2> & 3",
        "sequence": 2,
        "organizer": OWNER,
        "organizer_name": "Test User",
        "attendees": (
            Attendee("alice@example.com", 'Alice "Al" Required, PhD'),
            Attendee("bob@example.com", "Bob Optional", role=AttendeeRole.OPTIONAL),
            Attendee("carol@example.com", role=AttendeeRole.CHAIR),
            Attendee(
                "room1@example.com", "Room 1", role=AttendeeRole.NON_PARTICIPANT,
                kind=AttendeeKind.ROOM,
            ),
            Attendee("beamer@example.com", "Beamer", kind=AttendeeKind.RESOURCE),
            Attendee(OWNER, "Test User", role=AttendeeRole.CHAIR),  # the organizer himself
        ),
        "reminder_minutes": 15,
        "categories": ("Work", "Project X"),
        "rrule": ("FREQ=WEEKLY;COUNT=3",),
        "exdates": (datetime(2026, 12, 17, 14, 0, tzinfo=UTC),),
    }
    values.update(changes)
    return Meeting(**values)  # type: ignore[arg-type]


def _as_multistatus(proppatch: bytes, href: str = "/exchange/testuser/Calendar/x.EML") -> bytes:
    """The <D:set><D:prop> of a PROPPATCH body re-wrapped as the 207 a PROPFIND would return."""
    text = proppatch.decode("utf-8")
    decls = text.partition("<D:propertyupdate")[2].partition(">")[0]
    inner = text.split("<D:set><D:prop>", 1)[1].split("</D:prop></D:set>", 1)[0]
    return (
        f"<D:multistatus{decls}><D:response><D:href>{href}</D:href><D:propstat>"
        f"<D:status>HTTP/1.1 200 OK</D:status><D:prop>{inner}</D:prop></D:propstat>"
        f"</D:response></D:multistatus>"
    ).encode()


def _through_the_wire(values: dict[str, object]) -> dict[str, object]:
    [resp] = parse_multistatus(_as_multistatus(build_proppatch(values)))
    return dict(resp.props)


# -- Meeting -> appointment ----------------------------------------------------------------------


def test_appointment_props_for_a_meeting() -> None:
    props = P.appointment_props(_meeting(), mailbox_address=OWNER)
    assert props == {
        "DAV:contentclass": "urn:content-classes:appointment",
        "http://schemas.microsoft.com/exchange/outlookmessageclass": "IPM.Appointment",
        "urn:schemas:httpmail:subject": "Probe meeting",
        "urn:schemas:httpmail:htmldescription": "Line 1<BR>Line &lt;2&gt; &amp; 3",
        "urn:schemas:httpmail:textdescription": "Line 1\nLine <2> & 3",
        "urn:schemas:calendar:location": "Room 1",
        "urn:schemas:calendar:dtstart": datetime(2026, 12, 10, 14, 0, tzinfo=UTC),
        "urn:schemas:calendar:dtend": datetime(2026, 12, 10, 15, 0, tzinfo=UTC),
        "urn:schemas:calendar:alldayevent": False,
        "urn:schemas:calendar:busystatus": "BUSY",
        "urn:schemas:calendar:meetingstatus": "CONFIRMED",
        "urn:schemas:calendar:responserequested": True,
        "urn:schemas:calendar:reminderoffset": 900,
        "http://schemas.microsoft.com/mapi/reminderset": True,
        "urn:schemas:calendar:uid": "probe-7b19ceecc6f3",
        "urn:schemas:calendar:sequence": 2,
        "urn:schemas:calendar:rrule": ["FREQ=WEEKLY;COUNT=3"],
        "urn:schemas:calendar:exdate": [datetime(2026, 12, 17, 14, 0, tzinfo=UTC)],
        "urn:schemas:calendar:timezone": vtimezone_text("UTC", 2026),
        "urn:schemas:mailheader:to": (
            '"Alice \\"Al\\" Required, PhD" <alice@example.com>, carol@example.com'
        ),
        "urn:schemas:mailheader:cc": '"Bob Optional" <bob@example.com>',
        "urn:schemas:mailheader:bcc": '"Room 1" <room1@example.com>, "Beamer" <beamer@example.com>',
        "urn:schemas:calendar:organizer": '"Test User" <testuser@example.com>',
        "http://schemas.microsoft.com/mapi/finvited": True,
        "http://schemas.microsoft.com/exchange/sensitivity": 0,
        "http://schemas.microsoft.com/exchange/keywords-utf8": ["Work", "Project X"],
        "http://schemas.microsoft.com/mapi/responsestatus": 1,
    }
    assert "urn:schemas:calendar:instancetype" not in props  # the server sets it (§4.1)
    assert P.props_to_remove(props) == ["urn:schemas:calendar:rdate"]
    build_proppatch(props, P.props_to_remove(props))  # every value is sendable


def test_appointment_props_for_a_plain_appointment() -> None:
    meeting = _meeting(
        attendees=(), organizer=None, reminder_minutes=None, categories=(), rrule=(), exdates=()
    )
    props = P.appointment_props(meeting, mailbox_address=OWNER)
    assert props[P.FINVITED] is False
    assert props[P.RESPONSEREQUESTED] is False
    assert props[P.RESPONSESTATUS] == 0
    assert props[P.ORGANIZER] == OWNER
    assert props[P.REMINDERSET] is False
    assert set(P.props_to_remove(props)) == set(P.APPOINTMENT_OPTIONAL_PROPS)
    assert not set(P.APPOINTMENT_OPTIONAL_PROPS) & set(props)


def test_all_day_is_local_midnight_of_the_zone() -> None:
    meeting = _meeting(
        start=date(2026, 7, 1), end=date(2026, 7, 3), all_day=True,
        exdates=(date(2026, 7, 2),), rdates=(date(2026, 8, 1),),
    )
    props = P.appointment_props(meeting, mailbox_address=OWNER, zone=BERLIN)
    assert props[P.DTSTART] == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # CEST, UTC+2
    assert props[P.DTEND] == datetime(2026, 7, 2, 22, 0, tzinfo=UTC)
    assert props[P.ALLDAYEVENT] is True
    assert props[P.EXDATE] == [datetime(2026, 7, 1, 22, 0, tzinfo=UTC)]
    assert props[P.RDATE] == [datetime(2026, 7, 31, 22, 0, tzinfo=UTC)]
    utc = P.appointment_props(meeting, mailbox_address=OWNER)
    assert utc[P.DTSTART] == datetime(2026, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("CONFIRMED", "CONFIRMED"),
        ("tentative", "TENTATIVE"),
        ("Cancelled", "CANCELLED"),
        ("X-ODD", "CONFIRMED"),
    ],
)
def test_meeting_status(status: str, expected: str) -> None:
    props = P.appointment_props(_meeting(status=status), mailbox_address=OWNER)
    assert props[P.MEETINGSTATUS] == expected


@pytest.mark.parametrize(
    ("sensitivity", "value"),
    [(Sensitivity.PUBLIC, 0), (Sensitivity.PRIVATE, 2), (Sensitivity.CONFIDENTIAL, 3)],
)
def test_sensitivity(sensitivity: Sensitivity, value: int) -> None:
    props = P.appointment_props(_meeting(sensitivity=sensitivity), mailbox_address=OWNER)
    assert props[P.SENSITIVITY] == value
    back = P.meeting_from_props(props, href="/x")
    assert back.sensitivity is sensitivity


def test_text_with_characters_xml_cannot_carry_is_cleaned() -> None:
    meeting = _meeting(summary="a\x00b\x07c\ufffe", description="d\x1be")
    props = P.appointment_props(meeting, mailbox_address=OWNER)
    assert props[P.SUBJECT] == "abc"
    assert props[P.TEXTDESCRIPTION] == "de"
    build_proppatch(props)


# -- messages ------------------------------------------------------------------------------------


def test_request_message_props() -> None:
    stamp = datetime(2026, 11, 25, 17, 47, 46, tzinfo=UTC)
    meeting = _meeting()
    props = P.request_message_props(meeting, mailbox_address=OWNER, dtstamp=stamp)
    appointment = P.appointment_props(meeting, mailbox_address=OWNER)
    assert props[P.CONTENTCLASS] == "urn:content-classes:calendarmessage"
    assert props[P.OUTLOOKMESSAGECLASS] == "IPM.Schedule.Meeting.Request"
    assert props[P.METHOD] == "REQUEST"
    assert props[P.RESPONSESTATUS] == 5
    assert props[P.MAPI_BUSYSTATUS] == 1
    assert props[P.INTENDEDBUSYSTATUS] == 2
    assert props[P.APPTSTATEFLAGS] == 3
    assert props[P.DTSTAMP] == stamp
    assert P.FINVITED not in props
    for name in (P.UID, P.DTSTART, P.DTEND, P.SEQUENCE, P.TO, P.CC, P.BCC, P.SUBJECT, P.RRULE):
        assert props[name] == appointment[name]
    free = P.request_message_props(_meeting(busy_status=BusyStatus.FREE), mailbox_address=OWNER)
    assert (free[P.MAPI_BUSYSTATUS], free[P.INTENDEDBUSYSTATUS]) == (0, 0)
    build_proppatch(props)


def test_cancel_message_props() -> None:
    props = P.cancel_message_props(_meeting(), mailbox_address=OWNER)
    assert props[P.OUTLOOKMESSAGECLASS] == "IPM.Schedule.Meeting.Canceled"
    assert props[P.CONTENTCLASS] == "urn:content-classes:calendarmessage"
    assert props[P.METHOD] == "CANCEL"
    assert props[P.SUBJECT] == "Canceled: Probe meeting"
    assert props[P.MEETINGSTATUS] == "CANCELLED"
    assert props[P.BUSYSTATUS] == "FREE"
    assert (props[P.MAPI_BUSYSTATUS], props[P.INTENDEDBUSYSTATUS]) == (0, 0)
    assert props[P.RESPONSESTATUS] == 5
    assert props[P.APPTSTATEFLAGS] == 7
    assert props[P.UID] == "probe-7b19ceecc6f3"
    build_proppatch(props)


# -- properties -> Meeting -----------------------------------------------------------------------


def test_meeting_from_props_through_the_wire() -> None:
    meeting = _meeting()
    props = _through_the_wire(P.appointment_props(meeting, mailbox_address=OWNER))
    props["DAV:getetag"] = '"abc,1"'
    back = P.meeting_from_props(props, href="/exchange/testuser/Calendar/x.EML")
    assert back.uid == meeting.uid and back.sequence == 2
    assert back.organizer == OWNER and back.organizer_name == "Test User"
    by_mail = {a.email: a for a in back.attendees}
    assert by_mail["alice@example.com"].name == 'Alice "Al" Required, PhD'
    assert by_mail["alice@example.com"].role is AttendeeRole.REQUIRED
    assert by_mail["carol@example.com"].role is AttendeeRole.REQUIRED  # CHAIR -> To -> required
    assert by_mail["bob@example.com"].role is AttendeeRole.OPTIONAL
    for resource in ("room1@example.com", "beamer@example.com"):
        assert by_mail[resource].kind is AttendeeKind.RESOURCE  # rooms come back as resources
        assert by_mail[resource].role is AttendeeRole.NON_PARTICIPANT
    assert back.description == meeting.description
    assert back.reminder_minutes == 15
    assert back.categories == ("Work", "Project X")
    assert back.rrule == meeting.rrule and back.exdates == meeting.exdates
    assert back.extra == {
        "exchange_href": "/exchange/testuser/Calendar/x.EML",
        "exchange_etag": '"abc,1"',
    }


def test_meeting_from_untyped_text_props() -> None:
    props = {
        P.UID: "040000008200E00074C5B7101A82E008",
        P.DTSTART: "2026-07-01T22:00:00.000Z",
        P.DTEND: "2026-07-02T22:00:00Z",
        P.ALLDAYEVENT: "1",
        P.SUBJECT: "Holiday",
        P.HTMLDESCRIPTION: "<P>Away<BR>back &amp; rested</P>",
        P.BUSYSTATUS: "oof",
        P.MEETINGSTATUS: "Tentative",
        P.SEQUENCE: "4",
        P.REMINDEROFFSET: "1800",
        P.REMINDERSET: "0",
        P.SENSITIVITY: "1",
        P.TO: "Alice <alice@example.com>; \"Doe; John\" <john@example.com>; /o=Org/cn=X500",
        P.CC: "alice@example.com, not-an-address",
        P.ORGANIZER: "Boss <boss@example.com>",
    }
    m = P.meeting_from_props(props, href="/x.EML", zone=BERLIN)
    assert m.all_day and (m.start, m.end) == (date(2026, 7, 2), date(2026, 7, 3))
    assert m.description == "Away\nback & rested"
    assert m.busy_status is BusyStatus.OOF and m.status == "TENTATIVE" and m.sequence == 4
    assert m.reminder_minutes is None  # reminderset false wins over a stale offset
    assert m.sensitivity is Sensitivity.PRIVATE
    assert [(a.email, a.name, a.role) for a in m.attendees] == [
        ("alice@example.com", "Alice", AttendeeRole.REQUIRED),
        ("john@example.com", "Doe; John", AttendeeRole.REQUIRED),
    ]
    assert m.organizer == "boss@example.com"
    assert "/o=Org/cn=X500" in m.extra["skipped_recipients"]
    assert "not-an-address" in m.extra["skipped_recipients"]


def test_meeting_from_props_refuses_incomplete_items() -> None:
    with pytest.raises(MeetingError, match="uid"):
        P.meeting_from_props({P.DTSTART: "2026-01-01T00:00:00Z"}, href="/x")
    with pytest.raises(MeetingError, match="start or end"):
        P.meeting_from_props({P.UID: "u", P.DTSTART: "garbage"}, href="/x")


def test_appointment_props_names_are_all_requested() -> None:
    written = set(P.appointment_props(_meeting(rdates=(datetime(2027, 1, 1, tzinfo=UTC),)),
                                      mailbox_address=OWNER))
    assert written <= set(P.APPOINTMENT_PROPS)
    assert len(set(P.APPOINTMENT_PROPS)) == len(P.APPOINTMENT_PROPS)


# -- hypothesis: Meeting -> PROPPATCH -> 207 -> Meeting ------------------------------------------

_chars = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn")), st.sampled_from("\t\n\r")
)
texts = st.text(_chars, max_size=25)
line_texts = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1,
                     max_size=25)
# dot-atoms only (RFC 5322): normalize_address refuses "a.@x" and "a..b@x"
emails = st.from_regex(r"[a-z][a-z0-9+_-]{0,4}(\.[a-z0-9+_-]{1,3})?@[a-z]{1,8}\.example",
                       fullmatch=True)
instants = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2090, 1, 1),
    timezones=st.sampled_from([UTC, BERLIN, ZoneInfo("America/New_York")]),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1))


@st.composite
def meetings(draw: st.DrawFn) -> Meeting:
    all_day = draw(st.booleans())
    if all_day:
        start: datetime | date = draw(days)
        end: datetime | date = start + timedelta(days=draw(st.integers(1, 5)))
        extra_dates = st.lists(days, max_size=3)
    else:
        start = draw(instants)
        # Add in UTC: wall-clock arithmetic would drop `fold` and could end before the start.
        end = (start.astimezone(UTC) + timedelta(minutes=draw(st.integers(0, 10_000)))).astimezone(
            start.tzinfo
        )
        extra_dates = st.lists(instants, max_size=3)
    people = draw(st.lists(emails, max_size=6, unique=True).filter(lambda e: OWNER not in e))
    attendees = []
    for address in people:
        role, kind = draw(
            st.sampled_from(
                [
                    (AttendeeRole.REQUIRED, AttendeeKind.PERSON),
                    (AttendeeRole.OPTIONAL, AttendeeKind.PERSON),
                    (AttendeeRole.NON_PARTICIPANT, AttendeeKind.RESOURCE),
                ]
            )
        )
        attendees.append(Attendee(address, draw(line_texts), role=role, kind=kind))
    return Meeting(
        uid=draw(line_texts.filter(lambda u: u.strip() == u)),
        start=start,
        end=end,
        summary=draw(texts),
        location=draw(texts),
        description=draw(texts),
        sequence=draw(st.integers(0, 2**31 - 1)),
        organizer=OWNER,
        organizer_name=draw(st.sampled_from(["", "Test User", 'Q "x" \\ y, z'])),
        attendees=tuple(attendees),
        all_day=all_day,
        rrule=tuple(draw(st.lists(line_texts, max_size=2))),
        exdates=tuple(draw(extra_dates)),
        rdates=tuple(draw(extra_dates)),
        busy_status=draw(st.sampled_from(list(BusyStatus))),
        sensitivity=draw(st.sampled_from(list(Sensitivity))),
        categories=tuple(draw(st.lists(line_texts, max_size=3))),
        reminder_minutes=draw(st.none() | st.integers(0, 100_000)),
        status=draw(st.sampled_from(["CONFIRMED", "TENTATIVE", "CANCELLED"])),
    )


@given(meetings())
def test_meeting_survives_the_wire(meeting: Meeting) -> None:
    assume(meeting.uid)
    values = P.appointment_props(meeting, mailbox_address=OWNER, zone=BERLIN)
    back = P.meeting_from_props(_through_the_wire(values), href="/c/x.EML", zone=BERLIN)
    if meeting.is_recurring and not meeting.all_day:
        # a series comes back in the zone Exchange expands it in (its own, else the configured)
        meeting = replace(meeting, tzid=P.series_zone_name(meeting, BERLIN))
    assert back.meaningful_fields() == meeting.meaningful_fields()
    assert back.content_hash() == meeting.content_hash()
    assert (back.uid, back.sequence, back.organizer) == (
        meeting.uid, meeting.sequence, meeting.organizer,
    )
    assert back.organizer_name == " ".join(meeting.organizer_name.split())
    assert {a.email: " ".join(a.name.split()) for a in meeting.attendees} == {
        a.email: a.name for a in back.attendees
    }


@given(line_texts, emails)
def test_format_address_round_trips_through_getaddresses(name: str, email: str) -> None:
    formatted = P.format_address(email, name)
    assert "\n" not in formatted and "\r" not in formatted
    [(parsed_name, parsed_email)] = getaddresses([formatted + ", other@example.com"])[:1]
    assert parsed_email == email
    assert parsed_name == " ".join(name.split())


# -- item names ----------------------------------------------------------------------------------

NAME_RE = re.compile(r"[a-z0-9-]+\.EML")


def _check_name(name: str) -> None:
    assert NAME_RE.fullmatch(name), name
    assert len(name) <= 120
    assert ".." not in name
    assert not any(c in name for c in "/\\?#% ")


@pytest.mark.parametrize(
    "uid",
    [
        "probe-7b19ceecc6f3",
        "040000008200E00074C5B7101A82E00800000000",
        "../../etc/passwd",
        "a/b\\c?d#e%f g..h",
        "x" * 500,
        "Grüße-日本語-🎉",
        "日本語",
        "...",
        "CON",
    ],
)
def test_item_name_examples(uid: str) -> None:
    name = P.item_name_for_uid(uid)
    _check_name(name)
    assert name == P.item_name_for_uid(uid)


def test_item_name_shape() -> None:
    assert P.item_name_for_uid("probe-7b19ceecc6f3").startswith("probe-7b19ceecc6f3-")
    assert P.item_name_for_uid("日本語") == P.item_name_for_uid("日本語")
    assert re.fullmatch(r"[0-9a-f]{32}\.EML", P.item_name_for_uid("日本語"))
    with pytest.raises(ValueError, match="UID"):
        P.item_name_for_uid("")


@given(st.text(min_size=1, max_size=600))
def test_item_names_are_safe_and_deterministic(uid: str) -> None:
    name = P.item_name_for_uid(uid)
    _check_name(name)
    assert P.item_name_for_uid(uid) == name


@given(st.text(st.characters(whitelist_categories=("Lu", "Ll")), min_size=1, max_size=50))
def test_uids_differing_in_case_get_different_names(uid: str) -> None:
    for other in (uid.swapcase(), uid.upper(), uid.lower()):
        if other != uid:
            assert P.item_name_for_uid(other).lower() != P.item_name_for_uid(uid).lower()


@given(st.text(min_size=1, max_size=600), st.sampled_from(["request", "update", "cancel"]),
       st.integers(0, 10**19 - 1))
def test_draft_names(uid: str, kind: str, sequence: int) -> None:
    name = P.draft_name_for_uid(uid, kind, sequence)
    _check_name(name)
    assert name == P.draft_name_for_uid(uid, kind, sequence)
    assert name != P.item_name_for_uid(uid)
    assert name != P.draft_name_for_uid(uid, kind, sequence - 1 if sequence else 1)
    assert name.endswith(f"-{kind}-{sequence}.EML")


def test_draft_name_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="kind"):
        P.draft_name_for_uid("u", "Cancel/../x", 1)
    with pytest.raises(ValueError, match="sequence"):
        P.draft_name_for_uid("u", "cancel", -1)
