"""The ``provisioned_users`` table: people let in by ``caldav.allow`` who have no ``[[user]]``.

Rules kept here: a row is written once, the first time the service provisions the person, and
never rewritten (``INSERT OR IGNORE``: a second login, or a restart, changes nothing); the
configuration wins, so the caller skips names that are configured users. No secret is stored:
the person's password stays with Exchange, the bridge acts through its service account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.state.base import StateBase, parse_ts_required

__all__ = ["ProvisionedUser", "StatePartUsers"]


@dataclass(frozen=True)
class ProvisionedUser:
    name: str  # CalDAV principal
    mailbox: str  # Exchange alias
    email: str
    display_name: str | None
    created_at: datetime


class StatePartUsers(StateBase):
    """Record and list provisioned users."""

    def add_provisioned_user(
        self,
        name: str,
        mailbox: str,
        email: str,
        *,
        display_name: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Record `name` once; True when this call added it."""
        cursor = self._execute(
            "INSERT OR IGNORE INTO provisioned_users "
            "(name, mailbox, email, display_name, created_at) VALUES (?, ?, ?, ?, ?)",
            (name, mailbox, email, display_name, self._now_ts(now)),
        )
        return cursor.rowcount == 1

    def provisioned_users(self) -> list[ProvisionedUser]:
        return [
            ProvisionedUser(
                r["name"], r["mailbox"], r["email"], r["display_name"],
                parse_ts_required(r["created_at"]),
            )
            for r in self._select("SELECT * FROM provisioned_users ORDER BY name")
        ]
