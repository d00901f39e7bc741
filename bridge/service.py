"""`calbridge run`: Radicale with the plugin, the sync loop, and (embedded) the simulator.

Rules kept here: this is the launcher, the one place (with cli.py) allowed to start both the
bridge and `exchange_sim`; everything runs on loopback by default; the sync loop runs one pass at
a time (APScheduler `max_instances=1`, `coalesce=True`), and a change recorded by the plugin
pulls the next pass forward after a short debounce instead of starting a second one.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from radicale import config as radicale_config
from radicale import server as radicale_server

import radicale_plugin
from bridge import gate
from bridge.calendars import CalendarStore
from bridge.config import Config
from bridge.engine import Engine
from bridge.state import State, StateDamaged

__all__ = ["Service", "radicale_configuration", "write_htpasswd"]

logger = logging.getLogger(__name__)

DEBOUNCE = timedelta(milliseconds=300)


def write_htpasswd(config: Config) -> Path:
    """The CalDAV users' htpasswd file (SHA-512 crypt hashes), rewritten at every start.

    5,000 rounds (glibc's default) rather than passlib's 656,000: Radicale verifies the hash on
    every request, and a CalDAV client sends many; the file is readable by its owner only.
    """
    from passlib.hash import sha512_crypt  # libpass, Radicale's own dependency for htpasswd

    scheme = sha512_crypt.using(rounds=5000)
    path = config.state_dir / "htpasswd"
    lines = [f"{u.name}:{scheme.hash(u.caldav_password.reveal())}\n" for u in config.users]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("".join(lines))
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC
    return path


def radicale_configuration(config: Config, *, with_server: bool = True) -> Any:
    """Radicale's configuration for calbridge: htpasswd, owner-only rights, our storage."""
    configuration = radicale_config.load()
    values: dict[str, dict[str, str]] = {
        "auth": {
            "type": "htpasswd",
            "htpasswd_filename": str(config.state_dir / "htpasswd"),
            "htpasswd_encryption": "autodetect",
        },
        "rights": {"type": "owner_only"},
        "storage": {
            "type": "radicale_plugin",
            "filesystem_folder": str(config.state_dir / "collections"),
        },
        "web": {"type": "none"},
        "logging": {"mask_passwords": "True"},
    }
    if with_server:
        values["server"] = {"hosts": f"{config.caldav_host}:{config.caldav_port}"}
    configuration.update(values, "calbridge", privileged=True)
    return configuration


class Service:
    """Everything `calbridge run` starts: `start()`, `wait()`, then `stop()`."""

    def __init__(self, config: Config, *, autosync: bool = True) -> None:
        self.config = config
        # autosync=False: no loop and no wake-ups (tests drive `engine.sync()` themselves).
        self.autosync = autosync
        self._stack = ExitStack()
        self._stopped = threading.Event()
        self._stop_requested = threading.Event()
        self._dirty = threading.Event()
        self._scheduler: BackgroundScheduler | None = None
        self._radicale_thread: threading.Thread | None = None
        self._shutdown_socket: socket.socket | None = None
        self.engine: Engine | None = None
        self.sim_url: str | None = None
        self.simulator: Any = None  # exchange_sim.server.RunningSimulator when embedded
        self.damage: StateDamaged | None = None  # set once the state file is found damaged

    @property
    def caldav_url(self) -> str:
        return f"http://{self.config.caldav_host}:{self.config.caldav_port}/"

    def start(self) -> None:
        """Start every part; if one fails, stop the ones already running and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        config.state_dir.mkdir(parents=True, exist_ok=True)
        # Meeting contents, the htpasswd hashes and the simulator's mailboxes live here.
        config.state_dir.chmod(0o700)
        if config.embedded:
            self._start_simulator()
        write_htpasswd(config)
        configuration = radicale_configuration(config)
        state = self._open_state()
        if state is not None:
            self._stack.callback(state.close)
            calendars = CalendarStore(radicale_configuration(config, with_server=False))
            self.engine = Engine(config, state, calendars)
            self._stack.callback(self.engine.close)
        self._start_radicale(configuration)
        if self.autosync and self.engine is not None:
            self._start_scheduler()
            radicale_plugin.set_wakeup(self.wake)
            self._stack.callback(radicale_plugin.set_wakeup, None)
        logger.info("calbridge is running: CalDAV on %s", self.caldav_url)

    def _open_state(self) -> State | None:
        """The state, or None when its file is damaged: CalDAV still starts, sync stays paused."""
        try:
            return State.open(self.config.state_dir / "bridge.sqlite")
        except StateDamaged as damage:
            self._pause_sync(damage)
            return None

    def _pause_sync(self, damage: StateDamaged) -> None:
        """Stop syncing for good (until a restart with a sound state file); say so once."""
        if self.damage is None:
            self.damage = damage
            logger.error("sync is paused, CalDAV keeps serving: %s", damage)

    def _schedule_deferred(self) -> None:
        """A cancellation waiting out its grace period gets a pass when it becomes due."""
        due = self.engine.wake_at if self.engine is not None else None
        scheduler = self._scheduler
        if due is None or scheduler is None or self._stopped.is_set():
            return
        job = scheduler.get_job("sync")
        if job is not None and (job.next_run_time is None or job.next_run_time > due):
            job.modify(next_run_time=due + DEBOUNCE)

    def wake(self) -> None:
        """Pull the next sync pass forward (called by the plugin under Radicale's lock)."""
        self._dirty.set()  # a pass running right now runs once more (see _tick)
        scheduler = self._scheduler
        if scheduler is None or self._stopped.is_set():
            return
        try:
            job = scheduler.get_job("sync")
            soon = datetime.now(job.next_run_time.tzinfo if job and job.next_run_time else None)
            soon = soon + DEBOUNCE
            if job is not None and (job.next_run_time is None or job.next_run_time > soon):
                job.modify(next_run_time=soon)
        except Exception:  # a wake-up must never fail the client's request
            logger.debug("wake-up failed", exc_info=True)

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
        if self._shutdown_socket is not None:
            self._shutdown_socket.close()
        if self._radicale_thread is not None:
            self._radicale_thread.join(timeout=10)
        self._stack.close()
        logger.info("calbridge stopped")

    def request_stop(self) -> None:
        """Ask `wait()` to return (safe from a signal handler)."""
        self._stop_requested.set()

    def wait(self) -> None:
        self._stop_requested.wait()

    def install_signal_handlers(self) -> None:
        """SIGINT and SIGTERM end `wait()`; the caller then calls `stop()` (clean shutdown)."""

        def _handle(signum: int, _frame: object) -> None:
            logger.info("signal %d received, shutting down", signum)
            self.request_stop()

        signal.signal(signal.SIGINT, _handle)
        signal.signal(signal.SIGTERM, _handle)

    # -- parts -------------------------------------------------------------------------------

    def _start_simulator(self) -> None:
        from exchange_sim.server import running_simulator
        from exchange_sim.store import Store

        store = Store(
            self.config.state_dir / "exchange_sim.sqlite", language=self.config.sim_language
        )
        running = self._stack.enter_context(
            running_simulator(
                store,
                auth=self.config.auth,
                host=self.config.sim_host,
                port=self.config.sim_port,
            )
        )
        self.sim_url = running.base_url
        self.simulator = running
        if self.config.sim_port == 0:
            # Tests ask for a free port; the engine must talk to the one actually bound.
            port = int(running.base_url.rsplit(":", 1)[1].strip("/"))
            self.config = replace(self.config, sim_port=port)

    def _start_radicale(self, configuration: Any) -> None:
        gate.install()  # hostile bodies are refused before Radicale parses them (bridge/gate.py)
        ours, theirs = socket.socketpair()
        self._shutdown_socket = ours
        failure: list[BaseException] = []

        def _serve() -> None:
            try:
                radicale_server.serve(configuration, theirs)
            except BaseException as error:  # reported below
                failure.append(error)
                logger.error("Radicale stopped: %s", error)

        thread = threading.Thread(target=_serve, name="radicale", daemon=True)
        thread.start()
        self._radicale_thread = thread
        _wait_for_port(self.config.caldav_host, self.config.caldav_port, thread)
        if failure:
            raise RuntimeError(f"Radicale could not start: {failure[0]}")

    def _start_scheduler(self) -> None:
        assert self.engine is not None
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(
            self._tick,
            "interval",
            seconds=max(1.0, self.config.interval),
            id="sync",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now().astimezone(),
        )
        scheduler.start()
        self._scheduler = scheduler

    def _tick(self) -> None:
        assert self.engine is not None
        while not self._stopped.is_set() and self.damage is None:
            self._dirty.clear()
            try:
                self.engine.sync()
            except StateDamaged:
                pass  # reported once, below
            except Exception:
                logger.exception("sync pass failed")
            if self.engine.state.damage is not None:
                self._pause_sync(self.engine.state.damage)
                return
            self._schedule_deferred()
            # A change saved during the pass: the scheduler skipped its wake-up (one instance
            # at a time), so go again now rather than at the next interval.
            if not self._dirty.is_set():
                break


def _wait_for_port(host: str, port: int, thread: threading.Thread, timeout: float = 15.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not thread.is_alive():
            return
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"CalDAV server did not start on {host}:{port}")
