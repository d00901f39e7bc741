"""What `calbridge check` found, and what the administrator should do about each failure.

Rules kept here: pure (no sockets, no files) — the probes (`bridge.check.probes`) observe, this
module judges and words the fix; every failed or warned row carries a fix an administrator can
act on without reading the code; no text here is built from a secret (only user names, keys,
hosts and the server's own status lines go in), and every free text passes `redact.scrub` as a
second guard.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from rich.markup import escape
from rich.table import Table

from bridge.exchange import errors
from bridge.exchange.offered_auth import OfferedAuth
from bridge.redact import scrub

__all__ = [
    "STEPS",
    "Finding",
    "Status",
    "auth_finding",
    "discovery_failed",
    "exit_code",
    "login_failed",
    "render",
    "skipped",
    "tls_failed",
    "unreachable",
]

STEPS: dict[int, str] = {
    1: "configuration",
    2: "Exchange URL",
    3: "TLS",
    4: "logon mode",
    5: "login",
    6: "mailbox",
    7: "free/busy",
    8: "CalDAV port",
}

CA_HINT = (
    'put the CA certificate (or the server\'s own certificate) in a PEM file and set '
    'exchange.verify = "/etc/calbridge/exchange-ca.pem"; for a lab server only: '
    "exchange.insecure = true"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skipped"


@dataclass(frozen=True)
class Finding:
    step: int
    status: Status
    detail: str
    fix: str = ""
    subject: str = ""  # which user / account / address the row is about

    @property
    def name(self) -> str:
        label = STEPS[self.step]
        return f"{label} {self.subject}" if self.subject else label


def skipped(steps: Iterable[int], why: str) -> list[Finding]:
    return [Finding(step, Status.SKIP, why) for step in steps]


def exit_code(findings: Iterable[Finding]) -> int:
    """0 when nothing failed (warnings allowed), 1 otherwise."""
    return 1 if any(f.status is Status.FAIL for f in findings) else 0


_STYLE = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}


def render(findings: Iterable[Finding]) -> Table:
    """The rich table `calbridge check` prints (one row per finding, in check order)."""
    table = Table("#", "check", "result", "detail", "fix", title="calbridge check")
    for f in findings:
        style = _STYLE[f.status]
        table.add_row(
            str(f.step),
            escape(f.name),
            f"[{style}]{f.status.value}[/{style}]",
            escape(scrub(f.detail)),
            escape(scrub(f.fix)),
        )
    return table


# -- step 2: reaching the server --------------------------------------------------------------


def unreachable(host: str, port: int, kind: str, message: str) -> Finding:
    """`kind`: "dns", "refused", "timeout" or "other" (a socket error)."""
    where = f"{host}:{port}"
    if kind == "dns":
        return Finding(
            2, Status.FAIL, f"cannot resolve {host!r}: {message}",
            "check the host name in exchange.url (and this machine's DNS resolver)",
        )
    if kind == "refused":
        return Finding(
            2, Status.FAIL, f"{where} refused the connection",
            "check the port in exchange.url (https is 443) and that IIS runs on that host",
        )
    if kind == "timeout":
        return Finding(
            2, Status.FAIL, f"no answer from {where} (connect time-out)",
            "a firewall drops the connection, or the address is wrong: try "
            f"`curl -v {host}:{port}` from this machine",
        )
    return Finding(2, Status.FAIL, f"cannot connect to {where}: {message}",
                   "check exchange.url and the network path to the server")


# -- step 3: TLS ------------------------------------------------------------------------------


def tls_failed(host: str, reason: str) -> Finding:
    """`reason`: OpenSSL's verify message (or the handshake error) for `host`."""
    lowered = reason.lower()
    if "self-signed" in lowered or "self signed" in lowered:
        return Finding(3, Status.FAIL, f"self-signed certificate: {reason}", CA_HINT)
    if "local issuer" in lowered or "unable to get issuer" in lowered:
        return Finding(
            3, Status.FAIL, f"certificate from an unknown CA: {reason}",
            "the server's CA (e.g. the company's own CA) is not in the system store: " + CA_HINT,
        )
    if "hostname mismatch" in lowered or "doesn't match" in lowered:
        return Finding(
            3, Status.FAIL, f"certificate not issued for {host}: {reason}",
            "use the host name the certificate was issued for in exchange.url "
            "(see the certificate's subject / alternative names)",
        )
    if "expired" in lowered or "not yet valid" in lowered:
        return Finding(
            3, Status.FAIL, f"certificate out of its validity period: {reason}",
            "renew the server certificate in IIS (or correct this machine's clock)",
        )
    return Finding(
        3, Status.FAIL, f"TLS handshake failed: {reason}",
        "check that exchange.url's port speaks https; " + CA_HINT,
    )


