"""`GET /public/?cmd=freebusy` over HTTP: digits from the calendars, XML for IE, HTML otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from exchange_sim.server import RunningSimulator
from tests.sim.conftest import logged_in
from tests.sim.davclient import proppatch
from tests.sim.test_transport import HTTP_START, appointment_props, folder, send_meeting

MSIE = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
EDGE = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/90.0.4430.93 Safari/537.36 Edg/90.0.818.49")
WINDOW = "start=2026-12-10T13:00:00Z&end=2026-12-10T17:00:00Z&interval=30"


def _fbdata(session: requests.Session, base: str, *addresses: str, path: str = "/public/"
            ) -> list[str]:
    users = "".join(f"&u=SMTP:{a}" for a in addresses)
    answer = session.get(f"{base}{path}?cmd=freebusy&{WINDOW}{users}",
                         headers={"User-Agent": MSIE, "Content-Type": "text/xml"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/xml"
    assert answer.text.startswith('<?xml version="1.0"?><a:response xmlns:a="WM">')
    return [part.split("</a:fbdata>")[0] for part in answer.text.split("<a:fbdata>")[1:]]


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_freebusy_shows_bookings_tentative_and_unknown(
        sim: RunningSimulator, alice: requests.Session) -> None:
    base = sim.base_url
    send_meeting(alice, base, "alice", "fb", to="room-101@example.com, carol@example.com")
    with logged_in(sim, "carol") as carol:
        (request,) = folder(carol, base, "carol", "Inbox")
        assert carol.get(str(request["href"]) + "?Cmd=tentative",
                         allow_redirects=False).status_code == 302
    # 13:00-17:00 in 30-minute slots; the meeting is 14:00-15:00.
    assert _fbdata(alice, base, "alice@example.com") == ["00220000"]
    assert _fbdata(alice, base, "room-101@example.com") == ["00220000"]
    assert _fbdata(alice, base, "carol@example.com") == ["00110000"]
    assert _fbdata(alice, base, "nobody@elsewhere.example") == ["44444444"]
    everyone = _fbdata(alice, base, "alice@example.com", "nobody@elsewhere.example",
                       path="/public//")
    assert everyone == ["00220000", "00220000", "44444444"]  # "All Attendees" first


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_freebusy_ignores_free_and_cancelled(sim: RunningSimulator, alice: requests.Session
                                             ) -> None:
    base = sim.base_url
    appointment, _ = send_meeting(alice, base, "alice", "gone", to="bob@example.com",
                                  start=HTTP_START + timedelta(hours=2))
    cancelled = alice.get(appointment + "?Cmd=getcancel", allow_redirects=False)
    assert cancelled.status_code == 302  # a cancellation draft alone changes nothing
    assert _fbdata(alice, base, "alice@example.com") == ["00000022"]
    assert proppatch(alice, appointment, {"urn:schemas:calendar:meetingstatus": "CANCELLED"}
                     ).status_code == 207
    free = {**appointment_props("Lunch", HTTP_START, HTTP_START + timedelta(hours=1), ""),
            "urn:schemas:calendar:busystatus": "FREE"}
    assert proppatch(alice, base + "/exchange/alice/Calendar/lunch.EML", free
                     ).status_code == 207
    assert _fbdata(alice, base, "alice@example.com") == ["00000000"]


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_freebusy_html_for_other_browsers_and_bad_queries(
        sim: RunningSimulator, alice: requests.Session) -> None:
    base = sim.base_url
    send_meeting(alice, base, "alice", "html", to="bob@example.com")
    page = alice.get(f"{base}/public/?cmd=freebusy&{WINDOW}&u=SMTP:alice@example.com",
                     headers={"User-Agent": EDGE})
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html"
    assert page.text.count('bgcolor="#0000FF"') == 2  # two busy half-hours
    for query in ("start=2026-12-10T13:00:00Z&u=SMTP:alice@example.com",
                  f"{WINDOW}", "start=x&end=y&u=a@b.c",
                  "start=2026-12-10T13:00:00Z&end=2026-12-10T12:00:00Z&u=SMTP:a@b.c",
                  "start=2026-12-10T13:00:00Z&end=2036-12-10T12:00:00Z&interval=1&u=a@b.c"):
        bad = alice.get(f"{base}/public/?cmd=freebusy&{query}", headers={"User-Agent": MSIE})
        assert bad.status_code == 400, query
