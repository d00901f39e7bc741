"""Who is asking, and may they open this path: FBA sessions, HTTP Basic, NTLM (reference §8).

Rules kept here:
- One mode per server. In `fba` mode HTTP Basic/NTLM headers are ignored (reference §8.2): a GET
  without a session cookie is redirected (302) to owalogon.asp, a GET with a stale cookie gets the
  logon form again (200) unless it is a `Translate: f` WebDAV GET, and every other request gets
  `440 Login Timeout`. Sessions end after `session_lifetime` seconds idle or `expire_sessions()`.
- `basic`: 401 with `WWW-Authenticate: Basic realm="<host>"` (realm = host without port, as
  observed). `ntlm`: a real NTLM acceptor (pyspnego). NTLM authenticates a *connection*: once the
  three-message handshake succeeded, later requests on the same keep-alive connection are that
  user until it closes or sends a new NEGOTIATE.
- User names: `alias`, `DOMAIN\\alias` (DOMAIN must be the configured one) or `alias@domain`
  (the mailbox's SMTP address). Passwords, cookies and Authorization headers are never logged.
- Access: `/exchange/` and `/public/...` are open to any authenticated user for reading;
  `/exchange/<alias>/` only to its owner or an account whose `Mailbox.may_open(alias)` holds. An
  unknown alias is 404 (reference §8.1: 404 + MS-WebStorage = no mailbox). Denied is 403: the
  reference gives no status for this case; 403 is IIS's "access denied".
- Writing under `/public` (creating, changing, deleting, moving in or out) is refused to every
  mailbox account with 401 (`write_status`). Chosen: the reference gives no default public-folder
  rights; the only public content here is the server's own (the transport log, which the
  transport writes directly, and free/busy), and the one answer it shows for a write there is
  DavMail ignoring "401 unauthorized" on a PUT into a public folder (davmail-client §2.3).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from exchange_sim import responses
from exchange_sim.http import Request, Response
from exchange_sim.store import Mailbox, Store
from exchange_sim.xml import url_for

__all__ = ["MODES", "WRITE_METHODS", "Authenticator", "access_status", "parse_cookies",
           "write_status"]

logger = logging.getLogger(__name__)

MODES = ("fba", "basic", "ntlm")
LOGON_PATH = "/exchweb/bin/auth/owalogon.asp"
# pyspnego reads NTLM_USER_FILE from the process environment on each handshake step; simulators
# in one process each have their own file, so steps are serialized while the variable points to it.
_NTLM_ENV_LOCK = threading.Lock()


def parse_cookies(header: str | None) -> dict[str, str]:
    """`a=1; cadata="2,xyz"` → {"a": "1", "cadata": "2,xyz"} (quotes stripped, first wins)."""
    cookies: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if sep and name.strip():
            cookies.setdefault(name.strip().lower(), value)
    return cookies


def access_status(store: Store, user: Mailbox, path: str) -> int | None:
    """None when `user` may open `path`; else 404 (no such mailbox / vroot) or 403."""
    segments = [s for s in path.split("/") if s]
    if not segments or segments[0].lower() not in ("exchange", "public"):
        return 404
    if segments[0].lower() == "public" or len(segments) == 1:
        return None
    mailbox = store.mailboxes.get(segments[1].lower())
    if mailbox is None:
        return 404
    return None if user.may_open(mailbox.alias) else 403


# Methods that change the resource at the request URL (POST: a folder post or an OWA form).
WRITE_METHODS = frozenset({"PUT", "POST", "DELETE", "BDELETE", "PROPPATCH", "BPROPPATCH", "MOVE",
                           "BMOVE", "MKCOL"})


def write_status(store: Store, user: Mailbox, path: str) -> int | None:
    """None when `user` may change `path`; else the refusal (see the module rules)."""
    denied = access_status(store, user, path)
    if denied is not None:
        return denied
    segments = [s for s in path.split("/") if s]
    if segments and segments[0].lower() == "public":
        return 401
    return None


@dataclass
class _Session:
    alias: str
    cadata: str
    last_seen: float


if TYPE_CHECKING:
    from spnego import ContextProxy


@dataclass
class _NtlmState:
    context: ContextProxy | None = None
    mailbox: Mailbox | None = None


class Authenticator:
    """Credentials, FBA sessions and NTLM connection state of one simulator."""

    def __init__(self, store: Store, mode: str = "fba", *, session_lifetime: float = 1800,
                 ntlm_domain: str = "EXAMPLE") -> None:
        if mode not in MODES:
            raise ValueError(f"auth mode must be one of {', '.join(MODES)}, not {mode!r}")
        self.store, self.mode = store, mode
        self.session_lifetime = session_lifetime
        self.ntlm_domain = ntlm_domain
        self._lock = threading.Lock()
        self._sessions: dict[str, _Session] = {}
        self._by_conn: weakref.WeakKeyDictionary[object, _NtlmState] = (
            weakref.WeakKeyDictionary())
        self._by_addr: dict[str, _NtlmState] = {}
        self._ntlm_file: str | None = None
        if mode == "ntlm":
            self._ntlm_file = self._write_ntlm_file()
            weakref.finalize(self, shutil.rmtree, str(Path(self._ntlm_file).parent), True)

    # -- credentials ---------------------------------------------------------------------------

    def resolve(self, username: str) -> Mailbox | None:
        """The mailbox a user name means: `alias`, `DOMAIN\\alias` or `alias@domain`."""
        name = username.strip()
        if "\\" in name:
            domain, name = name.split("\\", 1)
            if domain.lower() != self.ntlm_domain.lower():
                return None
        if "@" in name:
            return self.store.by_email.get(name.lower())
        return self.store.mailboxes.get(name.lower())

    def check_password(self, username: str, password: str) -> Mailbox | None:
        mailbox = self.resolve(username)
        if mailbox is not None and hmac.compare_digest(
            mailbox.password.encode("utf-8"), password.encode("utf-8")
        ):
            return mailbox
        logger.info("logon failed for user name %r", username[:80])
        return None

    # -- forms-based sessions ------------------------------------------------------------------

    def create_session(self, mailbox: Mailbox) -> list[tuple[str, str]]:
        """A new session; returns the Set-Cookie headers (reference §8.2 success answer)."""
        sid = str(uuid.uuid4())
        cadata = "2," + base64.b64encode(secrets.token_bytes(60)).decode("ascii")
        with self._lock:
            self._sessions[sid] = _Session(mailbox.alias, cadata, time.monotonic())
        lcid = "0x407" if self.store.language == "de" else "0x409"
        logger.info("session opened for %s", mailbox.alias)
        return [("Set-Cookie", f"sessionid={sid},{lcid}; path=/"),
                ("Set-Cookie", f'cadata="{cadata}"; HttpOnly; path=/')]

    def session_user(self, request: Request) -> Mailbox | None:
        cookies = parse_cookies(request.header("Cookie"))
        sid = cookies.get("sessionid", "").split(",")[0].split(":")[0]
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if now - session.last_seen > self.session_lifetime:
                del self._sessions[sid]
                logger.info("session of %s expired", session.alias)
                return None
            if not hmac.compare_digest(session.cadata, cookies.get("cadata", "")):
                return None
            session.last_seen = now
        return self.store.mailboxes.get(session.alias.lower())

    def end_session(self, request: Request, connection: object = None) -> None:
        sid = parse_cookies(request.header("Cookie")).get("sessionid", "").split(",")[0]
        with self._lock:
            self._sessions.pop(sid, None)
            state = self._conn_state(connection, create=False)
            if state is not None:
                state.mailbox = state.context = None

    def expire_sessions(self) -> None:
        """End every FBA session and forget every NTLM-authenticated connection."""
        with self._lock:
            self._sessions.clear()
            self._by_conn.clear()
            self._by_addr.clear()

    # -- the per-request decision --------------------------------------------------------------

    def authenticate(self, request: Request, connection: object = None) -> Mailbox | Response:
        """The authenticated mailbox, or the answer that asks for credentials."""
        if self.mode == "fba":
            return self._fba(request)
        if self.mode == "basic":
            return self._basic(request)
        return self._ntlm(request, connection)

    def _fba(self, request: Request) -> Mailbox | Response:
        user = self.session_user(request)
        if user is not None:
            return user
        if request.method not in ("GET", "HEAD"):
            return responses.login_timeout()
        cookies = parse_cookies(request.header("Cookie"))
        webdav_get = (request.header("Translate") or "").lower().startswith("f")
        url = url_for(request.base_url, request.path) + (
            "?" + request.raw_query if request.raw_query else "")
        if "sessionid" in cookies or "cadata" in cookies:
            if webdav_get:
                return responses.login_timeout()
            from exchange_sim.owa import login  # the logon form lives with the OWA pages

            return login.logon_page(request, url, reason=0)
        return responses.redirect(
            f"{request.base_url}{LOGON_PATH}?url={quote(url, safe='')}&reason=0")

    def _basic(self, request: Request) -> Mailbox | Response:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                text = ""
            username, sep, password = text.partition(":")
            user = self.check_password(username, password) if sep else None
            if user is not None:
                return user
        host = request.base_url.split("://", 1)[-1].rsplit(":", 1)[0]
        return responses.unauthorized([f'Basic realm="{host}"'])

    def _conn_state(self, connection: object, *, create: bool) -> _NtlmState | None:
        if connection is None:
            return None
        table: MutableMapping[Any, _NtlmState] = (
            self._by_addr if isinstance(connection, str) else self._by_conn)
        state = table.get(connection)
        if state is None and create:
            state = table[connection] = _NtlmState()
        return state

    def _ntlm(self, request: Request, connection: object) -> Mailbox | Response:
        scheme, _, token = (request.header("Authorization") or "").partition(" ")
        with self._lock:
            state = self._conn_state(connection, create=True)
        assert state is not None
        if scheme.lower() != "ntlm" or not token.strip():
            if state.mailbox is not None:
                return state.mailbox
            return responses.unauthorized(["NTLM"])
        try:
            raw = base64.b64decode(token.strip(), validate=True)
        except binascii.Error:
            return responses.unauthorized(["NTLM"])
        if raw[8:12] == b"\x01\x00\x00\x00" or state.context is None:
            state.mailbox, state.context = None, self._new_context()
        try:
            with _NTLM_ENV_LOCK:
                previous = os.environ.get("NTLM_USER_FILE")
                os.environ["NTLM_USER_FILE"] = str(self._ntlm_file)
                try:
                    answer = state.context.step(raw)
                finally:
                    if previous is None:
                        os.environ.pop("NTLM_USER_FILE", None)
                    else:
                        os.environ["NTLM_USER_FILE"] = previous
        except Exception as error:  # pyspnego raises its own hierarchy for any bad token
            logger.info("NTLM handshake failed: %s", type(error).__name__)
            state.context = None
            return responses.unauthorized(["NTLM"])
        if not state.context.complete:
            return responses.unauthorized(["NTLM " + base64.b64encode(answer or b"").decode()])
        principal = state.context.client_principal or ""
        state.context, state.mailbox = None, self.resolve(principal)
        if state.mailbox is None:
            logger.info("NTLM principal %r has no mailbox", principal)
            return responses.unauthorized(["NTLM"])
        return state.mailbox

    def _new_context(self) -> ContextProxy:
        import spnego  # imported lazily: only the ntlm mode needs it

        with _NTLM_ENV_LOCK:
            previous = os.environ.get("NTLM_USER_FILE")
            os.environ["NTLM_USER_FILE"] = str(self._ntlm_file)
            try:
                return spnego.server(protocol="ntlm")
            finally:
                if previous is None:
                    os.environ.pop("NTLM_USER_FILE", None)
                else:
                    os.environ["NTLM_USER_FILE"] = previous

    def _write_ntlm_file(self) -> str:
        """`:alias:pw`, `DOMAIN:alias:pw` and `:email:pw` per mailbox (practical-notes)."""
        folder = tempfile.mkdtemp(prefix="exchange_sim-ntlm-")
        path = os.path.join(folder, "ntlm_users")
        lines = []
        for mailbox in self.store.mailboxes.values():
            if any(c in mailbox.password for c in ":\r\n"):
                logger.warning("mailbox %s: password unusable for NTLM (contains ':')",
                               mailbox.alias)
                continue
            for domain, name in (("", mailbox.alias), (self.ntlm_domain, mailbox.alias),
                                 ("", mailbox.email)):
                lines.append(f"{domain}:{name}:{mailbox.password}\n")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
        return path

    def close(self) -> None:
        if self._ntlm_file is not None:
            shutil.rmtree(Path(self._ntlm_file).parent, ignore_errors=True)
