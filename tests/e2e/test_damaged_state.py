"""A damaged state file (issue 8): CalDAV keeps serving, sync pauses, status explains the way out.

Real processes and servers throughout: `calbridge status` and `calbridge run` as subprocesses,
the `caldav` library as the user's calendar app, a real SQLite file damaged the way disks damage
files (tests/damage.py), and the embedded simulator as Exchange.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path

import caldav
import pytest
import requests

from bridge.config import Config
from tests.damage import DAMAGES, fill, garble_page, page_of
from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge, free_port, make_config, running_bridge

CLI = [sys.executable, "-m", "bridge.cli"]
PAUSED = "sync is paused, CalDAV keeps serving: the state database"


def damaged_state_dir(tmp_path: Path, damage: str) -> Path:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    fill(state_dir / "bridge.sqlite")
    DAMAGES[damage](state_dir / "bridge.sqlite")
    return state_dir


def put_event(caldav_url: str, uid: str) -> caldav.Event:
    client = caldav.DAVClient(url=f"{caldav_url}alice/", username="alice", password="demo")
    calendar = client.calendar(url=f"{caldav_url}alice/calendar/")  # made by `calbridge run`
    return calendar.save_event(ics.meeting(uid))


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_status_prints_the_damage_and_the_recovery(tmp_path: Path, damage: str) -> None:
    state_dir = damaged_state_dir(tmp_path, damage)
    done = subprocess.run([*CLI, "status", "--state-dir", str(state_dir)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    path = state_dir / "bridge.sqlite"
    assert f"The state database is damaged: {path}" in done.stdout
    assert "SQLite reports: " in done.stdout
    assert f"mv {path}* {state_dir / 'damaged'}/" in done.stdout
    assert "adopts the meetings already on Exchange without inviting anyone again" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_run_serves_caldav_and_logs_the_damage(tmp_path: Path, damage: str) -> None:
    state_dir = damaged_state_dir(tmp_path, damage)
    caldav_port, sim_port = free_port(), free_port()
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [*CLI, "run", "--state-dir", str(state_dir),
             "--caldav-port", str(caldav_port), "--sim-port", str(sim_port)],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        _wait_for_port(caldav_port, process)
        caldav_url = f"http://127.0.0.1:{caldav_port}/"
        event = put_event(caldav_url, "during-damage")
        answer = requests.get(str(event.url), auth=("alice", "demo"), timeout=10)
        assert answer.status_code == 200 and "UID:during-damage" in answer.text
        text = log.read_text()
        assert text.count(PAUSED) == 1, text
        assert "To recover: 1. Stop calbridge." in text
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    text = log.read_text()
    assert process.returncode == 0, text
    assert "Traceback" not in text


def test_damage_found_during_a_pass_pauses_sync_only(
    live_bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    calendar = live_bridge.calendar("alice")
    calendar.save_event(ics.meeting("before-1"))
    live_bridge.exchange.wait_for(lambda: live_bridge.exchange.inbox("bob", REQUEST))
    engine = live_bridge.service.engine
    assert engine is not None
    path = live_bridge.config.state_dir / "bridge.sqlite"
    with engine.state._lock:  # no pass uses the state meanwhile
        garble_page(path, page_of(path, "items"))
        engine.state._db.conn.execute("PRAGMA shrink_memory")  # forget the cached pages

    calendar.save_event(ics.meeting("during-1"))  # wakes a pass, which meets the damage
    live_bridge.exchange.wait_for(lambda: live_bridge.service.damage is not None)
    calendar.save_event(ics.meeting("during-2"))  # CalDAV still takes writes
    assert {e.id for e in calendar.get_events()} == {"before-1", "during-1", "during-2"}
    time.sleep(0.5)  # a wake-up for during-2 must not start a pass

    invited = [i.get(UID) for i in live_bridge.exchange.inbox("bob", REQUEST)]
    assert invited == ["before-1"]  # nothing sent from a damaged state
    paused = [r for r in caplog.records if PAUSED in r.getMessage()]
    assert len(paused) == 1 and paused[0].levelno == logging.ERROR
    assert not [r for r in caplog.records if r.exc_info], "a damaged file is no bug: no traceback"


def running(config: Config) -> AbstractContextManager[Bridge]:
    return running_bridge(config)


def test_the_printed_recovery_adopts_without_inviting_again(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    with running(make_config(state_dir)) as bridge:
        bridge.calendar("alice").save_event(ics.meeting("kept-1"))
        bridge.sync()
        assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    path = state_dir / "bridge.sqlite"
    garble_page(path, page_of(path, "items"))

    with running(make_config(state_dir)) as bridge:
        damage = bridge.service.damage
        assert damage is not None and bridge.service.engine is None
        bridge.calendar("alice").save_event(ics.meeting("new-1"))  # saved while paused

    # Step 2 of the printed recovery, exactly as printed (calbridge is stopped: step 1).
    command = damage.recovery[1].split(": ", 1)[1]
    subprocess.run(["sh", "-c", command], check=True, timeout=30)
    assert not path.exists() and (state_dir / "damaged" / "bridge.sqlite").exists()

    with running(make_config(state_dir)) as bridge:  # step 3
        assert bridge.service.damage is None
        bridge.sync()
        invited = sorted(str(i.get(UID)) for i in bridge.exchange.inbox("bob", REQUEST))
        assert invited == ["kept-1", "new-1"]  # kept-1 adopted, not sent again
        assert len(bridge.exchange.calendar("alice")) == 2
        engine = bridge.service.engine
        assert engine is not None
        assert {r.uid: r.status for r in engine.state.items("alice")} == {
            "kept-1": "synced", "new-1": "synced"}


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "calbridge run exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"CalDAV did not listen on {port}")

