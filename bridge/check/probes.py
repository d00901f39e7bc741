"""`calbridge check`: the eight probes, in order, each turned into `Finding`s.

Rules kept here:
- **Read only.** The only requests are GET, PROPFIND (Depth 0 on mailbox roots and calendar
  folders), the OWA free/busy GET and, in forms mode, the logon POST to owaauth.dll. Nothing is
  created, changed or moved on Exchange, in the state folder or in Radicale's collections.
- **A failed step skips what depends on it** (no TLS → no logon probe → no login → no
  mailboxes), so the first failure is the one the administrator reads; the CalDAV row does not
  depend on Exchange and is always checked.
- **Nothing is sent to the CalDAV port's holder** (it may not be calbridge): it is identified
  from /proc (`bridge.check.listener`).
- **Short connect time-outs, no retries**: an unreachable host is reported in seconds.
- The Exchange client is the bridge's own (`ExchangeSession`, `Mailbox`); only the anonymous
  logon probe and the TLS handshake are done here directly, because the client always sends
  credentials and hides the certificate error behind its own message.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests

from bridge.check.findings import (
    Finding,
    Status,
    auth_finding,
    discovery_failed,
    login_failed,
    skipped,
    tls_failed,
    unreachable,
)
from bridge.check.listener import find_holder
from bridge.config import LOOPBACK, Config, ConfigError, UserConfig, load_config
from bridge.exchange import errors
from bridge.exchange.http import DEFAULT_USER_AGENT, Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox, own_mailbox_alias
from bridge.exchange.offered_auth import offered_auth

__all__ = ["CONNECT_TIMEOUT", "run_checks"]

CONNECT_TIMEOUT = 5.0  # seconds; a real server on a LAN or VPN connects well within this
FREEBUSY_WINDOW = timedelta(hours=2)


def run_checks(config_path: str | Path | None, *, state_dir: str | Path | None = None
               ) -> list[Finding]:
    """Every check, in order (see the module rules); never raises for what it finds."""
    try:
        config = load_config(config_path, state_dir=state_dir)
    except ConfigError as error:
        return [
            Finding(1, Status.FAIL, str(error),
                    "correct that key (config/calbridge.example.toml explains every key)"),
            *skipped(range(2, 9), "the configuration did not load"),
        ]
    users = ", ".join(u.name for u in config.users)
    findings = [Finding(1, Status.OK, f"{config.source}: {len(config.users)} user(s) ({users})")]
    findings += check_exchange(config)
    findings.append(check_caldav(config))
    return findings


# -- steps 2 to 7: Exchange --------------------------------------------------------------------


def check_exchange(config: Config) -> list[Finding]:
    if config.embedded:
        return [
            Finding(2, Status.SKIP, "exchange.url = \"embedded\": the built-in simulator starts "
                    "with `calbridge run`; there is no real server to check",
                    "for a real site set exchange.url = \"https://<OWA host>\""),
            *skipped(range(3, 8), "embedded simulator"),
        ]
    parts = urlsplit(config.server_url())
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    reach = _probe_connect(host, port)
    if reach.status is Status.FAIL:
        return [reach, *skipped(range(3, 8), "the server is not reachable")]
    tls = _probe_tls(config, host, port) if https else _plain_http(config, host)
    if tls.status is Status.FAIL:
        return [reach, tls, *skipped(range(4, 8), "TLS failed")]
    logon = _probe_logon(config, https)
    if logon.status is Status.FAIL:
        return [reach, tls, logon, *skipped(range(5, 8), "the logon mode does not match")]
    with ExitStack() as stack:
        return [reach, tls, logon, *_check_mailboxes(config, stack)]


def _probe_connect(host: str, port: int) -> Finding:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        return unreachable(host, port, "dns", error.strerror or str(error))
    last: tuple[str, str] = ("other", "no address")
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.settimeout(CONNECT_TIMEOUT)
            try:
                probe.connect(address)
            except TimeoutError:
                last = ("timeout", "time-out")
            except ConnectionRefusedError:
                last = ("refused", "refused")
            except OSError as error:
                last = ("other", error.strerror or str(error))
            else:
                return Finding(2, Status.OK, f"{host}:{port} accepts connections "
                                             f"({address[0]})")
    return unreachable(host, port, *last)


def _probe_tls(config: Config, host: str, port: int) -> Finding:
    context = ssl.create_default_context()
    if config.insecure:
        context.check_hostname = False  # the configured opt-out; reported as a warning below
        context.verify_mode = ssl.CERT_NONE
    elif isinstance(config.verify, str):
        try:
            context = ssl.create_default_context(cafile=config.verify)
        except (ssl.SSLError, OSError) as error:
            return Finding(3, Status.FAIL, f"cannot load the CA bundle {config.verify}: {error}",
                           "exchange.verify must name a file of PEM certificates "
                           "(-----BEGIN CERTIFICATE-----)")
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            certificate = tls.getpeercert()
            version = tls.version()
    except ssl.SSLCertVerificationError as error:
        return tls_failed(host, error.verify_message or str(error))
    except (ssl.SSLError, OSError) as error:
        return tls_failed(host, str(error))
    if config.insecure:
        return Finding(3, Status.WARN, f"{version}; certificate NOT verified (insecure = true)",
                       "for production, trust the server's CA with exchange.verify = "
                       "\"/etc/calbridge/exchange-ca.pem\" and set insecure = false")
    return Finding(3, Status.OK, f"{version}; certificate for {host} verified"
                   + _validity(certificate)
                   + (f" against {config.verify}" if isinstance(config.verify, str) else ""))


def _validity(certificate: object) -> str:
    if isinstance(certificate, dict) and certificate.get("notAfter"):
        return f", valid until {certificate['notAfter']}"
    return ""


def _plain_http(config: Config, host: str) -> Finding:
    if host in LOOPBACK:
        return Finding(3, Status.SKIP, "plain http to this machine (no TLS needed on loopback)")
    return Finding(3, Status.WARN, "plain http: passwords cross the network in clear text",
                   "use https:// in exchange.url (allowed now only because insecure = true)")


def _probe_logon(config: Config, https: bool) -> Finding:
    """One anonymous `GET /exchange/` (no cookie, no credentials): what logon it asks for."""
    with requests.Session() as http:
        http.trust_env = False
        http.verify = False if config.insecure else config.verify
        try:
            response = http.get(
                config.server_url() + "/exchange/",
                headers={"User-Agent": DEFAULT_USER_AGENT, "Accept-Language": "en-us"},
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, config.timeout),
            )
        except requests.RequestException as error:
            return Finding(4, Status.FAIL, f"GET /exchange/ failed: {type(error).__name__}",
                           "see the Exchange URL and TLS rows; raise exchange.timeout if slow")
        raw_headers = getattr(response.raw, "headers", None)
        if raw_headers is not None and hasattr(raw_headers, "getlist"):
            challenges = list(raw_headers.getlist("WWW-Authenticate"))
        else:
            challenges = [response.headers.get("WWW-Authenticate", "")]
        offered = offered_auth(response.status_code, challenges, response.headers.get("Location"))
    return auth_finding(config.auth, offered, https=https)


@dataclass
class _Identity:
    """One set of Exchange credentials and the session logged in with it (None: failed)."""

    username: str
    key: str  # the configuration table that holds them
    session: ExchangeSession | None = None


def _identities(config: Config) -> Iterator[tuple[UserConfig | None, _Identity]]:
    """(None, service account) once, or (user, their own credentials) per user."""
    if config.service_username is not None:
        yield None, _Identity(config.service_username, "exchange.service_account")
        return
    for index, user in enumerate(config.users):
        assert user.exchange_username is not None
        yield user, _Identity(user.exchange_username, f"user[{index}].exchange")


def _credentials(config: Config, user: UserConfig | None) -> Credentials:
    if user is None:
        assert config.service_username is not None and config.service_password is not None
        return Credentials(config.service_username, config.service_password.reveal())
    assert user.exchange_username is not None and user.exchange_password is not None
    return Credentials(user.exchange_username, user.exchange_password.reveal())


def _check_mailboxes(config: Config, stack: ExitStack) -> list[Finding]:
    findings: list[Finding] = []
    by_user: dict[str, _Identity] = {}
    for owner, identity in _identities(config):
        session = ExchangeSession(SessionConfig(
            server_url=config.server_url(),
            credentials=_credentials(config, owner),
            auth=config.auth,  # type: ignore[arg-type]  # config validated it
            verify=config.verify,
            insecure=config.insecure,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=config.timeout,
            retries=0,
        ))
        stack.callback(session.close)
        findings.append(_login(config, identity, session))
        for user in config.users if owner is None else [owner]:
            by_user[user.name] = identity
    opened: list[Mailbox] = []
    for user in config.users:
        identity = by_user[user.name]
        if identity.session is None:
            findings.append(Finding(6, Status.SKIP, f"login as {identity.username!r} failed",
                                    subject=user.name))
            continue
        finding, mailbox = _discover(user, identity)
        findings.append(finding)
        if mailbox is not None:
            opened.append(mailbox)
    findings.append(_freebusy(config, opened))
    return findings


def _login(config: Config, identity: _Identity, session: ExchangeSession) -> Finding:
    try:
        session.login()  # forms: the owaauth.dll POST; Basic/NTLM: the first request below
        alias = own_mailbox_alias(session)
    except (errors.NotFound, errors.ProtocolError) as error:
        identity.session = session  # logged in; the account has no mailbox page of its own
        return Finding(5, Status.OK, f"logged in ({config.auth}); no mailbox of its own ({error})",
                       subject=identity.username)
    except errors.ExchangeError as error:
        return login_failed(error, identity.username, identity.key, config.auth)
    identity.session = session
    return Finding(5, Status.OK, f"logged in ({config.auth}); own mailbox /exchange/{alias}/",
                   subject=identity.username)


def _discover(user: UserConfig, identity: _Identity) -> tuple[Finding, Mailbox | None]:
    assert identity.session is not None
    mailbox = Mailbox(identity.session, user.mailbox, user.email)
    try:
        folders = mailbox.discover()
        if not mailbox.exists(folders.calendar):
            raise errors.NotFound("the calendar folder it reported does not exist",
                                  method="PROPFIND", url=folders.calendar, status=404)
    except errors.ExchangeError as error:
        return discovery_failed(error, user.name, user.mailbox, identity.username), None
    detail = (f"/exchange/{user.mailbox}/: calendar {folders.calendar_name!r}, Inbox, Drafts "
              "and submission URI found")
    return Finding(6, Status.OK, detail, subject=user.name), mailbox


def _freebusy(config: Config, opened: list[Mailbox]) -> Finding:
    if not opened:
        return Finding(7, Status.SKIP, "no mailbox could be opened")
    addresses = [u.email for u in config.users]
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    try:
        grid = opened[0].freebusy(addresses, start, start + FREEBUSY_WINDOW, 30)
    except errors.NotFound as error:
        return Finding(7, Status.FAIL, f"/public/?cmd=freebusy answered 404: {error}",
                       "the public folder store (Schedule+ Free Busy) is not mounted or not "
                       "reachable through this server's /public virtual directory")
    except errors.ExchangeError as error:
        return Finding(7, Status.FAIL, f"free/busy query failed: {error}",
                       "check that /public/ is published on the OWA server")
    missing = [a for a, digits in grid.items() if not digits or set(digits) == {"4"}]
    if missing:
        return Finding(7, Status.WARN,
                       f"one query for {len(addresses)} address(es); no data for "
                       + ", ".join(missing),
                       "free/busy is published by Outlook/OWA: log on once as these users, or "
                       "check their email = ... in the configuration")
    return Finding(7, Status.OK, f"one query for {len(addresses)} address(es): all answered")


# -- step 8: the CalDAV side -------------------------------------------------------------------


def check_caldav(config: Config) -> Finding:
    host, port = config.caldav_host, config.caldav_port
    where = f"{host}:{port}"
    error = _bind_error(host, port)
    if error is None:
        return Finding(8, Status.OK, f"{where} is free for `calbridge run`")
    if error.errno == errno.EADDRINUSE:
        ours, why = _is_this_calbridge(config)
        if ours:
            return Finding(8, Status.OK, f"{where} is held by the running calbridge of "
                                         f"{config.state_dir}")
        return Finding(8, Status.FAIL, f"{where} is taken by another program ({why})",
                       f"stop that program (`ss -ltnp 'sport = :{port}'` names it) or set "
                       "caldav.port to a free port")
    if error.errno == errno.EACCES:
        return Finding(8, Status.FAIL, f"{where}: permission denied",
                       "use a port above 1023 (or, in the systemd unit, "
                       "AmbientCapabilities=CAP_NET_BIND_SERVICE)")
    return Finding(8, Status.FAIL, f"cannot listen on {where}: {error.strerror or error}",
                   "caldav.host must be an address of this machine (127.0.0.1, ::1 or 0.0.0.0)")


def _bind_error(host: str, port: int) -> OSError | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        return OSError(errno.EADDRNOTAVAIL, error.strerror or str(error))
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            # SO_REUSEADDR (as servers set it): a closing connection is not "in use", while a
            # listening socket still is (Linux refuses the bind).
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as error:
                return error
    return None


def _is_this_calbridge(config: Config) -> tuple[bool, str]:
    """Is the listener the calbridge serving `config.state_dir`? (See `listener`.)"""
    holder = find_holder(config.caldav_port, config.state_dir / "bridge.sqlite")
    if holder is None:
        return False, "this system does not say which program (no /proc)"
    if holder.pid is None:
        return False, "a program of another user; run check as the service's user or root"
    if holder.has_database:
        return True, ""
    return False, f"pid {holder.pid}: {holder.command or '?'}; not one serving {config.state_dir}"
