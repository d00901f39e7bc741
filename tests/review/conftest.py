"""Fixtures for the review tests: the e2e bridge, with configuration changes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bridge.service import Service
from tests.e2e.conftest import Bridge, Exchange, bridge, live_bridge, make_config  # noqa: F401
from tests.sim.davclient import login_fba


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
