"""Byte-fixture and property tests of bridge.exchange.webdav (and the error types it raises)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.exchange import errors, webdav
from bridge.exchange.errors import ProtocolError
from bridge.exchange.webdav import (
    NS_CALENDAR,
    NS_DATATYPES,
    NS_DAV,
    NS_EXCHANGE,
    NS_HTTPMAIL,
    NS_MAPI,
    NS_PROPTAG,
    PSETID_APPOINTMENT,
    build_propfind,
    build_proppatch,
    build_search,
    build_sql,
    parse_multistatus,
    split_name,
)

DT = NS_DATATYPES

# -- fixtures in the exact shapes of the reference -----------------------------------------------

# exchange2003-observed-traffic.md, step 1, answer #41 (SEARCH, single-letter prefixes).
OBSERVED_SEARCH = (
    b'<?xml version="1.0"?><a:multistatus xmlns:a="DAV:" '
    b'xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" '
    b'xmlns:c="http://schemas.microsoft.com/exchange/" xmlns:d="urn:schemas:httpmail:" '
    b'xmlns:e="http://schemas.microsoft.com/mapi/proptag/" xmlns:f="urn:schemas:calendar:">'
    b"<a:response><a:href>http://127.0.0.1:18080/exchange/testuser/Calendar/probe-7b19ceecc6f3.ics"
    b"</a:href><a:propstat><a:status>HTTP/1.1 200 OK</a:status><a:prop><c:permanenturl>"
    b"http://127.0.0.1:18080/exchange/testuser/Calendar/probe-7b19ceecc6f3.ics</c:permanenturl>"
    b"<d:subject>Probe meeting</d:subject><a:contentclass>urn:content-classes:appointment"
    b"</a:contentclass><a:displayname>probe-7b19ceecc6f3.ics</a:displayname><e:x10f3001f>"
    b"probe-7b19ceecc6f3.ics</e:x10f3001f><f:instancetype>0</f:instancetype><a:getetag>"
    b'"5f395c0a0a66cade29871db0eb48b702,1"</a:getetag></a:prop></a:propstat></a:response>'
    b"</a:multistatus>"
)

# exchange2003-observed-traffic.md, §3 answer #9 (PROPFIND of the mailbox root, one line).
OBSERVED_FOLDERS = (
    b'<?xml version="1.0"?><a:multistatus xmlns:a="DAV:" '
    b'xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" xmlns:c="urn:schemas:httpmail:">'
    b"<a:response><a:href>http://127.0.0.1:18080/exchange/testuser/</a:href><a:propstat>"
    b"<a:status>HTTP/1.1 200 OK</a:status><a:prop>"
    b"<c:deleteditems>http://127.0.0.1:18080/exchange/testuser/Deleted%20Items</c:deleteditems>"
    b"<c:outbox>http://127.0.0.1:18080/exchange/testuser/Outbox</c:outbox>"
    b"<c:inbox>http://127.0.0.1:18080/exchange/testuser/Inbox</c:inbox>"
    b"<c:drafts>http://127.0.0.1:18080/exchange/testuser/Drafts</c:drafts>"
    b"<c:sentitems>http://127.0.0.1:18080/exchange/testuser/Sent%20Items</c:sentitems>"
    b"<c:sendmsg>http://127.0.0.1:18080/exchange/testuser/%23%23DavMailSubmissionURI%23%23"
    b"</c:sendmsg><c:calendar>http://127.0.0.1:18080/exchange/testuser/Calendar</c:calendar>"
    b"<c:tasks>http://127.0.0.1:18080/exchange/testuser/Tasks</c:tasks>"
    b"<c:contacts>http://127.0.0.1:18080/exchange/testuser/Contacts</c:contacts>"
    b"</a:prop></a:propstat></a:response></a:multistatus>"
)

# Reference §1 / §9: the MS-XWDCAL 4.2.2 shape (root declarations, c="xml:", d=httpmail), with
# the separate 404 propstat a missing property gets (§5.3).
XWDCAL_WITH_404 = b"""<?xml version="1.0"?>
<a:multistatus xmlns:a="DAV:" xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"
  xmlns:c="xml:" xmlns:d="urn:schemas:httpmail:" xmlns:e="http://schemas.microsoft.com/exchange/">
 <a:response>
  <a:href>https://SERVER01/exchange/local/</a:href>
  <a:propstat>
   <a:status>HTTP/1.1 200 OK</a:status>
   <a:prop>
    <d:sendmsg>https://SERVER01/exchange/local/%23%23DavMailSubmission URI%23%23/</d:sendmsg>
    <d:calendar>https://SERVER01/exchange/local/Calendar</d:calendar>
   </a:prop>
  </a:propstat>
  <a:propstat>
   <a:status>HTTP/1.1 404 Resource Not Found</a:status>
   <a:prop><e:timezone/><d:outbox/></a:prop>
  </a:propstat>
 </a:response>
