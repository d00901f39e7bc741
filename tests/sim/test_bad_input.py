"""Bad input gets a proper status, never a traceback, and never changes stored data."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from tests.sim.davclient import parse_multistatus, propfind, proppatch, search

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    '<D:searchrequest xmlns:D="DAV:"><D:sql>&lol3;</D:sql></D:searchrequest>'
)
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname></D:prop>'
            "</D:propfind>")


def snapshot(session, base_url):
    """Every resource under alice's mailbox with its etag, as an admin's PROPFIND sees it."""
    answer = propfind(session, base_url + "/exchange/alice/", ["DAV:getetag"], "infinity")
    assert answer.status_code == 207
    return {href: g[200].get("DAV:getetag") for href, g in
            parse_multistatus(answer.content).items()}


def assert_clean(answer_body: bytes | str):
    text = answer_body if isinstance(answer_body, str) else answer_body.decode("latin-1")
    assert "Traceback" not in text and 'File "' not in text and "Error:" not in text


@pytest.fixture
def before(sim, alice):
    proppatch(alice, sim.base_url + "/exchange/alice/Calendar/keep.EML",
              {"urn:schemas:httpmail:subject": "keep me"})
    state = snapshot(alice, sim.base_url)
    yield state
    assert snapshot(alice, sim.base_url) == state


def raw(sim, session, method: str, target: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request sent byte for byte (requests would normalize `..` away)."""
    parts = urlsplit(sim.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    connection.putrequest(method, target, skip_accept_encoding=True)
    connection.putheader("Cookie", cookie)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    answer = connection.getresponse()
    status, data = answer.status, answer.read()
    connection.close()
    return status, data


@pytest.mark.parametrize("body", [b"<D:propfind xmlns:D='DAV:'><D:prop>", b"not xml at all",
                                  b"<?xml version='1.0'?><x:y/>", EXTERNAL.encode()])
def test_malformed_or_dangerous_xml_is_400(sim, alice, before, body):
    url = sim.base_url + "/exchange/alice/Calendar/"
    for method in ("PROPFIND", "PROPPATCH", "SEARCH", "BPROPFIND"):
        answer = alice.request(method, url + ("x.EML" if method == "PROPPATCH" else ""),
                               data=body, headers={"Depth": "0"})
        assert answer.status_code == 400, (method, answer.status_code)
        assert_clean(answer.content)


def test_entity_expansion_is_400(sim, alice, before):
    url = sim.base_url + "/exchange/alice/Calendar/"
    answer = alice.request("SEARCH", url, data=BILLION_LAUGHS)
    assert answer.status_code == 400
    assert_clean(answer.content)
    patch = BILLION_LAUGHS.replace("searchrequest", "propertyupdate")
    assert alice.request("PROPPATCH", url + "x.EML", data=patch).status_code == 400


@pytest.mark.parametrize("sql", [
    "DELETE FROM scope('shallow traversal of \"/exchange/alice/Calendar\"')",
    'SELECT "DAV:displayname" FROM',
    'SELECT "DAV:displayname" FROM "" WHERE ((("a" = 1)',
    'SELECT "DAV:displayname" FROM "" WHERE "a" ~~ 3',
    "SELECT " + "(" * 5000,
])
def test_unknown_sql_is_400(sim, alice, before, sql):
    answer = search(alice, sim.base_url + "/exchange/alice/Calendar/", sql)
    assert answer.status_code == 400
    assert_clean(answer.content)


def test_bad_range_header_is_400(sim, alice, before):
    sql = 'SELECT "DAV:displayname" FROM ""'
    answer = search(alice, sim.base_url + "/exchange/alice/Calendar/", sql,
                    {"Range": "bytes=0-10"})
    assert answer.status_code == 400


@pytest.mark.parametrize("method", ["LOCK", "UNLOCK", "TRACE", "FROBNICATE", "PATCH"])
def test_unsupported_method_is_501(sim, alice, before, method):
    answer = alice.request(method, sim.base_url + "/exchange/alice/Calendar/keep.EML")
    assert answer.status_code == 501
    assert_clean(answer.content)


@pytest.mark.sim_options(max_body=1024)
def test_oversized_body_is_413(sim, alice, before):
    url = sim.base_url + "/exchange/alice/Calendar/big.EML"
    answer = alice.put(url, data=b"x" * 5000, headers={"Content-Type": "message/rfc822"})
    assert answer.status_code == 413
    assert_clean(answer.content)
    patch = proppatch(alice, url, {"urn:schemas:httpmail:subject": "y" * 4000})
    assert patch.status_code == 413


def test_wrong_put_type_and_broken_mime(sim, alice, before):
    url = sim.base_url + "/exchange/alice/Calendar/new.EML"
    assert alice.put(url, data=b"BEGIN:VCALENDAR",
                     headers={"Content-Type": "text/calendar"}).status_code == 415
    broken = alice.put(url, data=b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\n",
                       headers={"Content-Type": "message/rfc822"})
    assert broken.status_code == 400
    assert_clean(broken.content)


@pytest.mark.parametrize("target", [
    "/exchange/alice/../bob/Inbox/",
    "/exchange/alice/%2e%2e/bob/",
    "/exchange/alice/Calendar/./keep.EML",
    "/exchange/alice%2Fbob/",
    "/exchange/alice/Calendar%2fkeep.EML",
    "/exchange/alice/Calendar/%00keep.EML",
    "/exchange/alice/Calendar/%5C..%5Ckeep.EML",
    "/exchange/alice/Calendar/%ff%fe.EML",
])
def test_traversal_and_encoded_slashes_are_400(sim, alice, before, target):
    for method in ("GET", "PROPFIND", "DELETE"):
        status, body = raw(sim, alice, method, target)
        assert status == 400, (method, target, status)
        assert_clean(body)


def test_bad_destination_is_refused(sim, alice, before):
    url = sim.base_url + "/exchange/alice/Calendar/keep.EML"
    for destination, status in (("/exchange/alice/../bob/Inbox/x.EML", 400),
                                ("/exchange/alice/Inbox%2Fx.EML", 400),
                                ("/exchange/bob/Inbox/x.EML", 403),
                                ("", 400)):
        answer = alice.request("MOVE", url, headers={"Destination": destination})
        assert answer.status_code == status, destination
    assert alice.request("MOVE", url, headers={"Destination": url + "2", "Overwrite": "maybe"}
                         ).status_code == 400


def test_internal_error_is_a_bare_500(sim, alice, before, monkeypatch):
    def explode(path):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(sim.store, "children", explode)
    answer = propfind(alice, sim.base_url + "/exchange/alice/Calendar/", ["DAV:displayname"],
                      "1")
    assert answer.status_code == 500
    assert_clean(answer.content)
    assert b"secret internals" not in answer.content
    monkeypatch.undo()
