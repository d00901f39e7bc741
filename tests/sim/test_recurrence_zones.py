"""Recurring series over HTTP: the simulator expands a series in its own zone, as Exchange does.

Every expectation is computed independently: `recurring_ical_events` expands the client's own
iCalendar, and that is compared with what the simulator reports, through its free/busy grid and
through its GET (`Translate: f`) rendering expanded the same way (protocol reference §4.5, §4.6,
§7.1; issue 9, "The simulator").
"""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import icalendar
import pytest
import recurring_ical_events
import requests

from exchange_sim.app import Simulator
from exchange_sim.server import RunningServer, RunningSimulator, serve
from exchange_sim.store import Store, demo_mailboxes
from tests.sim.conftest import logged_in
from tests.sim.davclient import DT, parse_multistatus, propfind, search
from tests.sim.test_transport import folder

CAL = "urn:schemas:calendar:"
SLOT = timedelta(minutes=30)
MSIE = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
EXCHANGE_BERLIN = "(GMT+01.00) Berlin/Stockholm/Rome/Bern/Vienna"
EXCHANGE_BERLIN_VTIMEZONE = "\r\n".join([
    "BEGIN:VTIMEZONE", f"TZID:{EXCHANGE_BERLIN}",
    "BEGIN:STANDARD", "DTSTART:16010101T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:16010101T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT",
    "END:VTIMEZONE"])


@dataclass(frozen=True)
class Series:
    """A client's recurring event: its zone, local start, rule and extra lines."""

    name: str
    tzid: str
    start: str  # local wall clock, YYYYMMDDTHHMMSS
    hours: float
    rule: str
    window: tuple[datetime, datetime]
    cdo_id: int | None = None  # the CdoTimeZoneId of the zone (reference §4.5), if listed
    vtimezone: str = ""
    extra: tuple[str, ...] = ()

    def end(self) -> str:
        start = datetime.strptime(self.start, "%Y%m%dT%H%M%S")
        return f"{start + timedelta(hours=self.hours):%Y%m%dT%H%M%S}"

    def ics(self, uid: str, *overrides: str, method: str = "") -> str:
        lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//recurrence//EN"]
        lines += [f"METHOD:{method}"] if method else []
        lines += [self.vtimezone] if self.vtimezone else []
        lines += ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", "SUMMARY:Series",
                  f"DTSTART;TZID={self.tzid}:{self.start}", f"DTEND;TZID={self.tzid}:{self.end()}",
                  f"RRULE:{self.rule}", *self.extra, "END:VEVENT", *overrides, "END:VCALENDAR"]
        return "\r\n".join(lines) + "\r\n"


def _window(first: str, last: str) -> tuple[datetime, datetime]:
    return (datetime.fromisoformat(first).replace(tzinfo=UTC),
            datetime.fromisoformat(last).replace(tzinfo=UTC))


CASES = [
    Series("weekly-berlin-march", "Europe/Berlin", "20260309T090000", 1,
           "FREQ=WEEKLY;COUNT=6", _window("2026-03-08", "2026-04-16"), cdo_id=4),
    Series("weekly-berlin-exchange-vtimezone", EXCHANGE_BERLIN, "20260309T090000", 1,
           "FREQ=WEEKLY;UNTIL=20260413T070000Z", _window("2026-03-08", "2026-04-16"),
           vtimezone=EXCHANGE_BERLIN_VTIMEZONE),
    Series("daily-new-york-november", "America/New_York", "20261027T170000", 1,
           "FREQ=DAILY;COUNT=10", _window("2026-10-26", "2026-11-07"), cdo_id=10),
    Series("mo-we-kolkata", "Asia/Kolkata", "20260302T040000", 1,
           "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=8", _window("2026-03-01", "2026-03-28"), cdo_id=23),
    Series("tu-th-los-angeles", "America/Los_Angeles", "20260303T190000", 1.5,
           "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=8", _window("2026-03-02", "2026-03-29"), cdo_id=13),
    Series("exdate-after-dst", "Europe/Berlin", "20260316T090000", 1,
           "FREQ=WEEKLY;COUNT=5", _window("2026-03-15", "2026-04-20"), cdo_id=4,
           extra=("EXDATE;TZID=Europe/Berlin:20260406T090000",)),
    Series("last-day-of-month", "Europe/Berlin", "20260131T150000", 2,
           "FREQ=MONTHLY;BYMONTHDAY=-1;COUNT=5", _window("2026-01-30", "2026-06-01"), cdo_id=4),
]


