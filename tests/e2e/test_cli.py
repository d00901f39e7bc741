"""The `calbridge` command as a user types it (click's runner, real files and servers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load_config
from tests.e2e import ics
from tests.e2e.conftest import CANCELED, REQUEST, Bridge


def config_file(bridge: Bridge, tmp_path: Path) -> Path:
    """A configuration file equivalent to the running bridge's embedded defaults."""
    path = tmp_path / "calbridge.toml"
    path.write_text(
        f'state_dir = "{bridge.config.state_dir}"\n'
        '[exchange]\nurl = "embedded"\n'
        f"[caldav]\nport = {bridge.config.caldav_port}\n"
        f"[simulator]\nport = {bridge.config.sim_port}\n",
        encoding="utf-8",
    )
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_import_twelve_events_with_one_broken(bridge: Bridge, tmp_path: Path) -> None:
    good = [ics.event(f"import-{n}", ics.BOB, summary=f"Import {n}",
                      start=f"DTSTART:202612{10 + n:02d}T090000Z",
                      end=f"DTEND:202612{10 + n:02d}T100000Z") for n in range(11)]
    broken = "BEGIN:VEVENT\r\nUID:broken-1\r\nSUMMARY:No start\r\nEND:VEVENT"
    source = tmp_path / "team.ics"
    source.write_text(ics.calendar(*good[:5], broken, *good[5:]), encoding="utf-8")
    config = config_file(bridge, tmp_path)

    code, output = run("import", str(source), "--user", "alice", "--config", str(config))
    assert code == 1  # one event was rejected
    assert "11 imported" in output and "1 rejected" in output
    assert "broken-1" in output and "DTSTART" in output
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 11

    code, output = run("import", str(source), "--user", "alice", "--config", str(config))
    assert "11 unchanged" in output
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 11  # nothing sent again

    changed = good[:]
    changed[3] = changed[3].replace("SUMMARY:Import 3", "SUMMARY:Import 3 (moved)")
    source.write_text(ics.calendar(*changed), encoding="utf-8")
    code, output = run("import", str(source), "--user", "alice", "--config", str(config))
    assert code == 0 and "1 updated" in output and "10 unchanged" in output
    bridge.sync()
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 12  # exactly one update


def test_dry_run_prints_the_plan_and_changes_nothing(bridge: Bridge, tmp_path: Path) -> None:
    bridge.calendar("alice").save_event(ics.meeting())
    code, output = run("sync", "--dry-run", "--user", "alice",
                       "--config", str(config_file(bridge, tmp_path)))
    assert code == 0
    assert "create" in output and "planning-1" in output
    assert bridge.exchange.calendar("alice") == []
    assert bridge.exchange.inbox("bob") == []


def test_sync_and_status(bridge: Bridge, tmp_path: Path) -> None:
    config = str(config_file(bridge, tmp_path))
    bridge.calendar("alice").save_event(ics.meeting())
    code, output = run("sync", "--config", config)
    assert code == 0 and "planning-1" in output
    assert len(bridge.exchange.inbox("bob", REQUEST)) == 1
    code, output = run("status", "--config", config)
    assert code == 0
    row = next(line for line in output.splitlines() if line.strip("│ ").startswith("alice"))
    assert row.split("│")[2].strip() == "1"  # synced


def test_mass_cancellation_is_held_until_confirmed(bridge: Bridge, tmp_path: Path) -> None:
    config = str(config_file(bridge, tmp_path))
    calendar = bridge.calendar("alice")
    events = [calendar.save_event(ics.meeting(f"m-{n}")) for n in range(4)]
    bridge.sync()
    for event in events:
        event.delete()
    bridge.sync()
    assert bridge.exchange.inbox("bob", CANCELED) == []
    code, output = run("status", "--config", config)
    assert "4 cancellation(s) held" in output and "--allow-mass-cancel" in output
    code, output = run("sync", "--allow-mass-cancel", "--config", config)
    assert code == 0
    assert len(bridge.exchange.inbox("bob", CANCELED)) == 4
    code, output = run("status", "--config", config)
    assert "held" not in output


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[exchange]\nauth = "kerberos"\n', "exchange.auth"),
        ('[exchange]\nurl = "ftp://mail"\n', "exchange.url"),
        ('[sync]\ntimezone = "Mars/Olympus"\n', "sync.timezone"),
        ('[exchange]\nurl = "https://mail.example.com"\n', "user"),
        ('[[user]]\nname = "alice"\ncaldav_password_env = "NOPE_NOT_SET"\n',
         "user[0].caldav_password_env"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    code, output = run("sync", "--dry-run", "--config", str(path))
    assert code == 2
    assert key in output


def test_messages_are_shown_as_written_not_as_markup(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[exchange]\nurl = "https://mail.example.com"\n', encoding="utf-8")
    code, output = run("status", "--config", str(path))
    assert code == 2
    assert "user: at least one [[user]] table is required" in output


def test_a_misspelled_key_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[sync]\nintervall = 5\n", encoding="utf-8")
    code, output = run("status", "--config", str(path), "--state-dir", str(tmp_path / "s"))
    assert code == 2
    assert "sync.intervall: unknown key (did you mean 'interval'?)" in output


def test_a_uid_that_looks_like_markup_is_printed_as_it_is(bridge: Bridge, tmp_path: Path) -> None:
    bridge.calendar("alice").save_event(ics.meeting("[/b]-[red]x"))
    code, output = run("sync", "--dry-run", "--user", "alice",
                       "--config", str(config_file(bridge, tmp_path)))
    assert code == 0
    assert "[/b]-[red]x" in output


def test_sync_has_no_once_flag_that_does_nothing() -> None:
    result = CliRunner().invoke(main, ["sync", "--help"])
    assert result.exit_code == 0 and "Run one sync pass now, then exit" in result.output
    assert "--once" not in result.output
    assert CliRunner().invoke(main, ["sync", "--once"]).exit_code == 2  # no such option


def test_secrets_never_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVC_PW", "hunter2-very-secret")
    (tmp_path / "alice.pw").write_text("alice-file-secret\n", encoding="utf-8")
    path = tmp_path / "c.toml"
    path.write_text(
        '[exchange]\nurl = "https://mail.example.com"\n'
        '[exchange.service_account]\nusername = "svc"\npassword_env = "SVC_PW"\n'
        '[[user]]\nname = "alice"\ncaldav_password_file = "alice.pw"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.service_password is not None
    assert config.service_password.reveal() == "hunter2-very-secret"
    assert config.user("alice").caldav_password.reveal() == "alice-file-secret"
    for text in (repr(config), str(config)):
        assert "hunter2" not in text and "alice-file-secret" not in text
    code, output = run("status", "--config", str(path), "--state-dir", str(tmp_path / "s"))
    assert code == 0 and "hunter2" not in output and "No state yet" in output


def test_plain_http_to_a_remote_exchange_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[exchange]\nurl = "http://mail.example.com"\n'
        '[exchange.service_account]\nusername = "svc"\npassword = "x"\n'
        '[[user]]\nname = "alice"\ncaldav_password = "x"\n',
        encoding="utf-8",
    )
    code, output = run("status", "--config", str(path))
    assert code == 2 and "exchange.url" in output and "clear text" in output
    path.write_text(path.read_text().replace('"http://mail', '"https://mail'), encoding="utf-8")
    code, output = run("status", "--config", str(path), "--state-dir", str(tmp_path / "s"))
    assert code == 0