</a:multistatus>"""

# Typed values as Exchange returns them: b:dt attributes, <c:v> children, dates with and
# without milliseconds, a named (mapi/id) property whose local name starts with a digit.
TYPED = (
    b'<?xml version="1.0"?><a:multistatus xmlns:a="DAV:" '
    b'xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" xmlns:c="xml:" '
    b'xmlns:f="urn:schemas:calendar:" xmlns:g="http://schemas.microsoft.com/mapi/" '
    b'xmlns:h="http://schemas.microsoft.com/mapi/id/{00062002-0000-0000-C000-000000000046}/">'
    b"<a:response><a:href>/exchange/testuser/Calendar/x.EML</a:href><a:propstat>"
    b"<a:status>HTTP/1.1 200 OK</a:status><a:prop>"
    b'<f:dtstart b:dt="dateTime.tz">2026-12-10T14:00:00.000Z</f:dtstart>'
    b'<f:dtend b:dt="dateTime.tz">2026-12-10T15:30:00Z</f:dtend>'
    b'<f:instancetype b:dt="int">1</f:instancetype>'
    b'<f:alldayevent b:dt="boolean">0</f:alldayevent>'
    b'<g:finvited b:dt="boolean">1</g:finvited>'
    b'<f:rrule b:dt="mv.string"><c:v>FREQ=MONTHLY</c:v><c:v>COUNT=10</c:v></f:rrule>'
    b'<f:exdate b:dt="mv.dateTime.tz"><c:v>2026-12-24T14:00:00.000Z</c:v>'
    b"<c:v>2026-12-31T14:00:00Z</c:v></f:exdate>"
    b'<h:0x8503 b:dt="boolean">1</h:0x8503>'
    b'<g:reminderdelta b:dt="float">15.5</g:reminderdelta>'
    b'<g:blob b:dt="bin.base64">AAEC/w==</g:blob>'
    b"<f:busystatus>BUSY</f:busystatus>"
    b"</a:prop></a:propstat></a:response></a:multistatus>"
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<a:multistatus xmlns:a="DAV:"><a:response><a:href>&lol9;</a:href></a:response></a:multistatus>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE a:multistatus [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<a:multistatus xmlns:a="DAV:"><a:response><a:href>&xxe;</a:href></a:response></a:multistatus>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE a:multistatus SYSTEM "http://attacker.example/evil.dtd">
<a:multistatus xmlns:a="DAV:"/>"""


# -- property names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("full", "expected"),
    [
        ("DAV:getetag", ("DAV:", "getetag")),
        ("urn:schemas:calendar:dtstart", ("urn:schemas:calendar:", "dtstart")),
        ("urn:schemas:httpmail:subject", ("urn:schemas:httpmail:", "subject")),
        (
            "http://schemas.microsoft.com/exchange/outlookmessageclass",
            ("http://schemas.microsoft.com/exchange/", "outlookmessageclass"),
        ),
        (
            "http://schemas.microsoft.com/exchange/keywords-utf8",
            ("http://schemas.microsoft.com/exchange/", "keywords-utf8"),
        ),
        (
            "http://schemas.microsoft.com/mapi/proptag/x10f3001f",
            ("http://schemas.microsoft.com/mapi/proptag/", "x10f3001f"),
        ),
        (
            f"http://schemas.microsoft.com/mapi/id/{PSETID_APPOINTMENT}/0x8503",
            (f"http://schemas.microsoft.com/mapi/id/{PSETID_APPOINTMENT}/", "0x8503"),
        ),
    ],
)
def test_split_name(full: str, expected: tuple[str, str]) -> None:
    assert split_name(full) == expected
    assert webdav.prop_name(*expected) == full


@pytest.mark.parametrize(
    "bad", ["", "DAV:", "getetag", "http://x/", "urn:a:b c", "urn:x:a<b", 'ur"n:x:a', "urn:x:-a"]
)
def test_split_name_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=r"property name|namespace"):
        split_name(bad)


