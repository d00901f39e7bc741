"""The pull direction's tables (bridge/state/pull.py) on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.state import State


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State.open(tmp_path / "state.db")


def test_a_folders_memory_is_replaced_per_folder_and_survives_a_reopen(
        state: State, tmp_path: Path) -> None:
    assert state.pull_tags("alice") is None
    state.save_pull_folder("alice", "calendar", "c1", {"u1": ("e1", "UID-1"), "u2": ("e2", None)})
    state.save_pull_folder("alice", "inbox", "i1", {"m1": ("e9", "UID-9")})
    state.save_pull_folder("alice", "calendar", "c2", {"u2": ("e3", "UID-2")})
    state.close()
    again = State.open(tmp_path / "state.db")
    assert again.pull_tags("alice") == ("c2", "i1")
    assert again.pull_seen("alice", "calendar") == {"u2": ("e3", "UID-2")}
    assert again.pull_seen("alice", "inbox") == {"m1": ("e9", "UID-9")}
    assert again.pull_seen("bob", "calendar") == {}


def test_a_pulled_event_keeps_the_answer_exchange_holds(state: State) -> None:
    state.record_pulled("alice", "M-1", exchange_url="http://x/1", sequence=0,
                        partstat="NEEDS-ACTION")
    state.record_pulled("alice", "M-1", exchange_url="http://x/1", sequence=2,
                        partstat="ACCEPTED")
    row = state.pulled("alice", "M-1")
    assert row is not None and (row.sequence, row.partstat) == (2, "ACCEPTED")
    assert [r.uid for r in state.pulled_rows("alice")] == ["M-1"]
    state.forget_pulled("alice", "M-1")
    assert state.pulled("alice", "M-1") is None


def test_problems_keep_the_latest_reason_and_conflicts_keep_the_losing_text(
        state: State) -> None:
    state.note_pull_problem("alice", "X", "MIME body too large")
    state.note_pull_problem("alice", "X", "response from someone never invited")
    assert state.pull_problems("alice") == [("alice", "X", "response from someone never invited")]
    state.clear_pull_problem("alice", "X")
    assert state.pull_problems() == []
    state.record_conflict("alice", "M", kept="caldav", losing_text="BEGIN:VCALENDAR...",
                          reason="both sides changed")
    (conflict,) = state.conflicts("alice")
    assert (conflict.kept, conflict.losing_text) == ("caldav", "BEGIN:VCALENDAR...")


def test_the_last_pass_and_its_error_and_the_pull_status(state: State) -> None:
    state.save_pull_folder("alice", "calendar", "c1", {})
    assert state.pull_passes() == {}  # a folder saved is not a pass finished
    state.note_pull_pass("alice", error="Exchange answered 503 (password=hunter2)")
    state.note_pull_pass("bob")
    passes = state.pull_passes()
    assert passes["bob"].error is None and passes["bob"].pulled_at is not None
    assert passes["alice"].error is not None and "hunter2" not in passes["alice"].error
    state.note_pull_pass("alice")
    assert state.pull_passes()["alice"].error is None
    assert state.pull_tags("alice") == ("c1", None)  # the tags are untouched


def test_a_rooms_decline_is_kept_until_the_room_accepts_or_the_meeting_goes(
        state: State) -> None:
    state.note_room_answer("alice", "M-1", "Room-101@example.com", "DECLINED", summary="Roadmap")
    state.note_room_answer("alice", "M-2", "room-102@example.com", "DECLINED", summary="Review")
    assert {(d.uid, d.room, d.summary) for d in state.room_declines("alice")} == {
        ("M-1", "room-101@example.com", "Roadmap"), ("M-2", "room-102@example.com", "Review")}
    state.note_room_answer("alice", "M-1", "room-101@example.com", "ACCEPTED", summary="Roadmap")
    state.forget_room_declines("alice", "M-2")
    assert state.room_declines() == []
    state.note_room_answer("alice", "M-3", "room-101@example.com", "DECLINED", summary="Sync")
    state.note_room_answer("alice", "M-4", "room-101@example.com", "DECLINED", summary="Gone")
    state.record_pulled("alice", "M-3", exchange_url=None, sequence=0, partstat=None)
    state.note_pull_problem("alice", "X", "unreadable MIME")
    status = state.pull_status()
    # M-4 is neither a meeting the bridge sent nor one it pulled (any more): not shown.
    assert [d.uid for d in status["alice"].room_declines] == ["M-3"]
    assert status["alice"].problems == (("X", "unreadable MIME"),) and status["alice"].last is None
