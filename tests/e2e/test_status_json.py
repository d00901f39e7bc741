"""`calbridge status --json` (issue 11 item 5): the facts of `status` as one JSON document,
read by a monitoring system from a real `calbridge` process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.damage import DAMAGES, fill
from tests.e2e import ics
from tests.e2e.conftest import Bridge
from tests.e2e.processes import cli

TOP_KEYS = {
    "format", "state_dir", "state", "running", "sync", "damage", "holds", "mailboxes",
    "provisioned", "conflicts",
}
MAILBOX_KEYS = {"mailbox", "counts", "last_run", "errors", "hold", "skipped", "pull"}
COUNT_KEYS = {"synced", "pending", "failed", "skipped", "cancelled"}


def status_json(state_dir: Path) -> tuple[int, dict[str, Any]]:
    done = cli("status", "--json", "--state-dir", str(state_dir))
    assert "Traceback" not in done.output
    return done.code, json.loads(done.stdout)


def by_mailbox(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["mailbox"]: entry for entry in document["mailboxes"]}


def test_counts_last_run_and_the_running_instance(bridge: Bridge) -> None:
    bridge.calendar("alice").save_event(ics.meeting("monitored-1"))
    bridge.sync()
    code, document = status_json(bridge.config.state_dir)
    assert code == 0
    assert set(document) == TOP_KEYS
    assert document["format"] == 1 and document["state"] == "ok"
    assert document["running"]["pid"] == os.getpid()  # the bridge fixture runs in this process
    assert document["running"]["caldav_url"] == bridge.service.caldav_url
    assert document["sync"] == {"paused": False, "reason": None}
    assert document["damage"] is None and document["holds"] == 0
    mailboxes = by_mailbox(document)
    assert {"alice", "bob", "carol", "dave"} <= set(mailboxes)
    alice = mailboxes["alice"]
    assert set(alice) == MAILBOX_KEYS and set(alice["counts"]) == COUNT_KEYS
    assert alice["counts"] == {"synced": 1, "pending": 0, "failed": 0, "skipped": 0,
                               "cancelled": 0}
    assert alice["last_run"]["finished_at"].endswith("Z")
    assert alice["errors"] == [] and alice["hold"] is None and alice["skipped"] == []
    assert mailboxes["dave"]["counts"]["synced"] == 0


def test_a_held_mass_cancellation_is_reported(bridge: Bridge) -> None:
    calendar = bridge.calendar("alice")
    events = [calendar.save_event(ics.meeting(f"held-{n}")) for n in range(4)]
    bridge.sync()
    for event in events:
        event.delete()
    bridge.sync()
    code, document = status_json(bridge.config.state_dir)
    assert code == 0 and document["holds"] == 1
    hold = by_mailbox(document)["alice"]["hold"]
    assert hold["count"] == 4 and sorted(hold["uids"]) == [f"held-{n}" for n in range(4)]
    assert "--allow-mass-cancel" in hold["reason"] and hold["since"].endswith("Z")


def test_a_damaged_state_is_a_document_with_sync_paused(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    fill(state_dir / "bridge.sqlite")
    DAMAGES["corrupt header"](state_dir / "bridge.sqlite")
    code, document = status_json(state_dir)
    assert code == 1
    assert document["state"] == "damaged"
    assert document["sync"] == {"paused": True, "reason": "the state database is damaged"}
    assert document["damage"]["path"] == str(state_dir / "bridge.sqlite")
    assert document["damage"]["problems"] and document["damage"]["recovery"]
    assert [m["last_run"] for m in document["mailboxes"]] == [None] * 4


def test_before_the_first_run_every_configured_mailbox_is_listed(tmp_path: Path) -> None:
    code, document = status_json(tmp_path / "fresh")
    assert code == 0 and document["state"] == "missing" and document["running"] is None
    assert [m["mailbox"] for m in document["mailboxes"]] == ["alice", "bob", "carol", "dave"]
