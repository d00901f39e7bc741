"""Issue 10 point 2, over real HTTP: alice answers bob's invitation in her CalDAV client and
bob receives exactly one reply per change; a decline removes the event, as Exchange does.

Expected replies come from what alice did in her client (one per change), counted in bob's
Exchange Inbox through the administrator's WebDAV view."""

from __future__ import annotations

import logging

import pytest

from tests.e2e.answering import (
    REPLIES,
    alice_has,
    answer_in_client,
    invite_alice,
    pull,
    replies_at_bob,
)
from tests.e2e.conftest import Bridge


def test_accept_then_tentative_then_decline_one_reply_each(bridge: Bridge) -> None:
    uid = invite_alice(bridge)
    assert alice_has(bridge, uid)
    expected: list[str] = []
    for partstat in ("ACCEPTED", "TENTATIVE", "DECLINED"):
        answer_in_client(bridge, uid, partstat)
        bridge.sync(full=False)  # the wake-up pass: the change row names the event
        expected.append(REPLIES[partstat])
        assert replies_at_bob(bridge, uid) == sorted(expected)
        bridge.sync()  # a reconcile reads every event again: nothing more
        assert replies_at_bob(bridge, uid) == sorted(expected)
    assert not alice_has(bridge, uid)  # declined: gone from her calendar, as from Exchange
    state = bridge.service.engine.state  # type: ignore[union-attr]
    assert state.pulled("alice", uid) is None and state.open_answers() == []
    assert pull(bridge).written == 0  # the decline does not come back with the next pull
    assert not alice_has(bridge, uid)
    bridge.sync()
    assert replies_at_bob(bridge, uid) == sorted(REPLIES.values())


def test_an_answer_the_pull_has_not_recorded_sends_nothing(bridge: Bridge) -> None:
    uid = invite_alice(bridge)
    bridge.service.engine.state.forget_pulled("alice", uid)  # type: ignore[union-attr]
    answer_in_client(bridge, uid, "ACCEPTED")
    bridge.sync(full=False)
    bridge.sync()
    assert replies_at_bob(bridge, uid) == []


def test_needs_action_again_sends_nothing(bridge: Bridge) -> None:
    uid = invite_alice(bridge)
    answer_in_client(bridge, uid, "ACCEPTED")
    bridge.sync(full=False)
    answer_in_client(bridge, uid, "NEEDS-ACTION")  # OWA has no command for "undecided"
    bridge.sync(full=False)
    assert replies_at_bob(bridge, uid) == [REPLIES["ACCEPTED"]]


def test_request_deleted_in_owa_is_one_log_line_and_a_problem(
        bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    uid = invite_alice(bridge)
    for folder in ("Inbox", "Deleted Items"):  # alice deletes the request in OWA, for good
        for item in bridge.exchange.items("alice", folder):
            if item.get("urn:schemas:calendar:uid") == uid:
                assert bridge.exchange.session.delete(str(item["href"])).status_code in (
                    200, 204)
    answer_in_client(bridge, uid, "ACCEPTED")
    with caplog.at_level(logging.INFO, logger="bridge.answering"):
        bridge.sync(full=False)
        bridge.sync()
    assert replies_at_bob(bridge, uid) == []
    lines = [r.message for r in caplog.records if uid in r.message]
    assert len(lines) == 1 and "not sent" in lines[0] and "Traceback" not in caplog.text
    state = bridge.service.engine.state  # type: ignore[union-attr]
    ((_, problem_uid, reason),) = state.pull_problems("alice")
    assert problem_uid == uid and "accept not sent" in reason
    assert alice_has(bridge, uid)  # nothing else changed
