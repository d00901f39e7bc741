"""One journaled answer to a pulled invitation: the outbox journal's rules, on answer_outbox.

Rule kept here (design §4, the same as `bridge.journal.JournaledRun`'s): `step()` journals a
side effect as started, performs it, and marks it done; only the steps of
`bridge.operations.ANSWER` can run (`UndeclaredStep`). Replaying after a crash skips the steps
found done; a step found started is first checked against the server (its `check`), once the
settle time has passed (`OutcomeUnknown` before), and repeated only when the check says it did
not happen; steps without a check are idempotent.

Why not `JournaledRun` itself: it is typed over the push's journal (``outbox`` rows whose op
is a push operation, the push's payloads and `JournalEntry`); making it generic would widen
four types the push relies on, for a run of three steps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.journal import OutcomeUnknown, StepHook, UndeclaredStep
from bridge.operations import ANSWER
from bridge.pull.answers import AnswerPayload
from bridge.state import State
from bridge.state.answers import AnswerEntry

__all__ = ["AnswerRun"]


class AnswerRun:
    """The journaled steps of one answer on one pulled event."""

    def __init__(self, state: State, mailbox: str, uid: str, payload: AnswerPayload,
                 entries: list[AnswerEntry], hook: StepHook | None, *,
                 clock: Callable[[], datetime], settle: timedelta) -> None:
        self.state, self.mailbox, self.uid, self.payload = state, mailbox, uid, payload
        self.hook, self.clock, self.settle = hook, clock, settle
        self.entries = {e.step: e for e in entries}
        self.first = not entries

    def step(self, name: str, target: str, action: Callable[[], object], *,
             check: Callable[[AnswerEntry], bool] | None = None) -> str:
        """Run `action` once, journaled; returns the step's marker (a str `action` returns)."""
        if name not in ANSWER:
            raise UndeclaredStep(f"answer declares no step {name!r} "
                                 f"(its steps: {', '.join(ANSWER.step_names)})")
        entry = self.entries.get(name)
        if entry is not None and entry.done:
            return entry.marker or ""
        if entry is not None and check is not None:
            if self.clock() - entry.created_at < self.settle:
                raise OutcomeUnknown(f"{name} of {self.uid} may still be in progress on the "
                                     f"server; its outcome is checked after {self.settle}",
                                     entry.created_at + self.settle)
            if check(entry):
                self.state.answer_done(entry.id)
                return entry.marker or ""
        if entry is not None:
            entry_id = entry.id
        else:
            entry_id = self.state.answer_start(
                self.mailbox, self.uid, name, target_url=target,
                payload=self.payload.encode() if self.first else None)
            self.first = False
        self._hook(name, "before")
        outcome = action()
        self._hook(name, "sent")  # done on the server, not yet journaled
        marker = outcome if isinstance(outcome, str) else None
        self.entries[name] = self.state.answer_done(entry_id, marker)
        self._hook(name, "after")
        return marker or ""

    def _hook(self, step: str, moment: str) -> None:
        if self.hook is not None:
            self.hook(self.uid, step, moment)
