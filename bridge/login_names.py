"""Who a CalDAV login may become: the checks before Exchange is asked, and the principal after.

Rules kept here (pure, no I/O, never logs):
- A login is looked at only if it is cheap to look at: at most `MAX_LOGIN` characters of name
  and `MAX_PASSWORD` of password, no control characters, no `/` (a path), no `..`, at most one
  `\\` (`DOMAIN\\user`) and one `@` (`user@domain`). An empty password is refused outright: an
  LDAP-style "unauthenticated bind" must never count as a login. Anything refused here never
  reaches Exchange, so it can neither succeed nor count against the account there.
- The typed name never decides the CalDAV principal. Exchange says whose password it was (the
  alias in the OWA page's `<BASE href>`, reference §1.4 of the DavMail notes); the principal is
  the configured user whose mailbox is that alias, or, for a person let in by `caldav.allow`,
  the alias itself, and never a configured user's name that belongs to another mailbox.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "MAX_LOGIN",
    "MAX_PASSWORD",
    "Admission",
    "LoginName",
    "check_login",
    "choose_principal",
]

MAX_LOGIN = 256  # sAMAccountName is 20, a UPN at most 1024 but in practice far below 256
MAX_PASSWORD = 1024  # Active Directory accepts up to 256 characters; room to spare


@dataclass(frozen=True)
class LoginName:
    """A login name that passed `check_login`: as typed, and as a key for caches (lower case)."""

    typed: str
    key: str


@dataclass(frozen=True)
class Admission:
    """The outcome of `choose_principal`: the principal, or why there is none."""

    principal: str | None
    reason: str
    configured: bool = False  # a [[user]] of the configuration (else let in by caldav.allow)


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u2028\u2029" for c in text)


def check_login(login: str, password: str) -> LoginName | str:
    """The login name if it may be checked against Exchange, else the reason it may not."""
    if len(login) > MAX_LOGIN or len(password) > MAX_PASSWORD:
        return "credentials too long"
    if not password:
        return "empty password"
    name = login.strip()
    if not name:
        return "empty user name"
    if _has_control(name) or _has_control(password):
        return "control characters in the credentials"
    if "/" in name or ".." in name:
        return "'/' or '..' in the user name"
    if name.count("\\") > 1 or name.count("@") > 1:
        return "malformed user name"
    domain, _, user = name.rpartition("\\")
    local, at, suffix = user.partition("@")
    if not local or (at and not suffix) or ("\\" in name and not domain):
        return "malformed user name"
    return LoginName(typed=name, key=name.lower())


def _simple(name: str) -> bool:
    """Usable as a Radicale principal (one path segment, the characters config names allow)."""
    return (
        bool(name)
        and not name.startswith(".")
        and name.replace("-", "").replace("_", "").replace(".", "").isalnum()
        and name.isascii()
    )


def choose_principal(
    alias: str,
    users: Iterable[tuple[str, str]],
    allow: Iterable[str],
    reserved: Iterable[str] = (),
) -> Admission:
    """The CalDAV principal for the owner of mailbox `alias`, as Exchange reported it.

    Args:
        alias: the mailbox alias from the `<BASE href>` of the user's own OWA page.
        users: (CalDAV name, mailbox alias) of every configured user.
        allow: further aliases that may log in (`caldav.allow`; "*" = every mailbox).
        reserved: principal names calbridge itself uses (the GAL's), never given to a person.
    """
    wanted = alias.strip().lower()
    pairs = [(name, mailbox.lower()) for name, mailbox in users]
    for name, mailbox in pairs:
        if mailbox == wanted:
            return Admission(name, "configured user", configured=True)
    allowed = {a.strip().lower() for a in allow}
    if wanted not in allowed and "*" not in allowed:
        return Admission(None, "not a configured user and not in caldav.allow")
    if not _simple(wanted):
        return Admission(None, "mailbox alias unusable as a CalDAV principal")
    if wanted in {r.lower() for r in reserved}:
        return Admission(None, "the name is reserved by calbridge")
    if any(name.lower() == wanted for name, _ in pairs):
        # A configured user of that name reads another mailbox: never hand over their calendars.
        return Admission(None, "the name belongs to a configured user of another mailbox")
    return Admission(wanted, "allowed by caldav.allow")
