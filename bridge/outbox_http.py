"""The scheduling outbox over HTTP: a WSGI layer in front of Radicale (which has no outbox).

Rules kept here:
- ``POST /<user>/outbox/`` is answered here, never by Radicale: only after the request's Basic
  credentials pass Radicale's own configured auth plugin (the same check as any CalDAV
  request; 401 otherwise) and only for the logged-in user's own outbox (403 for another's).
- One free/busy query is one Exchange request (``/public/?cmd=freebusy`` naming every
  recipient), sent through a session kept logged in across queries (the service account's, or
  the asking user's own when there is no service account): no login per query.
- A principal's PROPFIND that asks for ``CALDAV:schedule-outbox-URL`` (RFC 6638 §2.1) gets it:
  Radicale's answer is read and that one property moved from its 404 propstat to a 200 one,
  nothing else changes. The principal's ``calendar-user-address-set`` also gets the user's
  ``mailto:`` address, which clients use as the ORGANIZER of their queries, and its
  ``addressbook-home-set`` a second home, ``/gal/``, where clients that discover address books
  find the company directory.
- The ``DAV:`` header says ``calendar-auto-schedule``: the bridge, not the client, sends the
  meeting messages, so an RFC 6638 client uses the outbox for free/busy only.
- The storage plugin is not involved: no network I/O happens under Radicale's storage lock.
- Bad input is a 4xx with a one-line reason; Exchange failing is a 200 whose recipients carry
  ``5.1`` (logged once, no traceback for known Exchange errors).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import defusedxml.ElementTree as SafeET
from radicale import auth as radicale_auth

from bridge import outbox
from bridge.config import Config, UserConfig
from bridge.exchange.errors import ExchangeError
from bridge.exchange.http import Credentials, ExchangeSession, SessionConfig
from bridge.exchange.mailbox import Mailbox
from bridge.gal import GAL_OWNER

__all__ = ["FreeBusyDesk", "OutboxLayer", "WsgiApp"]

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_DAV = "DAV:"
_CALDAV = "urn:ietf:params:xml:ns:caldav"
_OUTBOX_PROP = f"{{{_CALDAV}}}schedule-outbox-URL"
_ADDRESS_SET = f"{{{_CALDAV}}}calendar-user-address-set"
_BOOK_HOME = "{urn:ietf:params:xml:ns:carddav}addressbook-home-set"
_MAX_PROPFIND_ANSWER = 1024 * 1024  # a principal's PROPFIND answer is small; bigger: untouched
OUTBOX = "outbox"


class FreeBusyDesk:
    """Asks Exchange for free/busy through long-lived sessions (one per identity)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._sessions: dict[str, ExchangeSession] = {}
        # Every layer reads this one dict: a user provisioned at run time is known to all.
        self.users: dict[str, UserConfig] = {user.name: user for user in config.users}

    def add_user(self, user: UserConfig) -> None:
        """Answer `user`'s outbox from now on (a user provisioned at run time)."""
        with self._lock:
            self.users.setdefault(user.name, user)

    def session_for(self, user: UserConfig) -> ExchangeSession:
        config = self.config
        if config.service_username is not None and config.service_password is not None:
            key = "\0service"
            credentials = Credentials(config.service_username, config.service_password.reveal())
        else:
            assert user.exchange_username is not None and user.exchange_password is not None
            key = user.name
            credentials = Credentials(user.exchange_username, user.exchange_password.reveal())
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = ExchangeSession(
                    SessionConfig(
                        server_url=config.server_url(),
                        credentials=credentials,
                        auth=config.auth,  # type: ignore[arg-type]  # config validated it
                        verify=config.verify,
                        insecure=config.insecure,
                        read_timeout=config.timeout,
                    )
                )
                self._sessions[key] = session
            return session

    def freebusy(self, user: UserConfig, query: outbox.Query) -> dict[str, str] | None:
        """Digits per address (one Exchange request), or None when Exchange failed."""
        addresses = query.addresses
        if not addresses:
            return {}
        mailbox = Mailbox(self.session_for(user), user.mailbox, user.email)
        try:
            return mailbox.freebusy(addresses, query.start, query.end, outbox.FREEBUSY_INTERVAL)
        except ExchangeError as error:
            logger.warning("free/busy for %s failed: %s", user.name, error)
            return None

    def close(self) -> None:
        with self._lock:
            for session in self._sessions.values():
                session.close()
            self._sessions.clear()


