"""The simulator's WSGI application: one router, one handler table (reference §1, §9).

Rules kept here:
- Routing follows reference §1: WebDAV-only verbs always go to WebDAV; GET/HEAD/POST with
  `Translate: f` to the item source; `?Cmd=` to the OWA commands; `GET /public/?cmd=freebusy` to
  free/busy; any other GET of a folder or mailbox to the OWA page. POST to the submission URI
  sends. A method not in `HANDLERS` is 501; OPTIONS computes `Allow`/`Public` from the table.
- Every answer carries `MS-WebStorage: 6.5.7638`, `Server: Microsoft-IIS/6.0` and
  `X-Powered-By: ASP.NET`. An unexpected exception is logged with its traceback and answered with
  a bare 500 page: no traceback ever reaches the wire.
- Bodies over `max_body` are 413 before anything is parsed.
- `python -m exchange_sim -v` logs one line per request (`_log_request`), without credentials.
- Test support: `log` records every request (method, decoded path, user, status, time);
  `faults` makes the next N requests matching a regex on "METHOD /path?query" answer a status,
  wait, or lose their connection (`DropConnection`, which the server turns into a closed socket
  without an answer), either *before* the request is carried out or *after* it (the request
  takes effect, then its answer is replaced, late or lost: the case that decides exactly once);
  `expire_sessions()` ends every session. Without faults nothing changes.
"""

from __future__ import annotations

import errno
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from cheroot.errors import MaxSizeExceeded

from exchange_sim import responses, sql
from exchange_sim.auth import WRITE_METHODS, Authenticator, access_status, write_status
from exchange_sim.http import Headers, Request, Response
from exchange_sim.methods import (
    Handler,
    HttpError,
    decode_path,
    item,
    mkcol,
    move,
    propfind,
    proppatch,
    search,
    status_of,
)
from exchange_sim.owa import login
from exchange_sim.store import Store, StoreError
from exchange_sim.transport import SendError, deliver_pending
from exchange_sim.xml import XmlError

__all__ = ["HANDLERS", "DropConnection", "Faults", "LogEntry", "RequestLog", "Simulator"]

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("exchange_sim.requests")

MS_WEBSTORAGE = "6.5.7638"
_DRAIN_LIMIT = 64 * 1024 * 1024
_CHUNK_FRAMING = 64 * 1024  # room for chunk-size lines on top of max_body
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


# -- test support ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str  # decoded
    user: str | None  # alias, None before authentication
    status: int  # 0 = connection dropped by a fault
    ts: float  # time.time()
    query: str = ""


