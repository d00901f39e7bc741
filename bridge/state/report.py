"""The status report behind `calbridge status`: per mailbox, counts, last run, errors, holds.

Rule kept here: read only, and the counts are exclusive (an item counts once): a sent item
whose current version cannot be sent counts as skipped, not synced.
"""

from __future__ import annotations

from bridge.state.rows import MailboxStatus
from bridge.state.runs import StatePartRuns

__all__ = ["StatePartReport"]


class StatePartReport(StatePartRuns):
    """Summaries for the operator (reads runs and holds through `StatePartRuns`)."""

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
