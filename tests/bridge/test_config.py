"""The configuration loader against the shipped example and its documented rules."""

from __future__ import annotations

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
        ('[[user]]\nname = "a b"\ncaldav_password = "x"\n', "user[0].name"),
        ('[exchange]\nurl = "https://x.example"\n[[user]]\nname = "a"\ncaldav_password = "x"\n',
         "user[0].exchange_username"),
        ('[exchange.service_account]\nusername = "s"\npassword = "x"\npassword_env = "Y"\n',
         "exchange.service_account.password"),
    ],
)
def test_each_mistake_names_its_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    assert raised.value.key == key