def test_mapi_id_name_matches_reference_spelling() -> None:
    assert webdav.mapi_id_name(PSETID_APPOINTMENT, 0x8503) == (
        "http://schemas.microsoft.com/mapi/id/{00062002-0000-0000-C000-000000000046}/0x8503"
    )
    assert webdav.mapi_id_name("{6ED8DA90-450B-101B-98DA-00AA003F1305}", 3).endswith("}/0x3")
    with pytest.raises(ValueError, match="named property"):
        webdav.mapi_id_name("6ED8DA90", 3)


# -- builders ------------------------------------------------------------------------------------


def test_build_propfind_allprop_and_named() -> None:
    assert build_propfind(None) == (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
    )
    body = build_propfind(["DAV:getetag", NS_HTTPMAIL + "calendar", NS_HTTPMAIL + "calendar"])
    assert body == (
        b'<?xml version="1.0" encoding="utf-8"?>\n'
        b'<D:propfind xmlns:D="DAV:" xmlns:H="urn:schemas:httpmail:"><D:prop>'
        b"<D:getetag/><H:calendar/></D:prop></D:propfind>"
    )
    with pytest.raises(ValueError, match="at least one"):
        build_propfind([])


def test_build_propfind_named_property_uses_letter_prefix() -> None:
    named = webdav.mapi_id_name(PSETID_APPOINTMENT, 0x8503)
    body = build_propfind([named, NS_PROPTAG + "x10f3001f"]).decode()
    prefixes = re.findall(r"xmlns:([^=]+)=", body)
    assert all(p.isalpha() for p in prefixes)
    assert re.search(r"<([A-Za-z]+):0x8503/>", body)
    assert 'xmlns:T="http://schemas.microsoft.com/mapi/proptag/"' in body


def test_build_proppatch_typed_wire_forms() -> None:
    when = datetime(2026, 12, 10, 15, 0, tzinfo=timezone(timedelta(hours=1)))
    body = build_proppatch(
        {
            "DAV:contentclass": "urn:content-classes:appointment",
            NS_CALENDAR + "dtstart": when,
            NS_CALENDAR + "alldayevent": False,
            NS_CALENDAR + "reminderoffset": 900,
            NS_MAPI + "finvited": True,
            NS_MAPI + "ratio": 0.25,
            NS_MAPI + "blob": b"\x00\x01\x02\xff",
            NS_CALENDAR + "rrule": ["FREQ=MONTHLY", "COUNT=10"],
            NS_CALENDAR + "exdate": [when],
            NS_MAPI + "ids": [1, 2],
        },
        remove=[NS_CALENDAR + "rdate"],
    ).decode()
    assert body.startswith('<?xml version="1.0" encoding="utf-8"?>\n<D:propertyupdate ')
    assert f'xmlns:dt="{DT}"' in body
    assert 'xmlns:x="xml:"' in body
    for fragment in (
        "<D:set><D:prop><D:contentclass>urn:content-classes:appointment</D:contentclass>",
        '<C:dtstart dt:dt="dateTime.tz">2026-12-10T14:00:00.000Z</C:dtstart>',
        '<C:alldayevent dt:dt="boolean">0</C:alldayevent>',
        '<C:reminderoffset dt:dt="int">900</C:reminderoffset>',
        '<P:finvited dt:dt="boolean">1</P:finvited>',
        '<P:ratio dt:dt="float">0.25</P:ratio>',
        '<P:blob dt:dt="bin.base64">AAEC/w==</P:blob>',
        '<C:rrule dt:dt="mv.string"><x:v>FREQ=MONTHLY</x:v><x:v>COUNT=10</x:v></C:rrule>',
        '<C:exdate dt:dt="mv.dateTime.tz"><x:v>2026-12-10T14:00:00.000Z</x:v></C:exdate>',
        '<P:ids dt:dt="mv.int"><x:v>1</x:v><x:v>2</x:v></P:ids>',
        "<D:remove><D:prop><C:rdate/></D:prop></D:remove>",
    ):
        assert fragment in body
    root = webdav.parse_xml(body.encode())
    assert (root.namespace, root.local) == (NS_DAV, "propertyupdate")


def test_build_proppatch_escapes_text() -> None:
    body = build_proppatch({NS_HTTPMAIL + "subject": "a<b & c>d\r\nnext"})
    assert b"a&lt;b &amp; c&gt;d&#13;\nnext" in body


