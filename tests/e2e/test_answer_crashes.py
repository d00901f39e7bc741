"""Exactly once for the answer to a pulled invitation (design §4): a pass that dies at any
step boundary of `bridge.operations.ANSWER`, or whose request's answer is lost after Exchange
acted, then normal passes, leave bob with exactly one reply. The cases are generated from the
step table; the expected reply comes from what alice did in her client."""

from __future__ import annotations

import pytest
import requests

from bridge.engine import Crash
from bridge.operations import ANSWER
from tests.e2e.answering import (
    ALICE,
    REPLIES,
    alice_has,
    answer_in_client,
    invite_alice,
    replies_at_bob,
)
from tests.e2e.conftest import Bridge
from tests.e2e.test_exactly_once import crashing_engine
from tests.pull.test_end_to_end import send
from tests.sim.davclient import login_fba
from tests.sim.test_transport import HTTP_START, send_meeting

# The user's change that makes the engine run each step (a step never reached fails: the
# crash hook must fire).
SCENARIO_OF_STEP = {"event_removed": "DECLINED"}
CRASHES = [
    pytest.param(step, SCENARIO_OF_STEP.get(step, partstat), moment,
                 id=f"{step}-{SCENARIO_OF_STEP.get(step, partstat).lower()}-{moment}")
    for step in ANSWER.step_names
    for partstat in (("ACCEPTED", "DECLINED") if step not in SCENARIO_OF_STEP else ("-",))
    for moment in ("before", "sent", "after")
]
# The request each step makes (the simulator's request log shows them).
REQUESTS = {
    "request_located": r"^SEARCH /exchange/alice/$",
    "answer_sent": r"^GET /exchange/alice/.*[?]Cmd=(accept|decline)",
}
NOT_TARGETED = {"event_removed": "a write into Radicale's storage, not an Exchange request; a "
                                 "crash at each of its boundaries is in the crash matrix"}
TIMEOUT = 1.0  # the bridge's read time-out in these tests; a late answer comes after it
LOST = [
    pytest.param(step, partstat, lost, id=f"{step}-{partstat.lower()}-{lost}")
    for step in REQUESTS
    for partstat in ("ACCEPTED", "DECLINED")
    for lost in ("dropped", "late")
]


def check(bridge: Bridge, uid: str, partstat: str) -> None:
    assert replies_at_bob(bridge, uid) == [REPLIES[partstat]]
    state = bridge.service.engine.state  # type: ignore[union-attr]
    assert state.open_answers() == []
    row = state.pulled("alice", uid)
    if partstat == "DECLINED":
        assert row is None and not alice_has(bridge, uid)
    else:
        assert row is not None and row.partstat == partstat and alice_has(bridge, uid)


def test_every_step_is_in_the_crash_matrix_and_loses_its_answer_somewhere() -> None:
    assert {c.values[0] for c in CRASHES} == set(ANSWER.step_names)
    assert set(REQUESTS) | set(NOT_TARGETED) == set(ANSWER.step_names)
    assert not set(REQUESTS) & set(NOT_TARGETED)


@pytest.mark.parametrize(("step", "partstat", "moment"), CRASHES)
def test_crash_at_every_answer_step_boundary(bridge: Bridge, step: str, partstat: str,
                                             moment: str) -> None:
    uid = invite_alice(bridge)
    answer_in_client(bridge, uid, partstat)
    with pytest.raises(Crash):  # the scenario must reach the step: the hook must fire
        crashing_engine(bridge, step, moment).sync(full=False)
    state = bridge.service.engine.state  # type: ignore[union-attr]
    assert [e.step for e in state.answer_journal("alice", uid)][-1] == step
    bridge.sync_later()  # a restart later: past the settle time
    check(bridge, uid, partstat)
    bridge.sync()
    assert replies_at_bob(bridge, uid) == [REPLIES[partstat]]


@pytest.mark.parametrize(("step", "partstat", "lost"), LOST)
def test_answer_lost_after_exchange_acted(bridge_with, step: str, partstat: str,  # type: ignore[no-untyped-def]
                                          lost: str) -> None:
    bridge: Bridge = bridge_with(timeout=TIMEOUT)
    uid = invite_alice(bridge)
    answer_in_client(bridge, uid, partstat)
    if lost == "dropped":
        bridge.sim.faults.add(REQUESTS[step], drop=True, after=True, count=1)
    else:
        bridge.sim.faults.add(REQUESTS[step], delay=TIMEOUT + 1.0, after=True, count=1)
    carried_out = len(bridge.sim.log)
    bridge.sync(full=False)
    hit = [e for e in bridge.sim.log.entries()[carried_out:] if e.status == 0]
    assert lost == "late" or hit, "the fault never fired: the request list is out of date"
    bridge.sim.faults.clear()
    bridge.sync_later()
    check(bridge, uid, partstat)


def test_an_accept_lost_then_an_organizers_update_pulled_still_means_one_reply(
        bridge_with) -> None:  # type: ignore[no-untyped-def]
    """The accept reached Exchange but its answer was lost; before the retry, bob's update
    (same time: the answer is kept) is pulled by the service's pull. Recovery finds the reply
    in Sent Items and records it against the version the row names: bob has one Resp.Pos."""
    bridge: Bridge = bridge_with(timeout=TIMEOUT)
    bridge.calendar("alice")
    with requests.Session() as bob:
        assert bridge.service.sim_url is not None
        login_fba(bob, bridge.service.sim_url, "bob", "demo")
        _, uid = send_meeting(bob, bridge.service.sim_url, "bob", "lost-then-updated",
                              subject="Roadmap", to=ALICE)
    assert bridge.service.pull_now() is not None
    answer_in_client(bridge, uid, "ACCEPTED")
    bridge.sim.faults.add(REQUESTS["answer_sent"], drop=True, after=True, count=1)
    bridge.sync(full=False)
    bridge.sim.faults.clear()
    assert replies_at_bob(bridge, uid) == [REPLIES["ACCEPTED"]]  # carried out, answer lost
    send(bridge, uid, "updated", "IPM.Schedule.Meeting.Request", 1, HTTP_START)
    assert bridge.service.pull_now() is not None
    bridge.sync_later()
    bridge.sync()
    assert bridge.service.pull_now() is not None
    bridge.sync()
    assert replies_at_bob(bridge, uid) == [REPLIES["ACCEPTED"]]
    engine = bridge.service.engine
    assert engine is not None
    row = engine.state.pulled("alice", uid)
    assert row is not None and row.partstat == "ACCEPTED"


def test_a_cancelled_invitation_is_never_answered(bridge_with) -> None:  # type: ignore[no-untyped-def]
    bridge: Bridge = bridge_with(timeout=TIMEOUT)
    bridge.calendar("alice")
    with requests.Session() as bob:
        assert bridge.service.sim_url is not None
        login_fba(bob, bridge.service.sim_url, "bob", "demo")
        _, uid = send_meeting(bob, bridge.service.sim_url, "bob", "withdrawn",
                              subject="Roadmap", to=ALICE)
    assert bridge.service.pull_now() is not None
    send(bridge, uid, "withdrawn-cancel", "IPM.Schedule.Meeting.Canceled", 1, HTTP_START)
    assert bridge.service.pull_now() is not None
    event = bridge.calendar("alice").event_by_uid(uid)
    assert str(event.icalendar_component["STATUS"]) == "CANCELLED"
    answer_in_client(bridge, uid, "ACCEPTED")
    bridge.sync()
    bridge.sync_later()
    assert replies_at_bob(bridge, uid) == []
