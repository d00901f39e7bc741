"""`calbridge status --json`: the facts of `calbridge status` as one JSON document for monitoring.

Rules kept here (pure: rows in, a dict out; the command does the reading and printing):
- The keys are stable: `format` says which version of this shape a document has, and is raised
  only when a key changes meaning or goes away (new keys may appear within a version).
- Every configured mailbox has an entry, synced or not; so does any mailbox the state knows.
- People provisioned at run time (an Exchange login let in by `caldav.allow`, no `[[user]]`)
  are listed under `provisioned`, and their mailboxes have entries like the configured ones.
- Times are ISO 8601 in UTC; absent things are `null` or `[]`, never a missing key.
- Each mailbox has a `pull` entry (issue 10): its last pull pass (`last_pull_at`, `error`), the
  items the pull could not take (`problems`: uid + reason) and the rooms that declined a
  booking of the user's meeting (`room_declines`); never pulled: `null` and `[]`.
- A damaged state file is a document too (`state: "damaged"`, `sync.paused: true`), never a
  traceback: monitoring must be able to read why sync stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bridge.conflict_report import conflict_entries
from bridge.instance import Instance
from bridge.state.errors import StateDamaged
from bridge.state.report import PullStatus
from bridge.state.rows import HoldRow, MailboxStatus, RunRow
from bridge.state.users import ProvisionedUser

if TYPE_CHECKING:
    from bridge.state.pull import ConflictRow

__all__ = ["FORMAT", "build_status_document"]

FORMAT = 1
COUNT_KEYS = ("synced", "pending", "failed", "skipped", "cancelled")


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _run(run: RunRow | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "counts": dict(sorted(run.counts.items())),
        "errors": list(run.errors),
    }


def _hold(hold: HoldRow | None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {
        "count": hold.count,
        "reason": hold.reason,
        "uids": list(hold.uids),
        "since": _time(hold.created_at),
    }


def _pull(pull: PullStatus | None) -> dict[str, Any]:
    last = pull.last if pull is not None else None
    return {
        "last_pull_at": _time(last.pulled_at) if last is not None else None,
        "error": last.error if last is not None else None,
        "problems": [{"uid": uid, "reason": reason}
                     for uid, reason in (pull.problems if pull is not None else ())],
        "room_declines": [
            {"uid": d.uid, "room": d.room, "summary": d.summary, "since": _time(d.seen_at)}
            for d in (pull.room_declines if pull is not None else ())
        ],
    }


def _mailbox(
    name: str,
    summary: MailboxStatus | None,
    skipped: Sequence[tuple[str, str]],
    pull: PullStatus | None = None,
) -> dict[str, Any]:
    summary = summary or MailboxStatus(name)
    return {
        "mailbox": name,
        "counts": {key: int(getattr(summary, key)) for key in COUNT_KEYS},
        "last_run": _run(summary.last_run),
        "errors": list(summary.last_errors),
        "hold": _hold(summary.hold),
        "skipped": [{"uid": uid, "reason": reason} for uid, reason in skipped],
        "pull": _pull(pull),
    }


def build_status_document(
    *,
    state_dir: str,
    configured: Iterable[str],
    running: Instance | None,
    summaries: Sequence[MailboxStatus] = (),
    skipped: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    damage: StateDamaged | None = None,
    state_exists: bool = True,
    provisioned: Sequence[ProvisionedUser] = (),
    syncing: Iterable[str] = (),
    conflicts: Sequence[ConflictRow] = (),
    pull: Mapping[str, PullStatus] | None = None,
) -> dict[str, Any]:
    """The status document (see the module rules for its guarantees).

    Args:
        state_dir: the state folder the facts come from.
        configured: the mailbox aliases of the configured users.
        running: the `calbridge run` of this state folder, if one is running.
        summaries: `State.status_summary()`.
        skipped: per mailbox, `State.skip_reasons()`.
        damage: set when the state file is damaged (then `summaries` is empty).
        state_exists: False before the first `calbridge run` created the state file.
        provisioned: `State.provisioned_users()`.
        syncing: the names of the provisioned users the configuration still lets in.
        conflicts: `State.conflicts()` (issue 10 point 4), newest first.
        pull: per mailbox, `State.pull_status()`.
    """
    skipped = skipped or {}
    pull = pull or {}
    by_name = {s.mailbox: s for s in summaries}
    names = sorted(set(configured) | set(by_name) | {p.mailbox for p in provisioned}
                   | set(pull))
    active = set(syncing)
    state = "damaged" if damage is not None else "ok" if state_exists else "missing"
    return {
        "format": FORMAT,
        "state_dir": state_dir,
        "state": state,
        "running": None
        if running is None
        else {"pid": running.pid, "caldav_url": running.caldav_url, "sim_url": running.sim_url},
        "sync": {
            "paused": damage is not None,
            "reason": "the state database is damaged" if damage is not None else None,
        },
        "damage": None
        if damage is None
        else {
            "path": damage.path,
            "problems": list(damage.problems),
            "recovery": list(damage.recovery),
        },
        "holds": sum(1 for s in summaries if s.hold is not None),
        "mailboxes": [
            _mailbox(n, by_name.get(n), skipped.get(n, ()), pull.get(n)) for n in names
        ],
        "provisioned": [
            {
                "name": p.name,
                "mailbox": p.mailbox,
                "email": p.email,
                "since": _time(p.created_at),
                "syncing": p.name in active,
            }
            for p in provisioned
        ],
        "conflicts": conflict_entries(conflicts),
    }
