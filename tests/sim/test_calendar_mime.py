"""exchange_sim.calendar_mime: promoting PUT bodies to properties, rendering GET bodies."""

from __future__ import annotations

import base64
import email
import email.policy
import quopri
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_sim.calendar_mime import MimeError, promote, render

CAL = "urn:schemas:calendar:"
SUBJECT = "urn:schemas:httpmail:subject"
TEXT = "urn:schemas:httpmail:textdescription"
TO = "urn:schemas:mailheader:to"
CC = "urn:schemas:mailheader:cc"
BCC = "urn:schemas:mailheader:bcc"
FROM = "urn:schemas:mailheader:from"
CCLASS = "DAV:contentclass"
MCLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def crlf(text: str) -> bytes:
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


# Exchange's "Central Europe Standard Time" (+01/+02). The observed-traffic capture elides the
# VTIMEZONE DavMail copied from the saveappt answer; this is a VTIMEZONE of that shape.
CEST_VTIMEZONE = """\
BEGIN:VTIMEZONE
TZID:Central Europe Standard Time
BEGIN:STANDARD
DTSTART:16011028T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
"""

PROBE_VEVENT = """\
BEGIN:VEVENT
UID:probe-7b19ceecc6f3
DTSTAMP:20261125T174746Z
DTSTART;TZID=Central Europe Standard Time:20261210T140000Z
DTEND;TZID=Central Europe Standard Time:20261210T150000Z
SEQUENCE:0
SUMMARY:Probe meeting
LOCATION:Room 1
DESCRIPTION:Meeting created by the DavMail probe
STATUS:CONFIRMED
ORGANIZER;CN="Test User":mailto:testuser@example.com
ATTENDEE;CN="Alice Required";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=
 TRUE;CUTYPE=INDIVIDUAL:mailto:alice@example.com
ATTENDEE;CN="Bob Optional";ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TR
 UE;CUTYPE=INDIVIDUAL:mailto:bob@example.com
ATTENDEE;CN="Room 1";ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CUT
 YPE=ROOM:mailto:room1@example.com
ATTENDEE;CN="Test User";ROLE=CHAIR;PARTSTAT=ACCEPTED:mailto:testuser@example.
 com
X-MICROSOFT-CDO-ALLDAYEVENT:FALSE
END:VEVENT
"""

# Observed traffic step 2 (#30): DavMail's calendar PUT, annotations removed, CRLF.
DAVMAIL_APPOINTMENT = crlf(
    """\
Content-Transfer-Encoding: 7bit
Content-class: urn:content-classes:appointment
Date: Wed, 25 Nov 2026 05:47:46 +0000
To: room1@example.com, alice@example.com
Cc: bob@example.com
From: testuser@example.com
MIME-Version: 1.0
Content-Type: multipart/alternative;
\tboundary="----=_NextPart_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

This is a multi-part message in MIME format.

------=_NextPart_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
Content-Type: text/plain;
\tcharset="utf-8"
content-transfer-encoding: 8bit

Meeting created by the DavMail probe
------=_NextPart_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0
Content-class: urn:content-classes:appointment
Content-Type: text/calendar;
\tmethod=PUBLISH;
\tcharset="utf-8"
Content-Transfer-Encoding: 8bit

BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//probe//caldav-driver//EN
METHOD:PUBLISH
"""
    + CEST_VTIMEZONE
    + PROBE_VEVENT
    + """\
END:VCALENDAR

------=_NextPart_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0--
"""
)

# Observed traffic step 2b (#33): the Drafts PUT — calendarmessage, REQUEST, no From, no Subject.
DAVMAIL_REQUEST = (
    DAVMAIL_APPOINTMENT.replace(
        b"urn:content-classes:appointment", b"urn:content-classes:calendarmessage"
    )
    .replace(b"method=PUBLISH", b"method=REQUEST")
    .replace(b"METHOD:PUBLISH", b"METHOD:REQUEST")
    .replace(b"From: testuser@example.com\r\n", b"")
)


def ics(*event_lines: str, method: str | None = None, extra: str = "") -> str:
    head = "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n"
    if method:
        head += f"METHOD:{method}\n"
    body = "\n".join(
        ("BEGIN:VEVENT", "UID:u-1", "DTSTAMP:20260101T000000Z", *event_lines, "END:VEVENT")
    )
    return head + extra + body + "\nEND:VCALENDAR\n"


