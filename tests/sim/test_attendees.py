"""Attendee behaviour on arrival: rooms book or decline, auto-tentative copies, responses."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from exchange_sim import attendees, transport
from exchange_sim.app import Simulator
from exchange_sim.server import RunningServer, RunningSimulator, serve
from exchange_sim.store import Store, demo_mailboxes
from tests.sim.conftest import logged_in
from tests.sim.test_transport import classes, folder, send_meeting

CAL = "urn:schemas:calendar:"
CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
SUBJECT = "urn:schemas:httpmail:subject"
T0 = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _message(uid: str, to: str, start: datetime, *, klass: str = "Request", sequence: int = 0,
             **extra: object) -> dict[str, object]:
    return {
        "DAV:contentclass": "urn:content-classes:calendarmessage",
        CLASS: "IPM.Schedule.Meeting." + klass,
        SUBJECT: f"Meeting {uid}",
        CAL + "uid": uid,
        CAL + "sequence": sequence,
        CAL + "dtstart": start,
        CAL + "dtend": start + HOUR,
        "urn:schemas:mailheader:to": to,
        **extra,
    }


def _send(store: Store, alias: str, message: dict[str, object]) -> None:
    transport.submit(store, store.mailboxes[alias], None, message)


def _calendar(store: Store, alias: str) -> list[dict[str, object]]:
    return [i.props for i in store.children(store.folder_path(alias, "calendar"))]


def _inbox_classes(store: Store, alias: str) -> list[str]:
    return [str(i.props[CLASS]) for i in store.children(store.folder_path(alias, "inbox"))]


@pytest.fixture
def store() -> Store:
    people = [replace(m, auto_tentative=True) if m.alias == "dave" else m
              for m in demo_mailboxes()]
    return Store(mailboxes=people)


def test_room_accepts_when_free_and_declines_on_conflict(store: Store) -> None:
    _send(store, "alice", _message("m1", "room-101@example.com", T0))
    (booking,) = _calendar(store, "room-101")
    assert booking[CAL + "uid"] == "m1"
    assert booking[CAL + "busystatus"] == "BUSY"
    assert booking["http://schemas.microsoft.com/mapi/responsestatus"] == 3
    assert _inbox_classes(store, "alice") == ["IPM.Schedule.Meeting.Resp.Pos"]
    (request,) = store.children(store.folder_path("room-101", "inbox"))
    assert request.props["urn:schemas:httpmail:read"] is True

    _send(store, "bob", _message("m2", "room-101@example.com", T0 + HOUR / 2))
    assert [b[CAL + "uid"] for b in _calendar(store, "room-101")] == ["m1"]
    assert _inbox_classes(store, "bob") == ["IPM.Schedule.Meeting.Resp.Neg"]
    (answer,) = store.children(store.folder_path("bob", "inbox"))
    assert answer.props[SUBJECT] == "Declined: Meeting m2"


def test_room_update_moves_booking_and_cancel_frees_it(store: Store) -> None:
    _send(store, "alice", _message("m1", "room-101@example.com", T0))
    _send(store, "alice", _message("m1", "room-101@example.com", T0 + HOUR / 2, sequence=1))
    (booking,) = _calendar(store, "room-101")
    assert booking[CAL + "dtstart"] == T0 + HOUR / 2
    assert _inbox_classes(store, "alice") == ["IPM.Schedule.Meeting.Resp.Pos"] * 2
    _send(store, "alice", _message("m1", "room-101@example.com", T0, klass="Canceled",
                                   sequence=2))
    assert _calendar(store, "room-101") == []
    assert len(_inbox_classes(store, "alice")) == 2  # a cancellation is not answered


def test_room_ignores_out_of_date_request(store: Store) -> None:
    _send(store, "alice", _message("m1", "room-101@example.com", T0, sequence=3))
    _send(store, "alice", _message("m1", "room-101@example.com", T0 + HOUR * 5, sequence=1))
    (booking,) = _calendar(store, "room-101")
    assert booking[CAL + "dtstart"] == T0
    assert len(_inbox_classes(store, "alice")) == 1


def test_room_sees_conflict_with_a_recurring_booking(store: Store) -> None:
    weekly = _message("series", "room-102@example.com", T0,
                      **{CAL + "rrule": ["FREQ=WEEKLY;COUNT=10"]})
    _send(store, "alice", weekly)
    assert len(_calendar(store, "room-102")) == 1
    _send(store, "bob", _message("later", "room-102@example.com", T0 + timedelta(weeks=3)))
    assert _inbox_classes(store, "bob") == ["IPM.Schedule.Meeting.Resp.Neg"]
    _send(store, "bob", _message("free", "room-102@example.com", T0 + timedelta(weeks=3, hours=2)))
    assert sorted(_inbox_classes(store, "bob")) == [
        "IPM.Schedule.Meeting.Resp.Neg", "IPM.Schedule.Meeting.Resp.Pos"]


def test_free_and_cancelled_appointments_do_not_conflict(store: Store) -> None:
    calendar = store.folder_path("room-101", "calendar")
    base = {"DAV:contentclass": "urn:content-classes:appointment",
            CAL + "dtstart": T0, CAL + "dtend": T0 + HOUR}
    store.write(calendar + "/free.EML", {**base, CAL + "busystatus": "FREE"})
    store.write(calendar + "/gone.EML", {**base, CAL + "meetingstatus": "CANCELLED"})
    _send(store, "alice", _message("m1", "room-101@example.com", T0))
    assert _inbox_classes(store, "alice") == ["IPM.Schedule.Meeting.Resp.Pos"]


def test_auto_tentative_person_gets_copy_then_cancelled(store: Store) -> None:
    _send(store, "alice", _message("m1", "dave@example.com, bob@example.com", T0))
    (copy,) = _calendar(store, "dave")
    assert copy[CAL + "busystatus"] == "TENTATIVE"
    assert copy["http://schemas.microsoft.com/mapi/responsestatus"] == 5
    assert _calendar(store, "bob") == []  # bob has no auto_tentative
    _send(store, "alice", _message("m1", "dave@example.com", T0 + HOUR, sequence=1))
    (copy,) = _calendar(store, "dave")
    assert copy[CAL + "dtstart"] == T0 + HOUR
    _send(store, "alice", _message("m1", "dave@example.com", T0, klass="Canceled", sequence=2))
    (copy,) = _calendar(store, "dave")
    assert copy[CAL + "meetingstatus"] == "CANCELLED"
    assert copy[CAL + "busystatus"] == "FREE"
    assert copy[SUBJECT] == "Canceled: Meeting m1"
    assert _inbox_classes(store, "alice") == []  # people do not answer on arrival


def test_organizer_copy_is_left_alone(store: Store) -> None:
    _send(store, "dave", _message("self", "dave@example.com", T0))
    assert _calendar(store, "dave") == []


def test_respond_accept_places_busy_copy_and_answers(store: Store) -> None:
    _send(store, "alice", _message("m1", "bob@example.com", T0))
    (request,) = store.children(store.folder_path("bob", "inbox"))
    attendees.respond(store, store.mailboxes["bob"], request.path, "accept")
    (copy,) = _calendar(store, "bob")
    assert copy[CAL + "busystatus"] == "BUSY"
    assert copy["http://schemas.microsoft.com/mapi/responsestatus"] == 3
    assert _inbox_classes(store, "alice") == ["IPM.Schedule.Meeting.Resp.Pos"]
    assert _inbox_classes(store, "bob") == []  # the request moved to Deleted Items
    assert len(store.children(store.folder_path("bob", "deleteditems"))) == 1


def test_respond_tentative_then_decline(store: Store) -> None:
    _send(store, "alice", _message("m1", "bob@example.com", T0))
    (request,) = store.children(store.folder_path("bob", "inbox"))
    attendees.respond(store, store.mailboxes["bob"], request.path, "tentative")
    assert _calendar(store, "bob")[0][CAL + "busystatus"] == "TENTATIVE"
    _send(store, "alice", _message("m1", "bob@example.com", T0, sequence=1))
    (request,) = store.children(store.folder_path("bob", "inbox"))
    attendees.respond(store, store.mailboxes["bob"], request.path, "decline")
    assert _calendar(store, "bob") == []
    assert sorted(_inbox_classes(store, "alice")) == [
        "IPM.Schedule.Meeting.Resp.Neg", "IPM.Schedule.Meeting.Resp.Tent"]


def test_respond_refuses_non_requests(store: Store) -> None:
    _send(store, "alice", _message("m1", "bob@example.com", T0, klass="Canceled"))
    (message,) = store.children(store.folder_path("bob", "inbox"))
    with pytest.raises(attendees.NotARequest):
        attendees.respond(store, store.mailboxes["bob"], message.path, "accept")


def test_response_records_replytime_on_organizer_appointment(store: Store) -> None:
    calendar = store.folder_path("alice", "calendar")
    store.write(calendar + "/m1.EML", {"DAV:contentclass": "urn:content-classes:appointment",
                                       CAL + "uid": "m1", CAL + "dtstart": T0,
                                       CAL + "dtend": T0 + HOUR})
    _send(store, "alice", _message("m1", "room-101@example.com", T0))
    (appointment,) = _calendar(store, "alice")
    assert isinstance(appointment[CAL + "replytime"], datetime)


def test_calendar_busy_expands_and_skips_free(store: Store) -> None:
    calendar = store.folder_path("carol", "calendar")
    base = {"DAV:contentclass": "urn:content-classes:appointment",
            CAL + "dtstart": T0, CAL + "dtend": T0 + HOUR}
    store.write(calendar + "/daily.EML", {**base, CAL + "rrule": ["FREQ=DAILY;COUNT=3"]})
    store.write(calendar + "/free.EML", {**base, CAL + "busystatus": "FREE"})
    store.write(calendar + "/bad.EML", {**base, CAL + "rrule": ["NOT A RULE"]})
    busy = attendees.calendar_busy(store, store.mailboxes["carol"], T0, T0 + timedelta(days=7))
    assert [(s.day, status) for s, _, status in busy] == [(10, "BUSY"), (11, "BUSY"),
                                                          (12, "BUSY")]


# -- over HTTP -------------------------------------------------------------------------------


@pytest.fixture
def tentative_sim(sim_servers: dict[str, RunningServer]) -> Iterator[RunningSimulator]:
    """The basic-auth test server with dave's Outlook placing tentative copies on arrival."""
    mailboxes = [replace(m, auto_tentative=True) if m.alias == "dave" else m
                 for m in demo_mailboxes()]
    store = Store(":memory:", mailboxes)
    app = Simulator(store, auth="basic")
    server = sim_servers.get("basic")
    if server is None:
        server = sim_servers["basic"] = serve(app)
    server.app = app
    yield RunningSimulator(server.base_url, app, store, server)
    app.close()


def test_http_auto_tentative_copy_and_room_booking(tentative_sim: RunningSimulator) -> None:
    base = tentative_sim.base_url
    with logged_in(tentative_sim, "alice") as alice, \
            logged_in(tentative_sim, "svc-calbridge") as admin:
        _, uid = send_meeting(alice, base, "alice", "tent",
                              to="dave@example.com, bob@example.com, room-102@example.com")
        (copy,) = folder(admin, base, "dave", "Calendar")
        assert copy[CAL + "uid"] == uid and copy[CAL + "busystatus"] == "TENTATIVE"
        assert copy["http://schemas.microsoft.com/mapi/responsestatus"] == 5
        assert folder(admin, base, "bob", "Calendar") == []
        (booking,) = folder(admin, base, "room-102", "Calendar")
        assert booking["http://schemas.microsoft.com/mapi/responsestatus"] == 3
        assert classes(admin, base, "alice", "Inbox") == ["IPM.Schedule.Meeting.Resp.Pos"]