# -- step 4: which logon the server offers ---------------------------------------------------

_MODE_NAMES = {"fba": "forms-based (fba)", "basic": "Basic", "ntlm": "NTLM"}


def auth_finding(configured: str, offered: OfferedAuth, *, https: bool) -> Finding:
    """Compare `exchange.auth` with what the anonymous `GET /exchange/` answered."""
    if offered.status == 403:
        return Finding(
            4, Status.FAIL, "GET /exchange/ answered 403 (the virtual directory requires SSL)",
            "use https:// in exchange.url" if not https else
            "ask the Exchange administrator why /exchange/ refuses this client (IP restriction?)",
        )
    if offered.status == 404:
        return Finding(
            4, Status.FAIL, "no /exchange/ virtual directory at this address (HTTP 404)",
            "exchange.url is the server's root (https://mail.example.com), without /exchange",
        )
    if not offered.modes:
        return Finding(
            4, Status.WARN, f"could not tell the logon mode: GET /exchange/ → {offered.describe()}",
            "an Exchange 2003 OWA answers 401 or a redirect to owalogon.asp: "
            "is exchange.url the OWA server, not a proxy page?",
        )
    offered_names = ", ".join(_MODE_NAMES[m] for m in sorted(offered.modes))
    if configured in offered.modes:
        return Finding(4, Status.OK, f"GET /exchange/ → {offered.describe()}; "
                                     f"exchange.auth = {configured!r} matches")
    choice = "fba" if "fba" in offered.modes else sorted(offered.modes)[0]
    return Finding(
        4, Status.FAIL,
        f"exchange.auth = {configured!r}, but the server offers {offered_names} "
        f"(GET /exchange/ → {offered.describe()})",
        f'set exchange.auth = "{choice}"',
    )


# -- steps 5 and 6: login and mailboxes -------------------------------------------------------


def login_failed(error: errors.ExchangeError, username: str, key: str, auth: str) -> Finding:
    """`key`: the configuration table holding the credentials (for the fix)."""
    if isinstance(error, errors.AuthFailed):
        return Finding(
            5, Status.FAIL, f"the server refused the password of {username!r} ({auth})",
            f"check {key}.password (or its _env/_file); write the user as DOMAIN\\user or "
            "user@domain; is the account locked or its password expired?",
            username,
        )
    if isinstance(error, errors.SessionExpired):
        return Finding(
            5, Status.FAIL, f"the server wants the forms logon, not {auth}",
            'set exchange.auth = "fba"', username,
        )
    if isinstance(error, errors.TransportError):
        return Finding(5, Status.FAIL, f"no answer during login: {error}",
                       "see the Exchange URL and TLS rows; raise exchange.timeout if it is slow",
                       username)
    return Finding(5, Status.FAIL, f"login failed: {error}",
                   "check exchange.url and exchange.auth", username)


def discovery_failed(error: errors.ExchangeError, user: str, alias: str, account: str) -> Finding:
    if isinstance(error, errors.Forbidden):
        return Finding(
            6, Status.FAIL, f"{account!r} may not open /exchange/{alias}/ (HTTP 403)",
            f"grant {account} Full Mailbox Access on {alias}'s mailbox (Active Directory "
            "Users and Computers → the user → Exchange Advanced → Mailbox Rights), or give this "
            "user exchange_username/exchange_password",
            user,
        )
    if isinstance(error, errors.NotFound):
        return Finding(
            6, Status.FAIL, f"no mailbox /exchange/{alias}/ on the server (HTTP 404)",
            "set the user's mailbox = the Exchange alias (what follows /exchange/ in OWA's "
            "address bar)",
            user,
        )
    if isinstance(error, errors.ProtocolError):
        return Finding(
            6, Status.FAIL, f"the mailbox root did not list its folders: {error}",
            "log on to OWA once as this user, so that Exchange creates the default folders",
            user,
        )
    if isinstance(error, errors.AuthFailed | errors.SessionExpired):
        # The login itself worked (this row is skipped otherwise), so a 401 here is about this
        # mailbox. The reference gives no status for "no rights"; 401 may be how a server says it.
        return Finding(
            6, Status.FAIL, f"the server asked {account!r} to log on again for "
            f"/exchange/{alias}/ (HTTP {error.status})",
            f"probably missing rights: grant {account} Full Mailbox Access on {alias}'s mailbox",
            user,
        )
    return Finding(6, Status.FAIL, f"cannot open /exchange/{alias}/: {error}",
                   "see the rows above; retry when the server is reachable", user)