def mime(calendar: str, *, headers: str = "", cte: str = "8bit", method: str = "PUBLISH") -> bytes:
    """A DavMail-shaped multipart body around ``calendar``, with the part encoded as ``cte``."""
    data = calendar.replace("\n", "\r\n").encode("utf-8")
    if cte == "base64":
        data = base64.encodebytes(data)
    elif cte == "quoted-printable":
        data = quopri.encodestring(data)
    return (
        crlf(
            f"{headers}MIME-Version: 1.0\n"
            'Content-Type: multipart/alternative; boundary="b-1"\n\n--b-1\n'
            'Content-Type: text/plain; charset="utf-8"\n\nbody text\n--b-1\n'
            f'Content-Type: text/calendar; method={method}; charset="utf-8"\n'
            f"Content-Transfer-Encoding: {cte}\n\n"
        )
        + data
        + b"\r\n--b-1--\r\n"
    )


class TestDavMailBodies:
    def test_appointment_put(self) -> None:
        props = promote(DAVMAIL_APPOINTMENT)
        assert props[SUBJECT] == "Probe meeting"  # from SUMMARY: there is no Subject header
        assert props[CAL + "dtstart"] == utc(2026, 12, 10, 14)  # the Z wins over the TZID
        assert props[CAL + "dtend"] == utc(2026, 12, 10, 15)
        assert props[TO] == "room1@example.com, alice@example.com"
        assert props[CC] == "bob@example.com"
        assert props[FROM] == "testuser@example.com"
        assert BCC not in props
        assert props[CCLASS] == "urn:content-classes:appointment"
        assert props[MCLASS] == "IPM.Appointment"
        assert props[TEXT] == "Meeting created by the DavMail probe"
        assert props[CAL + "uid"] == "probe-7b19ceecc6f3"
        assert props[CAL + "location"] == "Room 1"
        assert props[CAL + "sequence"] == 0
        assert props[CAL + "instancetype"] == 0
        assert props[CAL + "alldayevent"] is False
        assert props[CAL + "busystatus"] == "BUSY"
        assert props[CAL + "meetingstatus"] == "CONFIRMED"
        assert props[CAL + "method"] == "PUBLISH"
        assert props[CAL + "organizer"] == "testuser@example.com"
        assert CAL + "rrule" not in props

    def test_drafts_request_put(self) -> None:
        props = promote(DAVMAIL_REQUEST)
        assert props[SUBJECT] == "Probe meeting"
        assert props[CAL + "dtstart"] == utc(2026, 12, 10, 14)
        assert props[CCLASS] == "urn:content-classes:calendarmessage"
        assert props[MCLASS] == "IPM.Schedule.Meeting.Request"
        assert props[CAL + "method"] == "REQUEST"
        assert props[TO] == "room1@example.com, alice@example.com"
        assert props[CC] == "bob@example.com"
        assert props[FROM] == '"Test User" <testuser@example.com>'  # no From: the ORGANIZER

    def test_lf_line_endings(self) -> None:
        assert promote(DAVMAIL_APPOINTMENT.replace(b"\r\n", b"\n")) == promote(DAVMAIL_APPOINTMENT)

    def test_same_zone_name_different_definitions(self) -> None:
        # icalendar caches VTIMEZONEs process-wide by TZID; each body must use its own.
        def body(offset: str) -> bytes:
            zone = (
                "BEGIN:VTIMEZONE\nTZID:Probe Zone\nBEGIN:STANDARD\nDTSTART:16010101T000000\n"
                f"TZOFFSETFROM:{offset}\nTZOFFSETTO:{offset}\nEND:STANDARD\nEND:VTIMEZONE\n"
            )
            return ics("DTSTART;TZID=Probe Zone:20260110T140000", extra=zone).encode()

        assert promote(body("+0100"))[CAL + "dtstart"] == utc(2026, 1, 10, 13)
        assert promote(body("+0500"))[CAL + "dtstart"] == utc(2026, 1, 10, 9)
        assert promote(body("-0300"))[CAL + "dtstart"] == utc(2026, 1, 10, 17)

    def test_body_zones_stay_out_of_the_icalendar_cache(self) -> None:
        # The bridge parses iCalendar in the same process: a simulator body must not teach
        # icalendar a zone. After promoting, the name is still unknown to plain icalendar.
        zone = (
            "BEGIN:VTIMEZONE\nTZID:Calbridge Sim Only Zone\nBEGIN:STANDARD\n"
            "DTSTART:16010101T000000\nTZOFFSETFROM:+0530\nTZOFFSETTO:+0530\nEND:STANDARD\n"
            "END:VTIMEZONE\n"
        )
        event = "DTSTART;TZID=Calbridge Sim Only Zone:20260110T140000"
        assert promote(ics(event, extra=zone).encode())[CAL + "dtstart"] == utc(2026, 1, 10, 8, 30)
        plain = icalendar.Calendar.from_ical(ics(event))
        assert plain.walk("VEVENT")[0]["DTSTART"].dt.tzinfo is None