@pytest.mark.parametrize(
    ("props", "remove"),
    [
        ({}, []),
        ({NS_CALENDAR + "dtstart": datetime(2026, 1, 1)}, []),  # naive
        ({NS_CALENDAR + "x": None}, []),
        ({NS_CALENDAR + "x": float("nan")}, []),
        ({NS_CALENDAR + "x": [1, "a"]}, []),
        ({NS_CALENDAR + "x": [True]}, []),
        ({NS_CALENDAR + "x": "bell\x07"}, []),
        ({NS_CALENDAR + "x": "a"}, [NS_CALENDAR + "x"]),
        ({"not a name": "a"}, []),
    ],
)
def test_build_proppatch_rejects(props: dict[str, object], remove: list[str]) -> None:
    with pytest.raises(ValueError):
        build_proppatch(props, remove)


def test_build_search_escapes_sql() -> None:
    sql = """SELECT "DAV:href" FROM "/x/" WHERE "urn:schemas:calendar:dtstart" > 'a&b<c'"""
    body = build_search(sql)
    assert body == (
        b'<?xml version="1.0" encoding="utf-8"?>\n<D:searchrequest xmlns:D="DAV:"><D:sql>'
        b"SELECT \"DAV:href\" FROM \"/x/\" WHERE \"urn:schemas:calendar:dtstart\" &gt; "
        b"'a&amp;b&lt;c'</D:sql></D:searchrequest>"
    )
    root = webdav.parse_xml(body)
    sql_node = root.find(NS_DAV, "sql")
    assert sql_node is not None and sql_node.text == sql
    with pytest.raises(ValueError, match="XML"):
        build_search("SELECT \x00")


# -- SQL -----------------------------------------------------------------------------------------


def test_sql_literals() -> None:
    assert webdav.sql_string("O'Brien") == "'O''Brien'"
    assert webdav.sql_string("") == "''"
    with pytest.raises(ValueError, match="NUL"):
        webdav.sql_string("a\x00b")
    assert webdav.sql_datetime(datetime(2026, 12, 10, 14, 0, tzinfo=UTC)) == (
        "CAST(\"2026-12-10T14:00:00Z\" as 'dateTime.tz')"
    )
    with pytest.raises(ValueError, match="aware"):
        webdav.sql_datetime(datetime(2026, 12, 10))
    assert webdav.sql_literal(True) == "True"
    assert webdav.sql_literal(False) == "False"
    assert webdav.sql_literal(3) == "3"
    assert webdav.sql_identifier("urn:schemas:calendar:uid") == '"urn:schemas:calendar:uid"'
    with pytest.raises(ValueError):
        webdav.sql_identifier('urn:x:a" OR 1=1 --')


def test_build_sql_reference_shape() -> None:
    uid = "urn:schemas:calendar:uid"
    where = f"{webdav.sql_identifier(uid)} = {webdav.sql_string('abc')}"
    sql = build_sql(
        ["DAV:href", uid, "DAV:href"],
        "/exchange/testuser/Calendar/",
        where,
        [NS_CALENDAR + "dtstart", ("DAV:getetag", "desc")],
    )
    assert sql == (
        "SELECT \"DAV:href\",\"urn:schemas:calendar:uid\" FROM SCOPE('SHALLOW TRAVERSAL OF "
        "\"/exchange/testuser/Calendar/\"') WHERE \"urn:schemas:calendar:uid\" = 'abc' "
        'ORDER BY "urn:schemas:calendar:dtstart" ASC,"DAV:getetag" DESC'
    )
    deep = build_sql(["DAV:href"], "/exchange/o'b\"x/", None, traversal="deep")
    assert deep == "SELECT \"DAV:href\" FROM SCOPE('DEEP TRAVERSAL OF \"/exchange/o%27b%22x/\"')"
    with pytest.raises(ValueError, match="SELECT"):
        build_sql([], "/x/", None)
    with pytest.raises(ValueError, match="traversal"):
        build_sql(["DAV:href"], "/x/", None, traversal="sideways")
    with pytest.raises(ValueError, match="folder URL"):
        build_sql(["DAV:href"], "/x/\n", None)
    with pytest.raises(ValueError, match="direction"):
        build_sql(["DAV:href"], "/x/", None, [("DAV:href", "UP")])


# -- parsing -------------------------------------------------------------------------------------


