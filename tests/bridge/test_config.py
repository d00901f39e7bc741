"""The configuration loader against the shipped example and its documented rules."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from bridge.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "calbridge.example.toml"


def test_the_annotated_example_loads(tmp_path: Path) -> None:
    copy = tmp_path / "calbridge.toml"
    shutil.copy(EXAMPLE, copy)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "bob-caldav").write_text("bob-pw\n", encoding="utf-8")
    env = {"CALBRIDGE_SERVICE_PASSWORD": "svc-pw", "CALBRIDGE_ALICE_CALDAV": "alice-pw"}
    config = load_config(copy, environ=env)
    assert config.embedded and config.auth == "fba" and config.verify is True
    assert config.service_username == "svc-calbridge"
    assert config.service_password is not None and config.service_password.reveal() == "svc-pw"
    assert [u.name for u in config.users] == ["alice", "bob"]
    assert config.user("bob").caldav_password.reveal() == "bob-pw"
    assert config.timezone == "Europe/Berlin" and config.caldav_port == 5232
    assert config.state_dir == tmp_path / "state"
    assert "svc-pw" not in repr(config) and "bob-pw" not in repr(config)


def test_the_example_names_a_missing_secret(tmp_path: Path) -> None:
    copy = tmp_path / "calbridge.toml"
    shutil.copy(EXAMPLE, copy)
    with pytest.raises(ConfigError) as raised:
        load_config(copy, environ={})
    assert raised.value.key == "exchange.service_account.password_env"


def test_defaults_are_the_embedded_demo() -> None:
    config = load_config(None, environ={})
    assert config.embedded and config.server_url() == "http://127.0.0.1:8800"
    assert [u.name for u in config.users] == ["alice", "bob", "carol", "dave"]
    assert config.user("alice").caldav_password.reveal() == "demo"
    assert config.service_username == "svc-calbridge"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('[exchange]\nverify = false\n', "exchange.verify"),
        ('[exchange]\nverify = "missing-ca.pem"\n', "exchange.verify"),
        ('[sync]\nmass_cancel_threshold = 2\n', "sync.mass_cancel_threshold"),
        ('[sync]\ninterval = "often"\n', "sync.interval"),
        ('[sync]\npull_interval = -1\n', "sync.pull_interval"),
        ('[[user]]\nname = "a b"\ncaldav_password = "x"\n', "user[0].name"),
        ('[exchange]\nurl = "https://x.example"\n[[user]]\nname = "a"\ncaldav_password = "x"\n',
         "user[0].exchange_username"),
        ('[exchange.service_account]\nusername = "s"\npassword = "x"\npassword_env = "Y"\n',
         "exchange.service_account.password"),
        ("[sync]\nintervall = 5\n", "sync.intervall"),
        ("[syncc]\ninterval = 5\n", "syncc"),
        ('statedir = "s"\n', "statedir"),
        ('[exchange.service_acount]\nusername = "s"\n', "exchange.service_acount"),
        ('[exchange.service_account]\nusername = "s"\npasword = "x"\n',
         "exchange.service_account.pasword"),
        ('[[user]]\nname = "a"\ncaldav_password = "x"\n[[user]]\nname = "b"\nmail = "b@x"\n',
         "user[1].mail"),
        ("sync = 5\n", "sync"),
        ('[caldav]\ndefault_calendar = "../alice"\n', "caldav.default_calendar"),
        ('[caldav]\nauth = "ldap"\n', "caldav.auth"),
        ('[caldav]\nallow = ["carol"]\n', "caldav.allow"),  # needs auth = "exchange"
        ('[caldav]\nauth = "exchange"\nallow = "carol"\n', "caldav.allow"),
        ('[caldav]\nauth = "exchange"\nallow = ["../x"]\n', "caldav.allow"),
        ('[caldav]\nalow = ["carol"]\n', "caldav.alow"),
        ('[exchange]\nurl = "https://x.example"\n[caldav]\nauth = "exchange"\nallow = ["c"]\n'
         '[[user]]\nname = "a"\nexchange_username = "a"\nexchange_password = "p"\n',
         "caldav.allow"),  # no service account: a newcomer's calendar could not be synced
    ],
)
def test_each_mistake_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert raised.value.key == key


def test_an_unknown_key_is_named_with_the_closest_known_one(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[sync]\nintervall = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert str(raised.value) == "sync.intervall: unknown key (did you mean 'interval'?)"


def test_every_key_of_the_example_is_known(tmp_path: Path) -> None:
    copy = tmp_path / "calbridge.toml"
    # Uncomment the optional keys the example shows in comments: they must load too.
    text = EXAMPLE.read_text(encoding="utf-8").replace("# exchange_", "exchange_")
    copy.write_text(text, encoding="utf-8")
    config = load_config(copy, resolve_secrets=False)
    assert config.default_calendar == "calendar"


def test_secrets_are_read_only_when_needed(tmp_path: Path) -> None:
    copy = tmp_path / "calbridge.toml"
    shutil.copy(EXAMPLE, copy)
    config = load_config(copy, environ={}, resolve_secrets=False)  # `calbridge status`
    assert [u.name for u in config.users] == ["alice", "bob"]
    assert config.service_password is not None
    with pytest.raises(ConfigError) as raised:
        config.service_password.reveal()
    assert raised.value.key == "exchange.service_account.password_env"
    with pytest.raises(ConfigError) as raised:
        config.user("bob").caldav_password.reveal()
    assert raised.value.key == "user[1].caldav_password_file"


def test_a_readable_file_with_passwords_is_warned_about_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[exchange.service_account]\nusername = "s"\npassword = "svc-secret"\n'
        '[[user]]\nname = "a"\ncaldav_password = "a-secret"\n',
        encoding="utf-8",
    )
    path.chmod(0o640)
    load_config(path, environ={})
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [f"{path} holds passwords and other users can read it; fix: chmod 600 {path}"]
    caplog.clear()
    path.chmod(0o600)
    load_config(path, environ={})
    assert caplog.records == []


def test_a_readable_secrets_file_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "pw").write_text("secret\n", encoding="utf-8")
    (tmp_path / "pw").chmod(0o644)
    path = tmp_path / "c.toml"
    path.write_text('[[user]]\nname = "a"\ncaldav_password_file = "pw"\n', encoding="utf-8")
    path.chmod(0o644)  # no password in it: no warning about this one
    load_config(path, environ={})
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert lines == [f"{tmp_path / 'pw'} holds passwords and other users can read it; "
                     f"fix: chmod 600 {tmp_path / 'pw'}"]


def test_exchange_logins_need_no_caldav_password(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[exchange]\nurl = "https://mail.example.com"\n'
        '[exchange.service_account]\nusername = "svc"\npassword = "svc-pw"\n'
        '[caldav]\nauth = "exchange"\nallow = ["Carol", "dave"]\n'
        '[[user]]\nname = "alice"\n',
        encoding="utf-8",
    )
    config = load_config(path, environ={})
    assert config.caldav_auth == "exchange"
    assert config.caldav_allow == ("carol", "dave")
    assert config.user("alice").caldav_password is None
    assert [s.reveal() for s in config.secrets()] == ["svc-pw"]


def test_htpasswd_stays_the_default_and_needs_the_caldav_password(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[user]]\nname = "alice"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert raised.value.key == "user[0].caldav_password"
    assert load_config(None, environ={}).caldav_auth == "htpasswd"
