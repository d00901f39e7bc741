"""`bridge.operations` and `bridge.journal`: every declared step table is well formed, a step
that no table declares is refused, and payloads round-trip through the journal, including the
JSON an older calbridge wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given

from bridge import engine, recipes, recovery
from bridge.journal import JournaledRun, UndeclaredStep
from bridge.meeting_codec import encode_meeting
from bridge.operations import (
    OPERATIONS,
    CancelPayload,
    CreatePayload,
    UpdatePayload,
    decode_payload,
)
from bridge.state import JOURNAL_OPS, ItemRow, State
from tests.strategies import meetings

SOURCES = [Path(m.__file__) for m in (engine, recipes, recovery) if m.__file__]


def test_every_journal_op_has_a_table_of_unique_steps() -> None:
    assert set(OPERATIONS) == set(JOURNAL_OPS)
    for op in OPERATIONS.values():
        assert op.steps, op.name
        assert len(set(op.step_names)) == len(op.step_names), op.name
        for step in op.steps:
            assert re.fullmatch(r"[a-z_]+", step.name) and step.request
    # removals end with the appointment gone; every message is sent by a declared step
    assert OPERATIONS["cancel"].step_names[-1] == "appointment_deleted"
    assert OPERATIONS["delete"].step_names == ("appointment_deleted",)
    assert {s for op in OPERATIONS.values() for s in op.sending_steps} == {
        "adopted", "update_sent", "request_sent", "draft_sent", "uninvite_sent", "cancel_sent",
        "occurrences_sent",
    }


def test_every_step_name_in_the_engine_is_declared() -> None:
    """A literal step name in a recipe that no table declares would only fail at run time."""
    declared = {s for op in OPERATIONS.values() for s in op.step_names}
    used: set[str] = set()
    for source in SOURCES:
        text = source.read_text()
        used |= set(re.findall(r'\.step\(\s*"([a-z_]+)"', text))
        used |= set(re.findall(r'\.marker\("([a-z_]+)"\)', text))
        used |= set(re.findall(r'_send_draft\(\s*run,\s*"([a-z_]+)"', text))
    assert used, "no step names found: the pattern is out of date"
    assert used <= declared, used - declared


@pytest.fixture
def state(tmp_path: Path) -> State:
    return State.open(tmp_path / "bridge.sqlite")


@given(meeting=meetings())
def test_payloads_round_trip_through_json(meeting) -> None:  # type: ignore[no-untyped-def]
    for payload in (
        CreatePayload(meeting, "meeting", meeting.sequence + 1, send=True),
        UpdatePayload(meeting, "appointment", 3, send=False, previous=meeting, sent_sequence=2),
        UpdatePayload(meeting, "meeting", 3, send=True, previous=None, sent_sequence=None),
        CancelPayload(meeting, 4, send=True),
        CancelPayload(None, None, send=False),
    ):
        raw = json.loads(json.dumps(payload.encode()))
        assert decode_payload(payload.op.name, raw) == payload


@given(meeting=meetings())
def test_payloads_written_by_the_old_engine_are_read(meeting) -> None:  # type: ignore[no-untyped-def]
    encoded = encode_meeting(meeting)
    # the dicts engine.py built before payloads were typed (an update had no sent_sequence
    # before lost-answer handling; a delete journaled {"previous": None, ...})
    old_update = {"meeting": encoded, "kind": "meeting", "sequence": 2, "send": True,
                  "previous": encoded}
    assert decode_payload("update", old_update) == UpdatePayload(
        meeting, "meeting", 2, True, previous=meeting, sent_sequence=None
    )
    old_delete = {"previous": None, "sequence": None, "send": False}
    assert decode_payload("delete", old_delete) == CancelPayload(None, None, False)
    assert decode_payload("cancel", {"previous": encoded, "sequence": 5, "send": True}) == (
        CancelPayload(meeting, 5, True)
    )


def test_unknown_operation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown"):
        decode_payload("rename", {})


def test_a_step_no_table_declares_is_refused_before_anything_is_journaled(state: State) -> None:
    state.upsert_item(ItemRow("alice", "u1"))
    payload = CancelPayload(None, None, send=False)
    run = JournaledRun(state, "alice", "u1", payload, [])
    did: list[str] = []
    with pytest.raises(UndeclaredStep, match="appointment_deleted"):
        run.step("appointment_delete", "http://x/", lambda: did.append("sent"))
    with pytest.raises(UndeclaredStep):
        run.marker("cancel_sent")  # a step of cancel, not of delete
    assert did == [] and state.open_journal("alice", "u1") == []
    run.step("appointment_deleted", "http://x/", lambda: did.append("sent"))
    (entry,) = state.open_journal("alice", "u1")
    assert (entry.op, entry.step, entry.done, did) == ("delete", "appointment_deleted", True,
                                                       ["sent"])
    assert entry.payload == payload.encode()
