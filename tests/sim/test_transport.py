"""Transport: submission of drafts and messages, delivery, Sent Items, the transport log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import requests

from exchange_sim import transport
from exchange_sim.server import RunningSimulator
from exchange_sim.store import NotFound, Store
from tests.sim.conftest import logged_in
from tests.sim.davclient import LISTING, items_in, parse_multistatus, propfind, proppatch

CAL = "urn:schemas:calendar:"
CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
SUBJECT = "urn:schemas:httpmail:subject"
T0 = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)


def _request(to: str, **extra: object) -> dict[str, object]:
    return {
        "DAV:contentclass": "urn:content-classes:calendarmessage",
        CLASS: "IPM.Schedule.Meeting.Request",
        SUBJECT: "Planning",
        CAL + "uid": "uid-1",
        CAL + "sequence": 0,
        CAL + "dtstart": T0,
        CAL + "dtend": T0 + timedelta(hours=1),
        CAL + "location": "Room 101",
        "urn:schemas:mailheader:to": to,
        **extra,
    }


def _classes(store: Store, alias: str, role: str) -> list[str]:
    return [str(i.props.get(CLASS)) for i in store.children(store.folder_path(alias, role))]


@pytest.fixture
def store() -> Store:
    return Store()


def test_parse_addresses_accepts_commas_semicolons_and_lists() -> None:
    found = transport.parse_addresses([
        'bob@example.com; "Carol; C" <carol@example.com>',
        ["dave@example.com", "mailto:room-101@example.com"],
        None,
    ])
    assert [a for _, a in found] == [
        "bob@example.com", "carol@example.com", "dave@example.com", "room-101@example.com"]
    assert found[1][0] == "Carol; C"


def test_draft_is_delivered_sent_and_removed(store: Store) -> None:
    alice = store.mailboxes["alice"]
    draft = store.folder_path("alice", "drafts") + "/req.EML"
    store.write(draft, _request("Bob <BOB@example.com>, carol@example.com"))
    sent = transport.submit(store, alice, draft)
    assert sent == ["bob@example.com", "carol@example.com"]
    assert store.get(draft) is None
    (copy,) = store.children(store.folder_path("bob", "inbox"))
    assert copy.props[CLASS] == "IPM.Schedule.Meeting.Request"
    assert copy.props[CAL + "uid"] == "uid-1"
    assert copy.props[CAL + "organizer"] == "alice@example.com"
    assert "alice@example.com" in str(copy.props["urn:schemas:httpmail:from"])
    assert copy.props["urn:schemas:httpmail:read"] is False
    assert copy.props["http://schemas.microsoft.com/mapi/responsestatus"] == 5
    assert isinstance(copy.props["urn:schemas:httpmail:datereceived"], datetime)
    assert _classes(store, "alice", "sentitems") == ["IPM.Schedule.Meeting.Request"]


def test_alias_and_address_of_one_mailbox_deliver_once(store: Store) -> None:
    sent = transport.submit(store, store.mailboxes["alice"], None,
                            _request("bob; Bob Example <bob@example.com>"))
    assert sent == ["bob@example.com"]
    assert _classes(store, "bob", "inbox") == ["IPM.Schedule.Meeting.Request"]


def test_no_sent_copy_when_save_in_sent_is_false(store: Store) -> None:
    alice = store.mailboxes["alice"]
    transport.submit(store, alice, None, _request("bob@example.com"), save_in_sent=False)
    assert _classes(store, "alice", "sentitems") == []
    assert _classes(store, "bob", "inbox") == ["IPM.Schedule.Meeting.Request"]


def test_bcc_is_stripped_from_delivered_copies(store: Store) -> None:
    alice = store.mailboxes["alice"]
    raw = b"To: bob@example.com\r\nBcc: carol@example.com,\r\n dave@example.com\r\n\r\nHi\r\n"
    message = _request("bob@example.com",
                       **{"urn:schemas:mailheader:bcc": "carol@example.com; dave@example.com"})
    transport.submit(store, alice, None, message, raw)
    for alias in ("bob", "carol", "dave"):
        (copy,) = store.children(store.folder_path(alias, "inbox"))
        assert "urn:schemas:mailheader:bcc" not in copy.props
        assert copy.body == b"To: bob@example.com\r\n\r\nHi\r\n"
    (sent,) = store.children(store.folder_path("alice", "sentitems"))
    assert sent.props["urn:schemas:mailheader:bcc"]


def test_cancellation_carries_free(store: Store) -> None:
    alice = store.mailboxes["alice"]
    message = _request("bob@example.com", **{CLASS: "IPM.Schedule.Meeting.Canceled"})
    transport.submit(store, alice, None, message)
    (copy,) = store.children(store.folder_path("bob", "inbox"))
    assert copy.props[CAL + "busystatus"] == "FREE"
    assert copy.props[CAL + "meetingstatus"] == "CANCELLED"


def test_class_derived_from_method_when_missing(store: Store) -> None:
    alice = store.mailboxes["alice"]
    message = _request("bob@example.com", **{CLASS: "", CAL + "method": "CANCEL"})
    transport.submit(store, alice, None, message)
    assert _classes(store, "bob", "inbox") == ["IPM.Schedule.Meeting.Canceled"]


def test_external_recipient_goes_to_transport_log(store: Store) -> None:
    alice = store.mailboxes["alice"]
    sent = transport.submit(store, alice, None, _request("ext@partner.example.org"))
    assert sent == ["ext@partner.example.org"]
    (entry,) = store.children(transport.LOG_FOLDER)
    assert entry.props["urn:schemas:mailheader:to"] == "ext@partner.example.org"
    assert entry.props[CAL + "uid"] == "uid-1"


def test_no_recipients_is_nothing_to_send(store: Store) -> None:
    alice = store.mailboxes["alice"]
    draft = store.folder_path("alice", "drafts") + "/empty.EML"
    store.write(draft, _request(""))
    with pytest.raises(transport.NothingToSend):
        transport.submit(store, alice, draft)
    assert store.get(draft) is not None


def test_foreign_mailbox_needs_access_but_service_account_may(store: Store) -> None:
    bob, svc = store.mailboxes["bob"], store.mailboxes["svc-calbridge"]
    draft = store.folder_path("alice", "drafts") + "/req.EML"
    store.write(draft, _request("carol@example.com"))
    with pytest.raises(transport.NotAllowed):
        transport.submit(store, bob, draft)
    transport.submit(store, svc, draft)
    (copy,) = store.children(store.folder_path("carol", "inbox"))
    assert "alice@example.com" in str(copy.props["urn:schemas:httpmail:from"])


def test_from_someone_else_is_refused(store: Store) -> None:
    alice = store.mailboxes["alice"]
    message = _request("bob@example.com", **{"urn:schemas:httpmail:from": "dave@example.com"})
    with pytest.raises(transport.NotAllowed):
        transport.submit(store, alice, None, message)


def test_missing_draft_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        transport.submit(store, store.mailboxes["alice"], "/exchange/alice/Drafts/nope.EML")


def test_refused_submission_changes_nothing(store: Store) -> None:
    draft = store.folder_path("alice", "drafts") + "/req.EML"
    store.write(draft, _request("bob@example.com", **{"urn:schemas:httpmail:from":
                                                      "dave@example.com"}))
    with pytest.raises(transport.NotAllowed):
        transport.submit(store, store.mailboxes["alice"], draft)
    assert store.get(draft) is not None
    assert _classes(store, "bob", "inbox") == []
    assert _classes(store, "alice", "sentitems") == []


def test_failed_delivery_stays_queued_and_is_delivered_once(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Accepting is atomic (draft gone, Sent Items); a delivery batch that fails is rolled back
    whole and kept, and the next pump delivers each recipient exactly once."""
    alice = store.mailboxes["alice"]
    draft = store.folder_path("alice", "drafts") + "/req.EML"
    store.write(draft, _request("bob@example.com, carol@example.com"))
    real_write = store.write

    def failing_write(path: str, *args: object, **kwargs: object) -> object:
        if "/carol/" in path:
            raise OSError("disk full")
        return real_write(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "write", failing_write)  # the disk, not our code, fails
    assert transport.submit(store, alice, draft) == ["bob@example.com", "carol@example.com"]
    monkeypatch.undo()
    assert store.get(draft) is None
    assert _classes(store, "alice", "sentitems") == ["IPM.Schedule.Meeting.Request"]
    assert _classes(store, "bob", "inbox") == []  # bob was in the batch that failed
    transport.deliver_pending(store)
    transport.deliver_pending(store)
    assert _classes(store, "bob", "inbox") == ["IPM.Schedule.Meeting.Request"]
    assert _classes(store, "carol", "inbox") == ["IPM.Schedule.Meeting.Request"]