class OutboxLayer:
    """WSGI middleware: the outbox POST and the principal's outbox URL; the rest passes."""

    def __init__(self, app: WsgiApp, configuration: Any, desk: FreeBusyDesk) -> None:
        self.app = app
        self.desk = desk
        self._auth = radicale_auth.load(configuration)
        self._realm = str(configuration.get("auth", "realm"))
        self._users = desk.users  # shared, so run-time additions are seen

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        parts = _segments(environ)
        if method == "POST" and len(parts) == 2 and parts[1] == OUTBOX:
            return self._post(environ, start_response, parts[0])
        start_response = _with_auto_schedule(start_response)
        if method == "PROPFIND" and len(parts) == 1:
            return self._principal_propfind(environ, start_response, parts[0])
        return self.app(environ, start_response)

    # -- the outbox POST ---------------------------------------------------------------------

    def _post(
        self, environ: dict[str, Any], start_response: StartResponse, owner: str
    ) -> Iterable[bytes]:
        login = self._login(environ)
        if login is None:
            return _plain(
                start_response, 401, "authentication required",
                [("WWW-Authenticate", f'Basic realm="{self._realm}"')],
            )
        user = self._users.get(login)
        if login != owner or user is None:
            logger.warning("refused outbox POST of %r to %r's outbox", login, owner)
            return _plain(start_response, 403, "a user may only use their own outbox")
        length = str(environ.get("CONTENT_LENGTH") or "0").strip()
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        try:
            query = outbox.parse_query(body)
        except outbox.QueryError as error:
            logger.info("refused outbox POST of %s: %s", login, error)
            return _plain(start_response, error.status, str(error))
        digits = self.desk.freebusy(user, query)
        answer = outbox.build_response(query, digits, now=datetime.now(UTC))
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/xml; charset=utf-8"),
                ("Content-Length", str(len(answer))),
            ],
        )
        return [answer]

    def _login(self, environ: dict[str, Any]) -> str | None:
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            login, _, password = base64.b64decode(token.strip(), validate=True).decode(
                "utf-8"
            ).partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        context = radicale_auth.AuthContext()  # type: ignore[no-untyped-call]  # unannotated in Radicale
        context.remote_addr = str(environ.get("REMOTE_ADDR", ""))
        user, _info, _groups = self._auth.login(login, password, context)
        return user or None

    # -- the principal's PROPFIND ------------------------------------------------------------

    def _principal_propfind(
        self, environ: dict[str, Any], start_response: StartResponse, principal: str
    ) -> Iterable[bytes]:
        length = str(environ.get("CONTENT_LENGTH") or "0").strip()
        body = environ["wsgi.input"].read(int(length)) if length.isdigit() else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if not any(name in body for name in (b"schedule-outbox-URL", b"calendar-user-address-set",
                                             b"addressbook-home-set")):
            return self.app(environ, start_response)
        # Radicale gzips for clients that accept it; this answer is read and rewritten here.
        environ.pop("HTTP_ACCEPT_ENCODING", None)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        chunks = self.app(environ, capture)
        try:
            answer = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = captured["status"], captured["headers"]
        if status.startswith("207") and len(answer) <= _MAX_PROPFIND_ANSWER:
            user = self._users.get(principal)
            email = user.email if user is not None else None
            answer = _advertise(answer, principal, email, str(environ.get("SCRIPT_NAME", "")))
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(answer))))
        start_response(status, headers)
        return [answer]


