"""Byte-fixture and property tests of bridge.exchange.owa."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.exchange import owa
from bridge.exchange.errors import ProtocolError
from bridge.meeting import Attendee, Meeting

# The field names of the seed's UpdateMeetingRecipients, in order, without the broken last line
# ("http://schemas.microsoft.com/exchange/subject-utf8=%7B0%7D/n").
SEED_SENDAPPT_NAMES = [
    "Cmd",
    "Required",
    "Optional",
    "Resource",
    "FormType",
    "MsgID",
    "urn:schemas:httpmail:subject",
    "urn:schemas:httpmail:htmldescription",
    "urn:schemas:calendar:dtstart",
    "urn:schemas:calendar:dtend",
    "urn:schemas:calendar:location",
    "CALENDAR:UID",
    "urn:schemas:calendar:responserequested",
]

# Reference §7.1 (Evolution's documented answer, several u=, "All Attendees" first).
FREEBUSY_EFBDOC = b"""<a:response xmlns:a="WM"><a:recipients>
  <a:item><a:displayname>All Attendees</a:displayname><a:type>1</a:type>
          <a:fbdata>000022220000</a:fbdata></a:item>
  <a:item><a:displayname>Dan Winship</a:displayname><a:email type="SMTP">danw@example.com</a:email>
          <a:type>1</a:type><a:fbdata>000022220000</a:fbdata></a:item>
  <a:item><a:displayname>Eleanor</a:displayname><a:email type="SMTP">Eleanor@Example.com</a:email>
          <a:type>1</a:type><a:fbdata>444444444444</a:fbdata></a:item>