W_EUROPE_VTIMEZONE = CEST_VTIMEZONE.replace(
    "Central Europe Standard Time", "W. Europe Standard Time"
)


class TestTimes:
    @pytest.mark.parametrize(
        ("local", "expected"),
        [("20260110T140000", utc(2026, 1, 10, 13)), ("20260710T140000", utc(2026, 7, 10, 12))],
    )
    def test_windows_name_with_vtimezone(self, local: str, expected: datetime) -> None:
        body = mime(
            ics(
                f"DTSTART;TZID=W. Europe Standard Time:{local}",
                "DURATION:PT1H",
                extra=W_EUROPE_VTIMEZONE,
            )
        )
        props = promote(body)
        assert props[CAL + "dtstart"] == expected
        assert props[CAL + "dtend"] == expected + timedelta(hours=1)

    def test_vtimezone_wins_over_the_name(self) -> None:
        odd = (
            "BEGIN:VTIMEZONE\nTZID:W. Europe Standard Time\nBEGIN:STANDARD\n"
            "DTSTART:16010101T000000\nTZOFFSETFROM:+0530\nTZOFFSETTO:+0530\nEND:STANDARD\n"
            "END:VTIMEZONE\n"
        )
        body = ics("DTSTART;TZID=W. Europe Standard Time:20260710T140000", extra=odd).encode()
        assert promote(body)[CAL + "dtstart"] == utc(2026, 7, 10, 8, 30)

    @pytest.mark.parametrize(
        ("tzid", "expected"),
        [
            ("Europe/Berlin", utc(2026, 7, 10, 12)),
            ("W. Europe Standard Time", utc(2026, 7, 10, 12)),  # Windows name, no VTIMEZONE
            ("America/New_York", utc(2026, 7, 10, 18)),
            ("Nowhere/Atlantis", utc(2026, 7, 10, 14)),  # unknown: read as UTC
        ],
    )
    def test_tzid_without_vtimezone(self, tzid: str, expected: datetime) -> None:
        props = promote(
            ics(
                f"DTSTART;TZID={tzid}:20260710T140000", f"DTEND;TZID={tzid}:20260710T150000"
            ).encode()
        )
        assert props[CAL + "dtstart"] == expected
        assert props[CAL + "dtend"] == expected + timedelta(hours=1)

    def test_floating_is_utc(self) -> None:
        props = promote(ics("DTSTART:20260710T140000", "DTEND:20260710T153000").encode())
        assert props[CAL + "dtstart"] == utc(2026, 7, 10, 14)
        assert props[CAL + "dtend"] == utc(2026, 7, 10, 15, 30)

    def test_all_day_dates(self) -> None:
        props = promote(ics("DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261226").encode())
        assert props[CAL + "alldayevent"] is True
        assert props[CAL + "dtstart"] == utc(2026, 12, 24)
        assert props[CAL + "dtend"] == utc(2026, 12, 26)
        one_day = promote(ics("DTSTART;VALUE=DATE:20261224").encode())
        assert one_day[CAL + "dtend"] == utc(2026, 12, 25)

    def test_all_day_exchange_style(self) -> None:
        # Exchange/DavMail: local midnights plus X-MICROSOFT-CDO-ALLDAYEVENT:TRUE
        props = promote(
            ics(
                "DTSTART;TZID=Europe/Berlin:20261224T000000",
                "DTEND;TZID=Europe/Berlin:20261225T000000",
                "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE",
            ).encode()
        )
        assert props[CAL + "alldayevent"] is True
        assert props[CAL + "dtstart"] == utc(2026, 12, 23, 23)
        assert props[CAL + "dtend"] == utc(2026, 12, 24, 23)

    def test_duration_and_no_end(self) -> None:
        props = promote(ics("DTSTART:20261210T140000Z", "DURATION:PT1H30M").encode())
        assert props[CAL + "dtend"] == utc(2026, 12, 10, 15, 30)
        instant = promote(ics("DTSTART:20261210T140000Z").encode())
        assert instant[CAL + "dtend"] == utc(2026, 12, 10, 14)

    @pytest.mark.parametrize("cte", ["8bit", "quoted-printable", "base64"])
    def test_transfer_encodings_and_utf8(self, cte: str) -> None:
        body = mime(
            ics("DTSTART:20261210T140000Z", "SUMMARY:Café ☕ Grüße", "LOCATION:Zürich"), cte=cte
        )
        props = promote(body)
        assert props[SUBJECT] == "Café ☕ Grüße"
        assert props[CAL + "location"] == "Zürich"
        assert props[TEXT] == "body text"


