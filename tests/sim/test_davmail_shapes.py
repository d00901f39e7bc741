"""Requests exactly as DavMail 6.0.1 (Debian davmail-server 6.0.1.3390-7, WebDav mode) sent them to
the simulator during the one-off black-box verification; each test pins an answer DavMail needs.

No DavMail here: the bodies and headers were copied from a loopback capture of its traffic.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import requests

from exchange_sim.server import RunningSimulator
from tests.sim.davclient import parse_multistatus

EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/90.0.4430.93 Safari/537.36 Edg/90.0.818.49")
MSIE = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
PROPTAG = "http://schemas.microsoft.com/mapi/proptag/"
TASK_SET = "http://schemas.microsoft.com/mapi/id/{00062003-0000-0000-c000-000000000046}/"
COMMON_SET = "http://schemas.microsoft.com/mapi/id/{00062008-0000-0000-c000-000000000046}/"


def _davmail(session: requests.Session, method: str, url: str, body: bytes = b"",
             **headers: str) -> requests.Response:
    sent = {"User-Agent": EDGE, "Accept-Encoding": "gzip,deflate", "Connection": "Keep-Alive",
            **{k.replace("_", "-"): v for k, v in headers.items()}}
    return session.request(method, url, data=body, headers=sent)


def _urlcompname_search(folder: str, name: str) -> bytes:
    """The SEARCH DavMail sends after a 404 on an item (GET fallback), with `Range: rows=0-0`."""
    return (
        '<?xml version="1.0"?>\n<d:searchrequest xmlns:d="DAV:">\n        <d:sql>SELECT '  # noqa: S608
        '"http://schemas.microsoft.com/exchange/permanenturl","DAV:contentclass",'
        '"urn:schemas:httpmail:subject","http://schemas.microsoft.com/mapi/proptag/x10f3001f",'
        '"DAV:displayname","http://schemas.microsoft.com/exchange/permanenturl","DAV:getetag" '
        f"FROM SCOPE('Shallow TRAVERSAL OF \"{folder}\"') WHERE "
        f"\"http://schemas.microsoft.com/mapi/proptag/x10f3001f\" = '{name}' ORDER BY "
        '"http://schemas.microsoft.com/mapi/proptag/x0e230003" DESC</d:sql>\n'
        "</d:searchrequest>\n"
    ).encode()


def test_urlcompname_lookup_with_no_match_is_an_empty_207(
        sim: RunningSimulator, alice: requests.Session) -> None:
    # DavMail GETs a missing event: PROPFIND → 404, then this SEARCH. A 416 here made DavMail
    # NPE ("responseList" is null) and answer the CalDAV client 503 instead of 404.
    answer = _davmail(alice, "SEARCH", f"{sim.base_url}/exchange/alice/Calendar",
                      _urlcompname_search("/exchange/alice/Calendar", "does-not-exist.ics"),
                      Range="rows=0-0", Content_Type="text/xml; charset=UTF-8")
    assert answer.status_code == 207
    assert answer.headers["Content-Type"] == "text/xml"  # exactly: DavMail compares the string
    assert answer.headers["Content-Range"] == "rows 0-0; total=0"
    assert parse_multistatus(answer.content) == {}


def test_urlcompname_lookup_finds_the_item_and_ranges_past_a_real_end_stay_416(
        sim: RunningSimulator, alice: requests.Session) -> None:
    url = f"{sim.base_url}/exchange/alice/Calendar/probe.EML"
    assert _davmail(alice, "PUT", url, b"Subject: probe\r\n\r\nbody\r\n", Translate="f",
                    Content_Type="message/rfc822").status_code == 201
    body = _urlcompname_search("/exchange/alice/Calendar", "probe.EML")
    found = _davmail(alice, "SEARCH", f"{sim.base_url}/exchange/alice/Calendar", body,
                     Range="rows=0-0", Content_Type="text/xml; charset=UTF-8")
    assert found.status_code == 207 and found.headers["Content-Range"] == "rows 0-0; total=1"
    (row,) = parse_multistatus(found.content).values()
    assert row[200][PROPTAG + "x10f3001f"] == "probe.EML"
    past = _davmail(alice, "SEARCH", f"{sim.base_url}/exchange/alice/Calendar", body,
                    Range="rows=1-1", Content_Type="text/xml; charset=UTF-8")
    assert past.status_code == 416  # paging past the end of a non-empty result (reference §5.2)


# DavMail's typed PROPPATCH that creates a task (a CalDAV PUT of a VTODO), byte for byte except
# for the order of the properties, which DavMail takes from a HashSet. Two things in it broke the
# simulator's XML parser: namespace URIs containing "}" (the MAPI named-property sets), and
# element names starting with a digit (`<g:0x00008105>`).
TASK_PROPPATCH = (
    '<D:propertyupdate xmlns:D="DAV:" xmlns:e="http://schemas.microsoft.com/exchange/" '
    'xmlns:l="urn:schemas:mailheader:" xmlns:j="urn:schemas:calendar:" '
    f'xmlns:g="{TASK_SET}" xmlns:f="urn:schemas-microsoft-com:datatypes" '
    f'xmlns:h="{COMMON_SET}" xmlns:i="urn:schemas:httpmail:" xmlns:k="DAV:"><D:set><D:prop>'
    "<i:subject>Write report</i:subject>"
    '<g:0x00008105 f:dt="dateTime.tz">2026-12-15T00:00:00.000Z</g:0x00008105>'
    "<j:uid>todo-1</j:uid>"
    '<g:0x00008101 f:dt="int">3</g:0x00008101>'
    "<k:contentclass>urn:content-classes:task</k:contentclass>"
    '<g:0x811c f:dt="boolean">0</g:0x811c>'
    "<e:outlookmessageclass>IPM.Task</e:outlookmessageclass>"
    '<g:0x8102 f:dt="float">0.0</g:0x8102>'
    '<h:_x0030_x8517 f:dt="dateTime.tz">2026-12-15T00:00:00.000Z</h:_x0030_x8517>'
    "</D:prop></D:set><D:remove><D:prop><e:keywords-utf8/><g:0x8104/><g:0x810f/>"
    "<l:importance/><i:textdescription/><h:0x8516/></D:prop></D:remove></D:propertyupdate>"
).encode()


def test_task_proppatch_with_named_property_sets_creates_the_task(
        sim: RunningSimulator, alice: requests.Session) -> None:
    url = f"{sim.base_url}/exchange/alice/Tasks/todo-1.EML"
    answer = _davmail(alice, "PROPPATCH", url, TASK_PROPPATCH, Translate="f",
                      If_None_Match="*", Content_Type="text/xml; charset=UTF-8")
    assert answer.status_code == 207, answer.text
    assert b"HTTP/1.1 200 OK" in answer.content
    item = sim.store.get("/exchange/alice/Tasks/todo-1.EML")
    assert item is not None
    assert item.props["DAV:contentclass"] == "urn:content-classes:task"
    assert item.props["http://schemas.microsoft.com/exchange/outlookmessageclass"] == "IPM.Task"
    assert item.props["urn:schemas:httpmail:subject"] == "Write report"
    assert item.props[TASK_SET + "0x00008101"] == 3
    assert item.props[TASK_SET + "0x8102"] == 0.0
    assert item.props[TASK_SET + "0x811c"] is False
    assert COMMON_SET + "0x8517" in item.props  # `_x0030_x8517` is the escaped "0x8517"
    again = _davmail(alice, "PROPPATCH", url, TASK_PROPPATCH, Translate="f",
                     If_None_Match="*", Content_Type="text/xml; charset=UTF-8")
    assert again.status_code == 412  # the create is conditional like any other


@pytest.mark.parametrize("body", [
    b"<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop></D:set></D:propertyupdate>",
    b"<D:propertyupdate xmlns:D='DAV:'><D:set><D:prop><1x></D:prop></D:set></D:propertyupdate>",
    b"<D:propertyupdate xmlns:D='DAV:' xmlns:g='urn:x:{1}/'><D:set><D:prop><g:a>"
    b"</D:prop></D:set></D:propertyupdate>",
])
def test_malformed_bodies_stay_400(sim: RunningSimulator, alice: requests.Session,
                                   body: bytes) -> None:
    answer = _davmail(alice, "PROPPATCH", f"{sim.base_url}/exchange/alice/Tasks/bad.EML", body,
                      Content_Type="text/xml")
    assert answer.status_code == 400
    assert sim.store.get("/exchange/alice/Tasks/bad.EML") is None


def test_propfind_names_a_property_in_a_named_property_set(
        sim: RunningSimulator, alice: requests.Session) -> None:
    url = f"{sim.base_url}/exchange/alice/Tasks/todo-1.EML"
    assert _davmail(alice, "PROPPATCH", url, TASK_PROPPATCH, Translate="f",
                    Content_Type="text/xml; charset=UTF-8").status_code == 207
    body = (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:g="{TASK_SET}"><D:prop>'
            "<g:0x8102/><D:displayname/></D:prop></D:propfind>").encode()
    answer = _davmail(alice, "PROPFIND", url, body, Depth="0",
                      Content_Type="application/xml; charset=UTF-8")
    assert answer.status_code == 207
    assert f'="{TASK_SET}"' in answer.text  # the set's namespace, declared on the root
    assert "_x0030_x8102" in answer.text and "todo-1.EML" in answer.text


def test_davmail_default_user_agent_gets_the_html_freebusy_page(
        sim: RunningSimulator, alice: requests.Session) -> None:
    # Reference §7.1: only an IE User-Agent gets the WM XML. DavMail 6.0.1's default UA is Edge,
    # so against Exchange 2003 it finds no `<a:fbdata>` and reports nothing for any attendee;
    # `davmail.userAgent` set to an MSIE string makes it work (checked with DavMail).
    query = ("/public/?cmd=freebusy&start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z"
             "&interval=15&u=SMTP:alice@example.com")
    page = _davmail(alice, "GET", sim.base_url + query, Content_Type="text/xml")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html"
    assert "<a:fbdata>" not in page.text
    xml = alice.get(sim.base_url + query, headers={"User-Agent": MSIE, "Content-Type": "text/xml"})
    assert xml.headers["Content-Type"] == "text/xml"
    last = xml.text.rsplit("<a:fbdata>", 1)[1].split("</a:fbdata>")[0]  # DavMail takes the last
    assert last == "0" * 96


# Captured 2026-11-30 from DavMail 6.0.1 (WebDav mode) against this simulator: the `caldav`
# library PUT a weekly 09:00 Europe/Berlin series with a moved (30 Mar, 14:00) and a cancelled
# (6 Apr) occurrence; DavMail renamed the zone to "W. Europe Standard Time" and PUT this body.
DAVMAIL_SERIES_PUT = (
    b'Content-Transfer-Encoding: 7bit\r\n'
    b'Content-class: urn:content-classes:appointment\r\n'
    b'Date: Mon, 30 Nov 2026 01:33:10 +0000\r\n'
    b'To: alice@example.com\r\n'
    b'From: alice@example.com\r\n'
    b'MIME-Version: 1.0\r\n'
    b'Content-Type: multipart/alternative;\r\n'
    b'\tboundary="----=_NextPart_e2488995-ac11-4522-a244-bef0b7c4fd2e"\r\n'
    b'\r\n'
    b'This is a multi-part message in MIME format.\r\n'
    b'\r\n'
    b'------=_NextPart_e2488995-ac11-4522-a244-bef0b7c4fd2e\r\n'
    b'Content-class: urn:content-classes:appointment\r\n'
    b'Content-Type: text/calendar;\r\n'
    b'\tmethod=PUBLISH;\r\n'
    b'\tcharset="utf-8"\r\n'
    b'Content-Transfer-Encoding: 8bit\r\n'
    b'\r\n'
    b'BEGIN:VCALENDAR\r\n'
    b'VERSION:2.0\r\n'
    b'PRODID:-//check//EN\r\n'
    b'METHOD:PUBLISH\r\n'
    b'BEGIN:VTIMEZONE\r\n'
    b'TZID:W. Europe Standard Time\r\n'
    b'BEGIN:STANDARD\r\n'
    b'DTSTART:19701025T030000\r\n'
    b'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\n'
    b'TZOFFSETFROM:+0200\r\n'
    b'TZOFFSETTO:+0100\r\n'
    b'END:STANDARD\r\n'
    b'BEGIN:DAYLIGHT\r\n'
    b'DTSTART:19700329T020000\r\n'
    b'RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\n'
    b'TZOFFSETFROM:+0100\r\n'
    b'TZOFFSETTO:+0200\r\n'
    b'END:DAYLIGHT\r\n'
    b'END:VTIMEZONE\r\n'
    b'BEGIN:VEVENT\r\n'
    b'SUMMARY:Series\r\n'
    b'DTSTART;TZID=W. Europe Standard Time:20260316T090000\r\n'
    b'DTEND;TZID=W. Europe Standard Time:20260316T100000\r\n'
    b'DTSTAMP:20260101T000000Z\r\n'
    b'UID:davmail-real-series\r\n'
    b'RRULE:FREQ=WEEKLY;COUNT=5\r\n'
    b'ORGANIZER:MAILTO:alice@example.com\r\n'
    b'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n'
    b'END:VEVENT\r\n'
    b'BEGIN:VEVENT\r\n'
    b'SUMMARY:Moved\r\n'
    b'DTSTART;TZID=W. Europe Standard Time:20260330T140000\r\n'
    b'DTEND;TZID=W. Europe Standard Time:20260330T150000\r\n'
    b'DTSTAMP:20260101T000000Z\r\n'
    b'UID:davmail-real-series\r\n'
    b'RECURRENCE-ID;TZID=W. Europe Standard Time:20260330T090000\r\n'
    b'ORGANIZER:MAILTO:alice@example.com\r\n'
    b'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n'
    b'END:VEVENT\r\n'
    b'BEGIN:VEVENT\r\n'
    b'SUMMARY:Series\r\n'
    b'DTSTART;TZID=W. Europe Standard Time:20260406T090000\r\n'
    b'DTEND;TZID=W. Europe Standard Time:20260406T100000\r\n'
    b'DTSTAMP:20260101T000000Z\r\n'
    b'UID:davmail-real-series\r\n'
    b'RECURRENCE-ID;TZID=W. Europe Standard Time:20260406T090000\r\n'
    b'STATUS:CANCELLED\r\n'
    b'ORGANIZER:MAILTO:alice@example.com\r\n'
    b'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n'
    b'END:VEVENT\r\n'
    b'END:VCALENDAR\r\n'
    b'\r\n'
    b'------=_NextPart_e2488995-ac11-4522-a244-bef0b7c4fd2e--\r\n'
)


def test_series_with_exceptions_as_davmail_puts_it(
        sim: RunningSimulator, alice: requests.Session) -> None:
    url = f"{sim.base_url}/exchange/alice/Calendar/davmail-real-series.ics"
    put = _davmail(alice, "PUT", url, DAVMAIL_SERIES_PUT, Translate="f", Overwrite="f",
                   If_None_Match="*", Content_Type="message/rfc822")
    assert put.status_code == 201 and put.headers["GetETag"]
    # Read back (step 2c #37): the exceptions inside the master's iCalendar, byte for byte.
    assert _davmail(alice, "GET", url, Translate="f").content == DAVMAIL_SERIES_PUT
    # Free/busy: 09:00 local before and after the change to summer time, the moved occurrence
    # at 14:00 local, nothing on 6 April (30-minute slots from 15 March 00:00Z).
    query = ("/public/?cmd=freebusy&start=2026-03-15T00:00:00Z&end=2026-04-20T00:00:00Z"
             "&interval=30&u=SMTP:alice@example.com")
    xml = alice.get(sim.base_url + query, headers={"User-Agent": MSIE})
    digits = xml.text.rsplit("<a:fbdata>", 1)[1].split("</a:fbdata>")[0]
    start = datetime(2026, 3, 15)
    busy = [f"{start + i * timedelta(minutes=30):%m-%d %H:%M}"
            for i, digit in enumerate(digits) if digit == "2"]
    assert busy == ["03-16 08:00", "03-16 08:30", "03-23 08:00", "03-23 08:30",
                    "03-30 12:00", "03-30 12:30", "04-13 07:00", "04-13 07:30"]


# Captured in the same run: the `caldav` client POSTed that series as an iTIP REQUEST (with the
# room and bob as attendees) to DavMail's scheduling outbox; DavMail PUT this into Drafts and
# MOVEd it to the submission URI (observed traffic step 2b).
DAVMAIL_SERIES_INVITATION = (
    b'Content-Transfer-Encoding: 7bit\r\n'
    b'Content-class: urn:content-classes:calendarmessage\r\n'
    b'Date: Mon, 30 Nov 2026 01:34:12 +0000\r\n'
    b'To: room-101@example.com, bob@example.com\r\n'
    b'MIME-Version: 1.0\r\n'
    b'Content-Type: multipart/alternative;\r\n'
    b'\tboundary="----=_NextPart_dbfd9411-901d-4522-b6c4-370bc4a8348a"\r\n'
    b'\r\n'
    b'This is a multi-part message in MIME format.\r\n'
    b'\r\n'
    b'------=_NextPart_dbfd9411-901d-4522-b6c4-370bc4a8348a\r\n'
    b'Content-class: urn:content-classes:calendarmessage\r\n'
    b'Content-Type: text/calendar;\r\n'
    b'\tmethod=REQUEST;\r\n'
    b'\tcharset="utf-8"\r\n'
    b'Content-Transfer-Encoding: 8bit\r\n'
    b'\r\n'
    b'BEGIN:VCALENDAR\r\n'
    b'VERSION:2.0\r\n'
    b'PRODID:-//check//EN\r\n'
    b'METHOD:REQUEST\r\n'
    b'BEGIN:VTIMEZONE\r\n'
    b'TZID:W. Europe Standard Time\r\n'
    b'BEGIN:STANDARD\r\n'
    b'DTSTART:19701025T030000\r\n'
    b'TZOFFSETFROM:+0200\r\n'
    b'TZOFFSETTO:+0100\r\n'
    b'RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n'
    b'END:STANDARD\r\n'
    b'BEGIN:DAYLIGHT\r\n'
    b'DTSTART:19700329T020000\r\n'
    b'TZOFFSETFROM:+0100\r\n'
    b'TZOFFSETTO:+0200\r\n'
    b'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n'
    b'END:DAYLIGHT\r\n'
    b'END:VTIMEZONE\r\n'
    b'BEGIN:VEVENT\r\n'
    b'UID:davmail-real-series-itip\r\n'
    b'DTSTAMP:20260101T000000Z\r\n'
    b'SUMMARY:Series\r\n'
    b'DTSTART;TZID=W. Europe Standard Time:20260316T090000\r\n'
    b'DTEND;TZID=W. Europe Standard Time:20260316T100000\r\n'
    b'RRULE:FREQ=WEEKLY;COUNT=5\r\n'
    b'ORGANIZER;CN="Alice":mailto:alice@example.com\r\n'
    b'ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mai\r\n'
    b' lto:room-101@example.com\r\n'
    b'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@exam\r\n'
    b' ple.com\r\n'
    b'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n'
    b'END:VEVENT\r\n'
    b'BEGIN:VEVENT\r\n'
    b'UID:davmail-real-series-itip\r\n'
    b'DTSTAMP:20260101T000000Z\r\n'
    b'SUMMARY:Moved\r\n'
    b'RECURRENCE-ID;TZID=W. Europe Standard Time:20260330T090000\r\n'
    b'DTSTART;TZID=W. Europe Standard Time:20260330T140000\r\n'
    b'DTEND;TZID=W. Europe Standard Time:20260330T150000\r\n'
    b'ORGANIZER;CN="Alice":mailto:alice@example.com\r\n'
    b'ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mai\r\n'
    b' lto:room-101@example.com\r\n'
    b'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@exam\r\n'
    b' ple.com\r\n'
    b'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n'
    b'END:VEVENT\r\n'
    b'BEGIN:VEVENT\r\n'
    b'UID:davmail-real-series-itip\r\n'
    b'DTSTAMP:20260101T000000Z\r\n'
    b'SUMMARY:Series\r\n'
    b'STATUS:CANCELLED\r\n'
    b'RECURRENCE-ID;TZID=W. Europe Standard Time:20260406T090000\r\n'
    b'DTSTART;TZID=W. Europe Standard Time:20260406T090000\r\n'
    b'DTEND;TZID=W. Europe Standard Time:20260406T100000\r\n'
    b'ORGANIZER;CN="Alice":mailto:alice@example.com\r\n'
    b'ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mai\r\n'
    b' lto:room-101@example.com\r\n'
    b'ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@exam\r\n'
    b' ple.com\r\n'
    b'X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n'
    b'END:VEVENT\r\n'
    b'END:VCALENDAR\r\n'
    b'\r\n'
    b'------=_NextPart_dbfd9411-901d-4522-b6c4-370bc4a8348a--\r\n'
)


def test_series_invitation_as_davmail_sends_it_books_the_room_with_its_exceptions(
        sim: RunningSimulator, alice: requests.Session) -> None:
    base = sim.base_url
    draft = f"{base}/exchange/alice/Drafts/8e0c5a2e.EML"
    flags = (f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:p="{PROPTAG}">'
             "<D:set><D:prop><p:x0e070003>9</p:x0e070003><p:x59020003>1441792</p:x59020003>"
             "<p:x59090003>2</p:x59090003></D:prop></D:set></D:propertyupdate>").encode()
    assert _davmail(alice, "PROPPATCH", draft, flags, Translate="f",
                    Content_Type="text/xml; charset=UTF-8").status_code == 207
    assert _davmail(alice, "PUT", draft, DAVMAIL_SERIES_INVITATION, Translate="f",
                    Content_Type="message/rfc822").status_code in (200, 201)
    moved = _davmail(alice, "MOVE", draft, Translate="f", Overwrite="F",
                     Destination="/exchange/alice/%23%23DavMailSubmissionURI%23%23")
    assert moved.status_code in (200, 201)
    query = ("/public/?cmd=freebusy&start=2026-03-15T00:00:00Z&end=2026-04-20T00:00:00Z"
             "&interval=60&u=SMTP:room-101@example.com")
    xml = alice.get(base + query, headers={"User-Agent": MSIE})
    digits = xml.text.rsplit("<a:fbdata>", 1)[1].split("</a:fbdata>")[0]
    start = datetime(2026, 3, 15)
    busy = [f"{start + i * timedelta(hours=1):%m-%d %H:%M}"
            for i, digit in enumerate(digits) if digit == "2"]
    assert busy == ["03-16 08:00", "03-23 08:00", "03-30 12:00", "04-13 07:00"]
