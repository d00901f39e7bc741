"""CalDAV login with the Exchange password: a Radicale auth plugin (`[caldav] auth = "exchange"`).

Rules kept here:
- A login is checked by Exchange itself, in the configured mode (forms, Basic or NTLM): one
  logon (for forms: the owaauth.dll POST) and one authenticated GET of the user's own OWA page,
  whose `<BASE href>` says whose mailbox the password opened. That alias, not the typed name,
  decides the CalDAV principal (`bridge.login_names.choose_principal`).
- A failed login is never repeated against Exchange: the probe session has no retries, a 401 or
  a refused forms logon ends it, and the brake (`bridge.login_guard`) refuses the same name or
  source for a growing while without asking Exchange. So calbridge itself never locks an account
  out; what Exchange 2003 (that is, the Active Directory domain) does after N bad passwords is
  its own account-lockout policy, which the reference does not describe.
- Radicale checks the credentials of every request: a success is remembered for 5 minutes as a
  keyed hash (`LoginGuard`), so a warm request costs one HMAC, not a round trip.
- No password is written anywhere: not to disk, not to a log line, not into an exception; the
  probe's errors carry method, URL and status only (`bridge.exchange.errors`). A refused login
  is logged without its name (people type their password into the name field), and pyspnego's
  DEBUG lines, which hold whole NTLM messages (an AUTHENTICATE message can be cracked offline),
  are kept out of the log.
- Radicale's own per-failure delay stays on; its "constant time" alignment of failed logins is
  capped at `ALIGN_CAP` seconds, because one slow answer from Exchange (a 30 s time-out) would
  otherwise make every later failed login wait as long.
This plugin does network I/O at login; the storage plugin still never does.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from radicale import auth as radicale_auth

from bridge.basic_header import RefuseMalformedBasic
from bridge.exchange import errors, owa
from bridge.exchange.http import AuthMode, Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import own_mailbox_alias
from bridge.gal import GAL_OWNER
from bridge.login_guard import LoginGuard
from bridge.login_names import LoginName, check_login, choose_principal

__all__ = [
    "ALIGN_CAP",
    "ExchangeAuth",
    "ExchangeLogin",
    "LoginIdentity",
    "LoginState",
    "probe_login",
]

logger = logging.getLogger(__name__)
# pyspnego logs every NTLM token at DEBUG; an AUTHENTICATE token is password-equivalent material.
logging.getLogger("spnego").setLevel(logging.INFO)

ALIGN_CAP = 2.0  # seconds; see the module rules
_STRIPES = 64  # one probe at a time per login name (hash-striped locks, bounded memory)


@dataclass(frozen=True)
class LoginIdentity:
    """Who a login is on Exchange: what provisioning a new user needs (no password)."""

    alias: str
    mailbox_url: str
    email: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class ExchangeLogin:
    """What the plugin needs from calbridge's configuration (no secret in it)."""

    server_url: str
    auth: AuthMode
    users: tuple[tuple[str, str], ...]  # (CalDAV name, mailbox alias) of every [[user]]
    allow: tuple[str, ...] = ()
    verify: bool | str = True
    insecure: bool = False
    timeout: float = 30.0
    # Called once per process with the identity of a person let in by `allow` who is not a
    # configured user (bridge/service.py provisions them; it runs in the request thread, so it
    # must only record and signal).
    on_newcomer: Callable[[str, LoginIdentity], None] | None = field(default=None, compare=False)

    def factory(self, guard: LoginGuard | None = None) -> _AuthFactory:
        """The callable Radicale's `[auth] type` accepts: configuration -> plugin."""
        return _AuthFactory(self, LoginState(guard or LoginGuard()))


class LoginState:
    """What every plugin built from one configuration shares (Radicale builds one per
    application: the CalDAV server and the outbox layer each load one)."""

    def __init__(self, guard: LoginGuard) -> None:
        self.guard = guard  # tests swap in one with their own clock
        self.newcomers: dict[str, LoginIdentity] = {}
        self.probes = 0  # logins actually sent to Exchange (tests and diagnostics)
        self.lock = threading.Lock()
        self.stripes = [threading.Lock() for _ in range(_STRIPES)]


class _AuthFactory:
    def __init__(self, settings: ExchangeLogin, state: LoginState) -> None:
        self.settings, self.state = settings, state

    def __call__(self, configuration: Any) -> ExchangeAuth:
        return ExchangeAuth(configuration, self.settings, self.state)

    def __repr__(self) -> str:  # Radicale logs the type it loaded
        return f"calbridge exchange auth ({self.settings.auth})"

    __str__ = __repr__


def _session(settings: ExchangeLogin, name: str, password: str) -> ExchangeSession:
    return ExchangeSession(
        SessionConfig(
            server_url=settings.server_url,
            credentials=Credentials(name, password),
            auth=settings.auth,
            verify=settings.verify,
            insecure=settings.insecure,
            connect_timeout=min(10.0, settings.timeout),
            read_timeout=settings.timeout,
            retries=0,  # a login is asked once: never a second attempt with a bad password
            pool_size=1,
        )
    )


