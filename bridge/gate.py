"""The front door: a WSGI layer that refuses hostile bodies before Radicale parses them.

Rule kept here (design §1, "hostile input stops at the door"): every request body is bounded
(`screen.DOOR.max_bytes`, 413 before it is read), and every PUT body passes `screen.screen` —
size, components, attendees, recurrence, the shape of a VTIMEZONE — before Radicale's vobject
sees it. A refusal is a 4xx with a short plain-text reason and one log line, never a traceback;
anything that passes goes to Radicale unchanged (the same bytes, the same headers), except what
`vobject_quirks.mend` mends (then re-encoded as UTF-8, the Content-Type saying so). A PUT that
Radicale itself refuses with a bare 400 gets the reason `vobject_quirks.explain` finds in
Radicale's own log record of it.

`install()` puts the door in front of every Radicale application this process serves
(`radicale.server.serve` builds its application from `radicale.server.Application`), and turns
the log noise of bad input into one line: Radicale's traceback for a bad PUT, vobject's
root-logger ERROR for an unknown TZID.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from radicale import server as radicale_server
from radicale.app import Application

from bridge import vobject_quirks, zone_registry
from bridge.screen import DOOR, Limits, Refusal, decode_body, screen

__all__ = ["FrontDoor", "add_layer", "install", "remove_layer"]

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {400: "Bad Request", 413: "Content Too Large", 415: "Unsupported Media Type"}
# A refused body is read and dropped up to this much, so the client gets the answer instead of
# a connection reset while it is still sending; past it the connection is simply closed.
_DRAIN_BYTES = 16 * 1024 * 1024
_CHUNK = 64 * 1024


class FrontDoor:
    """WSGI middleware: `FrontDoor(app)` answers hostile requests itself, passes the rest."""

    def __init__(self, app: WsgiApp, limits: Limits = DOOR) -> None:
        self.app = app
        self.limits = limits

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        zone_registry.new_request()  # no zone registered by another request is lent to this one
        refusal = self._check(environ)
        method = str(environ.get("REQUEST_METHOD", "")).upper()
        if refusal is None:
            if method == "PUT":
                return self._explained_put(environ, start_response)
            return self.app(environ, start_response)
        logger.warning(
            "refused %s %r: %s", method, environ.get("PATH_INFO", ""), refusal.reason
        )
        return _answer(start_response, refusal, method)

    def _explained_put(
        self, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        """Radicale's answer to a PUT, with a reason in place of the body of a bare 400."""
        held: list[Any] = []  # a 400 that Radicale started, not yet passed on
        returned = False

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if returned or not status.startswith("400"):
                return start_response(status, headers, exc_info)
            held[:] = [status, headers, exc_info]
            return lambda _data: None  # Radicale returns its body, it never write()s

        _refused.message = None
        try:
            answer = self.app(environ, hold)
            message = _refused.message
        finally:
            _refused.message = None
            returned = True
        if not held:
            return answer
        if hasattr(answer, "close"):
            answer.close()
        return _answer(start_response, Refusal(400, vobject_quirks.explain(message)), "PUT")

    def _check(self, environ: dict[str, Any]) -> Refusal | None:
        coding = str(environ.get("HTTP_CONTENT_ENCODING", "")).strip().lower()
        if coding not in ("", "identity"):
            # Radicale would not decode it anyway; a compressed body could also hide its size.
            return Refusal(415, f"request bodies with Content-Encoding {coding[:20]!r} are refused")
        raw_length = str(environ.get("CONTENT_LENGTH") or "0").strip()
        if not raw_length.isdigit():
            return Refusal(400, "invalid Content-Length")
        length = int(raw_length)
        if length > self.limits.max_bytes:
            _drain(environ, length)
            return Refusal(413, f"the request body is larger than {self.limits.max_bytes} bytes")
        if str(environ.get("REQUEST_METHOD", "")).upper() != "PUT" or length == 0:
            return None
        body = environ["wsgi.input"].read(length)
        # Radicale reads the body again: give it the very same bytes.
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        text = decode_body(body, str(environ.get("CONTENT_TYPE", "")))
        if isinstance(text, Refusal):
            return text
        refusal = screen(text, self.limits)
        mended = vobject_quirks.mend(text) if refusal is None else None
        if mended is not None:
            body = mended.encode("utf-8")
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = _utf8(str(environ.get("CONTENT_TYPE", "")))
        return refusal


