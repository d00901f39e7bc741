"""The commands a new user types in a second terminal, as real processes beside a real
`calbridge run`: they reach that instance, create nothing others can read, and end in one clear
message (never a traceback) when something is wrong."""

from __future__ import annotations

import shutil
import socket
import stat
from pathlib import Path

import caldav
import requests

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge, Exchange, free_port
from tests.e2e.processes import cli, start_run
from tests.e2e.test_cli import config_file
from tests.sim.davclient import login_fba

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "calbridge.example.toml"


def admin(sim_port: int) -> Exchange:
    session = requests.Session()
    base = f"http://127.0.0.1:{sim_port}"
    login_fba(session, base, "svc-calbridge", "demo")
    return Exchange(base, session)


def test_every_command_reaches_the_instance_started_with_sim_port(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    running = start_run("--state-dir", state)
    try:
        assert running.sim_port is not None
        client = caldav.DAVClient(
            url=f"{running.caldav_url}alice/", username="alice", password="demo"
        )
        client.calendar(url=f"{running.caldav_url}alice/calendar/").save_event(ics.meeting())
        exchange = admin(running.sim_port)
        exchange.wait_for(lambda: exchange.inbox("bob", REQUEST))

        # No --sim-port: the commands find the port in the state folder.
        busy = cli("freebusy", "room-101@example.com", "--state-dir", state,
                   "--start", "2026-12-10T13:00:00", "--end", "2026-12-10T16:00:00",
                   "--interval", "60")
        assert busy.code == 0, busy.output
        rows = {line.split()[0]: line.split()[-1] for line in busy.stdout.splitlines()
                if "@example.com" in line}
        assert rows["room-101@example.com"] == "·█·", busy.stdout  # booked 14:00-15:00

        synced = cli("sync", "--state-dir", state)
        assert synced.code == 0, synced.output
        status = cli("status", "--state-dir", state)
        assert status.code == 0, status.output
        assert f"Exchange simulator http://127.0.0.1:{running.sim_port}" in status.stdout
        lines = status.stdout.splitlines()
        alice = next(line for line in lines if line.strip("│ ").startswith("alice"))
        assert alice.split("│")[2].strip() == "1"  # synced, by the running instance
        retried = cli("retry", "--state-dir", state)
        assert retried.code == 0 and "0 item(s)" in retried.stdout, retried.output
        for done in (busy, synced, status, retried):
            assert "Traceback" not in done.output
        assert [i[UID] for i in exchange.inbox("bob", REQUEST)] == ["planning-1"]
    finally:
        code, output = running.stop()
    assert code == 0, output
    assert not (tmp_path / "state" / "instance.json").exists()

    # Nothing listens any more: one clear message, a non-zero exit, no traceback.
    gone = cli("freebusy", "room-101@example.com", "--state-dir", state,
               "--sim-port", str(free_port()))
    assert gone.code == 1
    assert "Exchange cannot be reached" in gone.stderr and "calbridge run" in gone.stderr
    assert "Traceback" not in gone.output


def test_the_default_calendar_is_there_for_a_client_that_cannot_create_one(
    tmp_path: Path,
) -> None:
    state = str(tmp_path / "state")
    running = start_run("--state-dir", state)
    url = f"{running.caldav_url}alice/calendar/"
    try:
        assert running.sim_port is not None
        principal = caldav.DAVClient(
            url=f"{running.caldav_url}alice/", username="alice", password="demo"
        ).principal()
        assert [str(c.url) for c in principal.calendars()] == [url]
        # Thunderbird is given the calendar URL and PUTs events into it.
        answer = requests.put(f"{url}planning-1.ics", data=ics.meeting().encode(),
                              auth=("alice", "demo"),
                              headers={"Content-Type": "text/calendar; charset=utf-8"})
        assert answer.status_code == 201
        exchange = admin(running.sim_port)
        exchange.wait_for(lambda: exchange.inbox("bob", REQUEST))
    finally:
        code, output = running.stop()
    assert code == 0
    assert f"user alice (password: demo), calendar: {url}" in output

    again = start_run("--state-dir", state)
    try:
        principal = caldav.DAVClient(
            url=f"{again.caldav_url}alice/", username="alice", password="demo"
        ).principal()
        (calendar,) = principal.calendars()  # no second default calendar after a restart
        assert calendar.url.path == "/alice/calendar/"
        assert [e.icalendar_component["uid"] for e in calendar.events()] == ["planning-1"]
    finally:
        again.stop()


def _owner_only(root: Path) -> list[str]:
    """Paths under `root` (and `root` itself) that other users could read or enter."""
    loose = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(root.parent)} {mode:o}")
    return loose


