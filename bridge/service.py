"""`calbridge run`: Radicale with the plugin, the sync loop, and (embedded) the simulator.

Size: over 400 lines because it starts and stops the parts in an order that matters (state,
simulator, Radicale, directory, scheduler, provisioning) and owns their shared lifecycle; what
each part does lives in its own module. Moving the provisioning steps out is the next split.

Rules kept here: this is the launcher, the one place (with cli.py) allowed to start both the
bridge and `exchange_sim`; everything runs on loopback by default; the sync loop runs one pass at
a time (`_tick` holds `_running`; a second caller only marks the pass to go again, and ticks
skipped by a long pass are logged once). A change recorded by the plugin starts a pass at once
when none runs (no debounce: a lone change waits for nothing); changes saved during a pass are
coalesced into one more pass right after it. Passes read only what changed (`bridge.worklist`);
the full reconcile runs at start and every `sync.reconcile_interval` seconds.
A person let in by `caldav.allow` (Exchange logins) becomes a user with no `[[user]]` table
(`bridge.provisioning`): the login only records them and wakes the loop (it runs in Radicale's
request thread); the next tick, before its pass, creates their default calendar, stores them in
the state (so a restart keeps them) and adds them to the engine and the outbox.
The pull (Exchange -> CalDAV, `bridge.pull.job`) is a job of its own every `sync.pull_interval`
seconds over every user, beside the push passes; `pull_now()` is that job's body.
Every user gets the default calendar at start, so a client that cannot create one has one to
subscribe to. Stopping never waits for Exchange: a pass still running after `STOP_GRACE` is left
to the journal (`stop()` returns False and the process exits), and the next start finishes it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from radicale import config as radicale_config
from radicale import server as radicale_server

import radicale_plugin
from bridge import gate, instance, logfilters, provisioning, statedir
from bridge.basic_header import htpasswd_auth
from bridge.calendars import CalendarStore
from bridge.config import Config, UserConfig
from bridge.directory import Directory
from bridge.engine import Engine
from bridge.exchange_auth import ExchangeLogin, LoginIdentity
from bridge.gal import GAL_OWNER
from bridge.pull.job import PullJob, RunReport
from bridge.state import State, StateDamaged

__all__ = [
    "Service",
    "StartError",
    "exchange_login",
    "radicale_configuration",
    "write_htpasswd",
]

logger = logging.getLogger(__name__)

# A deferred item's pass runs this long after it is due (the due check is `now >= due`).
DEFERRED_MARGIN = timedelta(milliseconds=50)
STOP_GRACE = 2.0  # seconds a running pass gets to finish when the service stops


class StartError(RuntimeError):
    """A part could not start (e.g. its port is taken); the message says which."""


def write_htpasswd(config: Config) -> Path:
    """The CalDAV users' htpasswd file (SHA-512 crypt hashes), rewritten at every start.

    5,000 rounds (glibc's default) rather than passlib's 656,000: Radicale verifies the hash on
    every request, and a CalDAV client sends many; the file is readable by its owner only. When
    Exchange checks the CalDAV logins (`caldav.auth = "exchange"`), no file is kept: one left by
    an earlier htpasswd run is removed, so no stale hash outlives the switch.
    """
    path = config.state_dir / "htpasswd"
    if config.caldav_auth != "htpasswd":
        path.unlink(missing_ok=True)
        return path
    from passlib.hash import sha512_crypt  # libpass, Radicale's own dependency for htpasswd

    scheme = sha512_crypt.using(rounds=5000)
    lines = [
        f"{u.name}:{scheme.hash(u.caldav_password.reveal())}\n"
        for u in config.users
        if u.caldav_password is not None
    ]
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("".join(lines))
    path.chmod(0o600)  # an older file keeps its mode through O_TRUNC
    return path


def exchange_login(
    config: Config, on_newcomer: Callable[[str, LoginIdentity], None] | None = None
) -> ExchangeLogin:
    """What the Exchange auth plugin needs to know (`caldav.auth = "exchange"`)."""
    return ExchangeLogin(
        server_url=config.server_url(),
        auth=config.auth,  # type: ignore[arg-type]  # validated by load_config
        users=tuple((u.name, u.mailbox) for u in config.users),
        allow=config.caldav_allow,
        verify=config.verify,
        insecure=config.insecure,
        timeout=config.timeout,
        on_newcomer=on_newcomer,
    )


def _auth_section(
    config: Config, on_newcomer: Callable[[str, LoginIdentity], None] | None
) -> dict[str, Any]:
    if config.caldav_auth == "exchange":
        return {"type": exchange_login(config, on_newcomer).factory()}
    return {
        "type": htpasswd_auth(),  # Radicale's htpasswd, minus the 500 on a malformed header
        "htpasswd_filename": str(config.state_dir / "htpasswd"),
        "htpasswd_encryption": "autodetect",
    }


def radicale_configuration(
    config: Config,
    *,
    with_server: bool = True,
    on_newcomer: Callable[[str, LoginIdentity], None] | None = None,
) -> Any:
    """Radicale's configuration for calbridge: htpasswd or Exchange logins, owner-only rights,
    our storage."""
    configuration = radicale_config.load()
    values: dict[str, dict[str, Any]] = {
        "auth": _auth_section(config, on_newcomer),
        "rights": {"type": "bridge.rights"},  # owner-only + the read-only GAL (bridge/rights.py)
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
        self._running = threading.Lock()  # held by the one `_tick` that runs passes
        self._reconcile_due = 0.0  # time.monotonic() of the next full reconcile (0: at start)
        self._idle = threading.Event()  # no sync pass running
        self._idle.set()
        self._pass_lock = threading.Lock()  # a pass starts only while the service is not stopping
        self._skip_noted = False  # the current pass has said that it outlasted a tick
        self._clean_stop = True
        self._scheduler: BackgroundScheduler | None = None
        self._radicale_thread: threading.Thread | None = None
        self._shutdown_socket: socket.socket | None = None
        self.engine: Engine | None = None
        self.sim_url: str | None = None
        self.simulator: Any = None  # exchange_sim.server.RunningSimulator when embedded
        self.damage: StateDamaged | None = None  # set once the state file is found damaged
        self.directory: Directory | None = None  # GAL address book + scheduling outbox
        self.caldav_configuration: Any = None  # Radicale's configuration, once started
        self.calendars: CalendarStore | None = None
        self._newcomers: dict[str, UserConfig] = {}  # let in, not yet provisioned
        self._newcomers_lock = threading.Lock()
        self.puller: PullJob | None = None  # Exchange -> CalDAV (bridge/pull/job.py)
        self._pull_idle = threading.Event()  # no pull run going on
        self._pull_idle.set()

    @property
    def caldav_url(self) -> str:
        return f"http://{self.config.caldav_host}:{self.config.caldav_port}/"

    def calendar_url(self, user: str) -> str:
        """The URL to subscribe to: the user's default calendar (or their principal)."""
        name = self.config.default_calendar
        return f"{self.caldav_url}{user}/{name}/" if name else f"{self.caldav_url}{user}/"

    def start(self) -> None:
        """Start every part; if one fails, stop the ones already running and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        config = self.config
        # Meeting contents, the htpasswd hashes and the simulator's mailboxes live here.
        statedir.prepare(config.state_dir)
        logfilters.install()
        if config.embedded:
            self._start_simulator()
        write_htpasswd(self.config)
        # self.config: the embedded simulator's real port is known only now.
        newcomer = self._note_newcomer if provisioning.provisions(config) else None
        configuration = radicale_configuration(self.config, on_newcomer=newcomer)
        self.caldav_configuration = configuration  # tests read the auth plugin's state from it
        state = self._open_state()
        calendars = CalendarStore(radicale_configuration(config, with_server=False))
        self.calendars = calendars
        if config.default_calendar:
            for user in config.users:  # no-op when it exists: a restart creates no duplicate
                calendars.ensure_calendar(user.name, config.default_calendar)
        if state is not None:
            self._stack.callback(state.close)
            self.engine = Engine(config, state, calendars)
            self._stack.callback(self.engine.close)
            self.puller = PullJob(self.engine, radicale_configuration(config, with_server=False),
                                  config.default_calendar, stopping=self._stopped.is_set)
            self.engine.before_push = self.puller.before_push
        self._start_directory(configuration)
        self._restore_provisioned()
        self._start_radicale(configuration)
        if self.autosync and self.engine is not None:
            self._start_scheduler()
            radicale_plugin.set_wakeup(self.wake)
            self._schedule_gal_refresh()
            self._schedule_pull()
        instance.write(
            config.state_dir, instance.Instance(os.getpid(), self.caldav_url, self.sim_url)
        )
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
        """A deferred item (a cancellation in its grace period) gets a pass when it is due."""
        due = self.engine.wake_at if self.engine is not None else None
        scheduler = self._scheduler
        if due is None or scheduler is None or self._stopped.is_set():
            return
        try:  # the job only wakes: it never runs a pass itself, so it never overlaps one
            scheduler.add_job(
                self.wake, "date", run_date=due + DEFERRED_MARGIN, id="deferred",
                replace_existing=True, misfire_grace_time=None,
            )
        except Exception:  # the scheduler is shutting down
            logger.debug("deferred wake-up not scheduled", exc_info=True)

    def wake(self) -> None:
        """Start a pass now (called by the plugin under Radicale's lock: it only signals).

        No debounce: the first change to a quiet calendar goes out at once. During a pass the
        change only marks it dirty, and that pass goes once more (see `_tick`)."""
        self._dirty.set()
        scheduler = self._scheduler
        if scheduler is None or self._stopped.is_set() or not self._idle.is_set():
            return  # during a pass, a job now would only be a skipped tick
        try:  # a one-shot job of its own: never counted against the interval job's instance
            scheduler.add_job(self._tick, misfire_grace_time=None)
        except Exception:  # a wake-up must never fail the client's request
            logger.debug("wake-up failed", exc_info=True)

    def stop(self) -> bool:
        """Stop every part within about `STOP_GRACE` seconds, whatever Exchange does.

        Returns False when a sync pass was still running at the deadline: it is left running
        (with the state and the simulator it uses, closed when it ends) and the caller should
        end the process. That is safe because every Exchange side effect is journaled before
        and after (design §4): the next start reads back what the interrupted step did before
        repeating anything.
        """
        with self._pass_lock:  # after this, no pass starts (see _tick)
            if self._stopped.is_set():
                return self._clean_stop
            self._stopped.set()
        deadline = time.monotonic() + STOP_GRACE
        if self._scheduler is not None:
            radicale_plugin.set_wakeup(None)
            self._scheduler.shutdown(wait=False)
        if self.engine is not None:
            self.engine.close()  # a running pass's next request opens a fresh connection
        if self._shutdown_socket is not None:
            self._shutdown_socket.close()
        if self._radicale_thread is not None:
            self._radicale_thread.join(timeout=max(0.5, deadline - time.monotonic()))
        instance.remove(self.config.state_dir, os.getpid())
        self._clean_stop = self._idle.wait(max(0.0, deadline - time.monotonic()))
        self._clean_stop &= self._pull_idle.wait(max(0.0, deadline - time.monotonic()))
        if not self._clean_stop:
            logger.warning(
                "a sync pass is still waiting for Exchange; stopping without it "
                "(the next start finishes it from the journal)"
            )
            # In a process that goes on (tests, embedding), the rest closes after the pass.
            threading.Thread(target=self._close_when_idle, name="close", daemon=True).start()
            return False
        self._stack.close()
        logger.info("calbridge stopped")
        return True

    def _close_when_idle(self) -> None:
        self._idle.wait()
        self._pull_idle.wait()
        self._stack.close()

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
        try:
            running = self._stack.enter_context(
                running_simulator(
                    store,
                    auth=self.config.auth,
                    host=self.config.sim_host,
                    port=self.config.sim_port,
                )
            )
        except OSError as error:  # the port is taken, or the address is not ours
            where = f"{self.config.sim_host}:{self.config.sim_port}"
            raise StartError(
                f"the Exchange simulator could not listen on {where}: {error.strerror or error}"
            ) from None
        self.sim_url = running.base_url
        self.simulator = running
        if self.config.sim_port == 0:
            # Tests ask for a free port; the engine must talk to the one actually bound.
            port = int(running.base_url.rsplit(":", 1)[1].strip("/"))
            self.config = replace(self.config, sim_port=port)

    def _start_directory(self, configuration: Any) -> None:
        """The GAL address book and the scheduling outbox (bridge/directory.py)."""
        directory = Directory(self.config, radicale_configuration(self.config, with_server=False))
        self._stack.callback(directory.close)
        gate.add_layer(configuration, directory.outbox_layer)
        self._stack.callback(gate.remove_layer, configuration)
        self.directory = directory

    def _schedule_gal_refresh(self) -> None:
        """The GAL refresh: its own job on the service's scheduler, first run soon after start."""
        if self._scheduler is None or self.directory is None or self.config.gal_refresh <= 0:
            return
        self._scheduler.add_job(
            self.directory.refresh,
            "interval",
            seconds=max(60.0, self.config.gal_refresh),
            id="gal",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now().astimezone() + timedelta(seconds=5),
        )

    def _schedule_pull(self) -> None:
        """The pull job (Exchange -> CalDAV): its own job on the service's scheduler, every
        `sync.pull_interval` seconds, the first run at start (an initial pull of a large
        mailbox runs there, beside the push passes)."""
        if self._scheduler is None or self.puller is None or self.config.pull_interval <= 0:
            return
        self._scheduler.add_job(
            self.pull_now,
            "interval",
            seconds=max(1.0, self.config.pull_interval),
            id="pull",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now().astimezone(),
        )

    def pull_now(self) -> RunReport | None:
        """One pull run over every user (what the scheduled job runs; tests call it to skip
        the wait). None when nothing ran: stopping, paused by a damaged state, no engine."""
        puller = self.puller
        with self._pass_lock:  # after stop() began, no run starts
            if puller is None or self._stopped.is_set() or self.damage is not None:
                return None
            self._pull_idle.clear()
        try:
            return puller.run()
        except Exception:  # a bug: logged once with its traceback; the next run tries again
            logger.exception("pull run failed")
            return None
        finally:
            self._pull_idle.set()
            if self.engine is not None and self.engine.state.damage is not None:
                self._pause_sync(self.engine.state.damage)

    def _start_radicale(self, configuration: Any) -> None:
        # Another server on the port would answer the readiness probe below in Radicale's place.
        _ensure_free(self.config.caldav_host, self.config.caldav_port)
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
            raise StartError(f"the CalDAV server could not start: {failure[0]}")

    def _start_scheduler(self) -> None:
        assert self.engine is not None
        scheduler = BackgroundScheduler(timezone="UTC", logger=logfilters.scheduler_logger())
        scheduler.add_listener(self._note_skipped_tick, EVENT_JOB_MAX_INSTANCES)
        scheduler.add_job(
            self._interval,
            "interval",
            seconds=max(1.0, self.config.interval),
            id="sync",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now().astimezone(),
        )
        scheduler.start()
        self._scheduler = scheduler

    def _interval(self) -> None:
        """The interval's pass; a tick that finds a pass (started by a wake-up) still running
        says so once per pass, as a tick the scheduler skips does."""
        if self._running.locked():
            self._note_skipped_tick(None)
        self._tick()

    def _note_skipped_tick(self, event: JobSubmissionEvent | None) -> None:
        if not self._skip_noted:  # once per long pass, not once per tick
            self._skip_noted = True
            logger.warning(
                "the sync pass is taking longer than the %.0f s interval; "
                "the next pass starts when it ends",
                self.config.interval,
            )

    def _tick(self) -> None:
        """The interval job and every wake-up: run passes unless one is running already."""
        while True:
            if not self._running.acquire(blocking=False):
                self._dirty.set()  # the pass running now goes once more
                return
            try:
                self._passes()
            finally:
                self._running.release()
            # A wake-up that found the lock taken after the last check is ours to serve.
            if not self._dirty.is_set() or self._stopped.is_set() or self.damage is not None:
                return

    def _passes(self) -> None:
        assert self.engine is not None
        while True:
            with self._pass_lock:
                if self._stopped.is_set() or self.damage is not None:
                    return
                self._idle.clear()
            self._dirty.clear()
            self._skip_noted = False
            try:
                self.provision_pending()
            except Exception:  # a bug: logged once with its traceback; the pass still runs
                logger.exception("provisioning new users failed")
            full = time.monotonic() >= self._reconcile_due
            try:
                self.engine.sync(full=full)
                if full:
                    self._reconcile_due = time.monotonic() + self.config.reconcile_interval
            except StateDamaged:
                pass  # reported once, below
            except Exception:
                logger.exception("sync pass failed")
            finally:
                self._idle.set()
            if self.engine.state.damage is not None:
                self._pause_sync(self.engine.state.damage)
                return
            self._schedule_deferred()
            # A change saved during the pass only marked it dirty: go again now rather than
            # at the next interval.
            if not self._dirty.is_set():
                break


    # -- people let in by caldav.allow (bridge/provisioning.py) -------------------------------

    def _note_newcomer(self, principal: str, identity: LoginIdentity) -> None:
        """The login plugin's hook, in Radicale's request thread: record and signal only."""
        user = provisioning.user_for(self.config, principal, identity.alias, identity.email)
        if user is None:
            logger.warning(
                "%s cannot be provisioned: Exchange's GAL gave no address and the configured "
                "users share no domain to derive one; their calendars are not synced",
                principal,
            )
            return
        with self._newcomers_lock:
            self._newcomers.setdefault(principal, user)
        self.wake()

    def provision_pending(self) -> list[str]:
        """Make the newcomers noted since the last call users (outside Radicale's request
        thread: the loop calls it before each pass); returns the names provisioned."""
        with self._newcomers_lock:
            pending, self._newcomers = self._newcomers, {}
        done: list[str] = []
        if self.engine is None:
            return done
        try:
            for user in list(pending.values()):
                self.engine.state.add_provisioned_user(user.name, user.mailbox, user.email)
                self._add_user(user)
                del pending[user.name]
                done.append(user.name)
                logger.info("provisioned %s (mailbox %s, %s)", user.name, user.mailbox, user.email)
        finally:  # the login plugin notes a newcomer once per process: never drop one
            with self._newcomers_lock:
                for name, user in pending.items():
                    self._newcomers.setdefault(name, user)
        return done

    def _restore_provisioned(self) -> None:
        """At start: the people provisioned before, while caldav.allow still admits them."""
        if self.engine is None or not provisioning.provisions(self.config):
            return
        for row in self.engine.state.provisioned_users():
            if not provisioning.still_allowed(self.config, row.name, row.mailbox, (GAL_OWNER,)):
                logger.info("%s is no longer in caldav.allow: not synced", row.name)
                continue
            user = provisioning.user_for(self.config, row.name, row.mailbox, row.email)
            if user is not None:
                self._add_user(user)

    def _add_user(self, user: UserConfig) -> None:
        assert self.engine is not None
        if self.calendars is not None and self.config.default_calendar:
            self.calendars.ensure_calendar(user.name, self.config.default_calendar)
        self.engine.add_user(user)
        if self.directory is not None:
            self.directory.desk.add_user(user)


def _ensure_free(host: str, port: int) -> None:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as error:
        raise StartError(
            f"the CalDAV server cannot listen on {host}:{port}: {error.strerror or error}"
        ) from None


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
    raise StartError(f"the CalDAV server did not start on {host}:{port}")
