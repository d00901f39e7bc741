"""Run one sync pass in a separate process that kills itself (os._exit) at a chosen step.

Usage: python -m tests.e2e.crash_sync STATE_DIR CALDAV_PORT SIM_PORT STEP MOMENT
Test-only: the journaled engine must survive a real process death, not just an exception.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from bridge.calendars import CalendarStore
from bridge.config import load_config
from bridge.engine import Engine
from bridge.service import radicale_configuration
from bridge.state import State


def main(argv: list[str]) -> int:
    state_dir, caldav_port, sim_port, step, moment = argv
    config = load_config(
        None, state_dir=Path(state_dir), caldav_port=int(caldav_port), sim_port=int(sim_port)
    )
    config = replace(config, interval=3600, cancel_grace=0.0)

    def die(_uid: str, at_step: str, at_moment: str) -> None:
        if (at_step, at_moment) == (step, moment):
            os._exit(9)  # no cleanup, no flush: a killed process

    state = State.open(config.state_dir / "bridge.sqlite")
    calendars = CalendarStore(radicale_configuration(config, with_server=False))
    Engine(config, state, calendars, step_hook=die).sync()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
