"""OWA commands: getcancel, sendappt, saveappt, galfind, accept/decline/tentative.

The first half calls `commands.handle` in-process with hand-built requests (unit tests of the
command logic); the HTTP tests at the end go through a real simulator on a free port.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from exchange_sim.http import Headers, Request
from exchange_sim.owa import commands
from exchange_sim.server import RunningSimulator
from exchange_sim.store import Store
from tests.sim.conftest import logged_in
from tests.sim.davclient import parse_multistatus, propfind
from tests.sim.test_transport import HTTP_START, admin, classes, folder, send_meeting

__all__ = ["admin"]  # the fixture, imported from test_transport

CAL = "urn:schemas:calendar:"
CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
SUBJECT = "urn:schemas:httpmail:subject"
BASE = "http://sim.test"
T0 = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
UTF8 = "application/x-www-UTF8-encoded"


def _request(store: Store, method: str, url: str, body: bytes = b"", user: str = "alice",
             content_type: str | None = None) -> Request:
    parts = urlsplit(url)
    headers = {"Content-Type": content_type} if content_type else {}
    query = {k.lower(): v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return Request(method, parts.path, query, Headers(headers), body, BASE,
                   store.mailboxes[user], parts.query)


def _meeting(store: Store, name: str = "plan.EML", to: str = "bob@example.com",
             **extra: object) -> str:
    path = store.folder_path("alice", "calendar") + "/" + name
    store.write(path, {
        "DAV:contentclass": "urn:content-classes:appointment",
        SUBJECT: "Planning", CAL + "dtstart": T0, CAL + "dtend": T0 + timedelta(hours=1),
        CAL + "location": "Room 101", CAL + "organizer": "alice@example.com",
        "urn:schemas:mailheader:to": to, **extra})
    return path


def _inbox(store: Store, alias: str) -> list[dict[str, object]]:
    return [i.props for i in store.children(store.folder_path(alias, "inbox"))]


@pytest.fixture
def store() -> Store:
    return Store()


def test_getcancel_creates_a_new_draft_each_time(store: Store) -> None:
    path = _meeting(store, **{CAL + "sequence": 2})
    first = commands.handle(_request(store, "GET", path + "?Cmd=getcancel"), store)
    second = commands.handle(_request(store, "GET", path + "?Cmd=getcancel"), store)
    assert first is not None and second is not None
    assert first.status == second.status == 302
    assert first.header("Location") != second.header("Location")
    location = first.header("Location") or ""
    assert location.startswith(BASE + "/exchange/alice/Drafts/")
    (draft, _) = store.children(store.folder_path("alice", "drafts"))
    assert draft.props[CLASS] == "IPM.Schedule.Meeting.Canceled"
    assert draft.props[CAL + "method"] == "CANCEL"
    assert draft.props[SUBJECT] == "Canceled: Planning"
    assert draft.props[CAL + "sequence"] == 3
    assert draft.props[CAL + "busystatus"] == "FREE"
    assert draft.props[CAL + "meetingstatus"] == "CANCELLED"
    assert draft.props["urn:schemas:mailheader:to"] == "bob@example.com"
    assert draft.props[CAL + "uid"] == store.require(path).props[CAL + "uid"]


@pytest.mark.parametrize(("setup", "status"), [
    ("missing", 404), ("folder", 400), ("message", 400), ("no attendees", 400),
    ("not organizer", 400)])
def test_getcancel_refusals(store: Store, setup: str, status: int) -> None:
    path = {
        "missing": "/exchange/alice/Calendar/nope.EML",
        "folder": "/exchange/alice/Calendar",
        "message": "/exchange/alice/Inbox/x.EML",
        "no attendees": "/exchange/alice/Calendar/plan.EML",
        "not organizer": "/exchange/alice/Calendar/plan.EML",
    }[setup]
    if setup == "message":
        store.write(path, {SUBJECT: "hello"})
    elif setup == "no attendees":
        _meeting(store, to="")
    elif setup == "not organizer":
        _meeting(store, **{CAL + "organizer": "bob@example.com"})
    response = commands.handle(_request(store, "GET", path + "?Cmd=getcancel"), store)
    assert response is not None and response.status == status
    assert store.children(store.folder_path("alice", "drafts")) == []


def _sendappt_body(msg_id: str, *lines: str, required: str = "") -> bytes:
    return "\n".join([
        "Cmd=sendappt", f"Required={required}", "Optional=", "Resource=",
        "FormType=appointment", f"MsgID={msg_id}", *lines,
        f"CALENDAR:UID={msg_id}", "urn:schemas:calendar:responserequested=1",
        "http://schemas.microsoft.com/exchange/subject-utf8=%7B0%7D/n"]).encode()


def test_sendappt_updates_and_sends_with_bumped_sequence(store: Store) -> None:
    path = _meeting(store, to="bob@example.com, carol@example.com", **{CAL + "sequence": 1})
    body = _sendappt_body(
        "/Calendar/plan.EML", "urn:schemas:httpmail:subject=Changed: Planning",
        "urn:schemas:httpmail:htmldescription=<p>moved</p>",
        "urn:schemas:calendar:dtstart=2026-12-10T15:00:00.000Z",
        "urn:schemas:calendar:dtend=2026-12-10T16:00:00.000Z",
        "urn:schemas:calendar:location=Room 102")
    response = commands.handle(_request(store, "POST", path, body, content_type=UTF8), store)
    assert response is not None and response.status == 302
    assert response.header("Location") == BASE + "/exchange/alice/Calendar/plan.EML?Cmd=open"
    appointment = store.require(path).props
    assert appointment[CAL + "sequence"] == 2
    assert appointment[CAL + "dtstart"] == T0 + timedelta(hours=1)
    assert appointment[SUBJECT] == "Changed: Planning"
    assert appointment[CAL + "responserequested"] is True
    for alias in ("bob", "carol"):
        (update,) = _inbox(store, alias)
        assert update[CLASS] == "IPM.Schedule.Meeting.Request"
        assert update[CAL + "sequence"] == 2
        assert update[CAL + "dtstart"] == T0 + timedelta(hours=1)
        assert update[CAL + "location"] == "Room 102"


def test_sendappt_hostile_values_cannot_add_recipients(store: Store) -> None:
    path = _meeting(store)
    body = _sendappt_body("/Calendar/plan.EML",
                          "urn:schemas:httpmail:subject=Hi Required=dave@example.com",
                          "urn:schemas:calendar:location=%0ARequired=carol@example.com")
    response = commands.handle(_request(store, "POST", path, body, content_type=UTF8), store)
    assert response is not None and response.status == 302
    props = store.require(path).props
    assert props[SUBJECT] == "Hi Required=dave@example.com"
    assert props[CAL + "location"] == "%0ARequired=carol@example.com"
    assert len(_inbox(store, "bob")) == 1
    assert _inbox(store, "dave") == [] and _inbox(store, "carol") == []


def test_sendappt_posted_lists_replace_attendees(store: Store) -> None:
    path = _meeting(store)
    body = _sendappt_body("/Calendar/plan.EML", required="carol@example.com; dave@example.com")
    commands.handle(_request(store, "POST", path, body, content_type=UTF8), store)
    assert _inbox(store, "bob") == []
    assert len(_inbox(store, "carol")) == len(_inbox(store, "dave")) == 1


@pytest.mark.parametrize(("msg_id", "line", "status"), [
    ("/Calendar/other.EML", "", 400),
    ("/Calendar/../Inbox/plan.EML", "", 400),
    ("/Calendar/plan.EML", "urn:schemas:calendar:dtstart=tomorrow", 400),
    ("/Calendar/plan.EML", "urn:schemas:calendar:dtend=2026-12-10T13:00:00Z", 400),
    ("/Calendar/plan.EML", "urn:schemas:calendar:alldayevent=maybe", 400),
    ("/Calendar/plan.EML", "urn:schemas:calendar:busystatus=sometimes", 400),
])
def test_sendappt_refusals_change_nothing(store: Store, msg_id: str, line: str,
                                          status: int) -> None:
    path = _meeting(store)
    before = store.require(path)
    body = _sendappt_body(msg_id, *([line] if line else []))
    response = commands.handle(_request(store, "POST", path, body, content_type=UTF8), store)
    assert response is not None and response.status == status
    assert store.require(path).etag == before.etag
    assert _inbox(store, "bob") == []


def test_sendappt_only_by_the_organizer(store: Store) -> None:
    path = _meeting(store, **{CAL + "organizer": "carol@example.com"})
    body = _sendappt_body("/Calendar/plan.EML")
    response = commands.handle(_request(store, "POST", path, body, content_type=UTF8), store)
    assert response is not None and response.status == 400
    assert _inbox(store, "bob") == []


def test_sendappt_needs_a_form_content_type(store: Store) -> None:
    path = _meeting(store)
    body = _sendappt_body("/Calendar/plan.EML")
    response = commands.handle(_request(store, "POST", path, body, content_type="text/xml"),
                               store)
    assert response is not None and response.status == 415


def test_saveappt_answers_item_href_with_vtimezone(store: Store) -> None:
    store.mkcol("/exchange/alice/davmailtemp")
    response = commands.handle(_request(
        store, "POST", "/exchange/alice/davmailtemp", b"Cmd=saveappt&FORMTYPE=appointment",
        content_type="application/x-www-form-urlencoded"), store)
    assert response is not None and response.status == 200
    text = response.body.decode()
    href = text.split('<span id="itemHREF">')[1].split("</span>")[0]
    assert href.startswith(BASE + "/exchange/alice/davmailtemp/")
    (item,) = store.children("/exchange/alice/davmailtemp")
    assert b"BEGIN:VTIMEZONE" in (item.body or b"")
    assert b"TZID:(GMT+01.00) Berlin/Stockholm/Rome/Bern/Vienna" in (item.body or b"")
    assert item.props["DAV:contentclass"] == "urn:content-classes:appointment"


def test_galfind_prefix_search(store: Store) -> None:
    response = commands.handle(_request(store, "GET", "/exchange/alice/?Cmd=galfind&AN=ROOM"),
                               store)
    assert response is not None and response.status == 200
    assert response.header("Content-Type") == "text/xml"
    text = response.body.decode()
    assert text.startswith('<?xml version="1.0"?><a:response xmlns:a="WM">')
    assert text.count("<a:item>") == 2 and "<a:EM>room-101@example.com</a:EM>" in text
    one = commands.handle(_request(store, "GET", "/exchange/alice/?Cmd=galfind&DN=alice ex"),
                          store)
    assert one is not None
    assert "<a:AN>alice</a:AN><a:EM>alice@example.com</a:EM>" in one.body.decode()
    assert "<a:FN>Alice</a:FN><a:LN>Example</a:LN>" in one.body.decode()


def test_unknown_command_is_left_to_the_router(store: Store) -> None:
    path = _meeting(store)
    assert commands.handle(_request(store, "GET", path + "?Cmd=open"), store) is None
    assert commands.handle(_request(store, "GET", path), store) is None


def test_accept_via_owa_answers_organizer(store: Store) -> None:
    path = _meeting(store)
    store.write(store.folder_path("alice", "drafts") + "/r.EML", {
        **store.require(path).props, "DAV:contentclass": "urn:content-classes:calendarmessage",
        CLASS: "IPM.Schedule.Meeting.Request"})
    from exchange_sim import transport

    transport.submit(store, store.mailboxes["alice"], "/exchange/alice/Drafts/r.EML")
    (request,) = store.children(store.folder_path("bob", "inbox"))
    response = commands.handle(
        _request(store, "GET", request.path + "?Cmd=accept", user="bob"), store)
    assert response is not None and response.status == 302
    assert response.header("Location") == BASE + "/exchange/bob/Inbox/"
    assert [p[CLASS] for p in _inbox(store, "alice")] == ["IPM.Schedule.Meeting.Resp.Pos"]
    again = commands.handle(_request(store, "GET", path + "?Cmd=tentative"), store)
    assert again is not None and again.status == 400  # an appointment is not a request


# -- over HTTP -------------------------------------------------------------------------------

MSIE = "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"


def _seed_sendappt(msg_id: str, subject: str, start: str, end: str, location: str) -> bytes:
    """The body of the seed recipe's UpdateMeetingRecipients, line for line."""
    return "".join([
        "Cmd=sendappt\n", "Required=\n", "Optional=\n", "Resource=\n", "FormType=appointment\n",
        f"MsgID={msg_id}\n", f"urn:schemas:httpmail:subject={subject}\n",
        "urn:schemas:httpmail:htmldescription=This is an updated meeting request\n",
        f"urn:schemas:calendar:dtstart={start}\n", f"urn:schemas:calendar:dtend={end}\n",
        f"urn:schemas:calendar:location={location}\n", f"CALENDAR:UID={msg_id}\n",
        "urn:schemas:calendar:responserequested=1\n",
        "http://schemas.microsoft.com/exchange/subject-utf8=%7B0%7D/n"]).encode()


