"""`python -m bench.sim_large_meeting [N]`: a meeting with N external recipients (default 5,000)
sent through the simulator over HTTP, while another mailbox keeps reading its Inbox.

Prints the time of the MOVE that submits the meeting (acceptance plus delivery of every copy) and
the latency of bob's PROPFINDs issued during it, next to the same PROPFIND's latency when idle.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

import requests

from exchange_sim.server import running_simulator

_PROPFIND = (b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
             b"</D:prop></D:propfind>")


def _propfind(session: requests.Session, url: str) -> float:
    started = time.perf_counter()
    answer = session.request("PROPFIND", url, data=_PROPFIND,
                             headers={"Depth": "0", "Content-Type": "text/xml"})
    elapsed = time.perf_counter() - started
    if answer.status_code != 207:
        raise RuntimeError(f"PROPFIND answered {answer.status_code}")
    return elapsed


def _draft_body(recipients: int) -> bytes:
    start = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    to = ", ".join(f"guest{n}@partner.example.org" for n in range(recipients))
    fmt = "%Y-%m-%dT%H:%M:%S.000Z"
    return (
        '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" '
        'xmlns:T="urn:uuid:c2f41010-65b3-11d1-a29f-00aa00c14882/" '
        'xmlns:C="urn:schemas:calendar:" xmlns:H="urn:schemas:httpmail:" '
        'xmlns:M="urn:schemas:mailheader:" xmlns:E="http://schemas.microsoft.com/exchange/">'
        "<D:set><D:prop>"
        "<D:contentclass>urn:content-classes:calendarmessage</D:contentclass>"
        "<E:outlookmessageclass>IPM.Schedule.Meeting.Request</E:outlookmessageclass>"
        "<H:subject>All hands</H:subject><C:uid>all-hands-1</C:uid>"
        f'<C:dtstart T:dt="dateTime.tz">{start.strftime(fmt)}</C:dtstart>'
        f'<C:dtend T:dt="dateTime.tz">{(start + timedelta(hours=1)).strftime(fmt)}</C:dtend>'
        f"<M:to>{escape(to)}</M:to>"
        "</D:prop></D:set></D:propertyupdate>").encode()


def main(argv: list[str]) -> int:
    recipients = int(argv[0]) if argv else 5000
    with running_simulator(auth="basic") as sim, requests.Session() as alice, \
            requests.Session() as bob:
        alice.auth, bob.auth = ("alice", "demo"), ("bob", "demo")
        inbox = f"{sim.base_url}/exchange/bob/Inbox/"
        idle = [_propfind(bob, inbox) for _ in range(50)]
        draft = f"{sim.base_url}/exchange/alice/Drafts/all-hands.EML"
        if alice.request("PROPPATCH", draft, data=_draft_body(recipients),
                         headers={"Content-Type": "text/xml"}).status_code != 207:
            raise RuntimeError("PROPPATCH of the draft failed")
        busy: list[float] = []
        stop = threading.Event()

        def reader() -> None:
            while not stop.is_set():
                busy.append(_propfind(bob, inbox))
                time.sleep(0.02)

        thread = threading.Thread(target=reader)
        thread.start()
        started = time.perf_counter()
        moved = alice.request("MOVE", draft, headers={
            "Destination": "/exchange/alice/%23%23DavMailSubmissionURI%23%23"})
        submission = time.perf_counter() - started
        stop.set()
        thread.join()
        if moved.status_code not in (200, 201):
            raise RuntimeError(f"MOVE answered {moved.status_code}")
        logged = len(sim.store.children("/public/Transport Log"))
    print(f"{recipients} external recipients: submission (MOVE) {submission:.2f} s, "
          f"{logged} transport-log entries")
    print(f"bob's PROPFIND idle:   median {statistics.median(idle) * 1000:.1f} ms, "
          f"max {max(idle) * 1000:.1f} ms")
    print(f"bob's PROPFIND during: {len(busy)} requests, median "
          f"{statistics.median(busy) * 1000:.1f} ms, max {max(busy) * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