def test_parse_observed_search_answer() -> None:
    [resp] = parse_multistatus(OBSERVED_SEARCH)
    assert resp.href == "http://127.0.0.1:18080/exchange/testuser/Calendar/probe-7b19ceecc6f3.ics"
    assert resp.status is None
    assert resp.props == {
        NS_EXCHANGE + "permanenturl": resp.href,
        NS_HTTPMAIL + "subject": "Probe meeting",
        "DAV:contentclass": "urn:content-classes:appointment",
        "DAV:displayname": "probe-7b19ceecc6f3.ics",
        NS_PROPTAG + "x10f3001f": "probe-7b19ceecc6f3.ics",
        NS_CALENDAR + "instancetype": "0",  # untyped in the capture: stays text
        "DAV:getetag": '"5f395c0a0a66cade29871db0eb48b702,1"',
    }
    assert set(resp.prop_status.values()) == {200}
    assert resp.failed_props() == {}


def test_parse_observed_folder_answer() -> None:
    [resp] = parse_multistatus(OBSERVED_FOLDERS)
    assert resp.href == "http://127.0.0.1:18080/exchange/testuser/"
    assert len(resp.props) == 9
    assert resp.get(NS_HTTPMAIL + "sendmsg") == (
        "http://127.0.0.1:18080/exchange/testuser/%23%23DavMailSubmissionURI%23%23"
    )
    assert resp.get(NS_HTTPMAIL + "calendar") == "http://127.0.0.1:18080/exchange/testuser/Calendar"


def test_parse_xwdcal_answer_with_404_propstat() -> None:
    [resp] = parse_multistatus(XWDCAL_WITH_404)
    assert resp.href == "https://SERVER01/exchange/local/"
    assert resp.props == {
        NS_HTTPMAIL + "sendmsg": (
            "https://SERVER01/exchange/local/%23%23DavMailSubmission URI%23%23/"
        ),
        NS_HTTPMAIL + "calendar": "https://SERVER01/exchange/local/Calendar",
    }
    assert resp.prop_status == {
        NS_HTTPMAIL + "sendmsg": 200,
        NS_HTTPMAIL + "calendar": 200,
        NS_EXCHANGE + "timezone": 404,
        NS_HTTPMAIL + "outbox": 404,
    }
    assert resp.failed_props() == {NS_EXCHANGE + "timezone": 404, NS_HTTPMAIL + "outbox": 404}


def test_parse_typed_values() -> None:
    [resp] = parse_multistatus(TYPED)
    named = webdav.mapi_id_name(PSETID_APPOINTMENT, 0x8503)
    assert resp.props == {
        NS_CALENDAR + "dtstart": datetime(2026, 12, 10, 14, 0, tzinfo=UTC),
        NS_CALENDAR + "dtend": datetime(2026, 12, 10, 15, 30, tzinfo=UTC),
        NS_CALENDAR + "instancetype": 1,
        NS_CALENDAR + "alldayevent": False,
        NS_MAPI + "finvited": True,
        NS_CALENDAR + "rrule": ["FREQ=MONTHLY", "COUNT=10"],
        NS_CALENDAR + "exdate": [
            datetime(2026, 12, 24, 14, 0, tzinfo=UTC),
            datetime(2026, 12, 31, 14, 0, tzinfo=UTC),
        ],
        named: True,
        NS_MAPI + "reminderdelta": 15.5,
        NS_MAPI + "blob": b"\x00\x01\x02\xff",
        NS_CALENDAR + "busystatus": "BUSY",
    }


@pytest.mark.parametrize(
    "body",
    [
        # p1-style prefixes (what DavMail chokes on; we must not)
        b'<p1:multistatus xmlns:p1="DAV:" xmlns:p2="urn:schemas:calendar:" '
        b'xmlns:p3="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/"><p1:response>'
        b"<p1:href>/c/x.EML</p1:href><p1:propstat><p1:status>HTTP/1.1 200 OK</p1:status>"
        b'<p1:prop><p2:sequence p3:dt="int">3</p2:sequence></p1:prop></p1:propstat>'
        b"</p1:response></p1:multistatus>",
        # default namespaces, re-declared per element
        b'<multistatus xmlns="DAV:"><response><href>/c/x.EML</href><propstat>'
        b"<status>HTTP/1.1 200 OK</status><prop>"
        b'<sequence xmlns="urn:schemas:calendar:" xmlns:t="urn:uuid:c2f41010-65b3-11d1-a29f-'
        b'00aa00c14882/" t:dt="int">3</sequence></prop></propstat></response></multistatus>',
        # status after prop, whitespace, CDATA and an un-prefixed dt attribute
        b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n'
        b" <D:response>\n  <D:href> /c/x.EML </D:href>\n  <D:propstat>\n"
        b'   <D:prop><S:sequence xmlns:S="urn:schemas:calendar:" dt="int"><![CDATA[3]]>'
        b"</S:sequence></D:prop>\n   <D:status>HTTP/1.1 200 OK</D:status>\n  </D:propstat>\n"
        b" </D:response>\n</D:multistatus>\n",
    ],
)
def test_parse_accepts_any_prefixes(body: bytes) -> None:
    [resp] = parse_multistatus(body)
    assert resp.href == "/c/x.EML"
    assert resp.props == {NS_CALENDAR + "sequence": 3}