class TestRecurrence:
    def test_rrule_and_exdate(self) -> None:
        body = ics(
            "DTSTART;TZID=Europe/Berlin:20261102T100000",
            "DTEND;TZID=Europe/Berlin:20261102T110000",
            "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=10",
            "EXDATE;TZID=Europe/Berlin:20261116T100000,20261123T100000",
            "EXDATE:20261130T090000Z",
            "EXDATE;TZID=Central Europe Standard Time:20261207T090000Z",
        )
        props = promote(body.encode())
        assert props[CAL + "instancetype"] == 1
        assert props[CAL + "rrule"] == ["FREQ=WEEKLY;COUNT=10;BYDAY=MO"]
        assert props[CAL + "exdate"] == [
            utc(2026, 11, 16, 9),
            utc(2026, 11, 23, 9),
            utc(2026, 11, 30, 9),
            utc(2026, 12, 7, 9),
        ]
        assert props[CAL + "dtstart"] == utc(2026, 11, 2, 9)

    def test_rdate_makes_a_master(self) -> None:
        props = promote(ics("DTSTART:20261102T100000Z", "RDATE:20261105T100000Z").encode())
        assert props[CAL + "instancetype"] == 1
        assert props[CAL + "rdate"] == [utc(2026, 11, 5, 10)]

    def test_exception_only(self) -> None:
        props = promote(
            ics(
                "DTSTART:20261109T120000Z", "RECURRENCE-ID:20261109T100000Z", method="REQUEST"
            ).encode()
        )
        assert props[CAL + "instancetype"] == 3
        assert props[CAL + "recurrenceid"] == utc(2026, 11, 9, 10)

    def test_master_preferred_over_exception(self) -> None:
        text = ics("DTSTART:20261102T100000Z", "RRULE:FREQ=DAILY;COUNT=3", "SUMMARY:Master")
        exception = (
            "BEGIN:VEVENT\nUID:u-1\nDTSTAMP:20260101T000000Z\nRECURRENCE-ID:20261103T100000Z"
            "\nDTSTART:20261103T150000Z\nSUMMARY:Moved\nEND:VEVENT\n"
        )
        text = text.replace("BEGIN:VEVENT", exception + "BEGIN:VEVENT", 1)
        props = promote(text.encode())
        assert props[SUBJECT] == "Master"
        assert props[CAL + "instancetype"] == 1