def test_http_getcancel_then_move_cancels_once_fba(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    appointment, uid = send_meeting(alice, base, "alice", "doomed",
                                    to="bob@example.com, room-101@example.com")
    assert len(folder(admin, base, "room-101", "Calendar")) == 1
    redirect = alice.get(appointment + "?Cmd=getcancel", allow_redirects=False,
                         headers={"User-Agent": MSIE})
    assert redirect.status_code == 302
    assert redirect.headers["Location"].startswith(base + "/exchange/alice/Drafts/")
    followed = alice.get(appointment + "?Cmd=getcancel", headers={"User-Agent": MSIE})
    assert followed.status_code == 200  # the seed reads ResponseUri after the redirect
    drafts = folder(admin, base, "alice", "Drafts")
    assert [d[CLASS] for d in drafts] == ["IPM.Schedule.Meeting.Canceled"] * 2
    assert {d[CAL + "uid"] for d in drafts} == {uid}
    cancel_path = urlsplit(followed.url).path
    moved = alice.request("MOVE", base + cancel_path, headers={
        "Destination": base + "/exchange/alice/%23%23DavMailSubmissionURI%23%23/"})
    assert moved.status_code in (200, 201)
    assert alice.delete(appointment).status_code in (200, 204)
    assert classes(admin, base, "bob", "Inbox") == [
        "IPM.Schedule.Meeting.Canceled", "IPM.Schedule.Meeting.Request"]
    (cancel,) = [i for i in folder(admin, base, "bob", "Inbox")
                 if i[CLASS] == "IPM.Schedule.Meeting.Canceled"]
    assert cancel[CAL + "sequence"] == 1 and cancel[SUBJECT] == "Canceled: Planning"
    assert folder(admin, base, "room-101", "Calendar") == []
    assert len(folder(admin, base, "alice", "Drafts")) == 1  # the stray second draft


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_sendappt_sends_update_with_higher_sequence(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    appointment, uid = send_meeting(alice, base, "alice", "weekly", to="bob@example.com",
                                    cc="carol@example.com")
    body = _seed_sendappt("/Calendar/weekly.EML", "Changed: Planning",
                          "2026-12-10T15:00:00.000Z", "2026-12-10T16:00:00.000Z", "Room 102")
    answer = alice.post(appointment, data=body, allow_redirects=False,
                        headers={"Content-Type": UTF8, "User-Agent": MSIE})
    assert answer.status_code == 302
    assert answer.headers["Location"] == appointment + "?Cmd=open"
    for attendee in ("bob", "carol"):
        updates = [i for i in folder(admin, base, attendee, "Inbox") if i[CAL + "sequence"] == 1]
        assert len(updates) == 1
        assert updates[0][CAL + "uid"] == uid
        assert updates[0][CAL + "dtstart"] == HTTP_START + timedelta(hours=1)
        assert updates[0][SUBJECT] == "Changed: Planning"
    found = parse_multistatus(propfind(alice, appointment, [CAL + "sequence",
                                                            CAL + "location"]).content)
    props = next(iter(found.values()))[200]
    assert props[CAL + "sequence"] == 1 and props[CAL + "location"] == "Room 102"


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_sendappt_hostile_line_adds_no_recipient(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    appointment, _ = send_meeting(alice, base, "alice", "safe")
    body = _seed_sendappt("/Calendar/safe.EML", "Hi\rRequired=dave@example.com",
                          "2026-12-10T14:00:00Z", "2026-12-10T15:00:00Z",
                          "x Required=carol@example.com%0AOptional=carol@example.com")
    answer = alice.post(appointment, data=body, allow_redirects=False,
                        headers={"Content-Type": UTF8})
    assert answer.status_code == 302
    assert folder(admin, base, "dave", "Inbox") == []
    assert folder(admin, base, "carol", "Inbox") == []
    assert len(folder(admin, base, "bob", "Inbox")) == 2
    found = parse_multistatus(propfind(alice, appointment, [SUBJECT]).content)
    assert next(iter(found.values()))[200][SUBJECT] == "Hi\rRequired=dave@example.com"


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_saveappt_item_has_vtimezone(sim: RunningSimulator, alice: requests.Session
                                          ) -> None:
    temp = sim.base_url + "/exchange/alice/davmailtemp"
    assert alice.request("MKCOL", temp).status_code == 201
    answer = alice.post(temp, data={"Cmd": "saveappt", "FORMTYPE": "appointment"})
    assert answer.status_code == 200 and "text/html" in answer.headers["Content-Type"]
    href = answer.text.split('<span id="itemHREF">')[1].split("</span>")[0]
    assert href.startswith(temp + "/")
    source = alice.get(href, headers={"Translate": "f"})
    assert source.status_code == 200
    assert source.headers["Content-Type"].startswith("message/rfc822")
    assert "BEGIN:VTIMEZONE\r\nTZID:(GMT+01.00) Berlin/Stockholm/Rome/Bern/Vienna" in source.text
    assert alice.delete(temp).status_code in (200, 204)


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_galfind(sim: RunningSimulator, alice: requests.Session) -> None:
    answer = alice.get(sim.base_url + "/exchange/alice/?Cmd=galfind&AN=alice")
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "text/xml"
    assert answer.text == (
        '<?xml version="1.0"?><a:response xmlns:a="WM"><a:item><a:DN>Alice Example</a:DN>'
        "<a:FN>Alice</a:FN><a:LN>Example</a:LN><a:AN>alice</a:AN>"
        "<a:EM>alice@example.com</a:EM></a:item></a:response>")
    rooms = alice.get(sim.base_url + "/exchange/alice/?Cmd=galfind&EM=ROOM-")
    assert rooms.text.count("<a:item>") == 2


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_accept_decline_tentative_reach_organizer(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    appointment, uid = send_meeting(alice, base, "alice", "answers",
                                    to="bob@example.com, carol@example.com, dave@example.com")
    for attendee, command in (("bob", "accept"), ("carol", "tentative"), ("dave", "decline")):
        with logged_in(sim, attendee) as session:
            (request,) = folder(session, base, attendee, "Inbox")
            answer = session.get(str(request["href"]) + f"?Cmd={command}",
                                 allow_redirects=False)
            assert answer.status_code == 302
            assert answer.headers["Location"] == f"{base}/exchange/{attendee}/Inbox/"
    assert classes(admin, base, "alice", "Inbox") == [
        "IPM.Schedule.Meeting.Resp.Neg", "IPM.Schedule.Meeting.Resp.Pos",
        "IPM.Schedule.Meeting.Resp.Tent"]
    assert [(i[CAL + "uid"], i[CAL + "busystatus"])
            for i in folder(admin, base, "bob", "Calendar")] == [(uid, "BUSY")]
    assert [i[CAL + "busystatus"] for i in folder(admin, base, "carol", "Calendar")] == [
        "TENTATIVE"]
    assert folder(admin, base, "dave", "Calendar") == []
    refused = alice.get(appointment + "?Cmd=accept", allow_redirects=False)
    assert refused.status_code == 400