def probe_login(settings: ExchangeLogin, name: str, password: str, *,
                identify: Callable[[str], bool] = lambda alias: False) -> LoginIdentity:
    """Check `name`/`password` against Exchange; return whose mailbox they open.

    When `identify(alias)` holds, the same session also asks the GAL
    (`?Cmd=galfind&AN=<alias>`) for the address and display name (best effort: a failure there
    leaves them None).

    Raises:
        errors.AuthFailed: Exchange refused the credentials.
        errors.ExchangeError: Exchange could not be asked, or answered in an unknown form.
    """
    session = _session(settings, name, password)
    try:
        alias = own_mailbox_alias(session)  # the logon (FBA) and one GET of the OWA page
        mailbox_url = session.url(f"/exchange/{quote(alias, safe='')}/")
        if not identify(alias):
            return LoginIdentity(alias, mailbox_url)
        email = display = None
        try:
            url = owa.command_url(mailbox_url, "galfind", [("AN", alias)])
            answer = session.request("GET", url)
            for entry in owa.parse_galfind(answer.content):
                if entry.alias.lower() == alias.lower():
                    email, display = entry.email.lower() or None, entry.display_name or None
                    break
        except errors.ExchangeError as error:
            logger.info("the GAL did not describe %s: %s", alias, error.message)
        return LoginIdentity(alias, mailbox_url, email, display)
    finally:
        session.close()


class ExchangeAuth(RefuseMalformedBasic, radicale_auth.BaseAuth):
    """Radicale auth: Exchange checks the password; see the module rules."""

    def __init__(self, configuration: Any, settings: ExchangeLogin, state: LoginState) -> None:
        super().__init__(configuration)
        self.settings = settings
        self.state = state

    @property
    def guard(self) -> LoginGuard:
        return self.state.guard

    def _login(self, login: str, password: str) -> str:
        return self._login_ext(login, password, None)  # no context: the source is "unknown"

    def _login_ext(self, login: str, password: str, context: Any) -> str:
        source = str(getattr(context, "remote_addr", None) or "unknown")
        checked = check_login(login, password)
        if isinstance(checked, str):
            logger.info("CalDAV login refused before asking Exchange: %s", checked)
            return ""
        principal = self.guard.remembered(checked.key, password)
        if principal is not None:
            return principal
        with self.state.stripes[zlib.crc32(checked.key.encode("utf-8", "replace")) % _STRIPES]:
            # Another request of the same client may have just checked it.
            principal = self.guard.remembered(checked.key, password)
            if principal is not None:
                return principal
            wait = self.guard.braked(checked.key, source)
            if wait > 0:
                logger.warning(
                    "a CalDAV login from %s was refused without asking Exchange (%.0f s more "
                    "after failed attempts)", source, wait,
                )
                return ""
            return self._ask_exchange(checked, password, source)

    def _ask_exchange(self, name: LoginName, password: str, source: str) -> str:
        with self.state.lock:
            self.state.probes += 1
        configured = {mailbox.lower() for _, mailbox in self.settings.users}
        try:
            identity = probe_login(
                self.settings, name.typed, password,
                identify=lambda alias: alias.lower() not in configured,
            )
        except errors.AuthFailed:
            self.guard.failed(name.key, source)
            # No name in the line: people type their password into the name field too.
            logger.warning("Exchange refused a CalDAV login from %s", source)
            return ""
        except errors.ExchangeError as error:
            # Not the user's fault: no failure is counted, nothing is remembered.
            logger.warning("Exchange could not check a CalDAV login from %s: %s", source, error)
            return ""
        admission = choose_principal(
            identity.alias, self.settings.users, self.settings.allow, reserved=(GAL_OWNER,)
        )
        if admission.principal is None:
            logger.warning(
                "CalDAV login of Exchange mailbox %r refused: %s", identity.alias, admission.reason
            )
            return ""
        if not admission.configured:
            self._note_newcomer(admission.principal, identity)
        self.guard.succeeded(name.key, password, admission.principal)
        return admission.principal

    def _note_newcomer(self, principal: str, identity: LoginIdentity) -> None:
        with self.state.lock:
            if principal in self.state.newcomers:
                return
            self.state.newcomers[principal] = identity
        logger.info(
            "new CalDAV user %s (mailbox %s, %s) let in by caldav.allow",
            principal, identity.mailbox_url, identity.email or "no GAL address",
        )
        if self.settings.on_newcomer is not None:
            self.settings.on_newcomer(principal, identity)

    def _sleep_for_constant_exec_time(self, time_ns_begin: int) -> None:
        # Radicale aligns every failed login to the slowest one ever seen; cap that wait.
        with self._lock:
            self._failed_auth_delay = min(self._failed_auth_delay, ALIGN_CAP)
        elapsed = (time.time_ns() - time_ns_begin) / 10**9
        if elapsed < ALIGN_CAP:
            super()._sleep_for_constant_exec_time(time_ns_begin)
