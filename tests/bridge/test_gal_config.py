"""The `[gal]` configuration keys (company directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import ConfigError, load_config

_BASE = """
[exchange]
url = "embedded"
[[user]]
name = "alice"
caldav_password = "pw"
"""


def _load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text(_BASE + text, encoding="utf-8")
    path.chmod(0o600)
    return load_config(path)


def test_defaults_refresh_every_six_hours_and_demo_rooms(tmp_path: Path) -> None:
    config = _load(tmp_path, "")
    assert config.gal_refresh == 6 * 3600
    assert config.gal_rooms == ("room-101@example.com", "room-102@example.com")
    assert config.gal_page_limit == 100


def test_the_keys_are_read(tmp_path: Path) -> None:
    config = _load(tmp_path, '[gal]\nrefresh = 600\nrooms = ["Board@Example.com"]\n'
                             "page_limit = 50\n")
    assert (config.gal_refresh, config.gal_rooms, config.gal_page_limit) == (
        600, ("board@example.com",), 50)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[gal]\nrefresh_every = 5\n", "gal.refresh_every"),
        ('[gal]\nrooms = "board@example.com"\n', "gal.rooms"),
        ('[gal]\nrooms = ["board"]\n', "gal.rooms"),
        ("[gal]\npage_limit = 0\n", "gal.page_limit"),
        ("[gal]\nrefresh = -1\n", "gal.refresh"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, text)
    assert raised.value.key == key


def test_no_user_may_be_called_gal(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, '[[user]]\nname = "gal"\ncaldav_password = "pw"\n')
    assert raised.value.key == "user"
