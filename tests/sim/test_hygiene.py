"""Request hygiene (issue 8 item 10): malformed bodies get 400 and a closed connection, never a
500 or a traceback; `/public` (the transport log included) is read-only to mailbox users while
the transport still writes the log; `python -m exchange_sim -v` logs each request, no secrets.
"""

from __future__ import annotations

import base64
import logging
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from exchange_sim.server import RunningSimulator
from tests.sim.conftest import logged_in
from tests.sim.davclient import items_in, login_fba, propfind, proppatch
from tests.sim.test_transport import LOG, send_meeting

SUBJECT = "urn:schemas:httpmail:subject"

# -- malformed chunked bodies, over a raw socket -----------------------------------------------

MALFORMED = {
    "bad chunk size": (b"zz\r\nabc\r\n0\r\n\r\n", 400),
    "no CRLF after chunk": (b"3\r\nabcXX0\r\n\r\n", 400),
    "body ends mid-chunk": (b"10\r\nabc", 400),
    "chunk larger than any body": (b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 413),
}


def _raw_request(sim: RunningSimulator, body: bytes, *, end_body: bool) -> tuple[bytes, bytes]:
    """Send a chunked PROPPATCH as alice; returns (answer, what follows until the server
    closes the connection)."""
    credentials = base64.b64encode(b"alice:demo").decode()
    head = (f"PROPPATCH /exchange/alice/Drafts/x.EML HTTP/1.1\r\nHost: {sim.server.host}\r\n"
            f"Authorization: Basic {credentials}\r\nContent-Type: text/xml\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    with socket.create_connection((sim.server.host, sim.server.port), timeout=20) as sock:
        sock.sendall(head + body)
        if end_body:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):  # ends when the server closes the connection
            received += chunk
    answer, _, rest = received.partition(b"\r\n\r\n")
    return answer, rest


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_chunked_body_is_refused_and_closes(sim: RunningSimulator, case: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    body, status = MALFORMED[case]
    with caplog.at_level(logging.INFO):
        answer, _ = _raw_request(sim, body, end_body=case == "body ends mid-chunk")
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
    assert b"Connection: close" in answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert sim.store.get("/exchange/alice/Drafts/x.EML") is None
    with logged_in(sim, "alice") as alice:  # the server goes on serving
        assert propfind(alice, f"{sim.base_url}/exchange/alice/", ["DAV:displayname"]) \
            .status_code == 207


# -- /public is read-only to mailbox users ---------------------------------------------------


@pytest.fixture
def logged(sim: RunningSimulator) -> str:
    """An entry in the transport log, written by the transport (alice invites an outsider)."""
    with logged_in(sim, "alice") as alice:
        send_meeting(alice, sim.base_url, "alice", "outside", to="ext@partner.example.org")
    (entry,) = sim.store.children("/public/Transport Log")
    return entry.path.replace(" ", "%20")


@pytest.fixture
def alice(sim: RunningSimulator) -> Iterator[requests.Session]:
    with logged_in(sim, "alice") as session:
        yield session


def _log_subjects(sim: RunningSimulator) -> list[str]:
    return sorted(str(i.props.get(SUBJECT)) for i in sim.store.children("/public/Transport Log"))


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_public_writes_are_refused_reads_allowed(sim: RunningSimulator, logged: str,
                                                 alice: requests.Session) -> None:
    base = sim.base_url
    before = _log_subjects(sim)
    mime = b"Subject: forged\r\nTo: ext@partner.example.org\r\n\r\nforged entry\r\n"
    answers = {
        "PUT": alice.put(f"{base}{LOG}/forged.EML", data=mime,
                         headers={"Content-Type": "message/rfc822", "Translate": "f"}),
        "POST": alice.post(f"{base}{LOG}/", data=mime,
                           headers={"Content-Type": "message/rfc822", "Translate": "f"}),
        "PROPPATCH": proppatch(alice, base + logged, {SUBJECT: "forged"}),
        "PROPPATCH new": proppatch(alice, f"{base}{LOG}/new.EML", {SUBJECT: "forged"}),
        "DELETE": alice.delete(base + logged),
        "MKCOL": alice.request("MKCOL", f"{base}/public/Forged"),
        "MOVE out": alice.request("MOVE", base + logged, headers={
            "Destination": "/exchange/alice/Inbox/taken.EML"}),
    }
    assert proppatch(alice, f"{base}/exchange/alice/Inbox/mine.EML",
                     {SUBJECT: "mine"}).status_code == 207
    answers["COPY in"] = alice.request("COPY", f"{base}/exchange/alice/Inbox/mine.EML",
                                       headers={"Destination": f"{LOG}/copied.EML"})
    answers["MOVE in"] = alice.request("MOVE", f"{base}/exchange/alice/Inbox/mine.EML",
                                       headers={"Destination": f"{LOG}/moved.EML"})
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(answers, 401)
    target = f'<D:target><D:href>{logged}</D:href></D:target>'
    batch_delete = alice.request(
        "BDELETE", f"{base}/exchange/alice/Inbox/",
        data=f'<?xml version="1.0"?><D:delete xmlns:D="DAV:">{target}</D:delete>'.encode(),
        headers={"Content-Type": "text/xml"})
    assert batch_delete.status_code == 401
    assert _log_subjects(sim) == before
    assert sim.store.get("/public/Forged") is None
    assert sim.store.get("/exchange/alice/Inbox/mine.EML") is not None
    # Reading stays open to every user, as before.
    assert len(items_in(alice, base + LOG)) == 1
    assert propfind(alice, f"{base}/public/", ["DAV:displayname"]).status_code == 207


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_service_account_cannot_write_public_either(sim: RunningSimulator, logged: str) -> None:
    with logged_in(sim, "svc-calbridge") as admin:
        assert admin.delete(sim.base_url + logged).status_code == 401
    assert len(_log_subjects(sim)) == 1


# -- python -m exchange_sim -v logs every request -----------------------------------------------


def test_verbose_logs_one_line_per_request_without_credentials() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "exchange_sim", "-v", "--port", "0", "--data", ":memory:"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline() if process.stdout else ""
        found = re.search(r"(http://\S+)/exchange/", first)
        assert found, first
        url = found.group(1)
        with requests.Session() as session:
            login_fba(session, url, "alice", "demo")
            cookies = [c.value for c in session.cookies]
            answer = propfind(session, url + "/exchange/alice/", ["DAV:displayname"])
            assert answer.status_code == 207
            assert session.get(url + "/exchange/bob/", headers={"Translate": "f"}) \
                .status_code == 403
    finally:
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=20)
    assert process.returncode == 0
    lines = [line for line in log.splitlines() if "exchange_sim.requests" in line]
    assert re.search(r"PROPFIND /exchange/alice/ 207 user=alice [0-9.]+ ms", log), log
    assert re.search(r"GET /exchange/bob/ 403 user=alice [0-9.]+ ms", log), log
    assert re.search(r"POST /exchweb/bin/auth/owaauth.dll 302 user=- [0-9.]+ ms", log), log
    assert len(lines) >= 5  # the logon's requests, the PROPFIND and the GET
    for secret in ("demo", *cookies):
        assert secret not in log
