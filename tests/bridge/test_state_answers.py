"""The answers' journal (``answer_outbox``) in a real SQLite file: the outbox journal's rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.state import JournalConflict, State, StateError


@pytest.fixture
def state(tmp_path: Path) -> State:
    opened = State.open(tmp_path / "bridge.sqlite")
    opened.record_pulled("alice", "u1", exchange_url=None, sequence=3, partstat="NEEDS-ACTION")
    return opened


def test_an_entry_needs_the_pulled_row(state: State) -> None:
    with pytest.raises(StateError):
        state.answer_start("alice", "never-pulled", "request_located")
    assert state.open_answers() == []


def test_started_before_done_after_and_a_crash_leaves_started(state: State) -> None:
    first = state.answer_start("alice", "u1", "request_located", payload={"command": "accept"})
    state.answer_done(first, "0 http://x/req")
    second = state.answer_start("alice", "u1", "answer_sent")  # then the process dies
    reopened = State.open(state.path)
    entries = reopened.answer_journal("alice", "u1")
    assert [(e.step, e.state, e.marker) for e in entries] == [
        ("request_located", "done", "0 http://x/req"), ("answer_sent", "started", None)]
    assert entries[0].payload == {"command": "accept"} and entries[1].id == second
    assert reopened.open_answers("alice") == [("alice", "u1")]


def test_one_answer_at_a_time(state: State) -> None:
    state.answer_start("alice", "u1", "request_located", payload={"command": "accept"})
    with pytest.raises(JournalConflict):
        state.answer_start("alice", "u1", "request_located", payload={"command": "decline"})


def test_answered_records_the_answer_of_that_version_and_clears_the_journal(
        state: State) -> None:
    state.answer_start("alice", "u1", "request_located", payload={"command": "accept"})
    assert state.answered("alice", "u1", sequence=3, partstat="accepted")
    row = state.pulled("alice", "u1")
    assert row is not None and row.partstat == "ACCEPTED"
    assert state.answer_journal("alice", "u1") == []
    # the pull moved the row to a newer version meanwhile: that version keeps its own answer
    state.record_pulled("alice", "u1", exchange_url=None, sequence=4, partstat="NEEDS-ACTION")
    assert not state.answered("alice", "u1", sequence=3, partstat="TENTATIVE")
    assert state.pulled("alice", "u1").partstat == "NEEDS-ACTION"  # type: ignore[union-attr]


def test_forgetting_the_event_drops_its_journal(state: State) -> None:
    state.answer_start("alice", "u1", "request_located", payload={"command": "decline"})
    state.forget_pulled("alice", "u1")
    assert state.open_answers() == [] and state.answer_journal("alice", "u1") == []