# -- over HTTP -------------------------------------------------------------------------------
# Helpers below are shared by the other HTTP tests of meetings (test_owa_commands,
# test_attendees, test_freebusy_http).

HTTP_START = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
LOG = "/public/Transport%20Log"


def appointment_props(subject: str, start: datetime, end: datetime, to: str,
                      cc: str = "", bcc: str = "") -> dict[str, object]:
    """The KB 308373 property set of the organizer's appointment (reference §2.1)."""
    props: dict[str, object] = {
        "DAV:contentclass": "urn:content-classes:appointment",
        CLASS: "IPM.Appointment",
        SUBJECT: subject,
        "urn:schemas:httpmail:htmldescription": "<p>Agenda</p>",
        CAL + "location": "Room 101",
        CAL + "dtstart": start,
        CAL + "dtend": end,
        CAL + "instancetype": 0,
        CAL + "busystatus": "BUSY",
        CAL + "meetingstatus": "CONFIRMED",
        CAL + "alldayevent": False,
        CAL + "responserequested": True,
        CAL + "reminderoffset": 900,
        "urn:schemas:mailheader:to": to,
        "http://schemas.microsoft.com/mapi/finvited": True,
    }
    for header, value in (("cc", cc), ("bcc", bcc)):
        if value:
            props["urn:schemas:mailheader:" + header] = value
    return props