def test_parse_response_level_status_and_several_hrefs() -> None:
    body = (
        b'<a:multistatus xmlns:a="DAV:"><a:response><a:href>/d/1.EML</a:href>'
        b"<a:href>/d/2.EML</a:href><a:status>HTTP/1.1 404 Not Found</a:status></a:response>"
        b"<a:response><a:href>/d/3.EML</a:href><a:status>HTTP/1.1 200 OK</a:status>"
        b"</a:response></a:multistatus>"
    )
    assert [(r.href, r.status) for r in parse_multistatus(body)] == [
        ("/d/1.EML", 404),
        ("/d/2.EML", 404),
        ("/d/3.EML", 200),
    ]


def test_parse_empty_multistatus() -> None:
    assert parse_multistatus(b'<?xml version="1.0"?><a:multistatus xmlns:a="DAV:"/>') == []


def test_parse_empty_typed_value_is_none() -> None:
    body = (
        b'<a:multistatus xmlns:a="DAV:" xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/">'
        b"<a:response><a:href>/x</a:href><a:propstat><a:status>HTTP/1.1 200 OK</a:status>"
        b'<a:prop><a:x b:dt="int"/><a:y b:dt="bin.base64"/><a:z b:dt="mv.string"/></a:prop>'
        b"</a:propstat></a:response></a:multistatus>"
    )
    [resp] = parse_multistatus(body)
    assert resp.props == {"DAV:x": None, "DAV:y": b"", "DAV:z": []}


@pytest.mark.parametrize(
    "body",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        EXTERNAL_DTD,
        b"",
        b"   \n",
        b"<a:multistatus xmlns:a='DAV:'><a:response>",  # truncated
        b"<html><body>440 Login Timeout</body></html>",  # not a multistatus
        b"<a:multistatus xmlns:a='urn:not-dav'/>",
        b"<a:multistatus xmlns:a='DAV:'><a:response><a:propstat/></a:response></a:multistatus>",
        b"<a:multistatus xmlns:a='DAV:'><a:response><a:href>/x</a:href><a:propstat>"
        b"<a:prop/></a:propstat></a:response></a:multistatus>",  # propstat without status
        b"<a:multistatus xmlns:a='DAV:'><a:response><a:href>/x</a:href><a:propstat>"
        b"<a:status>200</a:status></a:propstat></a:response></a:multistatus>",  # bad status
        b"<a:multistatus xmlns:a='DAV:'><q:x/></a:multistatus>",  # unbound prefix
        b"<a:multistatus xmlns:a='DAV:' xmlns:b='urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/'>"
        b"<a:response><a:href>/x</a:href><a:propstat><a:status>HTTP/1.1 200 OK</a:status>"
        b"<a:prop><a:n b:dt='int'>twelve</a:n></a:prop></a:propstat></a:response>"
        b"</a:multistatus>",  # value contradicting its type
        b"<a:multistatus xmlns:a='DAV:' xmlns:b='urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/'>"
        b"<a:response><a:href>/x</a:href><a:propstat><a:status>HTTP/1.1 200 OK</a:status>"
        b"<a:prop><a:n b:dt='dateTime.tz'>2026-13-45T99:00:00Z</a:n></a:prop></a:propstat>"
        b"</a:response></a:multistatus>",
        b"<a:multistatus xmlns:a='DAV:'>" + b"<a:x>" * 100 + b"</a:x>" * 100 + b"</a:multistatus>",
        b"\xff\xfe<garbage",
    ],
)
def test_parse_rejects_with_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_multistatus(body)
    assert isinstance(info.value, errors.ExchangeError)
    assert len(info.value.excerpt) <= 200


def test_parse_refuses_oversized_body_before_parsing() -> None:
    body = b"<a:multistatus xmlns:a='DAV:'>" + b" " * webdav.MAX_BODY_BYTES + b"</a:multistatus>"
    with pytest.raises(ProtocolError, match="larger than"):
        parse_multistatus(body)


