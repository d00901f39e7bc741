"""A meeting with thousands of recipients does not stall other mailboxes (issue 8 item 3).

The submission is delivered in batches, releasing the store lock between them, so another
mailbox's request issued while the big one is being delivered is answered before it finishes.
No wall-clock bound is asserted: only the order in which the two answers arrive.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from exchange_sim.server import RunningSimulator
from exchange_sim.store import Store
from tests.sim.conftest import logged_in
from tests.sim.davclient import parse_multistatus, propfind
from tests.sim.test_transport import LOG, send_meeting

RECIPIENTS = 5000


@pytest.mark.parametrize("sim", ["basic"], indirect=True)
def test_5000_recipient_meeting_does_not_block_another_mailbox(sim: RunningSimulator) -> None:
    base = sim.base_url
    to = ", ".join(f"guest{n}@partner.example.org" for n in range(RECIPIENTS))
    done: dict[str, float] = {}
    failure: list[BaseException] = []

    def big_submission() -> None:
        try:
            with logged_in(sim, "alice") as alice:
                send_meeting(alice, base, "alice", "all-hands", subject="All hands", to=to)
        except BaseException as error:  # reported by the main thread
            failure.append(error)
        done["big"] = time.monotonic()

    worker = threading.Thread(target=big_submission)
    worker.start()
    # Wait until delivery is under way: the transport log has its first entries.
    with logged_in(sim, "bob") as bob:
        while worker.is_alive() and not _log_started(bob, base):
            time.sleep(0.01)
        assert worker.is_alive(), "the submission finished before the check could run"
        answer = propfind(bob, f"{base}/exchange/bob/Inbox/", ["DAV:displayname"])
        done["other"] = time.monotonic()
        assert answer.status_code == 207
    worker.join(timeout=110)
    assert not failure, failure
    assert done["other"] < done["big"]
    with logged_in(sim, "svc-calbridge") as admin:
        count = parse_multistatus(propfind(admin, base + LOG + "/", ["DAV:objectcount"],
                                           depth="0").content)
    (props,) = count.values()
    assert props[200]["DAV:objectcount"] == RECIPIENTS


def _log_started(session: requests.Session, base: str) -> bool:
    answer = propfind(session, base + LOG + "/", ["DAV:objectcount"], depth="0")
    if answer.status_code != 207:
        return False
    (props,) = parse_multistatus(answer.content).values()
    return int(str(props[200].get("DAV:objectcount", 0))) > 0


def test_unique_names_stay_unique_and_numbered_after_many_clashes() -> None:
    store = Store()
    folder = store.folder_path("alice", "inbox")
    for _ in range(300):
        store.write(store.unique_name(folder, "Same subject"), {})
    names = [item.name for item in store.children(folder)]
    assert len(set(names)) == 300
    assert "Same subject.EML" in names and "Same subject-300.EML" in names
    store.delete(f"{folder}/Same subject.EML")  # the plain name is free again: used first
    assert store.unique_name(folder, "Same subject") == f"{folder}/Same subject.EML"
    assert store.unique_name(folder, "same SUBJECT").endswith("/same SUBJECT.EML")
    store.write(f"{folder}/Same subject.EML", {})
    assert store.unique_name(folder, "same SUBJECT").endswith("/same SUBJECT-301.EML")