def send_meeting(session: requests.Session, base: str, organizer: str, name: str, *,
                 subject: str = "Planning", start: datetime = HTTP_START,
                 hours: float = 1, to: str = "bob@example.com", cc: str = "",
                 headers: dict[str, str] | None = None) -> tuple[str, str]:
    """KB 308373: PROPPATCH the appointment, read its uid, PROPPATCH the request into Drafts,
    MOVE it to the submission URI. Returns (appointment URL, uid)."""
    end = start + timedelta(hours=hours)
    calendar_url = f"{base}/exchange/{organizer}/Calendar/{name}.EML"
    answer = proppatch(session, calendar_url, appointment_props(subject, start, end, to, cc),
                       headers={"If-None-Match": "*"})
    assert answer.status_code == 207, answer.text
    found = parse_multistatus(propfind(session, calendar_url, [CAL + "uid"]).content)
    uid = str(next(iter(found.values()))[200][CAL + "uid"])
    request = {**appointment_props(subject, start, end, to, cc),
               "DAV:contentclass": "urn:content-classes:calendarmessage",
               CLASS: "IPM.Schedule.Meeting.Request", CAL + "uid": uid,
               "http://schemas.microsoft.com/mapi/responsestatus": 1}
    draft_url = f"{base}/exchange/{organizer}/Drafts/{name}.EML"
    assert proppatch(session, draft_url, request).status_code == 207
    moved = session.request("MOVE", draft_url, headers={
        "Destination": f"/exchange/{organizer}/%23%23DavMailSubmissionURI%23%23",
        "Overwrite": "F", **(headers or {})})
    assert moved.status_code in (200, 201), moved.text
    return calendar_url, uid


def folder(session: requests.Session, base: str, alias: str, name: str) -> list[dict]:
    """Items of a mailbox folder, read with SEARCH (as an administrator's client would)."""
    props = (*LISTING, CAL + "sequence", CAL + "busystatus", CAL + "location",
             CAL + "meetingstatus", "urn:schemas:mailheader:to",
             "http://schemas.microsoft.com/mapi/responsestatus")
    return items_in(session, f"{base}/exchange/{alias}/{quote(name)}", props)


