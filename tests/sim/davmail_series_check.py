"""MANUAL check, not a test: a recurring series with exceptions through real DavMail.

Needs Debian's davmail-server 6.0.1 and Java 17; pytest does not collect it. A CalDAV client (the
`caldav` library) writes a weekly 09:00 Europe/Berlin series with a moved and a cancelled
occurrence through DavMail (WebDav mode) into an in-process simulator and reads it back through
DavMail; then it POSTs the series as an iTIP REQUEST to DavMail's scheduling outbox (room-101
and bob). Each step prints a MATCH line (expected: recurring-ical-events on the client's text).
The bodies DavMail sent are replayed in tests/sim/test_davmail_shapes.py.

Run: .venv/bin/python -m tests.sim.davmail_series_check  (DavMail's files go to a temp dir)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import caldav
import icalendar
import recurring_ical_events
import requests

from exchange_sim import series
from exchange_sim.app import Simulator
from exchange_sim.server import serve
from exchange_sim.store import Store

VTIMEZONE = "\r\n".join([
    "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
    "BEGIN:STANDARD", "DTSTART:19701025T030000", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100",
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", "END:STANDARD",
    "BEGIN:DAYLIGHT", "DTSTART:19700329T020000", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200",
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "END:DAYLIGHT", "END:VTIMEZONE"])
UID = "davmail-real-series"
BERLIN = "TZID=Europe/Berlin"
ICS = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//check//EN", VTIMEZONE,
    "BEGIN:VEVENT", f"UID:{UID}", "DTSTAMP:20260101T000000Z", "SUMMARY:Series",
    f"DTSTART;{BERLIN}:20260316T090000", f"DTEND;{BERLIN}:20260316T100000",
    "RRULE:FREQ=WEEKLY;COUNT=5", "END:VEVENT",
    "BEGIN:VEVENT", f"UID:{UID}", "DTSTAMP:20260101T000000Z", "SUMMARY:Moved",
    f"RECURRENCE-ID;{BERLIN}:20260330T090000",
    f"DTSTART;{BERLIN}:20260330T140000", f"DTEND;{BERLIN}:20260330T150000", "END:VEVENT",
    "BEGIN:VEVENT", f"UID:{UID}", "DTSTAMP:20260101T000000Z", "SUMMARY:Series",
    "STATUS:CANCELLED", f"RECURRENCE-ID;{BERLIN}:20260406T090000",
    f"DTSTART;{BERLIN}:20260406T090000", f"DTEND;{BERLIN}:20260406T100000", "END:VEVENT",
    "END:VCALENDAR", ""])
PEOPLE = ("ORGANIZER;CN=Alice:mailto:alice@example.com\r\n"
          "ATTENDEE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;RSVP=TRUE:mailto:room-101@example.com\r\n"
          "ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:bob@example.com\r\n")
WINDOW = (datetime(2026, 3, 15, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC))
Spans = list[tuple[datetime, datetime]]


def expand(text: str) -> Spans:
    calendar = icalendar.Calendar.from_ical(text)
    return sorted((e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
                  for e in recurring_ical_events.of(calendar).between(*WINDOW)
                  if str(e.get("STATUS", "")).upper() != "CANCELLED")


def simulated(props: dict[str, object]) -> Spans:
    return [(o.start, o.end) for o in series.occurrences(props, *WINDOW)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_davmail(work: Path, exchange_url: str, port: int) -> subprocess.Popen[bytes]:
    (work / "davmail.properties").write_text("\n".join([
        "davmail.server=true", "davmail.mode=WebDav", f"davmail.url={exchange_url}",
        f"davmail.caldavPort={port}", "davmail.imapPort=", "davmail.ldapPort=",
        "davmail.popPort=", "davmail.smtpPort=", "davmail.allowRemote=false",
        "davmail.bindAddress=127.0.0.1", "davmail.disableUpdateCheck=true",
        "davmail.caldavPastDelay=0", f"davmail.logFilePath={work / 'davmail.log'}", ""]))
    with (work / "stdout.log").open("wb") as log:
        return subprocess.Popen(["/usr/bin/java", "-jar", "/usr/share/davmail/davmail.jar",
                                 "-server", str(work / "davmail.properties")],
                                stdout=log, stderr=subprocess.STDOUT)


def wait_for(port: int) -> None:
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(1)
    sys.exit("DavMail did not start")


def check(store: Store, port: int) -> None:
    wanted = expand(ICS)
    url = f"http://127.0.0.1:{port}/users/alice@example.com/calendar/"
    calendar = caldav.DAVClient(url=url, username="alice", password="demo").calendar(url=url)
    calendar.save_event(ICS)
    (stored,) = store.children(store.folder_path("alice", "calendar"))
    print("stored series MATCH", simulated(stored.props) == wanted)
    print("read back via DavMail MATCH", expand(calendar.event_by_uid(UID).data) == wanted)

    itip = ICS.replace(UID, UID + "-itip").replace("END:VEVENT", PEOPLE + "END:VEVENT")
    itip = itip.replace("PRODID:-//check//EN", "PRODID:-//check//EN\r\nMETHOD:REQUEST")
    answer = requests.post(
        f"http://127.0.0.1:{port}/users/alice@example.com/outbox/", data=itip.encode(),
        auth=("alice", "demo"), timeout=60, headers={
            "Content-Type": "text/calendar; charset=utf-8; method=REQUEST",
            "Originator": "mailto:alice@example.com",
            "Recipient": "mailto:room-101@example.com, mailto:bob@example.com"})
    print("outbox POST", answer.status_code)
    time.sleep(2)
    (booking,) = store.children(store.folder_path("room-101", "calendar"))
    print("room booking MATCH", simulated(booking.props) == wanted)
    (request,) = store.children(store.folder_path("bob", "inbox"))
    print("bob's request MATCH", simulated(request.props) == wanted)


def main() -> None:
    store = Store(":memory:")
    server = serve(Simulator(store, auth="fba"))
    port = free_port()
    with tempfile.TemporaryDirectory() as work:
        davmail = start_davmail(Path(work), f"{server.base_url}/exchange/", port)
        try:
            wait_for(port)
            check(store, port)
        finally:
            davmail.terminate()
            try:
                davmail.wait(20)
            except subprocess.TimeoutExpired:
                davmail.kill()
            server.stop()


if __name__ == "__main__":
    main()
