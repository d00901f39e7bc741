"""One user's VTIMEZONE never reaches another user's event (vobject keeps one process-wide
TZID registry: Radicale stored bob's event with alice's definition of a zone she invented)."""

from __future__ import annotations

import requests

from tests.e2e import ics
from tests.e2e.conftest import Bridge

ZONE = "Mars/Olympus"
MARKER = "ALICE-PRIVATE-ZONE-NAME"


def test_a_zone_defined_by_one_user_is_not_lent_to_another(bridge: Bridge) -> None:
    alices_zone = "\r\n".join([
        "BEGIN:VTIMEZONE", f"TZID:{ZONE}",
        "BEGIN:STANDARD", "DTSTART:16010101T000000", f"TZNAME:{MARKER}",
        "TZOFFSETFROM:+0300", "TZOFFSETTO:+0300", "END:STANDARD",
        "END:VTIMEZONE",
    ])
    start, end = f"DTSTART;TZID={ZONE}:20261210T140000", f"DTEND;TZID={ZONE}:20261210T150000"
    alice = ics.calendar(alices_zone + "\r\n" + ics.event("alice-mars", start=start, end=end))
    bridge.calendar("alice").save_event(alice)
    # bob names the same zone without defining it
    bobs = ics.calendar(ics.event("bob-mars", start=start, end=end))
    url = str(bridge.calendar("bob").url) + "bob-mars.ics"
    answer = requests.put(url, data=bobs.encode(), auth=("bob", "demo"), timeout=30,
                          headers={"Content-Type": "text/calendar"})
    assert answer.status_code in (201, 400), answer.text
    stored = requests.get(url, auth=("bob", "demo"), timeout=10)
    assert MARKER not in stored.text
    # alice's own event keeps her definition
    mine = requests.get(str(bridge.calendar("alice").url), auth=("alice", "demo"), timeout=10)
    assert mine.status_code in (200, 207)