def _with_auto_schedule(start_response: StartResponse) -> StartResponse:
    """Radicale's ``DAV:`` header plus ``calendar-auto-schedule`` (RFC 6638 §2): the server
    schedules — calbridge sends the invitations, updates and cancellations of every stored
    meeting through Exchange — so clients must not send iTIP messages themselves (which would
    reach attendees twice); they use the outbox for free/busy only."""

    def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        headers = [
            (k, f"{v}, calendar-auto-schedule" if k.lower() == "dav" and
             "calendar-auto-schedule" not in v else v)
            for k, v in headers
        ]
        return start_response(status, headers) if exc_info is None else start_response(
            status, headers, exc_info)

    return respond


def _segments(environ: dict[str, Any]) -> list[str]:
    path = str(environ.get("PATH_INFO", ""))
    return [part for part in path.split("/") if part]


def _plain(
    start_response: StartResponse, status: int, reason: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    names = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 415: "Unsupported"}
    body = (reason + "\n").encode("utf-8")
    start_response(
        f"{status} {names.get(status, 'Error')}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
         *(extra or [])],
    )
    return [body]


def _advertise(answer: bytes, principal: str, email: str | None, prefix: str) -> bytes:
    """Radicale's multistatus with the outbox URL (and the mailto address) filled in."""
    try:
        root = SafeET.fromstring(answer)
    except ET.ParseError:
        return answer
    for key, uri in (("D", _DAV), ("C", _CALDAV), ("CR", "urn:ietf:params:xml:ns:carddav"),
                     ("CS", "http://calendarserver.org/ns/"), ("ICAL", "http://apple.com/ns/ical/")):
        ET.register_namespace(key, uri)
    principal_href = f"{prefix}/{principal}/"
    for response in root.iter(f"{{{_DAV}}}response"):
        href = response.findtext(f"{{{_DAV}}}href", "")
        if href.rstrip("/") != principal_href.rstrip("/"):
            continue
        asked = False
        for propstat in list(response.findall(f"{{{_DAV}}}propstat")):
            prop = propstat.find(f"{{{_DAV}}}prop")
            if prop is None:
                continue
            found = "200" in (propstat.findtext(f"{{{_DAV}}}status") or "")
            for element in list(prop):
                if element.tag == _OUTBOX_PROP:
                    prop.remove(element)
                    asked = True
                elif element.tag == _ADDRESS_SET and email and found:
                    ET.SubElement(element, f"{{{_DAV}}}href").text = f"mailto:{email}"
                elif element.tag == _BOOK_HOME and found:
                    # A second home (RFC 6352 §7.1.1 allows several): clients that discover
                    # address books from the principal find the shared directory there.
                    ET.SubElement(element, f"{{{_DAV}}}href").text = f"{prefix}/{GAL_OWNER}/"
            if len(prop) == 0:
                response.remove(propstat)
        if asked:
            moved = ET.SubElement(_prop(_propstat(response, "200")), _OUTBOX_PROP)
            ET.SubElement(moved, f"{{{_DAV}}}href").text = f"{prefix}/{principal}/{OUTBOX}/"
    document: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + document


def _propstat(response: ET.Element, code: str) -> ET.Element:
    for propstat in response.findall(f"{{{_DAV}}}propstat"):
        if code in (propstat.findtext(f"{{{_DAV}}}status") or ""):
            return propstat
    propstat = ET.SubElement(response, f"{{{_DAV}}}propstat")
    ET.SubElement(propstat, f"{{{_DAV}}}prop")
    ET.SubElement(propstat, f"{{{_DAV}}}status").text = f"HTTP/1.1 {code} OK"
    return propstat


def _prop(propstat: ET.Element) -> ET.Element:
    prop = propstat.find(f"{{{_DAV}}}prop")
    if prop is None:
        prop = ET.SubElement(propstat, f"{{{_DAV}}}prop")
    return prop
