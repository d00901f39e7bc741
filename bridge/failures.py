"""What a failed action means, how it is logged, and what it leaves in the state.

Rules kept here:
- **Expected failures are one log line**: the Exchange client's errors and an outcome that
  cannot be read back yet. Anything else is a bug in calbridge: logged once, with its traceback.
- **Only transient failures back off** (30 s doubling up to 1 h, `State.mark_failed`). A request
  that can never succeed (`errors.is_permanent`: 413, 400, 422, 403 on a write, ...) is a
  terminal failure: the row is ``failed`` with no retry time, for the version Exchange refused
  (`plan.refused`), and its reason is what `calbridge status` shows.
- **An outage is not the item's fault**: see `bridge.engine` (the mailbox pauses instead).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from bridge.exchange import errors
from bridge.journal import OutcomeUnknown, UndeclaredStep
from bridge.report import Failed
from bridge.state import ItemRow, State, StateError

__all__ = ["describe", "log_failure", "record_failure"]

logger = logging.getLogger(__name__)

_EXPECTED = (errors.ExchangeError, OutcomeUnknown, StateError)


def describe(error: Exception) -> Failed:
    if errors.is_permanent(error):
        return Failed(f"refused by Exchange, not retried until the event changes: {error}",
                      terminal=True)
    return Failed(str(error))


def log_failure(what: str, error: Exception) -> None:
    """One line for an expected failure; the traceback for a bug (once: here)."""
    if isinstance(error, _EXPECTED) and not isinstance(error, UndeclaredStep):
        logger.warning("%s failed: %s", what, error)
    else:
        logger.error("%s failed with an unexpected error (a bug): %s", what, error,
                     exc_info=error)


def record_failure(
    state: State,
    mailbox: str,
    uid: str,
    failed: Failed,
    now: datetime,
    *,
    content_hash: str | None = None,
    radicale_etag: str | None = None,
) -> ItemRow:
    """Write a failure to the item's row: a back-off, or a terminal refusal of this version
    (``content_hash`` None: a removal was refused, see `plan.refused`)."""
    if not failed.terminal:
        return state.mark_failed(mailbox, uid, failed.reason, now)
    row = state.get_item(mailbox, uid) or ItemRow(mailbox, uid)
    return state.upsert_item(
        replace(
            row,
            status="failed",
            attempts=row.attempts + 1,
            next_attempt_at=None,
            last_error=failed.reason,
            content_hash=content_hash,
            radicale_etag=radicale_etag if radicale_etag is not None else row.radicale_etag,
        ),
        now=now,
    )
