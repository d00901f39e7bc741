"""The status report behind `calbridge status`: per mailbox, counts, last run, errors, holds,
and the pull's side (last pull, what it could not take, rooms that declined a booking).

Rule kept here: read only, and the counts are exclusive (an item counts once): a sent item
whose current version cannot be sent counts as skipped, not synced.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.state.pull import PullPass, RoomDecline, StatePartPull
from bridge.state.rows import MailboxStatus
from bridge.state.runs import StatePartRuns

__all__ = ["PullStatus", "StatePartReport"]


@dataclass(frozen=True)
class PullStatus:
    """The pull's side of one mailbox in `calbridge status`."""

    mailbox: str
    last: PullPass | None
    problems: tuple[tuple[str, str], ...]  # (uid, reason), newest first
    room_declines: tuple[RoomDecline, ...]


class StatePartReport(StatePartRuns, StatePartPull):
    """Summaries for the operator (reads runs and holds through `StatePartRuns`, the pull's
    tables through `StatePartPull`)."""

    def pull_status(self, *, limit: int = 20) -> dict[str, PullStatus]:
        """Per mailbox the pull has seen: last pass, up to `limit` problems, rooms' declines."""
        with self._lock:
            passes = self.pull_passes()
            problems: dict[str, list[tuple[str, str]]] = {}
            for mailbox, uid, reason in self.pull_problems():
                found = problems.setdefault(mailbox, [])
                if len(found) < limit:
                    found.append((uid, reason))
            declines: dict[str, list[RoomDecline]] = {}
            current = {(r["mailbox"], r["uid"]) for r in self._select(
                "SELECT d.mailbox, d.uid FROM room_declines d WHERE EXISTS (SELECT 1 FROM "
                "items i WHERE i.mailbox = d.mailbox AND i.uid = d.uid AND i.status != "
                "'cancelled') OR EXISTS (SELECT 1 FROM pulled p WHERE p.mailbox = d.mailbox "
                "AND p.uid = d.uid)")}
            for decline in self.room_declines():
                # A decline of a meeting since cancelled or deleted is no longer news.
                if (decline.mailbox, decline.uid) in current:
                    declines.setdefault(decline.mailbox, []).append(decline)
        return {
            name: PullStatus(name, passes.get(name), tuple(problems.get(name, ())),
                             tuple(declines.get(name, ())))
            for name in sorted(set(passes) | set(problems) | set(declines))
        }

    def skip_reasons(self, mailbox: str, *, limit: int = 20) -> list[tuple[str, str]]:
        """(uid, reason) of the items whose current version is not sent, newest first."""
        rows = self._select(
            "SELECT uid, skip_reason FROM items WHERE mailbox = ? AND skip_reason IS NOT NULL "
            "ORDER BY updated_at DESC LIMIT ?",
            (mailbox, limit),
        )
        return [(r["uid"], r["skip_reason"]) for r in rows]

    def status_summary(self, *, max_errors: int = 5) -> list[MailboxStatus]:
        """Per mailbox (any with items, runs or a hold): counts, last run, errors, hold."""
        with self._lock:
            counts = {
                r["mailbox"]: r
                for r in self._select(
                    """SELECT mailbox,
                        SUM(status = 'synced' AND skip_reason IS NULL) AS synced,
                        SUM(status = 'pending') AS pending,
                        SUM(status = 'failed') AS failed,
                        SUM(status = 'skipped'
                            OR (status = 'synced' AND skip_reason IS NOT NULL)) AS skipped,
                        SUM(status = 'cancelled') AS cancelled
                    FROM items GROUP BY mailbox"""
                )
            }
            names = set(counts)
            names |= {
                r["mailbox"]
                for r in self._select("SELECT DISTINCT mailbox FROM runs WHERE mailbox IS NOT NULL")
            }
            holds = {h.mailbox: h for h in self.holds()}
            names |= set(holds)
            result = []
            for name in sorted(names):
                c = counts.get(name, {})
                errors = self._select(
                    "SELECT uid, last_error FROM items WHERE mailbox = ? "
                    "AND last_error IS NOT NULL ORDER BY updated_at DESC, uid LIMIT ?",
                    (name, max_errors),
                )
                result.append(
                    MailboxStatus(
                        mailbox=name,
                        synced=int(c.get("synced") or 0),
                        pending=int(c.get("pending") or 0),
                        failed=int(c.get("failed") or 0),
                        skipped=int(c.get("skipped") or 0),
                        cancelled=int(c.get("cancelled") or 0),
                        last_run=self.last_run(name),
                        last_errors=tuple(f"{e['uid']}: {e['last_error']}" for e in errors),
                        hold=holds.get(name),
                    )
                )
            return result
