"""Discovery: OWA page BASE href, well-known folder URLs, localized names, server headers."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
import requests

from tests.sim.conftest import logged_in
from tests.sim.davclient import FOLDER_ROLES, parse_multistatus, propfind

HTTPMAIL = "urn:schemas:httpmail:"


def _folders(session, base_url, alias):
    answer = propfind(session, f"{base_url}/exchange/{alias}/",
                      [HTTPMAIL + r for r in FOLDER_ROLES], brief=True)
    assert answer.status_code == 207
    (href, groups), = parse_multistatus(answer.content).items()
    assert href == f"{base_url}/exchange/{alias}/"
    return groups[200]


def test_owa_page_base_href_on_its_own_line(sim, alice):
    for path in ("/exchange/", "/exchange/alice/"):
        page = alice.get(sim.base_url + path)
        assert page.status_code == 200
        assert page.headers["Content-Type"].startswith("text/html")
        assert f'<BASE href="{sim.base_url}/exchange/alice/">' in page.text.splitlines()


def test_well_known_folder_urls_are_absolute(sim, alice):
    props = _folders(alice, sim.base_url, "alice")
    mailbox = f"{sim.base_url}/exchange/alice/"
    assert props[HTTPMAIL + "calendar"] == mailbox + "Calendar"
    assert props[HTTPMAIL + "inbox"] == mailbox + "Inbox"
    assert props[HTTPMAIL + "sentitems"] == mailbox + "Sent%20Items"
    assert props[HTTPMAIL + "deleteditems"] == mailbox + "Deleted%20Items"
    assert props[HTTPMAIL + "sendmsg"].endswith("/%23%23DavMailSubmissionURI%23%23/")
    assert set(props) == {HTTPMAIL + r for r in FOLDER_ROLES}


def test_folder_props_davmail_checks_every_request(sim, alice):
    names = ["http://schemas.microsoft.com/repl/contenttag",
             "http://schemas.microsoft.com/exchange/outlookfolderclass", "DAV:nosubs",
             "DAV:displayname", "DAV:objectcount", "DAV:hassubs", "DAV:getlastmodified",
             HTTPMAIL + "unreadcount", "http://schemas.microsoft.com/mapi/proptag/x67510003"]
    answer = propfind(alice, sim.base_url + "/exchange/alice/Calendar", names)
    groups = parse_multistatus(answer.content)[sim.base_url + "/exchange/alice/Calendar/"]
    assert groups[200]["http://schemas.microsoft.com/exchange/outlookfolderclass"] == (
        "IPF.Appointment")
    assert groups[200]["DAV:objectcount"] == 0
    assert "http://schemas.microsoft.com/mapi/proptag/x67510003" in groups[404]


@pytest.mark.sim_options(language="de")
def test_german_folder_names(sim, alice):
    props = _folders(alice, sim.base_url, "alice")
    mailbox = f"{sim.base_url}/exchange/alice/"
    assert props[HTTPMAIL + "calendar"] == mailbox + "Kalender"
    assert props[HTTPMAIL + "inbox"] == mailbox + "Posteingang"
    assert props[HTTPMAIL + "drafts"] == mailbox + "Entw%C3%BCrfe"
    assert propfind(alice, mailbox + "Kalender", ["DAV:displayname"]).status_code == 207
    assert propfind(alice, mailbox + "Calendar", ["DAV:displayname"]).status_code == 404
    page = alice.get(mailbox)
    assert "sessionid" in alice.cookies and page.status_code == 200


def test_public_folder_propfind_and_options(sim, alice):
    assert propfind(alice, sim.base_url + "/public/", ["DAV:displayname"]).status_code == 207
    options = alice.options(sim.base_url + "/exchange/alice/")
    assert options.status_code == 200
    allow = {m.strip() for m in options.headers["Allow"].split(",")}
    assert {"PROPFIND", "PROPPATCH", "SEARCH", "BMOVE", "MKCOL", "OPTIONS"} <= allow
    assert options.headers["DAV"] == "1, 2"
    assert options.headers["MS-Author-Via"] == "DAV"


@pytest.mark.parametrize("sim", ["fba", "basic"], indirect=True)
def test_every_answer_carries_the_server_headers(sim):
    with logged_in(sim) as session:
        for answer in (session.get(sim.base_url + "/exchange/alice/"),
                       session.get(sim.base_url + "/nowhere"),
                       session.request("LOCK", sim.base_url + "/exchange/alice/")):
            assert answer.headers["MS-WebStorage"].startswith("6.5.")
            assert answer.headers["Server"] == "Microsoft-IIS/6.0"
            assert answer.headers["X-Powered-By"] == "ASP.NET"


def test_python_m_exchange_sim_runs_standalone(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", "--port", "0", "--data",
         str(tmp_path / "sim.sqlite"), "--language", "de"],
        stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        url = re.search(r"(http://\S+)/exchange/", first).group(1)
        assert "svc-calbridge" in process.stdout.readline()
        assert "demo" not in first
        answer = requests.get(url + "/exchange/", allow_redirects=False, timeout=5)
        assert answer.status_code == 302 and answer.headers["Server"] == "Microsoft-IIS/6.0"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert (tmp_path / "sim.sqlite").exists()