class TestClassesAndRecipients:
    def test_bare_request_derives_recipients(self) -> None:
        body = ics(
            "DTSTART:20261210T140000Z",
            'ORGANIZER;CN="Test User":mailto:testuser@example.com',
            "ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:alice@example.com",
            "ATTENDEE:MAILTO:carol@example.com",
            'ATTENDEE;CN="Bob, Jr.";ROLE=OPT-PARTICIPANT:mailto:bob@example.com',
            "ATTENDEE;CUTYPE=ROOM;ROLE=REQ-PARTICIPANT:mailto:room1@example.com",
            "ATTENDEE;ROLE=NON-PARTICIPANT:mailto:fyi@example.com",
            "ATTENDEE;ROLE=CHAIR:mailto:testuser@example.com",
            "ATTENDEE:urn:uuid:0000-no-address",
            method="REQUEST",
        )
        props = promote(body.encode())
        assert props[CCLASS] == "urn:content-classes:calendarmessage"
        assert props[MCLASS] == "IPM.Schedule.Meeting.Request"
        assert props[TO] == "alice@example.com, carol@example.com"
        assert props[CC] == '"Bob, Jr." <bob@example.com>'
        assert props[BCC] == "room1@example.com, fyi@example.com"
        assert props[FROM] == '"Test User" <testuser@example.com>'

    def test_headers_win_over_attendees(self) -> None:
        body = mime(
            ics("DTSTART:20261210T140000Z", "ATTENDEE:mailto:alice@example.com"),
            headers="To: =?utf-8?q?J=C3=B6rg?= <j@example.com>,\n\tx@example.com\n",
        )
        props = promote(body)
        assert props[TO] == "Jörg <j@example.com>,\tx@example.com"  # unfolded, else verbatim
        assert CC not in props

    def test_cancel(self) -> None:
        props = promote(
            ics("DTSTART:20261210T140000Z", "STATUS:CANCELLED", method="CANCEL").encode()
        )
        assert props[MCLASS] == "IPM.Schedule.Meeting.Canceled"
        assert props[CAL + "meetingstatus"] == "CANCELLED"

    @pytest.mark.parametrize(
        ("partstat", "suffix"), [("ACCEPTED", "Pos"), ("DECLINED", "Neg"), ("TENTATIVE", "Tent")]
    )
    def test_reply(self, partstat: str, suffix: str) -> None:
        body = ics(
            "DTSTART:20261210T140000Z",
            "ORGANIZER:mailto:testuser@example.com",
            f'ATTENDEE;CN="Alice";PARTSTAT={partstat}:mailto:alice@example.com',
            method="REPLY",
        )
        props = promote(body.encode())
        assert props[MCLASS] == f"IPM.Schedule.Meeting.Resp.{suffix}"
        assert props[TO] == "testuser@example.com"
        assert props[FROM] == '"Alice" <alice@example.com>'

    def test_content_class_header_wins(self) -> None:
        # Evolution PUTs method=REQUEST with an appointment content class (reference §2.3)
        body = mime(
            ics("DTSTART:20261210T140000Z", method="REQUEST"),
            headers="content-class: urn:content-classes:appointment\n",
            method="REQUEST",
        )
        props = promote(body)
        assert props[CCLASS] == "urn:content-classes:appointment"
        assert props[MCLASS] == "IPM.Appointment"

    def test_busy_status(self) -> None:
        assert (
            promote(ics("DTSTART:20261210T140000Z", "TRANSP:TRANSPARENT").encode())[
                CAL + "busystatus"
            ]
            == "FREE"
        )
        assert (
            promote(
                ics(
                    "DTSTART:20261210T140000Z",
                    "TRANSP:TRANSPARENT",
                    "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
                ).encode()
            )[CAL + "busystatus"]
            == "OOF"
        )
        assert (
            promote(
                ics("DTSTART:20261210T140000Z", "X-MICROSOFT-CDO-BUSYSTATUS:tentative").encode()
            )[CAL + "busystatus"]
            == "TENTATIVE"
        )

    def test_subject_header_wins_over_summary(self) -> None:
        body = mime(
            ics("DTSTART:20261210T140000Z", "SUMMARY:From ICS"),
            headers="Subject: =?utf-8?b?w5xiZXIgYWxsZXM=?=\n",
        )
        assert promote(body)[SUBJECT] == "Über alles"

    def test_plain_mail(self) -> None:
        body = crlf(
            "From: a@example.com\nTo: b@example.com\nSubject: Hello\n"
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            "Grüße\nzweite Zeile\n"
        )
        props = promote(body)
        assert props == {
            SUBJECT: "Hello",
            TEXT: "Grüße\r\nzweite Zeile",
            TO: "b@example.com",
            FROM: "a@example.com",
            CCLASS: "urn:content-classes:message",
            MCLASS: "IPM.Note",
        }