def test_parse_datetime_variants() -> None:
    expected = datetime(2009, 8, 24, 15, 0, tzinfo=UTC)
    for text in (
        "2009-08-24T15:00:00.000Z",
        "2009-08-24T15:00:00Z",
        "2009-08-24T15:00:00",
        "2009-08-24T17:00:00+02:00",
        "2009-08-24T10:00:00.000-0500",
    ):
        assert webdav.parse_datetime(text) == expected
    assert webdav.parse_datetime("2009-08-24T15:00:00.1234567Z").microsecond == 123456
    for bad in ("2009/08/24 15:00:00", "yesterday", "2009-08-24"):
        with pytest.raises(ValueError, match="ISO-8601"):
            webdav.parse_datetime(bad)


def test_content_range() -> None:
    assert webdav.parse_content_range("rows 0-9; total=42") == (0, 9, 42)
    assert webdav.parse_content_range("Rows 20-39;total=40") == (20, 39, 40)
    assert webdav.parse_content_range("rows 5-5") == (5, 5, None)
    assert webdav.parse_content_range("rows 0-4; total=*") == (0, 4, None)
    for bad in ("bytes 0-9/10", "rows 9-0; total=10", "rows a-b", ""):
        with pytest.raises(ProtocolError):
            webdav.parse_content_range(bad)
    assert webdav.build_range(0, 99) == "rows=0-99"
    assert webdav.build_range(100) == "rows=100-"
    with pytest.raises(ValueError, match="range"):
        webdav.build_range(5, 4)


# -- hypothesis: build_proppatch -> an equivalent multistatus -> parse_multistatus ----------------

_xml_chars = st.one_of(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn")), st.sampled_from("\t\n\r")
)
xml_text = st.text(_xml_chars, max_size=30)
ms_datetimes = st.datetimes(
    min_value=datetime(1601, 1, 1),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
wire_values = st.one_of(
    xml_text,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    ms_datetimes,
    st.binary(max_size=40),
    st.lists(xml_text, max_size=4),
    st.lists(st.integers(min_value=-(2**31), max_value=2**31), min_size=1, max_size=4),
    st.lists(ms_datetimes, min_size=1, max_size=3),
)
namespaces = st.sampled_from(
    [
        "DAV:",
        NS_CALENDAR,
        NS_HTTPMAIL,
        NS_EXCHANGE,
        NS_MAPI,
        NS_PROPTAG,
        "urn:schemas:contacts:",
        f"http://schemas.microsoft.com/mapi/id/{PSETID_APPOINTMENT}/",
        "http://example.com/custom/ns/",
    ]
)
locals_ = st.from_regex(r"[a-z][a-z0-9\-]{0,12}|0x[0-9a-f]{1,4}|x[0-9a-f]{8}", fullmatch=True)
prop_names = st.builds(lambda ns, local: ns + local, namespaces, locals_)


def _as_multistatus(proppatch: bytes) -> bytes:
    """Re-wrap the <D:set><D:prop> of a PROPPATCH body as a 207 answer, declarations unchanged."""
    text = proppatch.decode("utf-8")
    _, _, rest = text.partition("<D:propertyupdate")
    decls, _, rest = rest.partition(">")
    inner = rest.split("<D:set><D:prop>", 1)[1].split("</D:prop></D:set>", 1)[0]
    return (
        f"<D:multistatus{decls}><D:response><D:href>/exchange/u/Calendar/x.EML</D:href>"
        f"<D:propstat><D:status>HTTP/1.1 200 OK</D:status><D:prop>{inner}</D:prop>"
        f"</D:propstat></D:response></D:multistatus>"
    ).encode()


def _normalized(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


@given(st.dictionaries(prop_names, wire_values, min_size=1, max_size=8))
def test_proppatch_values_survive_a_multistatus_round_trip(values: dict[str, object]) -> None:
    [resp] = parse_multistatus(_as_multistatus(build_proppatch(values)))
    assert resp.props == {name: _normalized(v) for name, v in values.items()}
    for name, parsed in resp.props.items():
        original = values[name]
        assert type(parsed) is type(original) or isinstance(original, bytearray)


# An independent writer (not webdav's) with random prefix styles, to test the parser alone.
simple_values = st.one_of(
    xml_text, st.booleans(), st.integers(), ms_datetimes, st.lists(xml_text, max_size=3)
)


def _typed(value: object) -> tuple[str | None, str | list[str]]:
    if isinstance(value, bool):
        return "boolean", "1" if value else "0"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, datetime):
        return "dateTime.tz", value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, list):
        return "mv.string", value
    assert isinstance(value, str)
    return None, value


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        "\r", "&#13;"
    )