</a:recipients></a:response>"""

# exchange2003-observed-traffic.md step 4 (one attendee, interval 15, one day).
FREEBUSY_OBSERVED = (
    b'<?xml version="1.0"?><a:response xmlns:a="WM"><a:recipients><a:item><a:displayname>'
    b'alice@example.com</a:displayname><a:email type="SMTP">alice@example.com</a:email>'
    b"<a:type>1</a:type><a:fbdata>00000000000000000000000000000000000022220000000000000000000000"
    b"0000000000000000000000000000000000</a:fbdata></a:item></a:recipients></a:response>"
)

# exchange2003-observed-traffic.md §3 #8, with the other keys DavMail knows (DN, FN, LN, PH ...).
GALFIND = (
    b'<?xml version="1.0"?><a:response xmlns:a="WM"><a:item><a:DN>Test User</a:DN>'
    b"<a:FN>Test</a:FN><a:LN>User</a:LN><a:TL>Tester</a:TL><a:CP>Example Corp</a:CP>"
    b"<a:OFFICE>B1</a:OFFICE><a:DP>QA</a:DP><a:PH>+1 555 0100</a:PH>"
    b"<a:AN>testuser</a:AN><a:EM>testuser@example.com</a:EM></a:item>"
    b"<a:item><a:AN>room1</a:AN><a:DN>Room 1</a:DN><a:EM>room1@example.com</a:EM></a:item>"
    b"</a:response>"
)


def _meeting(**changes: object) -> Meeting:
    values: dict[str, object] = {
        "uid": "probe-7b19ceecc6f3",
        "start": datetime(2026, 12, 10, 14, 0, tzinfo=UTC),
        "end": datetime(2026, 12, 10, 15, 0, tzinfo=UTC),
        "summary": "Probe meeting",
        "location": "Room 1",
        "description": "Agenda:\n1. <b>bold</b> & more",
        "organizer": "testuser@example.com",
        "attendees": (Attendee("alice@example.com", "Alice"),),
    }
    values.update(changes)
    return Meeting(**values)  # type: ignore[arg-type]


def _lines(body: bytes) -> list[str]:
    return body.decode("utf-8").split("\n")


# -- x-www-UTF8-encoded forms --------------------------------------------------------------------


def test_build_utf8_form_shape() -> None:
    body = owa.build_utf8_form([("Cmd", "sendappt"), ("Required", ""), ("x:y", "Grüße = 1")])
    assert body == "Cmd=sendappt\nRequired=\nx:y=Grüße = 1".encode()
    assert owa.FORM_CONTENT_TYPE == "application/x-www-UTF8-encoded"


def test_subject_with_newline_cannot_add_a_field() -> None:
    meeting = _meeting(summary="x\nRequired=mallory@evil.example")
    fields = owa.sendappt_fields(meeting, item_path="a.EML", calendar_folder_name="Calendar")
    lines = _lines(owa.build_utf8_form(fields))
    subject_lines = [line for line in lines if line.startswith("urn:schemas:httpmail:subject=")]
    assert subject_lines == ["urn:schemas:httpmail:subject=x Required=mallory@evil.example"]
    assert [line for line in lines if line.startswith("Required=")] == ["Required="]
    assert len(lines) == len(fields)


@pytest.mark.parametrize(
    "value", ["a\r\nb", "a\rb", "a\nb", "a\x00b", "a\x0bb", "a\x85b", "a\u2028b", "a\u2029b"]
)
def test_form_values_fold_every_line_break(value: str) -> None:
    body = owa.build_utf8_form([("Cmd", "x"), ("v", value)])
    assert body.decode() == "Cmd=x\nv=a b"


@pytest.mark.parametrize("name", ["", "a=b", "a b", "a\nb", "a\rb", "a\x00", "Grüße"])
def test_form_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="field name"):
        owa.build_utf8_form([("Cmd", "x"), (name, "v")])


def test_form_starts_with_cmd() -> None:
    with pytest.raises(ValueError, match="Cmd"):
        owa.build_utf8_form([("Required", "")])
    with pytest.raises(ValueError, match="Cmd"):
        owa.build_utf8_form([])


@given(
    st.lists(st.tuples(st.from_regex(r"[A-Za-z:]{1,12}", fullmatch=True), st.text()), max_size=6)
)
def test_form_line_count_equals_field_count(fields: list[tuple[str, str]]) -> None:
    all_fields = [("Cmd", "sendappt"), *fields]
    lines = _lines(owa.build_utf8_form(all_fields))
    assert len(lines) == len(all_fields)
    assert [line.split("=", 1)[0] for line in lines] == [name for name, _ in all_fields]


# -- sendappt ------------------------------------------------------------------------------------


def test_sendappt_fields_follow_the_seed() -> None:
    fields = owa.sendappt_fields(
        _meeting(), item_path="probe-1.EML", calendar_folder_name="Calendar/"
    )
    assert [name for name, _ in fields] == SEED_SENDAPPT_NAMES
    assert fields == [
        ("Cmd", "sendappt"),
        ("Required", ""),
        ("Optional", ""),
        ("Resource", ""),
        ("FormType", "appointment"),
        ("MsgID", "/Calendar/probe-1.EML"),
        ("urn:schemas:httpmail:subject", "Probe meeting"),
        (
            "urn:schemas:httpmail:htmldescription",
            "Agenda:<BR>1. &lt;b&gt;bold&lt;/b&gt; &amp; more",
        ),
        ("urn:schemas:calendar:dtstart", "2026-12-10T14:00:00.000Z"),
        ("urn:schemas:calendar:dtend", "2026-12-10T15:00:00.000Z"),
        ("urn:schemas:calendar:location", "Room 1"),
        ("CALENDAR:UID", "/Calendar/probe-1.EML"),
        ("urn:schemas:calendar:responserequested", "1"),
    ]
    body = owa.build_utf8_form(fields)
    assert b"subject-utf8" not in body
    assert not body.endswith(b"\n")


def test_sendappt_all_day_starts_at_local_midnight() -> None:
    meeting = _meeting(start=date(2026, 12, 24), end=date(2026, 12, 25), all_day=True)
    fields = dict(
        owa.sendappt_fields(
            meeting,
            item_path="/x.EML",
            calendar_folder_name="/Kalender/",
            zone=ZoneInfo("Europe/Berlin"),
        )
    )
    assert fields["urn:schemas:calendar:dtstart"] == "2026-12-23T23:00:00.000Z"
    assert fields["urn:schemas:calendar:dtend"] == "2026-12-24T23:00:00.000Z"
    assert fields["MsgID"] == "/Kalender/x.EML"


def test_sendappt_rejects_bad_paths() -> None:
    with pytest.raises(ValueError, match="empty"):
        owa.sendappt_fields(_meeting(), item_path="", calendar_folder_name="Calendar")
    with pytest.raises(ValueError, match="control"):
        owa.sendappt_fields(_meeting(), item_path="a\n.EML", calendar_folder_name="Calendar")


def test_command_url() -> None:
    item = "http://ex/exchange/u/Calendar/a.EML"
    assert owa.command_url(item, "getcancel") == item + "?Cmd=getcancel"
    assert owa.command_url("http://ex/exchange/u/", "galfind", [("AN", "a b&c")]) == (
        "http://ex/exchange/u/?Cmd=galfind&AN=a%20b%26c"
    )
    with pytest.raises(ValueError, match="query"):
        owa.command_url(item + "?Cmd=open", "getcancel")
    with pytest.raises(ValueError, match="command"):
        owa.command_url(item, "get&cancel")


# -- redirects -----------------------------------------------------------------------------------

BASE = "http://127.0.0.1:18080/exchange/testuser/Calendar/probe.EML?Cmd=getcancel"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        (
            "http://127.0.0.1:18080/exchange/testuser/Drafts/Canceled%3A%20Probe.EML?Cmd=Edit",
            "http://127.0.0.1:18080/exchange/testuser/Drafts/Canceled%3A%20Probe.EML",
        ),
        (
            "/exchange/testuser/Drafts/Probe-2.EML?cmd=open&x=1",
            "http://127.0.0.1:18080/exchange/testuser/Drafts/Probe-2.EML",
        ),
        (
            "../Drafts/Canceled: Probe.EML",
            "http://127.0.0.1:18080/exchange/testuser/Drafts/Canceled:%20Probe.EML",
        ),
        (
            "http://127.0.0.1:18080/exchange/testuser/Drafts/Grüße.EML#top",
            "http://127.0.0.1:18080/exchange/testuser/Drafts/Gr%C3%BC%C3%9Fe.EML",
        ),
    ],
)
def test_parse_redirect_location(location: str, expected: str) -> None:
    assert owa.parse_redirect_location(location, BASE) == expected


@pytest.mark.parametrize(
    "location",
    [
        "",
        "javascript:alert(1)",
        "https://127.0.0.1:18080/exchange/testuser/Drafts/x.EML",  # other scheme
        "http://evil.example/exchange/testuser/Drafts/x.EML",
        "http://127.0.0.1:9999/x.EML",
        "/Drafts/x\r\nSet-Cookie: a=b",
    ],
)
def test_parse_redirect_location_refuses(location: str) -> None:
    with pytest.raises(ProtocolError):
        owa.parse_redirect_location(location, BASE)


def test_parse_redirect_location_may_allow_other_servers() -> None:
    assert (
        owa.parse_redirect_location("https://mbx2.example/exchange/u/x.EML", BASE,
                                    same_origin=False)
        == "https://mbx2.example/exchange/u/x.EML"
    )


def test_logon_redirects() -> None:
    logon = "http://ex/exchweb/bin/auth/owalogon.asp?url=http%3A%2F%2Fex%2Fexchange%2F&reason=0"
    assert owa.is_logon_redirect(logon)
    assert owa.is_logon_redirect("/exchweb/bin/auth/OWALogon.asp?url=x&reason=2")
    assert owa.is_logon_redirect("https://isa.example/CookieAuth.dll?GetLogon?reason=0")
    assert not owa.is_logon_redirect("http://ex/exchange/u/Drafts/x.EML?Cmd=Edit")
    assert not owa.is_logon_redirect("http://ex/exchange/u/owalogon.asp.EML")
    assert owa.logon_reason(logon) == 0
    assert owa.logon_reason("/exchweb/bin/auth/owalogon.asp?url=x&Reason=2") == 2
    assert owa.logon_reason("/exchweb/bin/auth/owalogon.asp?url=x") is None
    assert owa.logon_reason("/exchweb/bin/auth/owalogon.asp?reason=x") is None
    assert owa.logon_reason("http://ex/exchange/") is None


def test_fba_login_form() -> None:
    assert owa.build_fba_login_form("http://ex/exchange/", "EXAMPLE\\alice", "p&ss=") == {
        "destination": "http://ex/exchange/",
        "flags": "4",
        "trusted": "4",
        "username": "EXAMPLE\\alice",
        "password": "p&ss=",
        "SubmitCreds": "Log On",
        "forcedownlevel": "0",
    }


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (
            b'<HTML><HEAD>\r\n<BASE href="http://127.0.0.1:18080/exchange/testuser/">\r\n',
            "http://127.0.0.1:18080/exchange/testuser/",
        ),
        (
            '<html><head><base href="https://mail.example.com/exchange/J%C3%BCrgen/"></head>',
            "https://mail.example.com/exchange/J%C3%BCrgen/",
        ),
        ("<Base target=_top HREF='/exchange/a/'>", "/exchange/a/"),
        ('<base href="http://h/exchange/a/?x=1&amp;y=2">', "http://h/exchange/a/?x=1&y=2"),
        (b"<html><body>no base here</body></html>", None),
        ('<basefont size=3><a href="/x">', None),
    ],
)
def test_parse_base_href(page: bytes | str, expected: str | None) -> None:
    assert owa.parse_base_href(page) == expected


# -- GAL -----------------------------------------------------------------------------------------


def test_parse_galfind() -> None:
    first, second = owa.parse_galfind(GALFIND)
    assert first == owa.GalEntry(
        alias="testuser",
        display_name="Test User",
        email="testuser@example.com",
        first_name="Test",
        last_name="User",
        title="Tester",
        company="Example Corp",
        office="B1",
        department="QA",
        phone="+1 555 0100",
        fields=first.fields,
    )
    assert first.fields["AN"] == "testuser" and first.fields["OFFICE"] == "B1"
    assert (second.alias, second.email, second.display_name) == (
        "room1",
        "room1@example.com",
        "Room 1",
    )


def test_parse_galfind_observed_minimal_and_empty() -> None:
    body = (
        b'<a:response xmlns:a="WM"><a:item><a:AN>testuser</a:AN>'
        b"<a:EM>testuser@example.com</a:EM></a:item></a:response>"
    )
    [entry] = owa.parse_galfind(body)
    assert (entry.alias, entry.email) == ("testuser", "testuser@example.com")
    assert owa.parse_galfind(b'<a:response xmlns:a="WM"></a:response>') == []
    assert owa.parse_galfind(b"<response><item><AN>x</AN></item></response>")[0].alias == "x"


@pytest.mark.parametrize(
    "body",
    [
        b"<HTML><BODY><FORM action='/exchweb/bin/auth/owaauth.dll'></FORM></BODY></HTML>",
        b"<a:response xmlns:a='WM'><a:item>",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b"",
    ],
)
def test_parse_galfind_refuses(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        owa.parse_galfind(body)


# -- free/busy -----------------------------------------------------------------------------------


def test_build_freebusy_query_reference_example() -> None:
    query = owa.build_freebusy_query(
        ["danw@example.com", "SMTP:eleanor@example.com"],
        datetime(2002, 10, 23, 4, 0, tzinfo=UTC),
        datetime(2002, 11, 27, 5, 0, tzinfo=UTC),
        30,
    )
    assert query == (
        "cmd=freebusy&start=2002-10-23T04:00:00Z&end=2002-11-27T05:00:00Z&interval=30"
        "&u=SMTP:danw@example.com&u=SMTP:eleanor@example.com"
    )


def test_build_freebusy_query_encodes_specials() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    query = owa.build_freebusy_query(
        ["a+tag@example.com", "x&u=SMTP:evil@example.com"],
        datetime(2026, 12, 10, 1, 0, tzinfo=berlin),
        datetime(2026, 12, 11, 1, 0, tzinfo=berlin),
        15,
    )
    assert query == (
        "cmd=freebusy&start=2026-12-10T00:00:00Z&end=2026-12-11T00:00:00Z&interval=15"
        "&u=SMTP:a%2Btag@example.com&u=SMTP:x%26u%3DSMTP:evil@example.com"
    )


def test_build_freebusy_query_refuses() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="address"):
        owa.build_freebusy_query([], start, start + timedelta(hours=1), 15)
    with pytest.raises(ValueError, match="interval"):
        owa.build_freebusy_query(["a@b"], start, start + timedelta(hours=1), 0)
    with pytest.raises(ValueError, match="after"):
        owa.build_freebusy_query(["a@b"], start, start, 15)
    with pytest.raises(ValueError, match="aware"):
        owa.build_freebusy_query(
            ["a@b"], datetime(2026, 1, 1), datetime(2026, 1, 2), 15
        )


def test_parse_freebusy() -> None:
    assert owa.parse_freebusy(FREEBUSY_EFBDOC) == {
        "danw@example.com": "000022220000",
        "eleanor@example.com": "444444444444",
    }
    [(email, digits)] = owa.parse_freebusy(FREEBUSY_OBSERVED).items()
    assert email == "alice@example.com" and len(digits) == 96 and digits[36:40] == "2222"


def test_parse_freebusy_refuses() -> None:
    with pytest.raises(ProtocolError, match="digits"):
        owa.parse_freebusy(
            b'<a:response xmlns:a="WM"><a:recipients><a:item><a:email>x@y</a:email>'
            b"<a:fbdata>00x0</a:fbdata></a:item></a:recipients></a:response>"
        )
    with pytest.raises(ProtocolError):
        owa.parse_freebusy(b"<html><body>Free/Busy</body></html>")


def test_busy_slots_merge_runs() -> None:
    start = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)
    at = start.__add__
    slots = owa.busy_slots("0011220003334x00", start, 15)
    assert slots == [
        (at(timedelta(minutes=30)), at(timedelta(minutes=60)), "TENTATIVE"),
        (at(timedelta(minutes=60)), at(timedelta(minutes=90)), "BUSY"),
        (at(timedelta(minutes=135)), at(timedelta(minutes=180)), "OOF"),
        (at(timedelta(minutes=180)), at(timedelta(minutes=210)), "UNKNOWN"),
    ]
    assert owa.busy_slots("", start, 15) == []
    assert owa.busy_slots("22", start, timedelta(hours=1)) == [
        (start, start + timedelta(hours=2), "BUSY")
    ]
    [(_, _, kind)] = owa.busy_slots(
        owa.parse_freebusy(FREEBUSY_OBSERVED)["alice@example.com"], start, 15
    )
    assert kind == "BUSY"
    with pytest.raises(ValueError, match="positive"):
        owa.busy_slots("1", start, 0)
    with pytest.raises(ValueError, match="aware"):
        owa.busy_slots("1", datetime(2026, 1, 1), 15)


@given(st.text(alphabet="012345", max_size=40))
def test_busy_slots_cover_exactly_the_non_free_slots(fbdata: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    slots = owa.busy_slots(fbdata, start, 30)
    covered = set()
    for begin, end, kind in slots:
        assert kind != "FREE" and begin < end
        for i in range(int((begin - start) / timedelta(minutes=30)),
                       int((end - start) / timedelta(minutes=30))):
            covered.add(i)
            assert owa.FREEBUSY_KINDS.get(fbdata[i], "UNKNOWN") == kind
    assert covered == {i for i, d in enumerate(fbdata) if d != "0"}
    for (_, end1, kind1), (begin2, _, kind2) in itertools.pairwise(slots):
        assert end1 < begin2 or kind1 != kind2  # runs are merged