# -- independent expectations -------------------------------------------------------------------


def expected(ics: str, window: tuple[datetime, datetime]) -> list[tuple[datetime, datetime]]:
    """The occurrences recurring-ical-events finds in an iCalendar text, in UTC, sorted
    (an occurrence with STATUS:CANCELLED does not take place, RFC 5545 §3.8.1.11)."""
    calendar = icalendar.Calendar.from_ical(ics)
    found = recurring_ical_events.of(calendar).between(*window)
    return sorted((e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
                  for e in found if str(e.get("STATUS", "")).upper() != "CANCELLED")


def digits(spans: list[tuple[datetime, datetime]], window: tuple[datetime, datetime]) -> str:
    """The fbdata a BUSY calendar holding exactly `spans` shows (reference §7.1)."""
    start, end = window
    count = -((start - end) // SLOT)
    return "".join(
        "2" if any(s < start + (i + 1) * SLOT and e > start + i * SLOT for s, e in spans) else "0"
        for i in range(count))


# -- what the simulator reports -----------------------------------------------------------------


def fbdata(session: requests.Session, base: str, address: str,
           window: tuple[datetime, datetime]) -> str:
    start, end = (f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in window)
    answer = session.get(f"{base}/public/?cmd=freebusy&start={start}&end={end}&interval=30"
                         f"&u=SMTP:{address}", headers={"User-Agent": MSIE})
    assert answer.status_code == 200, answer.text
    return answer.text.split("<a:fbdata>")[1].split("</a:fbdata>")[0]


def served_ics(session: requests.Session, url: str) -> str:
    """The iCalendar part of GET `url` with `Translate: f`."""
    answer = session.get(url, headers={"Translate": "f"})
    assert answer.status_code == 200, answer.text
    message = email.message_from_bytes(answer.content, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return str(part.get_content())
    raise AssertionError("no text/calendar part")


def put_ics(session: requests.Session, url: str, ics: str, headers: str = "") -> None:
    body = (f"{headers}Content-class: urn:content-classes:appointment\r\nMIME-Version: 1.0\r\n"
            'Content-Type: text/calendar; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{ics}").encode()
    answer = session.put(url, data=body, headers={"Translate": "f",
                                                  "Content-Type": "message/rfc822"})
    assert answer.status_code in (200, 201), answer.text


def send_ics(session: requests.Session, base: str, alias: str, ics: str, to: str) -> None:
    """Submit a meeting message (an iCalendar with METHOD) through the submission URI."""
    method = ics.split("METHOD:")[1].split("\r\n")[0]
    body = (f"To: {to}\r\nContent-class: urn:content-classes:calendarmessage\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: text/calendar; method={method}; charset="utf-8"'
            f"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{ics}").encode()
    answer = session.put(f"{base}/exchange/{alias}/%23%23DavMailSubmissionURI%23%23",
                         data=body, headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 200, answer.text


def proppatch_series(session: requests.Session, url: str, case: Series,
                     occurrences: list[tuple[datetime, datetime]]) -> None:
    """Create the series by PROPPATCH (reference §2.1, §4.5, §4.6): UTC times, the rule, UTC
    exdates, and the zone as a CdoTimeZoneId or, when it has none, a VTIMEZONE text."""
    first_start, first_end = occurrences[0]
    exdates = [line.split(":")[-1] for line in case.extra if line.startswith("EXDATE")]
    exdate_utc = [datetime.strptime(v, "%Y%m%dT%H%M%S").replace(
        tzinfo=occurrences[0][0].tzinfo) for v in exdates]
    zone = (f'<c:timezoneid T:dt="int">{case.cdo_id}</c:timezoneid>' if case.cdo_id is not None
            else f"<c:timezone>{_xml(case.vtimezone)}</c:timezone>")
    exdate_xml = ""
    if exdate_utc:
        local = icalendar.Calendar.from_ical(case.ics("x"))
        tz = local.walk("VEVENT")[0]["DTSTART"].dt.tzinfo
        values = "".join(
            f"<V:v>{v.replace(tzinfo=tz).astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}</V:v>"
            for v in exdate_utc)
        exdate_xml = f'<c:exdate T:dt="mv.dateTime.tz">{values}</c:exdate>'
    body = (
        f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:T="{DT}" xmlns:V="xml:"'
        ' xmlns:c="urn:schemas:calendar:" xmlns:h="urn:schemas:httpmail:"'
        ' xmlns:e="http://schemas.microsoft.com/exchange/"><D:set><D:prop>'
        "<D:contentclass>urn:content-classes:appointment</D:contentclass>"
        "<e:outlookmessageclass>IPM.Appointment</e:outlookmessageclass>"
        "<h:subject>Series</h:subject><c:busystatus>BUSY</c:busystatus>"
        f'<c:dtstart T:dt="dateTime.tz">{first_start:%Y-%m-%dT%H:%M:%SZ}</c:dtstart>'
        f'<c:dtend T:dt="dateTime.tz">{first_end:%Y-%m-%dT%H:%M:%SZ}</c:dtend>'
        f'<c:rrule T:dt="mv.string"><V:v>{case.rule}</V:v></c:rrule>{exdate_xml}{zone}'
        "</D:prop></D:set></D:propertyupdate>")
    answer = session.request("PROPPATCH", url, data=body.encode(),
                             headers={"Content-Type": "text/xml"})
    assert answer.status_code == 207, answer.text
    assert "HTTP/1.1 200" in answer.text, answer.text


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the cases of the issue ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_series_keeps_its_local_time(sim: RunningSimulator, case: Series) -> None:
    base = sim.base_url
    original = case.ics(f"uid-{case.name}")
    wanted = expected(original, case.window)
    assert wanted, "the case must have occurrences in its window"
    with logged_in(sim, "alice") as alice, logged_in(sim, "bob") as bob:
        # A client PUTs its iCalendar (reference §2.3): free/busy follows the local times.
        put_ics(alice, f"{base}/exchange/alice/Calendar/{case.name}.EML", original)
        assert fbdata(alice, base, "alice@example.com", case.window) == digits(
            wanted, case.window)
        # A client PROPPATCHes the series with its zone (§4.5): free/busy and GET agree too.
        url = f"{base}/exchange/bob/Calendar/{case.name}.EML"
        proppatch_series(bob, url, case, wanted)
        assert fbdata(bob, base, "bob@example.com", case.window) == digits(wanted, case.window)
        served = served_ics(bob, url)
        assert "BEGIN:VTIMEZONE" in served
        assert expected(served, case.window) == wanted


def test_weekly_berlin_crosses_dst_at_nine_local() -> None:
    """The expectation itself, spelled out: 09:00 local is 08:00 UTC, then 07:00 UTC."""
    wanted = expected(CASES[0].ics("u"), CASES[0].window)
    assert [s.strftime("%m-%d %H:%M") for s, _ in wanted] == [
        "03-09 08:00", "03-16 08:00", "03-23 08:00", "03-30 07:00", "04-06 07:00", "04-13 07:00"]


# -- exceptions ---------------------------------------------------------------------------------

WEEKLY = Series("weekly-with-exceptions", "Europe/Berlin", "20260316T090000", 1,
                "FREQ=WEEKLY;COUNT=5", _window("2026-03-15", "2026-04-20"), cdo_id=4)
MOVED = "\r\n".join([
    "BEGIN:VEVENT", "UID:{uid}", "DTSTAMP:20260101T000000Z", "SEQUENCE:{seq}",
    "RECURRENCE-ID;TZID=Europe/Berlin:20260330T090000", "SUMMARY:Moved",
    "DTSTART;TZID=Europe/Berlin:20260330T140000", "DTEND;TZID=Europe/Berlin:20260330T150000",
    "LOCATION:Annex", "END:VEVENT"])
CANCELLED = "\r\n".join([
    "BEGIN:VEVENT", "UID:{uid}", "DTSTAMP:20260101T000000Z", "SEQUENCE:{seq}",
    "RECURRENCE-ID;TZID=Europe/Berlin:20260406T090000", "SUMMARY:Series", "STATUS:CANCELLED",
    "DTSTART;TZID=Europe/Berlin:20260406T090000", "DTEND;TZID=Europe/Berlin:20260406T100000",
    "END:VEVENT"])


def _berlin(text: str) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_series_with_moved_and_cancelled_occurrence(sim: RunningSimulator) -> None:
    base = sim.base_url
    uid = "series-with-exceptions"
    original = WEEKLY.ics(uid, MOVED.format(uid=uid, seq=0), CANCELLED.format(uid=uid, seq=0))
    wanted = expected(original, WEEKLY.window)
    assert (_berlin("2026-03-30T14:00"), _berlin("2026-03-30T15:00")) in wanted
    assert len(wanted) == 4  # one cancelled
    url = f"{base}/exchange/alice/Calendar/exceptions.EML"
    with logged_in(sim, "alice") as alice:
        put_ics(alice, url, original)
        # GET round trip: the exceptions come back inside the master's iCalendar (DavMail §4.2).
        assert expected(served_ics(alice, url), WEEKLY.window) == wanted
        assert fbdata(alice, base, "alice@example.com", WEEKLY.window) == digits(
            wanted, WEEKLY.window)
        # One row, the master; the bookkeeping behind the exceptions is never shown.
        found = parse_multistatus(propfind(alice, url, [CAL + "instancetype"]).content)
        assert next(iter(found.values()))[200][CAL + "instancetype"] == 1
        private = "urn:x-exchange-sim:exceptions"
        listing = search(alice, f"{base}/exchange/alice/Calendar",
                         'SELECT "urn:x-exchange-sim:exceptions", "urn:schemas:calendar:location"'
                         ' FROM "" WHERE "DAV:isfolder" = false')
        assert listing.status_code == 207 and "Annex" not in listing.text  # the exception's
        assert private not in str(parse_multistatus(listing.content))
        named = parse_multistatus(propfind(alice, url, [private]).content)
        assert private in next(iter(named.values()))[404]
        everything = alice.request("PROPFIND", url, headers={"Depth": "0"})
        assert everything.status_code == 207 and "Annex" not in everything.text


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_room_honours_the_exceptions(sim: RunningSimulator) -> None:
    base = sim.base_url
    uid = "room-series"
    series = WEEKLY.ics(uid, MOVED.format(uid=uid, seq=0), CANCELLED.format(uid=uid, seq=0),
                        method="REQUEST")
    with logged_in(sim, "alice") as alice, logged_in(sim, "bob") as bob, \
            logged_in(sim, "svc-calbridge") as admin:
        send_ics(alice, base, "alice", series.replace(
            "SUMMARY:Series\r\n", "SUMMARY:Series\r\nORGANIZER:mailto:alice@example.com\r\n", 1),
            "room-101@example.com")
        wanted = expected(series, WEEKLY.window)
        assert fbdata(admin, base, "room-101@example.com", WEEKLY.window) == digits(
            wanted, WEEKLY.window)
        # Bob asks for the room at the moved occurrence's old time, its new time, and the
        # cancelled one's time: free, taken, free.
        for name, start in (("old-slot", "2026-03-30T09:00"), ("new-slot", "2026-03-30T14:00"),
                            ("cancelled-slot", "2026-04-06T09:00")):
            single = "\r\n".join([
                "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//t//EN", "METHOD:REQUEST",
                "BEGIN:VEVENT", f"UID:{name}", "DTSTAMP:20260101T000000Z",
                "ORGANIZER:mailto:bob@example.com", f"SUMMARY:{name}",
                f"DTSTART:{_berlin(start):%Y%m%dT%H%M%SZ}",
                f"DTEND:{_berlin(start) + timedelta(minutes=30):%Y%m%dT%H%M%SZ}",
                "END:VEVENT", "END:VCALENDAR", ""])
            send_ics(bob, base, "bob", single, "room-101@example.com")
        answers = search(admin, f"{base}/exchange/bob/Inbox",
                         'SELECT "urn:schemas:httpmail:subject" FROM "" '
                         'WHERE "DAV:isfolder" = false')
        subjects = sorted(str(groups[200]["urn:schemas:httpmail:subject"])
                          for groups in parse_multistatus(answers.content).values())
        assert subjects == ["Accepted: cancelled-slot", "Accepted: old-slot",
                            "Declined: new-slot"]


# -- messages about one occurrence --------------------------------------------------------------


@pytest.fixture
def tentative_sim(sim_servers: dict[str, RunningServer]) -> Iterator[RunningSimulator]:
    """The basic-auth test server with dave's Outlook placing tentative copies on arrival."""
    mailboxes = [replace(m, auto_tentative=True) if m.alias == "dave" else m
                 for m in demo_mailboxes()]
    app = Simulator(Store(":memory:", mailboxes), auth="basic")
    server = sim_servers.get("basic")
    if server is None:
        server = sim_servers["basic"] = serve(app)
    server.app = app
    yield RunningSimulator(server.base_url, app, app.store, server)
    app.close()


def test_occurrence_request_and_cancel_reach_the_attendee(
        tentative_sim: RunningSimulator) -> None:
    base = tentative_sim.base_url
    uid = "per-occurrence"
    organizer = "ORGANIZER:mailto:alice@example.com"
    master = WEEKLY.ics(uid, method="REQUEST").replace(
        "SUMMARY:Series\r\n", f"SUMMARY:Series\r\n{organizer}\r\n", 1)
    header = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
    moved = (f"{header}METHOD:REQUEST\r\n"
             + MOVED.format(uid=uid, seq=1).replace("SUMMARY:", f"{organizer}\r\nSUMMARY:")
             + "\r\nEND:VCALENDAR\r\n")
    cancel = (f"{header}METHOD:CANCEL\r\n"
              + CANCELLED.format(uid=uid, seq=1).replace("SUMMARY:", f"{organizer}\r\nSUMMARY:")
              + "\r\nEND:VCALENDAR\r\n")
    room = "room-102@example.com"
    with logged_in(tentative_sim, "alice") as alice, \
            logged_in(tentative_sim, "svc-calbridge") as admin:
        send_ics(alice, base, "alice", master, f"dave@example.com, {room}")
        send_ics(alice, base, "alice", moved, f"dave@example.com, {room}")
        send_ics(alice, base, "alice", cancel, f"dave@example.com, {room}")
        # What the organizer's client holds in the end: the series, one moved, one cancelled.
        wanted = expected(WEEKLY.ics(uid, MOVED.format(uid=uid, seq=1),
                                     CANCELLED.format(uid=uid, seq=1)), WEEKLY.window)
        assert len(wanted) == 4
        calendar = search(admin, f"{base}/exchange/dave/Calendar",
                          'SELECT "DAV:href" FROM "" WHERE "DAV:isfolder" = false')
        (copy_url,) = parse_multistatus(calendar.content)
        served = served_ics(admin, copy_url if copy_url.startswith("http")
                            else base + quote(copy_url))
        assert expected(served, WEEKLY.window) == wanted
        assert "SUMMARY:Moved" in served and "RECURRENCE-ID;TZID=" in served
        # The room moved that occurrence and is free again at the cancelled one.
        assert fbdata(admin, base, room, WEEKLY.window) == digits(wanted, WEEKLY.window)
        # Dave's copy is tentative throughout (Outlook's on-arrival copy).
        assert set(fbdata(admin, base, "dave@example.com", WEEKLY.window)) == {"0", "1"}


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_unusable_zone_and_private_bookkeeping(sim: RunningSimulator,
                                               caplog: pytest.LogCaptureFixture) -> None:
    base = sim.base_url
    hostile = EXCHANGE_BERLIN_VTIMEZONE.replace("FREQ=YEARLY;WKST=MO;INTERVAL=1;BYMONTH=3",
                                                "FREQ=SECONDLY;BYMONTH=3")
    case = Series("hostile", EXCHANGE_BERLIN, "20260309T090000", 1, "FREQ=WEEKLY;COUNT=6",
                  _window("2026-03-08", "2026-04-16"), vtimezone=hostile)
    first = [(datetime(2026, 3, 9, 8, tzinfo=UTC), datetime(2026, 3, 9, 9, tzinfo=UTC))]
    url = f"{base}/exchange/alice/Calendar/hostile.EML"
    with logged_in(sim, "alice") as alice:
        # PUT refuses the hostile VTIMEZONE outright (400, nothing stored).
        body = (f"Content-Type: text/calendar\r\n\r\n{case.ics('h')}").encode()
        refused = alice.put(url, data=body, headers={"Content-Type": "message/rfc822"})
        assert refused.status_code == 400 and "VTIMEZONE" in refused.text
        assert alice.get(url, headers={"Translate": "f"}).status_code == 404
        # Set by PROPPATCH, it is stored but counts as no zone: UTC, in free/busy and GET alike.
        proppatch_series(alice, url, case, first)
        in_utc = [(first[0][0] + timedelta(weeks=n), first[0][1] + timedelta(weeks=n))
                  for n in range(6)]
        assert fbdata(alice, base, "alice@example.com", case.window) == digits(
            in_utc, case.window)
        served = served_ics(alice, url)
        assert "DTSTART:20260309T080000Z" in served and "BEGIN:VTIMEZONE" not in served
        assert expected(served, case.window) == in_utc
        assert not [r for r in caplog.records if r.exc_info]
        # The exceptions bookkeeping is not a WebDAV property anyone may set.
        answer = alice.request("PROPPATCH", url, headers={"Content-Type": "text/xml"}, data=(
            b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x-exchange-sim:">'
            b"<D:set><D:prop><x:exceptions>[]</x:exceptions></D:prop></D:set>"
            b"</D:propertyupdate>"))
        assert answer.status_code == 207 and "409" in answer.text


# -- DavMail's shapes ---------------------------------------------------------------------------

DAVMAIL_TZID = "Central Europe Standard Time"


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_davmail_shaped_series_put_and_read_back(sim: RunningSimulator) -> None:
    """Built after observed-traffic step 2 (#30) and 2c (#37), not captured: DavMail PUTs the
    series with the saveappt VTIMEZONE renamed to an Exchange name, lists only instancetype 0
    and 1 (davmail-client §4.2), and reads the exceptions back inside the master's iCalendar
    through PR_INTERNET_CONTENT."""
    base = sim.base_url
    uid = "davmail-series"
    vtimezone = EXCHANGE_BERLIN_VTIMEZONE.replace(EXCHANGE_BERLIN, DAVMAIL_TZID)
    case = replace(WEEKLY, tzid=DAVMAIL_TZID, vtimezone=vtimezone)
    moved = MOVED.format(uid=uid, seq=0).replace("TZID=Europe/Berlin", f"TZID={DAVMAIL_TZID}")
    ics = case.ics(uid, moved, method="PUBLISH").replace(
        "END:VEVENT", "X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\nEND:VEVENT")
    wanted = expected(ics, WEEKLY.window)
    assert (_berlin("2026-03-30T14:00"), _berlin("2026-03-30T15:00")) in wanted
    body = ("Content-class: urn:content-classes:appointment\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/alternative;\r\n\tboundary="----=_NextPart_x"\r\n\r\n'
            "------=_NextPart_x\r\nContent-class: urn:content-classes:appointment\r\n"
            'Content-Type: text/calendar;\r\n\tmethod=PUBLISH;\r\n\tcharset="utf-8"\r\n'
            f"Content-Transfer-Encoding: 8bit\r\n\r\n{ics}\r\n------=_NextPart_x--\r\n")
    url = f"{base}/exchange/alice/Calendar/{uid}.EML"
    with logged_in(sim, "alice") as alice:
        put = alice.put(url, data=body.encode(), headers={
            "Translate": "f", "Overwrite": "f", "If-None-Match": "*",
            "Content-Type": "message/rfc822"})
        assert put.status_code == 201 and put.headers.get("GetETag")
        listing = search(alice, f"{base}/exchange/alice/Calendar", (
            'SELECT "DAV:getetag" FROM Scope(\'SHALLOW TRAVERSAL OF ""\') WHERE '
            '"DAV:isfolder" = false AND "DAV:ishidden" = false AND '
            '("http://schemas.microsoft.com/exchange/outlookmessageclass" = \'IPM.Appointment\''
            ' AND ("urn:schemas:calendar:instancetype" = 1 OR '
            '("urn:schemas:calendar:instancetype" = 0 AND '
            '"urn:schemas:calendar:dtend" > \'2026/05/01 00:00:00\' AND '
            '"urn:schemas:calendar:dtstart" < \'2026/06/01 00:00:00\')))'))
        assert listing.status_code == 207
        assert len(parse_multistatus(listing.content)) == 1  # the master, outside the range
        content = "http://schemas.microsoft.com/mapi/proptag/x66590102"
        found = parse_multistatus(propfind(alice, url, [content]).content)
        raw = next(iter(found.values()))[200][content]
        mime = raw if isinstance(raw, bytes) else base64.b64decode(str(raw))
        message = email.message_from_bytes(mime, policy=email.policy.default)
        (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
        assert expected(str(part.get_content()), WEEKLY.window) == wanted
        assert fbdata(alice, base, "alice@example.com", WEEKLY.window) == digits(
            wanted, WEEKLY.window)


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_owa_accept_and_decline_of_one_occurrence(sim: RunningSimulator) -> None:
    base = sim.base_url
    uid = "owa-occurrence"
    organizer = "ORGANIZER:mailto:alice@example.com"

    def one(template: str, method: str) -> str:
        return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n"
                f"METHOD:{method}\r\n"
                + template.format(uid=uid, seq=1).replace("SUMMARY:", f"{organizer}\r\nSUMMARY:")
                + "\r\nEND:VCALENDAR\r\n")

    declined = MOVED.replace("20260330T090000", "20260323T090000").replace(
        "20260330T140000", "20260323T090000").replace("20260330T150000", "20260323T100000")
    with logged_in(sim, "alice") as alice, logged_in(sim, "bob") as bob:
        def answer(command: str) -> None:
            (request,) = folder(bob, base, "bob", "Inbox")
            reply = bob.get(f"{request['href']}?Cmd={command}", allow_redirects=False)
            assert reply.status_code == 302

        send_ics(alice, base, "alice", WEEKLY.ics(uid, method="REQUEST").replace(
            "SUMMARY:Series\r\n", f"SUMMARY:Series\r\n{organizer}\r\n", 1), "bob@example.com")
        answer("accept")
        send_ics(alice, base, "alice", one(MOVED, "REQUEST"), "bob@example.com")
        answer("accept")
        send_ics(alice, base, "alice", one(declined, "REQUEST"), "bob@example.com")
        answer("decline")
        wanted = [(s, e) for s, e in expected(WEEKLY.ics(uid, MOVED.format(uid=uid, seq=1)),
                                              WEEKLY.window)
                  if s != _berlin("2026-03-23T09:00")]
        assert len(wanted) == 4
        (copy,) = folder(bob, base, "bob", "Calendar")
        assert expected(served_ics(bob, str(copy["href"])), WEEKLY.window) == wanted
        assert fbdata(bob, base, "bob@example.com", WEEKLY.window) == digits(
            wanted, WEEKLY.window)
