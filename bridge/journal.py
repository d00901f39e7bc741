"""One journaled Exchange operation: every side effect is written down before and after.

Rule kept here (design §4): `step()` journals a side effect as started, performs it, and marks it
done. Only the steps declared in the operation's table (`bridge.operations`) can be run: any
other name is a bug in the recipe (`UndeclaredStep`), never a silent new journal entry.
Replaying an operation after a crash skips the steps found done, and a step found started but
not done is first checked against the server (its marker read back) and only repeated when the
check says it did not happen; steps without a check must be idempotent. The check waits the
settle time from the step's latest request (`touch` before each request of a step that sends
several), since a request in flight when the process died may still be carried out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bridge.operations import Operation, Payload
from bridge.state import JournalEntry, JournalOp, State

__all__ = ["JournaledRun", "OutcomeUnknown", "StepHook", "UndeclaredStep"]


class UndeclaredStep(LookupError):
    """A recipe ran a step its operation's table does not declare: a bug in calbridge (h11's
    LocalProtocolError: the caller misused the API), never a condition of the server."""

class OutcomeUnknown(Exception):
    """A step was started but its outcome cannot be read back yet (it may be in flight);
    ``until`` is when it can."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


# Test seam: called as hook(uid, step, moment) with moment "before" (journaled, not sent),
# "sent" (done on the server, not yet journaled) and "after" (journaled as done).
StepHook = Callable[[str, str, str], None]


class JournaledRun:
    """One journaled operation on one item: each step is journaled before and after."""

    def __init__(
        self,
        state: State,
        mailbox: str,
        uid: str,
        payload: Payload,
        entries: list[JournalEntry],
        hook: StepHook | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        settle: timedelta = timedelta(0),
    ) -> None:
        self.state, self.mailbox, self.uid = state, mailbox, uid
        self.operation = payload.op
        self.hook = hook
        self.clock = clock or (lambda: datetime.now(UTC))
        self.settle = settle
        self.payload = payload
        self.entries = {e.step: e for e in entries}
        self.first = not entries
        self._running: tuple[str, int] | None = None  # the step whose action runs now

    def marker(self, step: str) -> str | None:
        self._declared(step)
        entry = self.entries.get(step)
        return entry.marker if entry is not None else None

    def step(
        self,
        name: str,
        target: str,
        action: Callable[[], object],
        *,
        marker: str | None = None,
        check: Callable[[JournalEntry], object] | None = None,
    ) -> str:
        """Run `action` once, journaled; returns the step's marker (e.g. a draft URL).

        A step found done in the journal is skipped. A step found started (the process died or
        the request failed mid-way) is first `check`ed against the server: a truthy answer means
        it took effect (a string answer is its marker); without a check the step is idempotent
        and simply repeated.
        """
        self._declared(name)
        state = self.state
        entry = self.entries.get(name)
        if entry is not None and entry.done:
            return entry.marker or ""
        if entry is not None and check is not None:
            if self.clock() - entry.created_at < self.settle:
                raise OutcomeUnknown(
                    f"{name} of {self.uid} may still be in progress on the server; "
                    f"its outcome is checked after {self.settle}",
                    entry.created_at + self.settle,
                )
            found = check(entry)
            if found:
                result = found if isinstance(found, str) else entry.marker
                state.journal_done(entry.id, result)
                return result or ""
        if entry is not None:
            entry_id = entry.id
        else:
            entry_id = state.journal_start(
                self.mailbox,
                self.uid,
                _outbox_op(self.operation),
                name,
                target_url=target,
                marker=marker,
                payload=self.payload.encode() if self.first else None,
            )
            self.first = False
        self._running = (name, entry_id)
        self._hook(name, "before")
        outcome = action()
        self._running = None
        # "sent": the request took effect but the journal does not know yet (the worst moment
        # for a crash, which the crash tests exercise).
        self._hook(name, "sent")
        result = outcome if isinstance(outcome, str) else marker
        state.journal_done(entry_id, result)
        self._hook(name, "after")
        return result or ""

    def touch(self, name: str) -> None:
        """Inside the action of step `name`, before each request after its first: the settle
        time of an interrupted step counts from its latest request (`State.journal_touch`)."""
        if self._running is not None and self._running[0] == name:
            self.state.journal_touch(self._running[1])

    def _declared(self, step: str) -> None:
        if step not in self.operation:
            raise UndeclaredStep(
                f"{self.operation.name} declares no step {step!r} "
                f"(its steps: {', '.join(self.operation.step_names)})"
            )

    def _hook(self, step: str, moment: str) -> None:
        if self.hook is not None:
            self.hook(self.uid, step, moment)


def _outbox_op(operation: Operation) -> JournalOp:
    name = operation.name
    if name == "answer":  # journaled in answer_outbox by its own run (bridge.answer_run)
        raise TypeError("the answer operation is not journaled in the outbox")
    return name
