"""`calbridge run`'s sync loop: a lone change gets its own pass straight away, a burst saved while
a pass runs is coalesced into exactly one more pass, and the reconcile runs at start.

Behaviour, not times: passes are counted in the `runs` table (a pass writes a row only for a
mailbox it visits), and a pass is held open with the engine's step hook while the client saves.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import replace

from bridge.service import Service
from tests.e2e import ics
from tests.e2e.conftest import REQUEST, UID, Bridge, free_port


def _runs(bridge: Bridge, mailbox: str = "alice") -> int:
    with sqlite3.connect(bridge.config.state_dir / "bridge.sqlite") as db:
        (count,) = db.execute("SELECT count(*) FROM runs WHERE mailbox = ?", (mailbox,)).fetchone()
    return int(count)


def _pending(bridge: Bridge) -> int:
    with sqlite3.connect(bridge.config.state_dir / "bridge.sqlite") as db:
        (count,) = db.execute("SELECT count(*) FROM changes").fetchone()
    return int(count)


def _arrived(bridge: Bridge, *uids: str) -> bool:
    found = {i.get(UID) for i in bridge.exchange.inbox("bob", REQUEST)}
    return set(uids) <= found


def test_a_burst_during_a_pass_is_one_more_pass_and_a_lone_change_is_its_own(
    live_bridge: Bridge,
) -> None:
    exchange = live_bridge.exchange
    calendar = live_bridge.calendar("alice")
    calendar.save_event(ics.meeting("warm-up"))
    exchange.wait_for(lambda: _arrived(live_bridge, "warm-up") and _pending(live_bridge) == 0)

    entered, release = threading.Event(), threading.Event()

    def hold_first(uid: str, step: str, moment: str) -> None:
        if uid == "lone-1" and moment == "before" and not entered.is_set():
            entered.set()
            release.wait(timeout=30)

    engine = live_bridge.service.engine
    assert engine is not None
    engine._step_hook = hold_first  # the engine's test seam (bridge.journal.StepHook)
    try:
        before = _runs(live_bridge)
        calendar.save_event(ics.meeting("lone-1"))
        assert entered.wait(timeout=15), "a lone change must start a pass by itself"
        for number in (1, 2, 3):  # a burst, saved while that pass is held open
            calendar.save_event(ics.meeting(f"burst-{number}"))
        release.set()
        exchange.wait_for(
            lambda: _arrived(live_bridge, "lone-1", "burst-1", "burst-2", "burst-3")
            and _pending(live_bridge) == 0
        )
        assert _runs(live_bridge) - before == 2  # lone-1's pass, then one for the burst

        calendar.save_event(ics.meeting("lone-2"))  # the loop is quiet again
        exchange.wait_for(lambda: _arrived(live_bridge, "lone-2") and _pending(live_bridge) == 0)
        assert _runs(live_bridge) - before == 3
    finally:
        release.set()
        engine._step_hook = None
    requests = [i.get(UID) for i in exchange.inbox("bob", REQUEST)]
    assert sorted(requests) == sorted(
        ["warm-up", "lone-1", "burst-1", "burst-2", "burst-3", "lone-2"]
    )  # each exactly once


def test_the_service_reconciles_at_start(bridge: Bridge) -> None:
    """A file edited while calbridge was stopped (no journal row, folder unchanged) is synced
    by the reconcile the service runs when it starts."""
    bridge.calendar("alice").save_event(ics.meeting("before-stop"))
    bridge.sync()
    state_dir = bridge.config.state_dir
    bridge.service.stop()
    folder = state_dir / "collections" / "collection-root" / "alice" / "calendar"
    # In place (the folder does not move): only a full read can find it.
    (path,) = folder.glob("*.ics")
    path.write_text(path.read_text().replace("SUMMARY:Planning", "SUMMARY:Restored"))

    # Same state and simulator port (the admin's URL stays valid), a fresh CalDAV port.
    service = Service(replace(bridge.config, caldav_port=free_port()), autosync=True)
    service.start()
    try:
        exchange = bridge.exchange
        exchange.relogin()  # the simulator's sessions did not survive the restart
        exchange.wait_for(
            lambda: any(
                "Restored" in str(i.get("urn:schemas:httpmail:subject"))
                for i in exchange.inbox("bob", REQUEST)
            )
        )
    finally:
        service.stop()