class TestRefused:
    @pytest.mark.parametrize(
        "calendar",
        [
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261210T140000Z\n",  # never closed
            ics("DTSTART:2026121"),
            ics("DTSTART:20261210T140000Z", "RRULE:FREQ=SOMETIMES"),
            ics("DTSTART:20261210T140000Z", "this line is not iCalendar"),
            ics("DTSTART:20261210T140000Z", "DTEND:20261210T130000Z"),
            ics("DTSTART:20261210T140000Z", "EXDATE:yesterday"),
            "BEGIN:VCALENDAR\nEND:VEVENT\nEND:VCALENDAR\n",
            "BEGIN:VCALENDAR\nEND:VCALENDAR\nBEGIN:VCALENDAR\nEND:VCALENDAR\n",
        ],
        ids=[
            "unclosed",
            "bad-dtstart",
            "bad-rrule",
            "junk-line",
            "end-before-start",
            "bad-exdate",
            "stray-end",
            "two-calendars",
        ],
    )
    def test_broken_ics(self, calendar: str) -> None:
        with pytest.raises(MimeError, match="iCalendar"):
            promote(calendar.encode())
        with pytest.raises(MimeError, match="iCalendar"):
            promote(mime(calendar))

    def test_oversized(self) -> None:
        assert promote(DAVMAIL_APPOINTMENT, max_bytes=len(DAVMAIL_APPOINTMENT))
        with pytest.raises(MimeError, match="limit"):
            promote(DAVMAIL_APPOINTMENT, max_bytes=len(DAVMAIL_APPOINTMENT) - 1)
        with pytest.raises(MimeError, match="limit"):
            promote(b"Subject: x\r\n\r\n" + b"a" * (4 * 1024 * 1024))

    @pytest.mark.parametrize("body", [b"", b" \r\n", b"\x00\x01 not a message at all"])
    def test_not_a_message(self, body: bytes) -> None:
        with pytest.raises(MimeError):
            promote(body)

    @pytest.mark.parametrize(
        "rule",
        [
            "FREQ=SECONDLY",  # would make dateutil walk every second since 1601
            "FREQ=YEARLY;BYMONTH=3;BYDAY=MO,TU,WE,TH,FR,SA,SU",
            "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU;BYHOUR=1,2,3",
        ],
    )
    def test_hostile_vtimezone(self, rule: str) -> None:
        zone = (
            "BEGIN:VTIMEZONE\nTZID:Evil\nBEGIN:STANDARD\nDTSTART:16010101T000000\n"
            f"TZOFFSETFROM:+0100\nTZOFFSETTO:+0100\nRRULE:{rule}\nEND:STANDARD\nEND:VTIMEZONE\n"
        )
        with pytest.raises(MimeError, match="VTIMEZONE"):  # refused before any expansion
            promote(ics("DTSTART;TZID=Evil:20260110T140000", extra=zone).encode())

    def test_too_many_exdates(self) -> None:
        values = ",".join(f"{2026 + i // 365:04d}0101T{i % 24:02d}0000Z" for i in range(5001))
        with pytest.raises(MimeError, match="EXDATE"):
            promote(
                ics("DTSTART:20260101T000000Z", "RRULE:FREQ=HOURLY", f"EXDATE:{values}").encode()
            )

    def test_is_a_value_error(self) -> None:
        assert issubclass(MimeError, ValueError)


class TestRender:
    def test_raw_is_returned_unchanged(self) -> None:
        assert render({SUBJECT: "ignored"}, DAVMAIL_APPOINTMENT) is DAVMAIL_APPOINTMENT

    def test_synthesized_appointment(self) -> None:
        props = promote(DAVMAIL_REQUEST)
        body = render(props, None)
        assert body == render(props, None)  # deterministic
        assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"")
        msg = email.message_from_bytes(body, policy=email.policy.default)
        assert msg["Content-class"] == "urn:content-classes:calendarmessage"
        assert msg["Subject"] == "Probe meeting"
        assert msg.get_content_type() == "multipart/alternative"
        parts = [p.get_content_type() for p in msg.walk()]
        assert parts == ["multipart/alternative", "text/plain", "text/calendar"]
        calendar_part = list(msg.walk())[2]
        assert calendar_part.get_param("method") == "REQUEST"
        text = calendar_part.get_content()
        assert "METHOD:REQUEST" in text
        assert "DTSTART:20261210T140000Z" in text
        assert "VTIMEZONE" not in text
        again = promote(body)
        for key in (SUBJECT, TO, CC, FROM, MCLASS, CCLASS, CAL + "dtstart", CAL + "uid"):
            assert again[key] == props[key]

    def test_plain_note(self) -> None:
        body = render({SUBJECT: "Hi", TEXT: "x", MCLASS: "IPM.Note", TO: "b@example.com"}, None)
        msg = email.message_from_bytes(body, policy=email.policy.default)
        assert msg.get_content_type() == "text/plain"
        assert promote(body)[MCLASS] == "IPM.Note"

    def test_header_injection_is_flattened(self) -> None:
        body = render({SUBJECT: "a\r\nBcc: evil@example.com", MCLASS: "IPM.Note"}, None)
        msg = email.message_from_bytes(body, policy=email.policy.default)
        assert msg["Bcc"] is None
        assert msg["Subject"] == "a Bcc: evil@example.com"

    def test_wrong_types_are_refused(self) -> None:
        with pytest.raises(ValueError, match="dtstart"):
            render(
                {
                    CAL + "dtstart": "2026-12-10T14:00:00Z",
                    CCLASS: "urn:content-classes:appointment",
                },
                None,
            )
        with pytest.raises(ValueError, match="rrule"):
            render(
                {
                    CAL + "dtstart": utc(2026, 1, 1),
                    CAL + "rrule": ["FREQ=NEVER"],
                    MCLASS: "IPM.Appointment",
                },
                None,
            )