@given(
    st.dictionaries(prop_names, simple_values, min_size=1, max_size=6),
    st.sampled_from(["letters", "p-digits", "default"]),
)
def test_parser_accepts_independently_written_answers(
    values: dict[str, object], style: str
) -> None:
    prefixes: dict[str, str] = {}

    def prefix(ns: str) -> str:
        return prefixes.setdefault(
            ns, ("p" + str(len(prefixes) + 1)) if style == "p-digits" else "n" + "abcdefghij"[
                len(prefixes)
            ]
        )

    parts = []
    for name, value in values.items():
        ns, local = split_name(name)
        kind, payload = _typed(value)
        body = (
            "".join(f"<mv:v>{_esc(p)}</mv:v>" for p in payload)
            if isinstance(payload, list)
            else _esc(payload)
        )
        dt = f' t:dt="{kind}"' if kind else ""
        if style == "default" and not local[0].isdigit():  # <0x8503> needs a prefix
            parts.append(f'<{local} xmlns="{ns}"{dt}>{body}</{local}>')
        else:
            parts.append(f"<{prefix(ns)}:{local}{dt}>{body}</{prefix(ns)}:{local}>")
    decls = "".join(f' xmlns:{p}="{ns}"' for ns, p in prefixes.items())
    doc = (
        f'<?xml version="1.0"?><Z:multistatus xmlns:Z="DAV:" xmlns:t="{DT}" xmlns:mv="xml:"'
        f"{decls}><Z:response><Z:href>/x</Z:href><Z:propstat><Z:status>HTTP/1.1 200 OK"
        f"</Z:status><Z:prop>{''.join(parts)}</Z:prop></Z:propstat></Z:response>"
        f"</Z:multistatus>"
    )
    [resp] = parse_multistatus(doc.encode("utf-8"))
    assert resp.props == {name: _normalized(v) for name, v in values.items()}


# -- errors --------------------------------------------------------------------------------------


def test_error_carries_no_credentials() -> None:
    err = errors.NotFound(
        "gone",
        method="GET",
        url="https://alice:s3cret@mail.example.com/exchange/alice/Calendar/x.EML#frag",
        status=404,
        body=b"<html>\r\n\x00Not\tfound " + b"x" * 500,
    )
    assert err.url == "https://mail.example.com/exchange/alice/Calendar/x.EML"
    assert "s3cret" not in str(err) and "s3cret" not in repr(err.args)
    assert err.excerpt.startswith("<html> Not found xxx")
    assert len(err.excerpt) == 200
    assert not any(ord(c) < 32 for c in err.excerpt)
    assert "GET https://mail.example.com" in str(err) and "404" in str(err)


def test_error_for_status_table() -> None:
    expected = {
        200: None,
        207: None,
        302: None,
        400: errors.ExchangeError,
        401: errors.AuthFailed,
        403: errors.Forbidden,
        404: errors.NotFound,
        405: errors.ExchangeError,
        409: errors.Conflict,
        412: errors.PreconditionFailed,
        416: errors.RangeNotSatisfiable,
        423: errors.ExchangeError,
        440: errors.SessionExpired,
        500: errors.ExchangeError,
        502: errors.ServerBusy,
        503: errors.ServerBusy,
        504: errors.ServerBusy,
        507: errors.ExchangeError,
    }
    for status, cls in expected.items():
        err = errors.error_for_status(status, method="PROPFIND", url="http://h/x", body="b")
        if cls is None:
            assert err is None
        else:
            assert type(err) is cls
            assert err is not None and err.status == status and err.method == "PROPFIND"


def test_error_hierarchy_and_context() -> None:
    assert issubclass(errors.ConnectTimeout, errors.TransportError)
    assert issubclass(errors.ReadTimeout, errors.TransportError)
    assert not issubclass(errors.ReadTimeout, errors.ConnectTimeout)
    for cls in (errors.ProtocolError, errors.ServerBusy, errors.SessionExpired):
        assert issubclass(cls, errors.ExchangeError)
    err = ProtocolError("bad XML", method="SEARCH", url="http://u:p@h/x", status=207)
    assert (err.method, err.url, err.status) == ("SEARCH", "http://h/x", 207)
    chosen = errors.AuthFailed("refused", method="POST", url="http://h/", excerpt="reason=2\n")
    assert chosen.excerpt == "reason=2"
