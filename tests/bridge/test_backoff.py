"""`bridge.backoff`: the retry schedule (what `State.mark_failed` stores is tested with state)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from bridge.backoff import backoff_delay


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, 1920), (8, 3600),
     (9, 3600), (50, 3600)],
)
def test_backoff_delay(attempts: int, seconds: int) -> None:
    assert backoff_delay(attempts) == timedelta(seconds=seconds)


def test_backoff_needs_a_failure() -> None:
    with pytest.raises(ValueError):
        backoff_delay(0)


def test_jitter_only_lengthens_and_is_checked() -> None:
    rng = random.Random(3)
    for attempts in (1, 5, 20):
        plain = backoff_delay(attempts)
        assert plain <= backoff_delay(attempts, jitter=0.5, rng=rng) < plain * 1.5
    with pytest.raises(ValueError, match="jitter"):
        backoff_delay(1, jitter=-0.1)
