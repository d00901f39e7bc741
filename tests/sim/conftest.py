"""Fixtures for the simulator tests: a real cheroot server on a free port, fresh store per test.

One server per auth mode is started once per session (stopping a cheroot server costs ~0.5 s);
each test swaps a new `Simulator` with a new in-memory store into it, so tests share nothing.
Parametrize the mode with `@pytest.mark.parametrize("sim", ["basic"], indirect=True)` and pass
store/Simulator options with `@pytest.mark.sim_options(language="de", max_body=1024)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from exchange_sim.app import Simulator
from exchange_sim.server import RunningServer, RunningSimulator, serve
from exchange_sim.store import Store
from tests.sim.davclient import login_fba


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sim_options(**kw): language and Simulator options")


@pytest.fixture(scope="session")
def sim_servers() -> Iterator[dict[str, RunningServer]]:
    servers: dict[str, RunningServer] = {}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def sim(request: pytest.FixtureRequest, sim_servers: dict[str, RunningServer]
        ) -> Iterator[RunningSimulator]:
    """A running simulator (auth `fba` unless parametrized) with a fresh demo store."""
    mode = getattr(request, "param", "fba")
    marker = request.node.get_closest_marker("sim_options")
    options = dict(marker.kwargs) if marker else {}
    store = Store(":memory:", language=options.pop("language", "en"))
    app = Simulator(store, auth=mode, **options)
    server = sim_servers.get(mode)
    if server is None:
        server = sim_servers[mode] = serve(app)
    server.app = app
    yield RunningSimulator(server.base_url, app, store, server)
    app.close()


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def logged_in(sim: RunningSimulator, user: str = "alice") -> requests.Session:
    """A new session logged in as `user` in the simulator's mode (password `demo`)."""
    session = requests.Session()
    mode = sim.app.auth.mode
    if mode == "fba":
        login_fba(session, sim.base_url, user, "demo")
    elif mode == "basic":
        session.auth = (user, "demo")
    else:
        from requests_ntlm import HttpNtlmAuth

        session.auth = HttpNtlmAuth(f"EXAMPLE\\{user}", "demo")
    return session


@pytest.fixture
def alice(sim: RunningSimulator) -> Iterator[requests.Session]:
    with logged_in(sim, "alice") as session:
        yield session
