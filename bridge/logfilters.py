"""Logging filters: nothing a user typed by mistake, and no line repeated on every tick.

Rules kept here: a failed CalDAV login is logged (by Radicale) without the user name that was
typed, because people type their password into the user-name field; the line itself stays, so
failed logins remain visible. APScheduler's "skipped" line, repeated on every tick a long pass
outlasts, is dropped (the service says it once per pass). Filters are attached to the logger
that creates the records, since a logger's filters do not see records propagated from others.
"""

from __future__ import annotations

import logging

__all__ = ["HIDDEN", "FailedLoginScrubber", "SkippedTickFilter", "install", "scheduler_logger"]

HIDDEN = "<user name hidden>"

# Radicale 3.9's messages about a login that failed, and the position of the typed name in args.
_FAILED_LOGIN_MESSAGES = (
    ("Failed login attempt from ", 1),  # app: WARNING, remote host first
    ("Login verification failed for user", 0),  # auth/htpasswd: WARNING / ERROR
    ("Login verification user not found", 0),  # auth/htpasswd: WARNING
    ("Login verification for user+password", 0),  # auth: DEBUG, before the outcome is known
    ("Login failed", 0),  # auth: DEBUG, failed-login cache
)


class FailedLoginScrubber(logging.Filter):
    """Replaces the typed user name in Radicale's failed-login records."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if not isinstance(message, str) or not isinstance(record.args, tuple):
            return True
        for prefix, index in _FAILED_LOGIN_MESSAGES:
            if message.startswith(prefix) and len(record.args) > index:
                args = list(record.args)
                args[index] = HIDDEN
                record.args = tuple(args)
                break
        return True


_SCRUBBER = FailedLoginScrubber()


def install() -> None:
    """Attach the scrubber to Radicale's logger (idempotent)."""
    logging.getLogger("radicale").addFilter(_SCRUBBER)


class SkippedTickFilter(logging.Filter):
    """Drops APScheduler's "skipped: maximum number of running instances" line.

    The service says it once per long pass itself (an `EVENT_JOB_MAX_INSTANCES` listener);
    APScheduler would say it on every tick the pass outlasts.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (isinstance(message, str) and "maximum number of running instances" in message)


def scheduler_logger() -> logging.Logger:
    """The logger calbridge's scheduler writes to: APScheduler's, minus the per-tick line.

    A child of `apscheduler.scheduler`, so levels set for `apscheduler` still apply.
    """
    scheduler = logging.getLogger("apscheduler.scheduler.calbridge")
    scheduler.addFilter(_SKIPPED_TICKS)
    return scheduler


_SKIPPED_TICKS = SkippedTickFilter()
