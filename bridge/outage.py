"""Outages: Exchange as a whole not answering is a condition of the server, not of an item.

Rule kept here: a failure counts as an outage only when it looks like one (no answer, a time-out,
502/503/504: `errors.is_outage`) *and* a cheap probe of the mailbox gets no answer either. Then
the mailbox is paused: the engine stops its pass, records nothing against the item, and starts
the next pass with the probe; the first answer resumes everything.
"""

from __future__ import annotations

import logging
import threading

from bridge.exchange import errors
from bridge.exchange.mailbox import Mailbox

__all__ = ["Outages"]

logger = logging.getLogger(__name__)


class Outages:
    """The paused mailboxes of one engine (in memory: a restart simply probes again)."""

    def __init__(self) -> None:
        self._paused: dict[str, str] = {}  # user -> why
        self._lock = threading.Lock()

    def paused(self) -> dict[str, str]:
        with self._lock:
            return dict(self._paused)

    def confirm(self, user: str, mailbox: Mailbox, error: Exception) -> str | None:
        """After a failed request: the pause reason when it is an outage, else None."""
        if not errors.is_outage(error):
            return None
        return self.probe(user, mailbox)

    def probe(self, user: str, mailbox: Mailbox) -> str | None:
        """Ask the mailbox once: None (and resumed) when it answers, else the pause reason."""
        try:
            mailbox.probe()
        except errors.ExchangeError as error:
            if errors.is_outage(error):
                return self._pause(user, error)
        with self._lock:
            was = self._paused.pop(user, None)
        if was is not None:
            logger.info("%s: Exchange answers again; the mailbox resumes", user)
        return None

    def _pause(self, user: str, error: errors.ExchangeError) -> str:
        reason = f"Exchange does not answer ({error}); waiting, no item spends an attempt"
        with self._lock:
            first = user not in self._paused
            self._paused[user] = reason
        if first:
            logger.warning("%s: paused: %s", user, reason)
        return reason
