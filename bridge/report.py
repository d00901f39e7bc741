"""What a sync pass did, as typed values (vdirsyncer's outcomes as classes).

Rule kept here: callers ask an outcome's type, never parse its text. `str()` of an outcome
(``"failed: HTTP 413 ..."``) is for people only (the `calbridge sync` table, logs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

__all__ = [
    "Deferred",
    "Done",
    "Failed",
    "Held",
    "MailboxReport",
    "Outcome",
    "Paused",
    "Planned",
    "ReportLine",
    "Skipped",
]


@dataclass(frozen=True)
class _Outcome:
    reason: str
    kind: ClassVar[str] = ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"


@dataclass(frozen=True)
class Done(_Outcome):
    """The action reached Exchange (or an interrupted one was finished)."""

    kind: ClassVar[str] = "done"


@dataclass(frozen=True)
class Failed(_Outcome):
    """The action failed. ``terminal``: Exchange refused it for good (a permanent 4xx); it is
    not retried until the event changes or `calbridge retry`. Otherwise it backs off."""

    terminal: bool = False
    kind: ClassVar[str] = "failed"


@dataclass(frozen=True)
class Deferred(_Outcome):
    """Not now: due at ``until`` (a cancellation in its grace period)."""

    until: datetime | None = None
    kind: ClassVar[str] = "deferred"


@dataclass(frozen=True)
class Skipped(_Outcome):
    """Recorded, nothing sent (the event cannot be read or expressed)."""

    kind: ClassVar[str] = "skipped"


@dataclass(frozen=True)
class Held(_Outcome):
    """Cancellations held by the mass-cancellation guard."""

    kind: ClassVar[str] = "held"


@dataclass(frozen=True)
class Planned(_Outcome):
    """Dry run: what would be done."""

    kind: ClassVar[str] = "planned"


@dataclass(frozen=True)
class Paused(_Outcome):
    """Exchange as a whole does not answer: the mailbox waits, no item spends an attempt."""

    kind: ClassVar[str] = "paused"


Outcome = Done | Failed | Deferred | Skipped | Held | Planned | Paused


@dataclass(frozen=True)
class ReportLine:
    action: str  # create, update, cancel, delete, skip, reject, hold, defer, resume, pass
    uid: str
    outcome: Outcome

    @property
    def result(self) -> str:
        """The outcome for people (``"done: new meeting"``)."""
        return str(self.outcome)


@dataclass
class MailboxReport:
    """One mailbox's pass. ``paused`` says why the mailbox waited for Exchange (None: it
    did not)."""

    user: str
    lines: list[ReportLine] = field(default_factory=list)
    paused: str | None = None

    def add(self, action: str, uid: str, outcome: Outcome) -> None:
        self.lines.append(ReportLine(action, uid, outcome))

    @property
    def failed(self) -> int:
        return sum(1 for line in self.lines if isinstance(line.outcome, Failed))

    def outcomes(self, kind: type[_Outcome]) -> list[ReportLine]:
        return [line for line in self.lines if isinstance(line.outcome, kind)]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for line in self.lines:
            found[line.outcome.kind] = found.get(line.outcome.kind, 0) + 1
        return found

    def errors(self) -> list[str]:
        return [f"{line.uid}: {line.outcome.reason}" for line in self.outcomes(Failed)] + (
            [f"(mailbox): paused: {self.paused}"] if self.paused else []
        )
