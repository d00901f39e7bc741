"""A room matches a message to its booking by uid AND organizer (issue 8 item 8), over HTTP.

Bob books room-102. Alice then sends a request with bob's uid and a higher sequence, and later a
cancellation with that uid: neither may move or remove bob's booking.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import requests

from exchange_sim.server import RunningSimulator
from tests.sim.conftest import logged_in
from tests.sim.davclient import proppatch
from tests.sim.test_transport import CAL, CLASS, HTTP_START, SUBJECT, classes, folder, send_meeting

ORGANIZER = CAL + "organizer"


@pytest.fixture
def admin(sim: RunningSimulator) -> Iterator[requests.Session]:
    with logged_in(sim, "svc-calbridge") as session:
        yield session


def _send_raw(session: requests.Session, base: str, alias: str, name: str, *, uid: str,
              sequence: int, start: datetime, cancel: bool = False) -> None:
    """A meeting message with a chosen uid and sequence, PROPPATCHed into Drafts and MOVEd."""
    message: dict[str, object] = {
        "DAV:contentclass": "urn:content-classes:calendarmessage",
        CLASS: "IPM.Schedule.Meeting." + ("Canceled" if cancel else "Request"),
        SUBJECT: "Taken over",
        CAL + "uid": uid,
        CAL + "sequence": sequence,
        CAL + "dtstart": start,
        CAL + "dtend": start + timedelta(hours=1),
        "urn:schemas:mailheader:to": "room-102@example.com",
    }
    if cancel:
        message[CAL + "method"] = "CANCEL"
    draft = f"{base}/exchange/{alias}/Drafts/{name}.EML"
    assert proppatch(session, draft, message).status_code == 207
    moved = session.request("MOVE", draft, headers={
        "Destination": f"/exchange/{alias}/%23%23DavMailSubmissionURI%23%23"})
    assert moved.status_code in (200, 201), moved.text


def _bookings(admin: requests.Session, base: str) -> list[dict]:
    return folder(admin, base, "room-102", "Calendar")


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_same_uid_from_another_organizer_neither_moves_nor_cancels_a_booking(
        sim: RunningSimulator, admin: requests.Session) -> None:
    base = sim.base_url
    with logged_in(sim, "bob") as bob:
        _, uid = send_meeting(bob, base, "bob", "review", subject="Review",
                              to="room-102@example.com")
    (booking,) = _bookings(admin, base)
    assert booking[CAL + "uid"] == uid and booking[CAL + "dtstart"] == HTTP_START

    with logged_in(sim, "alice") as alice:
        # Same uid, higher sequence, overlapping time: not bob's meeting, so a conflict.
        _send_raw(alice, base, "alice", "grab", uid=uid, sequence=5,
                  start=HTTP_START + timedelta(minutes=30))
        assert classes(admin, base, "alice", "Inbox") == ["IPM.Schedule.Meeting.Resp.Neg"]
        (still,) = _bookings(admin, base)
        assert still["href"] == booking["href"]
        assert still[CAL + "dtstart"] == HTTP_START and still[CAL + "sequence"] == 0

        # Same uid, a free time: booked as alice's own meeting, beside bob's.
        later = HTTP_START + timedelta(hours=3)
        _send_raw(alice, base, "alice", "elsewhere", uid=uid, sequence=6, start=later)
        starts = sorted(b[CAL + "dtstart"] for b in _bookings(admin, base))
        assert starts == [HTTP_START, later]

        # Alice cancels "uid": only her own booking goes.
        _send_raw(alice, base, "alice", "cancel", uid=uid, sequence=7, start=later, cancel=True)
    (left,) = _bookings(admin, base)
    assert left["href"] == booking["href"] and left[CAL + "dtstart"] == HTTP_START
    assert classes(admin, base, "bob", "Inbox") == ["IPM.Schedule.Meeting.Resp.Pos"]
    (bob_appointment,) = folder(admin, base, "bob", "Calendar")
    assert "room-102@example.com" in str(bob_appointment["urn:schemas:mailheader:to"])


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_organizer_still_updates_and_cancels_own_booking(
        sim: RunningSimulator, admin: requests.Session) -> None:
    base = sim.base_url
    with logged_in(sim, "bob") as bob:
        _, uid = send_meeting(bob, base, "bob", "review", to="room-102@example.com")
        moved = HTTP_START + timedelta(hours=1)
        _send_raw(bob, base, "bob", "update", uid=uid, sequence=1, start=moved)
        (booking,) = _bookings(admin, base)
        assert booking[CAL + "dtstart"] == moved
        _send_raw(bob, base, "bob", "cancel", uid=uid, sequence=2, start=moved, cancel=True)
    assert _bookings(admin, base) == []
