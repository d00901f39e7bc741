"""Hostile text from a CalDAV client (subject, location, UID) must stay data: no other mailbox,
no extra recipient, no injected OWA form field (checked: this passes today)."""

from __future__ import annotations

import requests

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge
from tests.sim.davclient import items_in

HOSTILE_UID = '../../bob/Calendar/x"><D:set>?Cmd=getcancel&a=%2e%2e/'
TRANSPORT_LOG = "/public/Transport%20Log/"


def _put(url: str, text: str) -> int:
    answer = requests.put(url, data=text.encode(), auth=("alice", "demo"),
                          headers={"Content-Type": "text/calendar"}, timeout=10)
    return answer.status_code


def test_hostile_uid_and_subject_stay_in_alices_mailbox(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    text = ics.calendar(ics.event(
        HOSTILE_UID, ics.BOB,
        "LOCATION:</a:location><a:to>mallory@evil.example</a:to>\\nRequired=mallory@evil",
        summary="]]><x/>&amp; \x0bRequired=mallory@evil.example",
    ))
    assert _put(str(calendar.url) + "hostile.ics", text) in (201, 204)
    calendar.save_event(ics.calendar(ics.event("good-1", ics.BOB)))
    bridge.sync()
    hrefs = [str(i["href"]) for i in bridge.exchange.calendar("alice")]
    assert len(hrefs) == 2 and all("/exchange/alice/Calendar/" in h for h in hrefs)
    assert [i.get(UID) for i in bridge.exchange.calendar("bob")] in ([], [HOSTILE_UID, "good-1"],
                                                                     ["good-1", HOSTILE_UID])
    uids = sorted(str(i.get(UID)) for i in bridge.exchange.inbox("bob", REQUEST))
    assert uids == sorted([HOSTILE_UID, "good-1"])
    # an update goes through sendappt (the OWA form): no injected field reaches anyone else
    moved = text.replace("DTSTART:20261210T140000Z", "DTSTART:20261210T133000Z")
    assert _put(str(calendar.url) + "hostile.ics", moved) in (201, 204)
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 3  # the update went out via sendappt
    for who in ("carol", "dave"):
        assert bridge.exchange.inbox(who) == []
    log = bridge.exchange.session.request(
        "PROPFIND", bridge.exchange.base_url + TRANSPORT_LOG, headers={"Depth": "0"})
    if log.status_code == 207:
        external = items_in(bridge.exchange.session, bridge.exchange.base_url + TRANSPORT_LOG,
                            ("urn:schemas:mailheader:to",))
        assert not any("evil" in str(i.get("urn:schemas:mailheader:to")) for i in external)
