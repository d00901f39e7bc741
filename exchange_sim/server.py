"""Serve a `Simulator` with cheroot's threaded WSGI server, in a background thread.

Rules kept here: binding to port 0 picks a free port, read back from the bound socket before
`serve()` returns; `stop()` closes the listener and waits for the serving thread. The WSGI
environ gets `exchange_sim.connection` (cheroot's connection object), because NTLM authenticates
a connection, not a request; an answer with `Connection: close` really closes it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from cheroot import wsgi

from exchange_sim.app import Simulator
from exchange_sim.store import Store

__all__ = ["RunningServer", "RunningSimulator", "running_simulator", "serve"]

logger = logging.getLogger(__name__)


class _Gateway(wsgi.Gateway_10):
    """WSGI 1.0 gateway that exposes the connection and honours `Connection: close`."""

    # cheroot's stub gives the base Gateway.get_environ a None result; Gateway_10's is the dict.
    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # see the line above
        environ = cast("dict[str, Any]", super().get_environ())
        environ["exchange_sim.connection"] = self.req.conn
        return environ

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Any:
        if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
            self.req.close_connection = True
        return super().start_response(status, headers, exc_info)


class RunningServer:
    """A started cheroot server; `port` is the real port, `stop()` shuts it down."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0,
                 numthreads: int = 10) -> None:
        self._server = wsgi.Server((host, port), app, numthreads=numthreads, timeout=30)
        self._server.gateway = _Gateway
        self._thread: threading.Thread | None = None
        self.host = host

    @property
    def app(self) -> Any:
        return self._server.wsgi_app

    @app.setter
    def app(self, app: Any) -> None:
        self._server.wsgi_app = app

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> RunningServer:
        self._server.prepare()  # binds; with port 0 bind_addr now holds the real port
        self._thread = threading.Thread(target=self._server.serve, name="exchange-sim",
                                        daemon=True)
        self._thread.start()
        logger.info("serving on %s", self.base_url)
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def serve(app: Any, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving `app` in a background thread; returns once the port is bound."""
    return RunningServer(app, host, port).start()


@dataclass
class RunningSimulator:
    base_url: str
    app: Simulator
    store: Store
    server: RunningServer


@contextmanager
def running_simulator(store: Store | None = None, *, auth: str = "fba", host: str = "127.0.0.1",
                      port: int = 0, language: str = "en", **options: Any
                      ) -> Iterator[RunningSimulator]:
    """A simulator on a (free) port for the duration of the block.

    `options` go to `Simulator` (session_lifetime, max_body, ntlm_domain). Without `store`, a
    fresh in-memory store with the demo mailboxes and the given folder `language` is used.
    """
    store = store if store is not None else Store(":memory:", language=language)
    app = Simulator(store, auth=auth, **options)
    server = serve(app, host, port)
    try:
        yield RunningSimulator(server.base_url, app, store, server)
    finally:
        server.stop()
        app.close()
