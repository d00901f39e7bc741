"""End-to-end fixtures: a real calbridge (Radicale + plugin + engine + embedded simulator) on
free loopback ports, a real CalDAV client (the `caldav` library) as the user's calendar app, and
an administrator's WebDAV view of the Exchange mailboxes (tests/sim/davclient.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import caldav
import pytest
import requests

from bridge.config import Config, load_config
from bridge.engine import Engine
from bridge.service import Service
from exchange_sim.app import Simulator
from tests.ports import free_port
from tests.sim.davclient import items_in, login_fba

MESSAGE_CLASS = "http://schemas.microsoft.com/exchange/outlookmessageclass"
UID = "urn:schemas:calendar:uid"
SEQUENCE = "urn:schemas:calendar:sequence"
DTSTART = "urn:schemas:calendar:dtstart"
DTEND = "urn:schemas:calendar:dtend"
LISTING = (
    "urn:schemas:httpmail:subject",
    MESSAGE_CLASS,
    UID,
    SEQUENCE,
    DTSTART,
    DTEND,
    "urn:schemas:calendar:location",
    "urn:schemas:calendar:alldayevent",
    "urn:schemas:calendar:rrule",
    "urn:schemas:calendar:exdate",
    "urn:schemas:calendar:busystatus",
    "urn:schemas:mailheader:to",
    "urn:schemas:mailheader:cc",
    "urn:schemas:mailheader:bcc",
)
REQUEST = "IPM.Schedule.Meeting.Request"
CANCELED = "IPM.Schedule.Meeting.Canceled"
ACCEPTED = "IPM.Schedule.Meeting.Resp.Pos"




def make_config(state_dir: Path, **changes: object) -> Config:
    """The embedded defaults on free ports; no interval pass and no cancellation grace (tests
    that want the production grace pass `cancel_grace=...`)."""
    config = load_config(
        None, state_dir=state_dir, caldav_port=free_port(), sim_port=free_port()
    )
    settings: dict[str, object] = {"interval": 3600, "cancel_grace": 0.0, **changes}
    return replace(config, **settings)  # type: ignore[arg-type]


@dataclass
class Exchange:
    """What an Exchange administrator sees (the service account over WebDAV)."""

    base_url: str
    session: requests.Session

    def relogin(self) -> None:
        """After the simulator expired all sessions (the administrator's too)."""
        self.session.cookies.clear()
        login_fba(self.session, self.base_url, "svc-calbridge", "demo")

    def items(self, alias: str, folder: str) -> list[dict[str, object]]:
        return items_in(self.session, f"{self.base_url}/exchange/{alias}/{folder}/", LISTING)

    def inbox(self, alias: str, message_class: str | None = None) -> list[dict[str, object]]:
        found = self.items(alias, "Inbox")
        if message_class is None:
            return found
        return [i for i in found if i.get(MESSAGE_CLASS) == message_class]

    def calendar(self, alias: str) -> list[dict[str, object]]:
        return self.items(alias, "Calendar")

    def wait_for(
        self, probe: Callable[[], object], timeout: float = 15.0, interval: float = 0.05
    ) -> object:
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("condition not met in time")
            time.sleep(interval)


@dataclass
class Bridge:
    service: Service
    exchange: Exchange

    @property
    def config(self) -> Config:
        return self.service.config

    def calendar(self, user: str = "alice", name: str = "calendar") -> caldav.Calendar:
        client = caldav.DAVClient(
            url=f"{self.service.caldav_url}{user}/", username=user, password="demo"
        )
        principal = client.principal()
        for calendar in principal.calendars():
            if calendar.url.path.rstrip("/").endswith("/" + name):
                return calendar
        return principal.make_calendar(name=name, cal_id=name)

    def sync(self, **kwargs: object) -> list:  # type: ignore[type-arg]
        assert self.service.engine is not None
        return self.service.engine.sync(**kwargs)  # type: ignore[arg-type]

    def sync_later(self, hours: float = 2.0, passes: int = 2) -> None:
        """Passes of a new engine whose clock is `hours` ahead: as after a restart a little
        later, past the settle time of interrupted requests and past every back-off."""
        engine = self.service.engine
        assert engine is not None
        later = datetime.now(UTC) + timedelta(hours=hours)
        fresh = Engine(self.config, engine.state, engine.calendars, clock=lambda: later)
        try:
            for _ in range(passes):
                fresh.sync()
        finally:
            fresh.close()

    @property
    def sim(self) -> Simulator:
        """The embedded simulator's WSGI app (request log, faults, session expiry)."""
        app: Simulator = self.service.simulator.app
        return app


@contextmanager
def running_bridge(config: Config, *, autosync: bool = False) -> Iterator[Bridge]:
    """A started calbridge for `config`, with the administrator's view of its simulator."""
    service = Service(config, autosync=autosync)
    service.start()
    try:
        admin = requests.Session()
        assert service.sim_url is not None
        login_fba(admin, service.sim_url, "svc-calbridge", "demo")
        yield Bridge(service, Exchange(service.sim_url, admin))
    finally:
        service.stop()


def _start(state_dir: Path, autosync: bool, **changes: object) -> Iterator[Bridge]:
    with running_bridge(make_config(state_dir, **changes), autosync=autosync) as bridge:
        yield bridge


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    """calbridge with the sync loop off: each test calls `bridge.sync()` when it wants."""
    yield from _start(tmp_path / "state", autosync=False)


@pytest.fixture
def live_bridge(tmp_path: Path) -> Iterator[Bridge]:
    """calbridge as `calbridge run` starts it: interval loop plus immediate wake-ups, and the
    default cancellation grace period."""
    yield from _start(tmp_path / "state", autosync=True, cancel_grace=3.0)


@pytest.fixture
def bridge_with(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Factory: bridge_with(timeout=1.0, ...) -> a Bridge (sync loop off) with config changes."""
    started: list[Service] = []

    def start(**changes: object) -> Bridge:
        service = Service(make_config(tmp_path / f"state{len(started)}", **changes), autosync=False)
        service.start()
        started.append(service)
        admin = requests.Session()
        assert service.sim_url is not None
        login_fba(admin, service.sim_url, "svc-calbridge", "demo")
        return Bridge(service, Exchange(service.sim_url, admin))

    yield start
    for service in started:
        service.stop()