def _answer(start_response: StartResponse, refusal: Refusal, method: str) -> list[bytes]:
    body = (refusal.reason + "\n").encode("utf-8")
    start_response(
        f"{refusal.status} {_REASONS.get(refusal.status, 'Refused')}",
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [] if method == "HEAD" else [body]


def _utf8(content_type: str) -> str:
    """`content_type` saying charset=utf-8 (the mended body is re-encoded as UTF-8)."""
    bare = re.sub(r";\s*charset\s*=\s*(\"[^\"]*\"|[^;]*)", "", content_type, flags=re.IGNORECASE)
    return f"{bare or 'text/calendar'}; charset=utf-8"


def _drain(environ: dict[str, Any], length: int) -> None:
    stream = environ.get("wsgi.input")
    left = min(length, _DRAIN_BYTES)
    try:
        while left > 0 and stream is not None:
            chunk = stream.read(min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
    except OSError:  # the client went away: nothing to answer
        pass


class _GatedApplication(FrontDoor):
    """What `radicale.server.serve` builds in place of `radicale.Application`."""

    def __init__(self, configuration: Any) -> None:
        app: WsgiApp = Application(configuration)
        wrap = _layers.get(_layer_key(configuration))
        super().__init__(wrap(app, configuration) if wrap is not None else app)


# calbridge's own CalDAV features (the scheduling outbox) as a layer between the door and
# Radicale, one per storage folder: each service in a process gets its own. (Keyed by the
# folder, not the object: `radicale.server.serve` works on a copy of the configuration.)
Layer = Callable[[WsgiApp, Any], WsgiApp]
_layers: dict[str, Layer] = {}


def _layer_key(configuration: Any) -> str:
    return str(configuration.get("storage", "filesystem_folder"))


def add_layer(configuration: Any, wrap: Layer) -> None:
    """Serve Radicale for `configuration` as `wrap(radicale_app, configuration)`, behind the
    door (bodies are screened first). Call before the server starts."""
    _layers[_layer_key(configuration)] = wrap


def remove_layer(configuration: Any) -> None:
    _layers.pop(_layer_key(configuration), None)


# The parser's message of the PUT this thread is serving, when Radicale refused it (Radicale
# serves a request on one thread and logs its refusal there: "Bad PUT request on %r (%s): %s").
_refused = threading.local()


class _OneLineBadInput(logging.Filter):
    """Radicale's record of a refused bad PUT keeps its message and loses its traceback: bad
    input is not a bug. Other records (an unexpected exception's 500) keep theirs. The
    message of a refused PUT is kept for the door's answer (`_refused`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.WARNING and str(record.msg).startswith("Bad "):
            if str(record.msg).startswith("Bad PUT request on") and isinstance(
                    record.args, tuple) and record.args:
                _refused.message = str(record.args[-1])
            record.exc_info = None
            record.exc_text = None
        return True


class _QuietUnknownTzid(logging.Filter):
    """vobject reports a TZID it cannot find (``'Mars/Olympus'``) as an ERROR on the root logger;
    `bridge.ical` already gives the event its reason, so this is a one-line debug record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "root" or "vobject" not in record.pathname.replace("\\", "/"):
            return True
        if type(record.msg).__name__ != "UnknownTimeZoneError":
            return True
        record.msg, record.args = "vobject: unknown time zone %s", (record.msg,)
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


_installed = threading.Lock()
_done: list[bool] = []


def install() -> None:
    """Put the front door before every Radicale this process serves; quiet bad-input logs.

    Idempotent. Radicale's ``serve`` takes its application class from its module at start, so
    this runs before the server starts.
    """
    with _installed:
        if _done:
            return
        radicale_server.Application = _GatedApplication  # type: ignore[attr-defined,assignment]  # serve() has no hook
        zone_registry.install()
        logging.getLogger("radicale").addFilter(_OneLineBadInput())
        logging.getLogger().addFilter(_QuietUnknownTzid())
        _done.append(True)
