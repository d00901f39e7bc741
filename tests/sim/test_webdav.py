"""WebDAV over real HTTP: PROPFIND, PROPPATCH, SEARCH, PUT/GET, DELETE, MOVE/COPY, MKCOL, B*."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.sim.davclient import items_in, parse_multistatus, propfind, proppatch, search

CAL = "urn:schemas:calendar:"
SUBJECT = "urn:schemas:httpmail:subject"
CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
PERMANENT = "http://schemas.microsoft.com/exchange/permanenturl"
START = datetime(2009, 8, 24, 15, 0, tzinfo=UTC)
END = datetime(2009, 8, 24, 16, 0, tzinfo=UTC)

APPOINTMENT = {
    "DAV:contentclass": "urn:content-classes:appointment",
    CLASS: "IPM.Appointment",
    SUBJECT: "Planning",
    CAL + "location": "Room 101",
    CAL + "dtstart": START,
    CAL + "dtend": END,
    CAL + "instancetype": 0,
    CAL + "busystatus": "BUSY",
    CAL + "alldayevent": False,
    CAL + "reminderoffset": 900,
    CAL + "rrule": ["FREQ=WEEKLY", "COUNT=3"],
    "urn:schemas:mailheader:to": "bob@example.com",
    "http://schemas.microsoft.com/mapi/finvited": True,
}

DAVMAIL_PUT = (
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"Content-class: urn:content-classes:appointment\r\n"
    b"Date: Wed, 25 Nov 2026 05:47:46 +0000\r\n"
    b"To: room-101@example.com, bob@example.com\r\n"
    b"Cc: carol@example.com\r\n"
    b"From: alice@example.com\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative;\r\n\tboundary="----=_NextPart_1"\r\n'
    b"\r\n"
    b"This is a multi-part message in MIME format.\r\n"
    b"\r\n"
    b"------=_NextPart_1\r\n"
    b'Content-Type: text/plain;\r\n\tcharset="utf-8"\r\n'
    b"content-transfer-encoding: 8bit\r\n"
    b"\r\n"
    b"Meeting created by the DavMail probe\r\n"
    b"------=_NextPart_1\r\n"
    b"Content-class: urn:content-classes:appointment\r\n"
    b'Content-Type: text/calendar;\r\n\tmethod=PUBLISH;\r\n\tcharset="utf-8"\r\n'
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//probe//caldav-driver//EN\r\n"
    b"METHOD:PUBLISH\r\n"
    b"BEGIN:VTIMEZONE\r\nTZID:Central Europe Standard Time\r\n"
    b"BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n"
    b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n"
    b"BEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
    b"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
    b"BEGIN:VEVENT\r\nUID:probe-7b19ceecc6f3\r\nDTSTAMP:20261125T174746Z\r\n"
    b"DTSTART;TZID=Central Europe Standard Time:20261210T140000Z\r\n"
    b"DTEND;TZID=Central Europe Standard Time:20261210T150000Z\r\n"
    b"SEQUENCE:0\r\nSUMMARY:Probe meeting\r\nLOCATION:Room 1\r\n"
    b"ORGANIZER;CN=\"Alice\":mailto:alice@example.com\r\n"
    b"ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.com\r\n"
    b"X-MICROSOFT-CDO-ALLDAYEVENT:FALSE\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    b"\r\n"
    b"------=_NextPart_1--\r\n"
)

DAVMAIL_SQL = (
    'SELECT "http://schemas.microsoft.com/exchange/permanenturl","urn:schemas:httpmail:subject",'
    '"DAV:contentclass","DAV:displayname","http://schemas.microsoft.com/mapi/proptag/x10f3001f",'
    '"urn:schemas:calendar:instancetype","DAV:getetag" '
    "FROM SCOPE('Shallow TRAVERSAL OF \"/exchange/alice/Calendar\"') "
    'WHERE ("DAV:isfolder" = false And "DAV:ishidden" = false And '
    '((("http://schemas.microsoft.com/exchange/outlookmessageclass" = \'IPM.Appointment\' Or '
    '"http://schemas.microsoft.com/exchange/outlookmessageclass" = '
    "'IPM.Appointment.MeetingEvent') And (\"urn:schemas:calendar:instancetype\" = 1 Or "
    '("urn:schemas:calendar:instancetype" = 0 And "urn:schemas:calendar:dtstart" > '
    "'2008/08/27 17:46:07'))))) "
    'ORDER BY "http://schemas.microsoft.com/mapi/proptag/x0e230003" DESC'
)


@pytest.fixture
def cal(sim):
    return sim.base_url + "/exchange/alice/Calendar/"


def _create(session, url, values=None):
    answer = proppatch(session, url, values or APPOINTMENT)
    assert answer.status_code == 207, answer.text
    return answer


def _props(session, url, names, depth="0"):
    answer = propfind(session, url, names, depth)
    assert answer.status_code == 207, answer.text
    return parse_multistatus(answer.content)


# -- PROPFIND ---------------------------------------------------------------------------------


def test_propfind_depths_missing_props_and_brief(sim, alice, cal):
    _create(alice, cal + "a.EML")
    _create(alice, cal + "b.EML")
    names = ["DAV:displayname", "urn:schemas:httpmail:nosuchprop"]
    zero = _props(alice, cal, names)
    assert list(zero) == [cal]
    assert zero[cal][404] == {"urn:schemas:httpmail:nosuchprop": ""}
    one = _props(alice, cal, names, "1")
    assert set(one) == {cal, cal + "a.EML", cal + "b.EML"}
    assert one[cal + "a.EML"][200]["DAV:displayname"] == "a.EML"
    assert set(_props(alice, cal, names, "1,noroot")) == {cal + "a.EML", cal + "b.EML"}
    brief = parse_multistatus(propfind(alice, cal, names, brief=True).content)
    assert set(brief[cal]) == {200}
    assert propfind(alice, cal, names, depth="2").status_code == 400
    assert propfind(alice, cal + "missing.EML", names).status_code == 404


def test_allprop_and_propname(sim, alice, cal):
    _create(alice, cal + "a.EML")
    allprop = alice.request("PROPFIND", cal + "a.EML", headers={"Depth": "0"})
    props = parse_multistatus(allprop.content)[cal + "a.EML"][200]
    assert props[SUBJECT] == "Planning" and "DAV:getetag" in props
    body = '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
    names = alice.request("PROPFIND", cal + "a.EML", data=body, headers={"Depth": "0"})
    assert parse_multistatus(names.content)[cal + "a.EML"][200][SUBJECT] == ""


# -- PROPPATCH --------------------------------------------------------------------------------


def test_proppatch_creates_typed_item_then_propfind_returns_types(sim, alice, cal):
    answer = _create(alice, cal + "planning.EML")
    assert answer.headers["Location"] == cal + "planning.EML"
    assert answer.headers["Repl-UID"].startswith("rid:")
    status = parse_multistatus(answer.content)[cal + "planning.EML"]
    assert set(status) == {200} and set(status[200]) == set(APPOINTMENT)
    names = [*APPOINTMENT, CAL + "uid", "DAV:getetag"]
    props = _props(alice, cal + "planning.EML", names)[cal + "planning.EML"][200]
    assert props[CAL + "dtstart"] == START and props[CAL + "dtend"] == END
    assert props[CAL + "reminderoffset"] == 900
    assert props[CAL + "alldayevent"] is False
    assert props["http://schemas.microsoft.com/mapi/finvited"] is True
    assert props[CAL + "rrule"] == ["FREQ=WEEKLY", "COUNT=3"]
    assert props[CAL + "instancetype"] == 1  # set by the server: the item recurs
    assert props[CAL + "uid"]  # server-assigned
    raw = propfind(alice, cal + "planning.EML", [CAL + "dtstart", CAL + "rrule"]).text
    assert 'b:dt="dateTime.tz">2009-08-24T15:00:00.000Z<' in raw
    assert re.search(r'b:dt="mv.string"><c:v>FREQ=WEEKLY</c:v>', raw)


def test_proppatch_updates_and_removes(sim, alice, cal):
    url = cal + "planning.EML"
    _create(alice, url)
    etag = _props(alice, url, ["DAV:getetag"])[url][200]["DAV:getetag"]
    answer = proppatch(alice, url, {SUBJECT: "Moved"}, remove=(CAL + "location",))
    assert answer.status_code == 207 and "Location" not in answer.headers
    props = _props(alice, url, [SUBJECT, CAL + "location", "DAV:getetag"])[url]
    assert props[200][SUBJECT] == "Moved"
    assert CAL + "location" in props[404]
    assert props[200]["DAV:getetag"] != etag


def test_conditional_proppatch(sim, alice, cal):
    url = cal + "planning.EML"
    assert proppatch(alice, url, APPOINTMENT, headers={"If-Match": "*"}).status_code == 412
    assert propfind(alice, url, ["DAV:getetag"]).status_code == 404
    _create(alice, url)
    again = proppatch(alice, url, APPOINTMENT, headers={"If-None-Match": "*"})
    assert again.status_code == 412
    wrong = proppatch(alice, url, {SUBJECT: "x"}, headers={"If-Match": '"nope,1"'})
    assert wrong.status_code == 412


def test_read_only_property_fails_the_whole_proppatch(sim, alice, cal):
    url = cal + "planning.EML"
    answer = proppatch(alice, url, {SUBJECT: "x", "DAV:getetag": "forged"})
    assert answer.status_code == 207
    groups = parse_multistatus(answer.content)[url]
    assert groups[409] == {"DAV:getetag": ""}
    assert groups[424] == {SUBJECT: ""}
    assert propfind(alice, url, [SUBJECT]).status_code == 404  # nothing was created
    bad_type = alice.request(
        "PROPPATCH", url, headers={"Content-Type": "text/xml"},
        data=('<D:propertyupdate xmlns:D="DAV:" xmlns:b="urn:uuid:c2f41010-65b3-11d1-a29f-'
              '00aa00c14882/"><D:set><D:prop><c:sequence xmlns:c="urn:schemas:calendar:" '
              'b:dt="int">many</c:sequence></D:prop></D:set></D:propertyupdate>'))
    assert 409 in parse_multistatus(bad_type.content)[url]


def test_brief_proppatch_answers_without_body(sim, alice, cal):
    url = cal + "planning.EML"
    created = proppatch(alice, url, APPOINTMENT, headers={"Brief": "t"})
    assert created.status_code == 201 and created.content == b""
    updated = proppatch(alice, url, {SUBJECT: "y"}, headers={"Brief": "t"})
    assert updated.status_code == 200 and updated.content == b""


def test_davmail_untyped_draft_proppatch_creates_the_draft(sim, alice):
    url = sim.base_url + "/exchange/alice/Drafts/0b5f.EML"
    tag = "http://schemas.microsoft.com/mapi/proptag/"
    body = ('<?xml version="1.0" encoding="UTF-8"?><D:propertyupdate xmlns:D="DAV:"><D:set>'
            f'<D:prop><x0e070003 xmlns="{tag}">9</x0e070003>'
            f'<x59020003 xmlns="{tag}">1441792</x59020003>'
            f'<x59090003 xmlns="{tag}">2</x59090003></D:prop></D:set></D:propertyupdate>')
    answer = alice.request("PROPPATCH", url, data=body,
                           headers={"Content-Type": "application/xml; charset=UTF-8"})
    assert answer.status_code == 207
    assert _props(alice, url, [tag + "x0e070003"])[url][200][tag + "x0e070003"] == 9


# -- SEARCH -----------------------------------------------------------------------------------


def test_search_davmail_listing(sim, alice, cal):
    for name in ("one.EML", "two.EML"):
        _create(alice, cal + name, {**APPOINTMENT, CAL + "rrule": []})
    _create(alice, cal + "note.EML", {"DAV:contentclass": "urn:content-classes:message"})
    answer = search(alice, cal, DAVMAIL_SQL)
    assert answer.status_code == 207
    assert answer.headers["Content-Type"] == "text/xml"
    assert answer.headers["Accept-Ranges"] == "rows"
    prefixes = re.findall(r"xmlns:([^=]+)=", answer.text)
    assert prefixes and all(re.fullmatch(r"[a-z]+", p) for p in prefixes)
    assert re.findall(r"<(/?)(\w+):", answer.text)  # every element is prefixed
    assert "<a:propstat><a:status>HTTP/1.1 200 OK</a:status><a:prop>" in answer.text
    rows = parse_multistatus(answer.content)
    assert set(rows) == {cal + "two.EML", cal + "one.EML"}  # the message is filtered out
    props = rows[cal + "one.EML"][200]
    assert props[PERMANENT].startswith(sim.base_url + "/exchange/alice/-FlatUrlSpace-/")
    assert props["http://schemas.microsoft.com/mapi/proptag/x10f3001f"] == "one.EML"
    assert props[CAL + "instancetype"] == 0


def test_search_range_and_416(sim, alice, cal):
    for number in range(5):
        _create(alice, f"{cal}item{number}.EML", {SUBJECT: f"s{number}"})
    sql = f'SELECT "{SUBJECT}" FROM "" WHERE "DAV:isfolder" = false ORDER BY "{SUBJECT}"'  # noqa: S608
    page = search(alice, cal, sql, {"Range": "rows=1-2"})
    assert page.status_code == 207
    assert page.headers["Content-Range"] == "rows 1-2; total=5"
    assert [g[200][SUBJECT] for g in parse_multistatus(page.content).values()] == ["s1", "s2"]
    assert search(alice, cal, sql, {"Range": "rows=10-19"}).status_code == 416
    assert len(items_in(alice, cal)) == 5


def test_search_scope_outside_own_mailbox_is_403(sim, alice, cal):
    sql = 'SELECT "DAV:displayname" FROM SCOPE(\'SHALLOW TRAVERSAL OF "/exchange/bob/Inbox"\')'
    assert search(alice, cal, sql).status_code == 403


# -- PUT / GET / DELETE -----------------------------------------------------------------------


def test_put_davmail_mime_then_get_it_back(sim, alice, cal):
    url = cal + "probe-7b19ceecc6f3.ics"
    headers = {"Translate": "f", "Overwrite": "f", "If-None-Match": "*",
               "Content-Type": "message/rfc822"}
    created = alice.put(url, data=DAVMAIL_PUT, headers=headers)
    assert created.status_code == 201
    etag = created.headers["GetETag"]
    assert etag.startswith('"') and created.headers["ETag"] == etag
    got = alice.get(url, headers={"Translate": "f"})
    assert got.status_code == 200 and got.headers["Content-Type"] == "message/rfc822"
    assert got.content == DAVMAIL_PUT
    (row,) = items_in(alice, cal)
    assert row[SUBJECT] == "Probe meeting" and row[CAL + "uid"] == "probe-7b19ceecc6f3"
    assert row[CLASS] == "IPM.Appointment" and row["DAV:getetag"] == etag
    assert row[CAL + "dtstart"] == datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    assert alice.put(url, data=DAVMAIL_PUT, headers=headers).status_code == 412
    wrong = alice.put(url, data=DAVMAIL_PUT, headers={**headers, "If-None-Match": "",
                                                       "If-Match": '"other,1"'})
    assert wrong.status_code == 412
    update = {"Translate": "f", "Overwrite": "f", "If-Match": etag,
              "Content-Type": "message/rfc822"}
    replaced = alice.put(url, data=DAVMAIL_PUT.replace(b"Probe meeting", b"Moved"),
                         headers=update)
    assert replaced.status_code == 200 and replaced.headers["GetETag"] != etag
    assert alice.put(url, data=DAVMAIL_PUT, headers={"Translate": "f", "Overwrite": "f",
                     "Content-Type": "message/rfc822"}).status_code == 412
    assert items_in(alice, cal)[0][SUBJECT] == "Moved"


def test_put_wrong_type_folder_and_missing_parent(sim, alice, cal):
    assert alice.put(cal + "x.EML", data=b"hello",
                     headers={"Content-Type": "text/plain"}).status_code == 415
    assert alice.put(cal, data=DAVMAIL_PUT,
                     headers={"Content-Type": "message/rfc822"}).status_code == 405
    assert alice.put(cal + "nofolder/x.EML", data=DAVMAIL_PUT,
                     headers={"Content-Type": "message/rfc822"}).status_code == 409


def test_delete(sim, alice, cal):
    _create(alice, cal + "gone.EML")
    assert alice.delete(cal + "gone.EML").status_code == 200
    assert alice.delete(cal + "gone.EML").status_code == 404
    assert alice.delete(cal).status_code == 403  # well-known folders stay


def test_permanenturl_resolves(sim, alice, cal):
    _create(alice, cal + "p.EML")
    props = _props(alice, cal + "p.EML", [PERMANENT])[cal + "p.EML"][200]
    permanent = props[PERMANENT]
    assert propfind(alice, permanent, [SUBJECT]).status_code == 207
    got = alice.get(permanent, headers={"Translate": "f"})
    assert got.status_code == 200 and b"Planning" in got.content


# -- MOVE / COPY / MKCOL / batch --------------------------------------------------------------


def test_move_and_copy_with_relative_and_absolute_destination(sim, alice, cal):
    inbox = sim.base_url + "/exchange/alice/Inbox/"
    _create(alice, cal + "m.EML")
    moved = alice.request("MOVE", cal + "m.EML",
                          headers={"Destination": "/exchange/alice/Inbox/m.EML"})
    assert moved.status_code == 201 and moved.headers["Location"] == inbox + "m.EML"
    assert propfind(alice, cal + "m.EML", [SUBJECT]).status_code == 404
    copied = alice.request("COPY", inbox + "m.EML",
                           headers={"Destination": cal + "copy%20of%20m.EML"})
    assert copied.status_code == 201
    assert propfind(alice, cal + "copy of m.EML", [SUBJECT]).status_code == 207
    clash = alice.request("COPY", inbox + "m.EML",
                          headers={"Destination": cal + "copy%20of%20m.EML", "Overwrite": "F"})
    assert clash.status_code == 412
    replaced = alice.request("COPY", inbox + "m.EML",
                             headers={"Destination": cal + "copy%20of%20m.EML"})
    assert replaced.status_code == 204
    renamed = alice.request("MOVE", inbox + "m.EML", headers={
        "Destination": cal + "copy%20of%20m.EML", "Overwrite": "F", "Allow-Rename": "t"})
    assert renamed.status_code == 201
    assert renamed.headers["Location"] == cal + "copy%20of%20m-2.EML"
    foreign = alice.request("COPY", cal + "copy%20of%20m.EML",
                            headers={"Destination": "/exchange/bob/Inbox/x.EML"})
    assert foreign.status_code == 403
    other_host = alice.request("COPY", cal + "copy%20of%20m.EML",
                               headers={"Destination": "http://elsewhere:1/exchange/x"})
    assert other_host.status_code == 502


def test_move_to_submission_uri_sends_the_draft(sim, alice):
    drafts = sim.base_url + "/exchange/alice/Drafts/"
    _create(alice, drafts + "req.EML", {SUBJECT: "Hello", "urn:schemas:mailheader:to":
                                        "bob@example.com"})
    sent = alice.request("MOVE", drafts + "req.EML", headers={
        "Destination": "/exchange/alice/%23%23DavMailSubmissionURI%23%23", "Overwrite": "F"})
    assert sent.status_code == 201
    assert propfind(alice, drafts + "req.EML", [SUBJECT]).status_code == 404


def test_mkcol(sim, alice):
    url = sim.base_url + "/exchange/alice/davmailtemp"
    body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
            '<e:outlookfolderclass xmlns:e="http://schemas.microsoft.com/exchange/">'
            "IPF.Appointment</e:outlookfolderclass></D:prop></D:set></D:propertyupdate>")
    created = alice.request("MKCOL", url, data=body, headers={"Content-Type": "text/xml"})
    assert created.status_code == 201
    props = _props(alice, url, ["http://schemas.microsoft.com/exchange/outlookfolderclass"])
    assert props[url + "/"][200] == {
        "http://schemas.microsoft.com/exchange/outlookfolderclass": "IPF.Appointment"}
    assert alice.request("MKCOL", url).status_code == 405
    assert alice.request("MKCOL", url + "/a/b").status_code == 409
    assert alice.delete(url).status_code == 200


def test_batch_methods(sim, alice, cal):
    for name in ("x.EML", "y.EML"):
        _create(alice, cal + name)
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:target><D:href>x.EML</D:href>'
            "<D:href>nope.EML</D:href></D:target><D:prop><D:displayname/></D:prop></D:propfind>")
    found = parse_multistatus(alice.request("BPROPFIND", cal, data=body).content)
    assert found[cal + "x.EML"][200]["DAV:displayname"] == "x.EML"
    assert found[cal + "nope.EML"] == {404: {}}
    move = ('<?xml version="1.0"?><D:move xmlns:D="DAV:"><D:target><D:href>x.EML</D:href>'
            "<D:href>y.EML</D:href></D:target></D:move>")
    moved = alice.request("BMOVE", cal, data=move,
                          headers={"Destination": "/exchange/alice/Deleted%20Items/"})
    assert moved.status_code == 207
    assert {h: set(g) for h, g in parse_multistatus(moved.content).items()} == {
        cal + "x.EML": {201}, cal + "y.EML": {201}}
    deleted_items = sim.base_url + "/exchange/alice/Deleted%20Items/"
    assert len(items_in(alice, deleted_items)) == 2
    delete = ('<?xml version="1.0"?><delete xmlns="DAV:"><target><href>x.EML</href>'
              "</target></delete>")
    assert alice.request("BDELETE", deleted_items, data=delete).status_code == 200
    assert len(items_in(alice, deleted_items)) == 1


def test_relative_destination_and_targets_in_folder_with_space(sim, alice):
    sent = sim.base_url + "/exchange/alice/Sent%20Items/"
    _create(alice, sent + "a%25b.EML", {SUBJECT: "percent"})
    copied = alice.request("COPY", sent + "a%25b.EML", headers={"Destination": "c%20d.EML"})
    assert copied.status_code == 201 and copied.headers["Location"] == sent + "c%20d.EML"
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:target><D:href>a%25b.EML'
            "</D:href></D:target><D:prop><D:displayname/></D:prop></D:propfind>")
    found = parse_multistatus(alice.request("BPROPFIND", sent, data=body).content)
    assert found[sent + "a%25b.EML"][200]["DAV:displayname"] == "a%b.EML"


def test_article_number_grows_store_wide_and_survives_a_put(sim, alice) -> None:  # type: ignore[no-untyped-def]
    from tests.sim.davclient import parse_multistatus, propfind, proppatch

    article = "http://schemas.microsoft.com/mapi/proptag/x0e230003"
    base = f"{sim.base_url}/exchange/alice"
    for name in ("first", "second"):
        answer = proppatch(alice, f"{base}/Drafts/{name}.EML",
                           {"urn:schemas:httpmail:subject": name})
        assert answer.status_code == 207
    numbers = []
    for name in ("first", "second"):
        found = parse_multistatus(propfind(alice, f"{base}/Drafts/{name}.EML", [article]).content)
        (groups,) = found.values()
        numbers.append(groups[200][article])
    assert numbers[1] > numbers[0]
    put = alice.put(f"{base}/Drafts/first.EML", data=b"Subject: again\r\n\r\nbody",
                    headers={"Content-Type": "message/rfc822", "Translate": "f"})
    assert put.status_code in (200, 201)
    answer = propfind(alice, f"{base}/Drafts/first.EML", [article])
    (groups,) = parse_multistatus(answer.content).values()
    assert groups[200][article] == numbers[0]
