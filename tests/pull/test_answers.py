"""Which OWA command answers a PARTSTAT change, once per change, and the recovery decision."""

from __future__ import annotations

import pytest

from bridge.operations import Step
from bridge.pull import answers


@pytest.mark.parametrize(("old", "new", "command"), [
    (None, "ACCEPTED", "accept"),
    ("NEEDS-ACTION", "TENTATIVE", "tentative"),
    ("NEEDS-ACTION", "DECLINED", "decline"),
    ("ACCEPTED", "TENTATIVE", "tentative"),
    ("TENTATIVE", "declined", "decline"),
    ("ACCEPTED", "ACCEPTED", None),
    ("ACCEPTED", "NEEDS-ACTION", None),
    ("NEEDS-ACTION", "DELEGATED", None),
    ("NEEDS-ACTION", None, None),
])
def test_command_for_each_change(old: str | None, new: str | None, command: str | None) -> None:
    assert answers.decide(old, new).command == command


def test_a_change_has_one_key_whatever_the_case_and_a_new_version_another() -> None:
    assert answers.answer_key("u", None, 1, "accepted") == answers.answer_key("u", None, 1,
                                                                              "ACCEPTED")
    assert answers.answer_key("u", None, 1, "ACCEPTED") != answers.answer_key("u", None, 2,
                                                                              "ACCEPTED")
    assert answers.answer_key("u", "20261210T140000Z", 1, "ACCEPTED") != answers.answer_key(
        "u", None, 1, "ACCEPTED")


def test_step_table_has_exactly_one_sending_step() -> None:
    assert all(isinstance(s, Step) for s in answers.ANSWER_STEPS)
    assert [s.name for s in answers.ANSWER_STEPS if s.sends] == ["answer_sent"]
    names = [s.name for s in answers.ANSWER_STEPS]
    assert names.index("request_located") < names.index("answer_sent")


@pytest.mark.parametrize(("last", "before", "now", "send"), [
    (None, None, 0, True),                 # crashed before anything
    ("request_located", None, 0, True),    # (no marker: nothing to compare)
    ("request_located", 2, 2, True),       # the GET never reached Exchange: send it
    ("request_located", 2, 3, False),      # Sent Items grew: it went out, never twice
    ("answer_sent", 2, 3, False),
    ("event_removed", 2, 3, False),
])
def test_recovery_at_every_step_boundary(last: str | None, before: int | None, now: int,
                                         send: bool) -> None:
    assert answers.recover(last, before, now).send is send
