"""The checks a CalDAV login passes before Exchange is asked, and who it becomes after."""

from __future__ import annotations

import pytest

from bridge.login_names import MAX_LOGIN, MAX_PASSWORD, LoginName, check_login, choose_principal

USERS = (("alice", "alice"), ("bob", "bob"), ("boss", "carol"))


@pytest.mark.parametrize(
    "login", ["alice", "EXAMPLE\\alice", "alice@example.com", "  Alice  "]
)
def test_the_three_forms_of_a_login_name_are_checked(login: str) -> None:
    checked = check_login(login, "pw")
    assert isinstance(checked, LoginName)
    assert checked.typed == login.strip()
    assert checked.key == login.strip().lower()


@pytest.mark.parametrize(
    ("login", "password", "reason"),
    [
        ("alice", "", "empty password"),
        ("", "pw", "empty user name"),
        ("   ", "pw", "empty user name"),
        ("a" * (MAX_LOGIN + 1), "pw", "credentials too long"),
        ("alice", "p" * (MAX_PASSWORD + 1), "credentials too long"),
        ("alice/calendar", "pw", "'/' or '..' in the user name"),
        ("..", "pw", "'/' or '..' in the user name"),
        ("al..ice", "pw", "'/' or '..' in the user name"),
        ("alice\r\nX-Injected: 1", "pw", "control characters in the credentials"),
        ("alice", "pw\x00", "control characters in the credentials"),
        ("A\\B\\alice", "pw", "malformed user name"),
        ("\\alice", "pw", "malformed user name"),
        ("alice@", "pw", "malformed user name"),
        ("@example.com", "pw", "malformed user name"),
        ("a@b@c", "pw", "malformed user name"),
    ],
)
def test_bad_logins_are_refused_with_a_reason(login: str, password: str, reason: str) -> None:
    assert check_login(login, password) == reason


def test_a_configured_mailbox_becomes_its_configured_name() -> None:
    admission = choose_principal("Carol", USERS, ())
    assert (admission.principal, admission.configured) == ("boss", True)


def test_a_person_not_configured_needs_the_allow_list() -> None:
    assert choose_principal("dave", USERS, ()).principal is None
    assert choose_principal("dave", USERS, ("DAVE",)).principal == "dave"
    assert choose_principal("dave", USERS, ("*",)).principal == "dave"
    assert choose_principal("dave", USERS, ("*",)).configured is False


def test_an_allowed_alias_never_takes_a_configured_name_of_another_mailbox() -> None:
    # "boss" is carol's CalDAV name; a mailbox whose alias is "boss" must not get her calendars.
    admission = choose_principal("boss", USERS, ("*",))
    assert admission.principal is None
    assert "another mailbox" in admission.reason


def test_an_alias_that_cannot_be_a_path_segment_is_refused() -> None:
    assert choose_principal(".hidden", USERS, ("*",)).principal is None
    assert choose_principal("d\u00e9j\u00e0", USERS, ("*",)).principal is None


def test_a_name_calbridge_uses_itself_is_never_a_persons_principal() -> None:
    assert choose_principal("gal", USERS, ("*",), reserved=("gal",)).principal is None
    assert choose_principal("gal", USERS, ("*",)).principal == "gal"