def classes(session: requests.Session, base: str, alias: str, name: str) -> list[str]:
    return sorted(str(i.get(CLASS)) for i in folder(session, base, alias, name))


@pytest.fixture
def admin(sim: RunningSimulator) -> Iterator[requests.Session]:
    """The service account, which may open every mailbox (issue: demo set)."""
    with logged_in(sim, "svc-calbridge") as session:
        yield session


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_request_arrives_room_accepts_external_logged(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    _, uid = send_meeting(alice, base, "alice", "planning",
                          to="bob@example.com, room-101@example.com, ext@partner.example.org",
                          cc="carol@example.com")
    for attendee in ("bob", "carol"):
        (request,) = folder(admin, base, attendee, "Inbox")
        assert request[CLASS] == "IPM.Schedule.Meeting.Request"
        assert request["DAV:contentclass"] == "urn:content-classes:calendarmessage"
        assert request[CAL + "uid"] == uid
        assert request[CAL + "sequence"] == 0
        assert request[CAL + "dtstart"] == HTTP_START
        assert request[CAL + "location"] == "Room 101"
    (booking,) = folder(admin, base, "room-101", "Calendar")
    assert booking[CAL + "uid"] == uid and booking[CAL + "busystatus"] == "BUSY"
    assert classes(admin, base, "alice", "Inbox") == ["IPM.Schedule.Meeting.Resp.Pos"]
    assert folder(admin, base, "alice", "Drafts") == []  # the draft no longer exists
    assert classes(admin, base, "alice", "Sent Items") == ["IPM.Schedule.Meeting.Request"]
    (logged,) = items_in(admin, base + LOG, (*LISTING, "urn:schemas:mailheader:to"))
    assert logged["urn:schemas:mailheader:to"] == "ext@partner.example.org"
    assert logged[CAL + "uid"] == uid


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_conflicting_meeting_is_declined(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    _, first = send_meeting(alice, base, "alice", "one", to="room-101@example.com")
    with logged_in(sim, "bob") as bob:
        send_meeting(bob, base, "bob", "two", subject="Clash",
                     start=HTTP_START + timedelta(minutes=30), to="room-101@example.com")
    assert [b[CAL + "uid"] for b in folder(admin, base, "room-101", "Calendar")] == [first]
    (answer,) = folder(admin, base, "bob", "Inbox")
    assert answer[CLASS] == "IPM.Schedule.Meeting.Resp.Neg"
    assert answer[SUBJECT] == "Declined: Clash"


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_saveinsent_f_keeps_no_copy(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    send_meeting(alice, sim.base_url, "alice", "quiet", headers={"Saveinsent": "f"})
    assert folder(admin, sim.base_url, "alice", "Sent Items") == []
    assert classes(admin, sim.base_url, "bob", "Inbox") == ["IPM.Schedule.Meeting.Request"]


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_refusals(sim: RunningSimulator, alice: requests.Session) -> None:
    base = sim.base_url
    submission = f"{base}/exchange/alice/%23%23DavMailSubmissionURI%23%23"
    draft = f"{base}/exchange/alice/Drafts/empty.EML"
    assert proppatch(alice, draft, {SUBJECT: "nobody"}).status_code == 207
    moved = alice.request("MOVE", draft, headers={"Destination": submission})
    assert moved.status_code == 422
    assert alice.request("PROPFIND", draft, headers={"Depth": "0"}).status_code == 207
    forged = (b"From: dave@example.com\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nbody\r\n")
    put = alice.put(submission, data=forged, headers={"Content-Type": "message/rfc822"})
    assert put.status_code == 403


def _davmail_invitation(method: str, sequence: int) -> bytes:
    """Observed traffic step 2b/5a: calendarmessage MIME, no Subject, no From header."""
    return (
        "Content-class: urn:content-classes:calendarmessage\r\n"
        "To: bob@example.com, room-102@example.com\r\nCc: carol@example.com\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: text/calendar; method={method}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//probe//EN\r\nMETHOD:{method}\r\n"
        "BEGIN:VEVENT\r\nUID:probe-7b19ceecc6f3\r\nDTSTAMP:20261125T174746Z\r\n"
        "DTSTART;TZID=Central Europe Standard Time:20261210T140000Z\r\n"
        "DTEND;TZID=Central Europe Standard Time:20261210T150000Z\r\n"
        f"SEQUENCE:{sequence}\r\nSUMMARY:Probe meeting\r\nLOCATION:Room 102\r\n"
        "ORGANIZER:mailto:alice@example.com\r\n"
        "ATTENDEE;ROLE=REQ-PARTICIPANT:mailto:bob@example.com\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_http_davmail_draft_put_then_move(
        sim: RunningSimulator, alice: requests.Session, admin: requests.Session) -> None:
    base = sim.base_url
    for number, (method, sequence) in enumerate((("REQUEST", 0), ("CANCEL", 1))):
        draft = f"{base}/exchange/alice/Drafts/{number}-6a1f.EML"
        flags = {"http://schemas.microsoft.com/mapi/proptag/x0e070003": "9",
                 "http://schemas.microsoft.com/mapi/proptag/x59020003": "1441792"}
        assert proppatch(alice, draft, flags).status_code == 207
        put = alice.put(draft, data=_davmail_invitation(method, sequence),
                        headers={"Translate": "f", "Content-Type": "message/rfc822"})
        assert put.status_code in (200, 201)
        moved = alice.request("MOVE", draft, headers={
            "Destination": "/exchange/alice/%23%23DavMailSubmissionURI%23%23",
            "Overwrite": "F"})
        assert moved.status_code in (200, 201)
        if method == "REQUEST":
            assert len(folder(admin, base, "room-102", "Calendar")) == 1
    assert classes(admin, base, "bob", "Inbox") == [
        "IPM.Schedule.Meeting.Canceled", "IPM.Schedule.Meeting.Request"]
    request = next(i for i in folder(admin, base, "carol", "Inbox")
                   if i[CLASS] == "IPM.Schedule.Meeting.Request")
    assert request[SUBJECT] == "Probe meeting"
    assert request[CAL + "uid"] == "probe-7b19ceecc6f3"
    assert request[CAL + "dtstart"] == HTTP_START
    source = admin.get(str(request["href"]), headers={"Translate": "f"})
    assert b"UID:probe-7b19ceecc6f3" in source.content
    assert folder(admin, base, "room-102", "Calendar") == []
    assert classes(admin, base, "alice", "Inbox") == ["IPM.Schedule.Meeting.Resp.Pos"]


def test_http_only_an_rfc821_envelope_reaches_bcc(sim: RunningSimulator, alice: requests.Session,
                                                  admin: requests.Session) -> None:
    """Reference §3.2: a PUT of message/rfc821 is "the only way to get Bcc"; the Bcc header of
    a message/rfc822 submission reaches nobody."""
    base = sim.base_url
    submission = f"{base}/exchange/alice/%23%23DavMailSubmissionURI%23%23"
    message = (b"From: alice@example.com\r\nTo: bob@example.com\r\nBcc: carol@example.com\r\n"
               b"Subject: note\r\n\r\nbody\r\n")
    put = alice.put(submission, data=message, headers={"Content-Type": "message/rfc822"})
    assert put.status_code == 200
    assert len(folder(admin, base, "bob", "Inbox")) == 1
    assert folder(admin, base, "carol", "Inbox") == []
    envelope = (b"MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\n"
                b"RCPT TO:<carol@example.com>\r\n\r\n")
    put = alice.put(submission, data=envelope + message.replace(b"Bcc: carol@example.com\r\n",
                                                                 b""),
                    headers={"Content-Type": "message/rfc821"})
    assert put.status_code == 200
    assert len(folder(admin, base, "bob", "Inbox")) == 2
    assert len(folder(admin, base, "carol", "Inbox")) == 1  # the envelope's Bcc