# --------------------------------------------------------------------------------------------
# Round trip: promote(render(p, None)) gives back the calendar fields of p.

_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
_instant = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
_address = st.from_regex(r"[a-z][a-z0-9.]{0,10}@example\.(com|org)", fullmatch=True)
_rules = st.sampled_from(
    [
        "FREQ=DAILY;COUNT=3",
        "FREQ=WEEKLY;UNTIL=20271231T000000Z;BYDAY=MO,WE",
        "FREQ=MONTHLY;COUNT=10;BYMONTHDAY=2,15",
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=3",
    ]
)
_CLASSES = [
    ("urn:content-classes:appointment", "IPM.Appointment"),
    ("urn:content-classes:calendarmessage", "IPM.Schedule.Meeting.Request"),
    ("urn:content-classes:calendarmessage", "IPM.Schedule.Meeting.Canceled"),
    ("urn:content-classes:calendarmessage", "IPM.Schedule.Meeting.Resp.Pos"),
    ("urn:content-classes:calendarmessage", "IPM.Schedule.Meeting.Resp.Neg"),
    ("urn:content-classes:calendarmessage", "IPM.Schedule.Meeting.Resp.Tent"),
]


@st.composite
def calendar_props(draw: st.DrawFn) -> dict[str, object]:
    start = draw(_instant)
    content_class, message_class = draw(st.sampled_from(_CLASSES))
    props: dict[str, object] = {
        CCLASS: content_class,
        MCLASS: message_class,
        SUBJECT: draw(_text),
        CAL + "dtstart": start,
        CAL + "dtend": start + timedelta(seconds=draw(st.integers(0, 3 * 86400))),
        CAL + "uid": draw(_text),
        CAL + "sequence": draw(st.integers(0, 2**31 - 1)),
        CAL + "busystatus": draw(st.sampled_from(["FREE", "TENTATIVE", "BUSY", "OOF"])),
        CAL + "alldayevent": draw(st.booleans()),
        FROM: draw(_address),
        TO: ", ".join(draw(st.lists(_address, min_size=1, max_size=3))),
    }
    if draw(st.booleans()):
        props[CAL + "location"] = draw(_text)
    if draw(st.booleans()):
        props[TEXT] = draw(_text)
    if draw(st.booleans()):
        props[CC] = ", ".join(draw(st.lists(_address, min_size=1, max_size=2)))
    if draw(st.booleans()):
        props[CAL + "rrule"] = [draw(_rules)]
        props[CAL + "exdate"] = draw(st.lists(_instant, max_size=3))
    return props


ROUND_TRIP_KEYS = (
    CCLASS,
    MCLASS,
    SUBJECT,
    TEXT,
    FROM,
    TO,
    CC,
    CAL + "dtstart",
    CAL + "dtend",
    CAL + "uid",
    CAL + "sequence",
    CAL + "location",
    CAL + "busystatus",
    CAL + "alldayevent",
    CAL + "rrule",
)


@given(calendar_props())
def test_round_trip(props: dict[str, object]) -> None:
    again = promote(render(props, None))
    for key in ROUND_TRIP_KEYS:
        assert again.get(key) == props.get(key), key
    assert again.get(CAL + "exdate", []) == props.get(CAL + "exdate", [])
    assert again[CAL + "instancetype"] == (1 if props.get(CAL + "rrule") else 0)
