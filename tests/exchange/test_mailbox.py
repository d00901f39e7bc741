"""The Exchange client against the simulator over real HTTP, in all three auth modes.

What arrives is checked the way an administrator would: WebDAV SEARCH/PROPFIND on the
attendees' folders with the service account (tests/sim/davclient.py shares no code with the
client under test).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bridge.exchange import errors
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox, own_mailbox_alias
from bridge.meeting import Attendee, AttendeeKind, AttendeeRole, Meeting
from exchange_sim.server import RunningSimulator
from tests.exchange.unjournaled import cancel_meeting, create_meeting, update_meeting
from tests.sim.conftest import logged_in
from tests.sim.davclient import items_in

MODES = ["fba", "basic", "ntlm"]
START = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
MESSAGE_CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
SEQUENCE = "urn:schemas:calendar:sequence"
UID = "urn:schemas:calendar:uid"
DTSTART = "urn:schemas:calendar:dtstart"
LISTING = (
    "urn:schemas:httpmail:subject",
    MESSAGE_CLASS,
    UID,
    SEQUENCE,
    DTSTART,
    "urn:schemas:calendar:dtend",
    "urn:schemas:calendar:location",
)





def client(sim: RunningSimulator, user: str = "alice", *, auth: str | None = None) -> Mailbox:
    mode = auth or sim.app.auth.mode
    name = f"EXAMPLE\\{user}" if mode == "ntlm" else user
    session = ExchangeSession(
        SessionConfig(
            server_url=sim.base_url,
            credentials=Credentials(name, "demo"),
            auth=mode,  # type: ignore[arg-type]
            backoff=0.01,
        ),
        sleep=lambda _s: None,
    )
    return Mailbox(session, user, f"{user}@example.com")


def meeting(uid: str = "standup-1", **changes: object) -> Meeting:
    base = Meeting(
        uid=uid,
        start=START,
        end=START + timedelta(hours=1),
        summary="Planning",
        location="Room 101",
        description="Agenda: <everything>",
        organizer="alice@example.com",
        attendees=(
            Attendee("bob@example.com", "Bob Example", AttendeeRole.REQUIRED),
            Attendee("carol@example.com", "Carol Example", AttendeeRole.OPTIONAL),
            Attendee(
                "room-101@example.com",
                "Room 101",
                AttendeeRole.NON_PARTICIPANT,
                AttendeeKind.ROOM,
            ),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def admin(sim: RunningSimulator) -> Iterator[requests.Session]:
    with logged_in(sim, "svc-calbridge") as session:
        yield session


def folder(sim: RunningSimulator, alias: str, name: str) -> str:
    return f"{sim.base_url}/exchange/{alias}/{name}/"


def inbox(sim: RunningSimulator, admin: requests.Session, alias: str) -> list[dict[str, object]]:
    return items_in(admin, folder(sim, alias, "Inbox"), LISTING)


def of_class(items: list[dict[str, object]], message_class: str) -> list[dict[str, object]]:
    return [i for i in items if i.get(MESSAGE_CLASS) == message_class]


@pytest.mark.parametrize("sim", MODES, indirect=True)
def test_create_update_cancel_reach_each_attendee_once(
    sim: RunningSimulator, admin: requests.Session
) -> None:
    alice = client(sim)
    original = meeting()
    alice.discover()
    sim.app.log.clear()

    url = create_meeting(alice, original)
    created_requests = len(sim.app.log)

    for who in ("bob", "carol"):
        requests_ = of_class(inbox(sim, admin, who), "IPM.Schedule.Meeting.Request")
        assert len(requests_) == 1, who
        assert requests_[0][UID] == "standup-1"
        assert requests_[0][DTSTART] == START
    booked = items_in(admin, folder(sim, "room-101", "Calendar"), LISTING)
    assert [b[UID] for b in booked] == ["standup-1"]
    assert len(of_class(inbox(sim, admin, "alice"), "IPM.Schedule.Meeting.Resp.Pos")) == 1
    assert alice.exists(url)

    sim.app.log.clear()
    moved = replace(original, start=START + timedelta(hours=2), end=START + timedelta(hours=3))
    update_meeting(alice, moved)
    update_requests = len(sim.app.log)
    for who in ("bob", "carol"):
        requests_ = of_class(inbox(sim, admin, who), "IPM.Schedule.Meeting.Request")
        assert len(requests_) == 2, who  # the invitation and exactly one update
        update = max(requests_, key=lambda r: r[SEQUENCE])  # type: ignore[arg-type, return-value]
        assert update[SEQUENCE] > min(r[SEQUENCE] for r in requests_)  # type: ignore[type-var]
        assert update[DTSTART] == START + timedelta(hours=2)
    assert (alice.sequence_of(url) or 0) >= 1

    sim.app.log.clear()
    cancel_meeting(alice, moved)
    cancel_requests = len(sim.app.log)
    for who in ("bob", "carol"):
        cancels = of_class(inbox(sim, admin, who), "IPM.Schedule.Meeting.Canceled")
        assert len(cancels) == 1, who
    assert not alice.exists(url)
    assert items_in(admin, folder(sim, "room-101", "Calendar"), LISTING) == []
    assert items_in(admin, folder(sim, "alice", "Drafts"), LISTING) == []

    print(
        f"\n[{sim.app.auth.mode}] Exchange requests: create+invite {created_requests}, "
        f"update {update_requests}, cancel {cancel_requests} (after discovery)"
    )


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
@pytest.mark.sim_options(language="de")
def test_discovery_follows_localized_folder_names(
    sim: RunningSimulator, admin: requests.Session
) -> None:
    alice = client(sim)
    folders = alice.discover()
    assert folders.calendar.endswith("/exchange/alice/Kalender")
    assert folders.drafts.endswith("/exchange/alice/Entw%C3%BCrfe")
    assert folders.calendar_name == "Kalender"
    create_meeting(alice, meeting())
    got = of_class(items_in(admin, folder(sim, "bob", "Posteingang"), LISTING),
                   "IPM.Schedule.Meeting.Request")
    assert len(got) == 1


@pytest.mark.parametrize("sim", ["fba"], indirect=True)
def test_expired_session_is_survived_by_one_relogin(sim: RunningSimulator) -> None:
    alice = client(sim)
    alice.discover()
    logins_before = sum(1 for e in sim.app.log if "owaauth.dll" in e.path)
    sim.app.expire_sessions()
    create_meeting(alice, replace(meeting(), attendees=()))
    logins_after = sum(1 for e in sim.app.log if "owaauth.dll" in e.path)
    assert logins_after == logins_before + 1
    assert any(e.status == 440 for e in sim.app.log)
    assert alice.exists(alice.appointment_url("standup-1"))


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_busy_server_retried_for_propfind_but_not_for_the_send(
    sim: RunningSimulator, admin: requests.Session
) -> None:
    alice = client(sim)
    sim.app.faults.add(r"^PROPFIND /exchange/alice/$", status=503, count=1)
    alice.discover()  # retried after one 503
    assert [e.status for e in sim.app.log if e.method == "PROPFIND"][-2:] == [503, 207]

    m = meeting()
    alice.write_appointment(m, create=True)
    draft = alice.draft_url(m.uid, "request", 0)
    alice.write_draft(m, draft)
    sim.app.faults.add(r"^MOVE ", status=503, count=1)
    with pytest.raises(errors.ServerBusy):
        alice.send_draft(draft)
    assert sum(1 for e in sim.app.log if e.method == "MOVE") == 1  # not repeated blindly
    assert alice.exists(draft)  # the marker says: not sent; the engine may send it now
    alice.send_draft(draft)
    assert len(of_class(inbox(sim, admin, "bob"), "IPM.Schedule.Meeting.Request")) == 1


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_hostile_subject_cannot_add_a_recipient(
    sim: RunningSimulator, admin: requests.Session
) -> None:
    alice = client(sim)
    m = meeting(attendees=(Attendee("bob@example.com", "Bob", AttendeeRole.REQUIRED),))
    create_meeting(alice, m)
    hostile = replace(m, summary="x\nRequired=mallory@evil.example\r\nOptional=dave@example.com")
    update_meeting(alice, hostile)
    assert inbox(sim, admin, "dave") == []
    assert len(of_class(inbox(sim, admin, "bob"), "IPM.Schedule.Meeting.Request")) == 2
    # Nothing went to an external address either (the transport log would hold it).
    answer = admin.request("PROPFIND", f"{sim.base_url}/public/Transport%20Log/",
                           headers={"Depth": "0"})
    assert answer.status_code == 404


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_freebusy_reflects_the_booking(sim: RunningSimulator) -> None:
    alice = client(sim)
    create_meeting(alice, meeting())
    day = START.replace(hour=12)
    grid = alice.freebusy(
        ["alice@example.com", "room-101@example.com", "nobody@elsewhere.example"],
        day,
        day + timedelta(hours=4),
        30,
    )
    assert grid["alice@example.com"] == "00002200"
    assert grid["room-101@example.com"] == "00002200"
    assert set(grid["nobody@elsewhere.example"]) == {"4"}


def test_xml_bomb_in_an_answer_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<a:multistatus xmlns:a="DAV:"><a:response><a:href>&c;</a:href></a:response>'
        b"</a:multistatus>"
    )

    class Hostile(BaseHTTPRequestHandler):
        def do_PROPFIND(self) -> None:
            self.send_response(207)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)

        def log_message(self, *args: object) -> None:
            pass

    # A hostile server is the one thing that cannot exist otherwise: a real socket serving it.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        session = ExchangeSession(
            SessionConfig(
                server_url=f"http://127.0.0.1:{server.server_address[1]}",
                credentials=Credentials("alice", "demo"),
                auth="basic",
            )
        )
        with pytest.raises(errors.ProtocolError):
            Mailbox(session, "alice", "alice@example.com").discover()
    finally:
        server.shutdown()


@pytest.mark.parametrize("sim", MODES, indirect=True)
def test_no_password_in_logs_or_errors(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cret-Passw0rd"
    caplog.set_level(logging.DEBUG)
    mode = sim.app.auth.mode
    session = ExchangeSession(
        SessionConfig(sim.base_url, Credentials("alice", secret), auth=mode)  # type: ignore[arg-type]
    )
    with pytest.raises(errors.ExchangeError) as raised:
        Mailbox(session, "alice", "alice@example.com").discover()
    assert isinstance(raised.value, errors.AuthFailed | errors.Forbidden | errors.ExchangeError)
    assert secret not in caplog.text
    assert secret not in str(raised.value)
    assert secret not in repr(session) and secret not in repr(session.config)


@pytest.mark.parametrize("sim", MODES, indirect=True)
def test_own_mailbox_found_from_the_owa_page(sim: RunningSimulator) -> None:
    alice = client(sim, "carol")
    assert own_mailbox_alias(alice.session) == "carol"


@pytest.mark.parametrize("sim", ["ntlm"], indirect=True)
@pytest.mark.parametrize("login", ["EXAMPLE\\bob", "bob@example.com", "bob"])
def test_ntlm_login_forms(sim: RunningSimulator, login: str) -> None:
    session = ExchangeSession(SessionConfig(sim.base_url, Credentials(login, "demo"), auth="ntlm"))
    assert Mailbox(session, "bob", "bob@example.com").discover().calendar.endswith("/bob/Calendar")
    assert any(e.user == "bob" and e.status == 207 for e in sim.app.log)
