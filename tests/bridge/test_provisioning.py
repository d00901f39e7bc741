"""Who a newcomer becomes (bridge/provisioning.py, pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bridge.config import Config, load_config
from bridge.gal import GAL_OWNER
from bridge.provisioning import provisions, still_allowed, user_for


def config(tmp_path: Path, **changes: object) -> Config:
    base = load_config(None, state_dir=tmp_path)
    alice = base.user("alice")
    settings: dict[str, object] = {
        "users": (alice,), "caldav_auth": "exchange", "caldav_allow": ("*",), **changes
    }
    return replace(base, **settings)  # type: ignore[arg-type]


def test_the_gal_address_is_used_and_no_password_is_kept(tmp_path: Path) -> None:
    user = user_for(config(tmp_path), "bob", "Bob", "Bob@Example.com")
    assert user is not None
    assert (user.name, user.mailbox, user.email) == ("bob", "Bob", "bob@example.com")
    assert user.caldav_password is None and user.exchange_password is None


def test_without_a_gal_address_the_configured_domain_is_the_fallback(tmp_path: Path) -> None:
    user = user_for(config(tmp_path), "bob", "bob", None)
    assert user is not None and user.email == "bob@example.com"
    mixed = config(tmp_path)
    other = replace(mixed.users[0], name="zed", mailbox="zed", email="zed@elsewhere.example")
    assert user_for(replace(mixed, users=(*mixed.users, other)), "bob", "bob", None) is None


def test_a_configured_name_or_mailbox_is_never_provisioned(tmp_path: Path) -> None:
    assert user_for(config(tmp_path), "alice", "someone", "x@example.com") is None
    assert user_for(config(tmp_path), "al", "ALICE", "x@example.com") is None


def test_provisioning_needs_exchange_logins_an_allow_list_and_a_service_account(
    tmp_path: Path,
) -> None:
    assert provisions(config(tmp_path))
    assert not provisions(config(tmp_path, caldav_auth="htpasswd"))
    assert not provisions(config(tmp_path, caldav_allow=()))
    assert not provisions(config(tmp_path, service_username=None))


def test_a_stored_user_counts_only_while_allow_admits_them(tmp_path: Path) -> None:
    assert still_allowed(config(tmp_path), "bob", "bob", (GAL_OWNER,))
    assert not still_allowed(config(tmp_path, caldav_allow=("dave",)), "bob", "bob", (GAL_OWNER,))
