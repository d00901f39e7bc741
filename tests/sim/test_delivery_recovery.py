"""A kill between delivery and the room's processing is recovered at start (issue 8 item 9).

A child process sends alice's meeting to room-101 and is killed (os._exit, no clean-up) the moment
the room starts processing the delivered request. The simulator started afterwards on the same
store file must let the room book and answer exactly once, and a second start must change nothing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from exchange_sim.server import running_simulator
from exchange_sim.store import Store
from tests.sim.conftest import logged_in
from tests.sim.test_transport import CAL, CLASS, classes, folder

_CHILD = textwrap.dedent("""
    import os, sys
    from datetime import UTC, datetime, timedelta
    from exchange_sim import attendees, transport
    from exchange_sim.store import Store

    store = Store(sys.argv[1])
    # The kill: the process dies as the room's rule starts, after delivery committed.
    attendees.on_arrival = lambda *args: os._exit(9)
    start = datetime(2026, 12, 10, 14, 0, tzinfo=UTC)
    transport.submit(store, store.mailboxes["alice"], None, {
        "DAV:contentclass": "urn:content-classes:calendarmessage",
        "http://schemas.microsoft.com/exchange/outlookmessageclass":
            "IPM.Schedule.Meeting.Request",
        "urn:schemas:httpmail:subject": "Board",
        "urn:schemas:calendar:uid": "board-1",
        "urn:schemas:calendar:dtstart": start,
        "urn:schemas:calendar:dtend": start + timedelta(hours=1),
        "urn:schemas:mailheader:to": "room-101@example.com",
    })
    sys.exit(0)  # not reached: the rule above kills the process
""")


def test_room_processes_a_delivered_request_once_after_a_kill(tmp_path: Path) -> None:
    data = tmp_path / "sim.sqlite"
    child = subprocess.run([sys.executable, "-c", _CHILD, str(data)], capture_output=True,
                           timeout=60, check=False)
    assert child.returncode == 9, child.stderr.decode()
    killed = Store(data)
    (delivered,) = killed.children(killed.folder_path("room-101", "inbox"))
    assert delivered.props[CAL + "uid"] == "board-1"  # delivered, but the room never saw it
    assert killed.children(killed.folder_path("room-101", "calendar")) == []

    for _ in range(2):  # the restart, then one more: processed once, never twice
        with running_simulator(Store(data), auth="basic") as sim:
            with logged_in(sim, "svc-calbridge") as admin:
                (booking,) = folder(admin, sim.base_url, "room-101", "Calendar")
                assert booking[CAL + "uid"] == "board-1"
                assert booking[CAL + "busystatus"] == "BUSY"
                assert classes(admin, sim.base_url, "alice", "Inbox") == [
                    "IPM.Schedule.Meeting.Resp.Pos"]
                (request,) = folder(admin, sim.base_url, "room-101", "Inbox")
                assert request[CLASS] == "IPM.Schedule.Meeting.Request"


def test_queued_message_is_delivered_after_a_kill(tmp_path: Path) -> None:
    """Killed after the submission was accepted, before any delivery: the restart delivers."""
    data = tmp_path / "sim.sqlite"
    script = _CHILD.replace("attendees.on_arrival = lambda *args: os._exit(9)",
                            "transport._deliver_batch = lambda *args: os._exit(9)")
    child = subprocess.run([sys.executable, "-c", script, str(data)], capture_output=True,
                           timeout=60, check=False)
    assert child.returncode == 9, child.stderr.decode()
    killed = Store(data)
    assert killed.children(killed.folder_path("room-101", "inbox")) == []
    assert [i.props[CLASS] for i in killed.children(killed.folder_path("alice", "sentitems"))] \
        == ["IPM.Schedule.Meeting.Request"]
    with running_simulator(Store(data), auth="basic") as sim, \
            logged_in(sim, "svc-calbridge") as admin:
        assert classes(admin, sim.base_url, "room-101", "Inbox") == [
            "IPM.Schedule.Meeting.Request"]
        (booking,) = folder(admin, sim.base_url, "room-101", "Calendar")
        assert booking[CAL + "uid"] == "board-1"
