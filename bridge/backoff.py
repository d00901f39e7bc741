"""The retry schedule of a failed item: exponential back-off, capped, optionally jittered.

Rule kept here: one policy, pure. Retry number ``n`` (1 after the first failure) waits
``min(2**(n - 1) * 30 s, 1 h)``; jitter only ever lengthens that wait, so a retry never comes
earlier than the plain schedule. `bridge.state` stores the resulting time; nothing else decides it.
"""

from __future__ import annotations

import random
from datetime import timedelta

__all__ = ["BACKOFF_BASE", "BACKOFF_CAP", "backoff_delay"]

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
_DOUBLINGS_TO_CAP = 12  # 2**12 * 30 s is far beyond the cap; avoids huge integers


def backoff_delay(
    attempts: int, *, jitter: float = 0.0, rng: random.Random | None = None
) -> timedelta:
    """Wait before retry number `attempts` (1 after the first failure): 30 s, 60 s, … ≤ 1 h.

    Equals ``min(2**k * 30 s, 1 h)`` with ``k = attempts - 1`` failures before this one. With
    ``jitter`` (e.g. 0.1) the delay grows by a random share in ``[0, jitter)`` drawn from `rng`
    (default: the `random` module).

    Raises:
        ValueError: `attempts` is below 1, or `jitter` is negative.
    """
    if attempts < 1:
        raise ValueError("attempts counts failures and starts at 1")
    if jitter < 0:
        raise ValueError("jitter must not be negative")
    if attempts > _DOUBLINGS_TO_CAP:
        delay = BACKOFF_CAP
    else:
        delay = min(BACKOFF_BASE * (1 << (attempts - 1)), BACKOFF_CAP)
    if jitter:
        delay *= 1 + (rng or random).random() * jitter
    return delay
