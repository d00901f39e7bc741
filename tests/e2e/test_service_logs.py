"""What `calbridge run` writes to its log: no typed-in password, no line repeated per tick."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e import ics
from tests.e2e.conftest import REQUEST, Bridge, make_config, running_bridge


def test_a_password_typed_as_the_user_name_is_not_logged(
    bridge: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    typed = "Correct-Horse-Battery-9"  # the password, typed into the user-name field
    answer = requests.request("PROPFIND", f"{bridge.service.caldav_url}alice/",
                              auth=(typed, "demo"), headers={"Depth": "0"}, timeout=30)
    assert answer.status_code == 401
    failed = [r.getMessage() for r in caplog.records if "Failed login attempt" in r.getMessage()]
    assert len(failed) == 1  # the failed login is still reported
    assert typed not in caplog.text


@pytest.fixture
def every_second(tmp_path: Path) -> Iterator[Bridge]:
    """calbridge with a 1 s sync interval, so that a slow pass outlasts several ticks."""
    with running_bridge(make_config(tmp_path / "state", interval=1.0), autosync=True) as bridge:
        yield bridge


def test_a_long_pass_is_reported_once_not_on_every_tick(
    every_second: Bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    bridge = every_second
    calendar = bridge.calendar("alice")
    bridge.sim.faults.add(r"^PROPPATCH /exchange/alice/Calendar/", delay=4.5, count=1)
    calendar.save_event(ics.meeting())
    time.sleep(1.0)  # the pass is now waiting for the slow PROPPATCH
    for n in range(3):  # a user keeps saving meanwhile: each save wakes the service
        calendar.save_event(ics.meeting(f"meanwhile-{n}"))
        time.sleep(0.5)
    bridge.exchange.wait_for(lambda: len(bridge.exchange.inbox("bob", REQUEST)) == 4, timeout=20)
    about_the_long_pass = [
        r.getMessage() for r in caplog.records
        if "maximum number of running instances" in r.getMessage()
        or "longer than the" in r.getMessage()
    ]
    assert len(about_the_long_pass) == 1, about_the_long_pass