def test_every_command_creates_the_state_folder_owner_only(tmp_path: Path) -> None:
    source = tmp_path / "team.ics"
    source.write_text(ics.meeting(), encoding="utf-8")
    dead = str(free_port())
    imported = cli("import", str(source), "--user", "alice", "--state-dir",
                   str(tmp_path / "by-import"))
    assert imported.code == 0 and "1 imported" in imported.stdout, imported.output
    asked = cli("freebusy", "bob@example.com", "--state-dir", str(tmp_path / "by-freebusy"),
                "--sim-port", dead)
    assert asked.code == 1 and "Traceback" not in asked.output
    synced = cli("sync", "--user", "alice", "--state-dir", str(tmp_path / "by-sync"),
                 "--sim-port", dead)  # nothing to send: a pass asks Exchange nothing
    assert synced.code == 0 and "Traceback" not in synced.output
    for name in ("by-import", "by-freebusy", "by-sync"):
        folder = tmp_path / name
        assert (folder / "bridge.sqlite").exists(), name
        assert _owner_only(folder) == []


def test_a_readable_configuration_with_passwords_gets_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "calbridge.toml"
    path.write_text('[[user]]\nname = "alice"\ncaldav_password = "pw-in-the-file"\n',
                    encoding="utf-8")
    path.chmod(0o644)
    state = str(tmp_path / "state")
    shown = cli("status", "--config", str(path), "--state-dir", state)
    assert shown.code == 0, shown.output
    warnings = [line for line in shown.stderr.splitlines() if "chmod 600" in line]
    assert len(warnings) == 1 and str(path) in warnings[0], shown.stderr
    assert "pw-in-the-file" not in shown.output
    path.chmod(0o600)
    quiet = cli("status", "--config", str(path), "--state-dir", state)
    assert quiet.code == 0 and "chmod" not in quiet.output


def test_status_needs_no_passwords_but_sync_names_the_missing_one(tmp_path: Path) -> None:
    copy = tmp_path / "calbridge.toml"
    shutil.copy(EXAMPLE, copy)  # its passwords come from variables and files not there
    status = cli("status", "--config", str(copy))
    assert status.code == 0 and "No state yet" in status.stdout, status.output
    sync = cli("sync", "--dry-run", "--config", str(copy))
    assert sync.code == 2
    assert "exchange.service_account.password_env" in sync.stderr
    assert "Traceback" not in sync.output


def test_freebusy_with_a_wrong_password_says_so(bridge: Bridge, tmp_path: Path) -> None:
    path = config_file(bridge, tmp_path)
    path.write_text(path.read_text() + '[exchange.service_account]\nusername = "svc-calbridge"\n'
                    'password = "not-the-password"\n', encoding="utf-8")
    path.chmod(0o600)
    asked = cli("freebusy", "room-101@example.com", "--config", str(path))
    assert asked.code == 1
    assert "Exchange refused the login" in asked.stderr
    assert "exchange.service_account.password" in asked.stderr
    assert "Traceback" not in asked.output and "not-the-password" not in asked.output


def test_run_on_a_taken_port_says_so(tmp_path: Path) -> None:
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        taken = str(other_server.getsockname()[1])
        state = str(tmp_path / "state")
        caldav = cli("run", "--state-dir", state, "--caldav-port", taken,
                     "--sim-port", str(free_port()), timeout=30)
        sim = cli("run", "--state-dir", state, "--caldav-port", str(free_port()),
                  "--sim-port", taken, timeout=30)
    assert caldav.code == 1 and f"cannot listen on 127.0.0.1:{taken}" in caldav.stderr
    assert sim.code == 1 and f"could not listen on 127.0.0.1:{taken}" in sim.stderr
    assert "Traceback" not in caldav.output + sim.output
    assert not (tmp_path / "state" / "instance.json").exists()