class RequestLog:
    """Thread-safe list of `LogEntry`, in arrival order of the answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []

    def append(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self.entries())

    def __len__(self) -> int:
        return len(self.entries())

    def __getitem__(self, index: int) -> LogEntry:
        return self.entries()[index]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def export_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps([asdict(e) for e in self.entries()], indent=1),
                              encoding="utf-8")


class DropConnection(ConnectionAbortedError):
    """Raised to make the server close the socket without answering (an ignored errno)."""

    def __init__(self) -> None:
        super().__init__(errno.ECONNABORTED, "connection dropped by an injected fault")


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    status: int | None
    delay: float
    drop: bool
    remaining: int | None
    after: bool = False


class Faults:
    """Injected failures for the next matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, pattern: str, *, status: int | None = None, delay: float = 0.0,
            drop: bool = False, count: int | None = 1, after: bool = False) -> None:
        """The next `count` requests (None: all) whose "METHOD /path?query" matches `pattern`
        (re.search) answer `status`, wait `delay` seconds, or are dropped.

        With `after=True` the request is carried out first (its effects are committed) and only
        then is its answer delayed, replaced by `status` or lost: what a client sees when a
        proxy or the network fails after the server acted.
        """
        if status is None and not drop and delay <= 0:
            raise ValueError("a fault needs a status, a delay or drop=True")
        with self._lock:
            self._faults.append(_Fault(re.compile(pattern), status, delay, drop, count, after))

    def match(self, key: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.pattern.search(key):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        """How many faults are still waiting for a matching request."""
        with self._lock:
            return len(self._faults)


def _inject(fault: _Fault) -> Response | None:
    """Apply a fault: wait, then lose the connection or answer its status (None: neither)."""
    if fault.delay:
        time.sleep(fault.delay)
    if fault.drop:
        raise DropConnection()
    if fault.status is not None:
        return responses.error(fault.status, "Injected fault.")
    return None


# -- the handler table ----------------------------------------------------------------------


def _options(request: Request, store: Store) -> Response:
    methods = ", ".join(HANDLERS)
    return Response(200, b"", [("Allow", methods), ("Public", methods), ("DAV", "1, 2"),
                               ("MS-Author-Via", "DAV"), ("Accept-Ranges", "rows")])


HANDLERS: dict[str, Handler] = {
    "OPTIONS": _options,
    "GET": item.handle_get,
    "HEAD": item.handle_get,
    "POST": item.handle_post,
    "PUT": item.handle_put,
    "DELETE": item.handle_delete,
    "BDELETE": item.handle_delete_batch,
    "PROPFIND": propfind.handle,
    "BPROPFIND": propfind.handle_batch,
    "PROPPATCH": proppatch.handle,
    "BPROPPATCH": proppatch.handle_batch,
    "SEARCH": search.handle,
    "MOVE": move.handle_move,
    "BMOVE": move.handle_move_batch,
    "COPY": move.handle_copy,
    "BCOPY": move.handle_copy_batch,
    "MKCOL": mkcol.handle,
}


class Simulator:
    """The Exchange 2003 simulator as a WSGI callable.

    Args:
        store: the mailbox store (default: a fresh in-memory store with the demo mailboxes).
        auth: `fba` (forms-based, the default), `basic` or `ntlm`.
        session_lifetime: FBA idle time-out in seconds.
        max_body: largest request body in bytes; larger ones get 413.
        ntlm_domain: the NT domain for `DOMAIN\\user` names.
    """

    def __init__(self, store: Store | None = None, *, auth: str = "fba",
                 session_lifetime: float = 1800, max_body: int = 8 * 1024 * 1024,
                 ntlm_domain: str = "EXAMPLE") -> None:
        self.store = store if store is not None else Store()
        self.auth = Authenticator(self.store, auth, session_lifetime=session_lifetime,
                                  ntlm_domain=ntlm_domain)
        self.max_body = max_body
        self.log = RequestLog()
        self.faults = Faults()
        # Messages delivered but not yet processed (or not yet delivered) when the process that
        # wrote this store stopped are carried out now, once each (transport rules).
        deliver_pending(self.store)

    @property
    def session_lifetime(self) -> float:
        return self.auth.session_lifetime

    @session_lifetime.setter
    def session_lifetime(self, seconds: float) -> None:
        self.auth.session_lifetime = seconds

    def expire_sessions(self) -> None:
        """End every FBA session (and NTLM connection) now: the next request gets 440/302/401."""
        self.auth.expire_sessions()

    def close(self) -> None:
        self.auth.close()

    # -- WSGI ----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        raw_path, raw_query = _raw_target(environ)
        entry = {"method": method, "path": raw_path, "user": None, "query": raw_query}
        try:
            response = self._respond(environ, method, raw_path, raw_query, entry)
        except DropConnection:
            self.log.append(LogEntry(method, str(entry["path"]), entry["user"], 0, time.time(),
                                     raw_query))
            _log_request(entry, 0, started)
            raise
        except Exception:
            logger.error("unexpected error on %s %s", method, raw_path, exc_info=True)
            response = responses.error(500, "The server encountered an internal error.")
        self.log.append(LogEntry(method, str(entry["path"]), entry["user"], response.status,
                                 time.time(), raw_query))
        _log_request(entry, response.status, started)
        body = b"" if method == "HEAD" else response.body
        headers = [(k, v) for k, v in response.headers if k.lower() != "content-length"]
        if response.status != 204:
            headers.append(("Content-Length", str(len(response.body))))
        headers += [("MS-WebStorage", MS_WEBSTORAGE), ("Server", "Microsoft-IIS/6.0"),
                    ("X-Powered-By", "ASP.NET")]
        start_response(responses.status_line(response.status), headers)
        return [body]

    def _respond(self, environ: dict[str, Any], method: str, raw_path: str, raw_query: str,
                 entry: dict[str, Any]) -> Response:
        try:
            path = decode_path(raw_path)
        except HttpError as error:
            return responses.error(error.status, error.detail)
        entry["path"] = path
        fault = self.faults.match(f"{method} {path}" + (f"?{raw_query}" if raw_query else ""))
        if fault is not None and not fault.after:
            injected = _inject(fault)
            if injected is not None:
                return injected
        response = self._carry_out(environ, method, path, raw_query, entry)
        if fault is not None and fault.after:
            return _inject(fault) or response
        return response

    def _carry_out(self, environ: dict[str, Any], method: str, path: str, raw_query: str,
                   entry: dict[str, Any]) -> Response:
        body = self._read_body(environ)
        if isinstance(body, Response):
            return body
        request = Request(
            method=method, path=path,
            query={k.lower(): v for k, v in parse_qs(raw_query, keep_blank_values=True).items()},
            headers=Headers({k[5:].replace("_", "-"): v for k, v in environ.items()
                             if k.startswith("HTTP_")}
                            | {k.replace("_", "-"): str(environ[k]) for k in
                               ("CONTENT_TYPE", "CONTENT_LENGTH") if environ.get(k)}),
            body=body, base_url=_base_url(environ), raw_query=raw_query,
        )
        connection = environ.get("exchange_sim.connection") or (
            f"{environ.get('REMOTE_ADDR', '')}:{environ.get('REMOTE_PORT', '')}")
        return self._route(request, connection, entry)

    def _read_body(self, environ: dict[str, Any]) -> bytes | Response:
        """The request body, or the answer that refuses it (then the connection closes).

        A body the framing makes unreadable (a bad chunk size or chunk end, a chunk larger than
        the limit, a connection that ends or stalls mid-body) is 400 and closes the connection:
        what is left of it cannot be told apart from the next request (chosen; the reference
        gives no status for it, 400 is HTTP.sys's answer to a malformed request).
        """
        stream = environ.get("wsgi.input")
        length_text = str(environ.get("CONTENT_LENGTH") or "").strip()
        if stream is None:
            return b""
        close = [("Connection", "close")]
        chunked = "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        if length_text and not chunked:
            if not length_text.isdigit():
                return responses.error(400, "Bad Content-Length.", close)
            length = int(length_text)
            if length > self.max_body:
                _drain(stream, length)
                return responses.error(413, "The request body is too large.", close)
            if not length:
                return b""
            try:
                data = bytes(stream.read(length))
            except (OSError, ValueError):
                return responses.error(400, "The request body ended early.", close)
            if len(data) < length:
                return responses.error(400, "The request body ended early.", close)
            return data
        if not chunked:
            return b""
        if getattr(stream, "maxlen", None) == 0:
            # cheroot's chunked reader then refuses a chunk that claims more than the limit
            # before waiting for it, instead of waiting for gigabytes that never come.
            stream.maxlen = self.max_body + _CHUNK_FRAMING
        try:
            data = bytes(stream.read(self.max_body + 1))
        except (ValueError, OverflowError, OSError, MaxSizeExceeded) as error:
            too_large = isinstance(error, MaxSizeExceeded) or "Too Large" in str(error)
            logger.info("%s %s: unreadable chunked body (%s)", environ.get("REQUEST_METHOD"),
                        environ.get("PATH_INFO"), type(error).__name__)
            if too_large:
                return responses.error(413, "The request body is too large.", close)
            return responses.error(400, "The chunked request body is malformed.", close)
        if len(data) > self.max_body:
            return responses.error(413, "The request body is too large.", close)
        return data

    # -- routing -------------------------------------------------------------------------------

    def _route(self, request: Request, connection: object, entry: dict[str, Any]) -> Response:
        lower = request.path.lower()
        if request.method not in HANDLERS:
            return responses.error(501, "The HTTP verb is not implemented.")
        if lower in (login.LOGON_PATH, login.AUTH_PATH) and self.auth.mode == "fba":
            return login.handle(request, self.auth)
        if lower.split("/")[1] not in ("exchange", "public"):
            return responses.not_found()  # no such vroot: IIS answers before any logon
        user = self.auth.authenticate(request, connection)
        if isinstance(user, Response):
            return user
        entry["user"] = user.alias
        request.user = user
        denied = access_status(self.store, user, request.path)
        if denied is None and request.method in WRITE_METHODS:
            denied = write_status(self.store, user, request.path)
        if denied is not None:
            return responses.error(denied)
        command = (request.arg("cmd") or "").lower()
        if command == "logoff":
            return login.logoff(request, self.auth, connection)
        try:
            return self._dispatch(request, command)
        except HttpError as error:
            return responses.error(error.status, error.detail)
        except (XmlError, sql.SqlError) as error:
            logger.info("%s %s: bad request: %s", request.method, request.path, error)
            return responses.error(400, "The request body could not be understood.")
        except sql.RangeNotSatisfiable:
            return responses.error(416, "The requested rows do not exist.")
        except (StoreError, SendError) as error:
            logger.info("%s %s: %s", request.method, request.path, type(error).__name__)
            return responses.error(status_of(error))

    def _dispatch(self, request: Request, command: str) -> Response:
        from exchange_sim.owa import commands  # the OWA commands pull in transport/attendees

        translate_f = (request.header("Translate") or "").strip().lower().startswith("f")
        public = request.path.lower().rstrip("/") == "/public"
        if request.method in ("GET", "HEAD"):
            if public and command == "freebusy":
                return commands.freebusy(request, self.store)
            if translate_f:
                return item.handle_get(request, self.store)
            if command and (answer := commands.handle(request, self.store)) is not None:
                return answer
            return self._owa_get(request)
        if request.method == "POST":
            if translate_f or self.store.is_submission(request.path):
                return item.handle_post(request, self.store)
            answer = commands.handle(request, self.store)
            return answer if answer is not None else responses.error(400, "Unknown command.")
        return HANDLERS[request.method](request, self.store)

    def _owa_get(self, request: Request) -> Response:
        found = self.store.get(request.path)
        if found is None:
            return responses.not_found()
        return login.welcome_page(request, self.store, found.path)


def _log_request(entry: dict[str, Any], status: int, started: float) -> None:
    """One DEBUG line per request on `exchange_sim.requests` (`python -m exchange_sim -v`):
    method, decoded path, the OWA command if any, status, user, duration. Never the rest of the
    query, a header, a cookie or a body, so no credential can reach the log."""
    if not request_logger.isEnabledFor(logging.DEBUG):
        return
    command = parse_qs(str(entry.get("query") or "")).get("Cmd") or parse_qs(
        str(entry.get("query") or "")).get("cmd")
    request_logger.debug(
        "%s %s%s %s user=%s %.1f ms", entry["method"], entry["path"],
        f" Cmd={command[0][:40]}" if command else "", status or "dropped",
        entry["user"] or "-", (time.monotonic() - started) * 1000)


def _raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """The request target as sent (still percent-encoded): (path, query)."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not uri:
        uri = quote(str(environ.get("PATH_INFO", "/")).encode("latin-1"), safe="/%")
        if environ.get("QUERY_STRING"):
            uri += "?" + str(environ["QUERY_STRING"])
    uri = str(uri)
    if "://" in uri.split("?", 1)[0]:  # absolute-form request target
        uri = "/" + uri.split("://", 1)[1].partition("/")[2]
    path, _, query = uri.partition("?")
    return path or "/", query


def _base_url(environ: dict[str, Any]) -> str:
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = str(environ.get("HTTP_HOST", ""))
    if not _HOST.match(host):
        host = f"{environ.get('SERVER_NAME', 'localhost')}:{environ.get('SERVER_PORT', '80')}"
    return f"{scheme}://{host}"


def _drain(stream: Any, length: int) -> None:
    """Read and drop a refused body so the client sees the 413 rather than a reset."""
    remaining = min(length, _DRAIN_LIMIT)
    while remaining > 0:
        try:
            chunk = stream.read(min(remaining, 65536))
        except (OSError, ValueError):  # the client stopped sending: the answer still goes out
            break
        if not chunk:
            break
        remaining -= len(chunk)
