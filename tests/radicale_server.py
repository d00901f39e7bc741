"""A real Radicale server on a free 127.0.0.1 port, in a thread, for tests.

Rule kept: tests talk to Radicale the way clients do, over a real socket, with the storage
plugin loaded exactly as production loads it (``[storage] type = radicale_plugin``). The server
runs ``radicale.server.serve(configuration, shutdown_socket)``; leaving the context closes the
shutdown socket, and ``serve`` returns once in-flight requests are finished.

The port is picked as Radicale's own ``test_server.py`` does (bind a probe socket to port 0,
read the port, close it). Should another process take the port in between, the server thread
dies with "No servers started" and the start is retried on a new port.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from radicale import config as radicale_config
from radicale import server as radicale_server

from tests.ports import free_port

__all__ = ["start_radicale"]

_START_ATTEMPTS = 3
_READY_TIMEOUT_S = 10.0


def _free_port() -> int:
    return free_port()


def _merge(base: dict[str, dict[str, Any]],
           extra: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    merged = {section: dict(options) for section, options in base.items()}
    for section, options in (extra or {}).items():
        merged.setdefault(section, {}).update(options)
    return merged


class _ServerThread(threading.Thread):
    def __init__(self, configuration: radicale_config.Configuration,
                 shutdown: socket.socket) -> None:
        super().__init__(name="radicale-test-server", daemon=True)
        self._configuration = configuration
        self._shutdown = shutdown
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            radicale_server.serve(self._configuration, self._shutdown)
        except BaseException as e:  # reported to the test thread
            self.error = e


def _wait_ready(base_url: str, thread: _ServerThread) -> bool:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return False
        try:
            requests.request("OPTIONS", base_url + "/", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.02)
            continue
        return thread.is_alive()
    raise TimeoutError(f"Radicale did not answer on {base_url} within {_READY_TIMEOUT_S} s")


@contextmanager
def start_radicale(
    tmp_path: Path,
    users: Mapping[str, str],
    extra_config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Iterator[tuple[str, radicale_config.Configuration]]:
    """Run Radicale with the calbridge plugin; yield ``(base_url, configuration)``.

    ``users`` maps user names to plain-text passwords (htpasswd, ``plain`` encryption).
    Collections live in ``tmp_path/collections``, so the plugin's default journal is
    ``tmp_path/bridge.sqlite`` (``radicale_plugin.changes_db_path(configuration)``).
    ``extra_config`` is merged per section over the defaults below, e.g.
    ``{"storage": {"calbridge_db": "state/other.sqlite"}}``. The yielded configuration is the one
    the server was started with (without the server address), e.g. for ``radicale.storage.load``.
    """
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("".join(f"{user}:{password}\n" for user, password in users.items()),
                        encoding="utf-8")
    base: dict[str, dict[str, Any]] = {
        "auth": {"type": "htpasswd", "htpasswd_filename": str(htpasswd),
                 "htpasswd_encryption": "plain", "delay": "0"},
        "rights": {"type": "owner_only"},
        "storage": {"type": "radicale_plugin",
                    "filesystem_folder": str(tmp_path / "collections"),
                    "_filesystem_fsync": "False"},
        "server": {"delay_on_error": "0"},
        "web": {"type": "none"},
    }
    configuration = radicale_config.load()
    configuration.update(_merge(base, extra_config), "test", privileged=True)

    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        server_configuration = configuration.copy()
        server_configuration.update({"server": {"hosts": f"127.0.0.1:{port}"}}, "test",
                                    privileged=True)
        shutdown_here, shutdown_there = socket.socketpair()
        thread = _ServerThread(server_configuration, shutdown_there)
        thread.start()
        base_url = f"http://127.0.0.1:{port}"
        try:
            ready = _wait_ready(base_url, thread)
        except BaseException:
            shutdown_here.close()
            thread.join(timeout=10)
            raise
        if not ready:
            shutdown_here.close()
            thread.join(timeout=10)
            if isinstance(thread.error, RuntimeError) and "No servers" in str(thread.error):
                continue  # the probed port was taken meanwhile
            raise RuntimeError("Radicale failed to start") from thread.error
        try:
            yield base_url, configuration
        finally:
            shutdown_here.close()
            thread.join(timeout=10)
            if thread.is_alive():
                raise RuntimeError("Radicale did not shut down within 10 s")
        return
    raise RuntimeError(f"Radicale could not bind a free port in {_START_ATTEMPTS} attempts")
