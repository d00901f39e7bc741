"""The login memory: successes for 5 minutes as keyed hashes, failures only as counts."""

from __future__ import annotations

import pytest

from bridge.login_guard import (
    FAILURE_CAP,
    FORGET_AFTER,
    SOURCE_GRACE,
    SUCCESS_TTL,
    LoginGuard,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_success_is_remembered_for_exactly_its_password_until_the_ttl(clock: Clock) -> None:
    guard = LoginGuard(clock)
    guard.succeeded("alice", "right", "alice")
    assert guard.remembered("alice", "right") == "alice"
    assert guard.remembered("alice", "wrong") is None
    assert guard.remembered("bob", "right") is None
    clock.now += SUCCESS_TTL - 1
    assert guard.remembered("alice", "right") == "alice"
    clock.now += 1
    assert guard.remembered("alice", "right") is None
    assert guard.cached_names() == []


def test_the_cache_holds_no_password(clock: Clock) -> None:
    guard = LoginGuard(clock)
    guard.succeeded("alice", "Very-Secret-1", "alice")
    held = repr(vars(guard)).encode()
    assert b"Very-Secret-1" not in held


def test_failures_brake_the_name_exponentially_up_to_the_cap(clock: Clock) -> None:
    guard = LoginGuard(clock)
    waits = []
    for _ in range(12):
        guard.failed("alice", "10.0.0.1")
        waits.append(guard.braked("alice", "10.0.0.2"))
        clock.now += waits[-1]  # the next attempt comes when the brake opens
    assert waits[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert max(waits) == FAILURE_CAP
    assert guard.braked("alice", "10.0.0.2") == 0.0


def test_a_wrong_password_is_never_remembered_and_a_success_clears_the_name(
    clock: Clock,
) -> None:
    guard = LoginGuard(clock)
    guard.failed("alice", "10.0.0.1")
    assert guard.remembered("alice", "wrong") is None
    brake = guard.brake_of(key="alice")
    assert brake is not None and brake.failures == 1
    guard.succeeded("alice", "right", "alice")
    assert guard.brake_of(key="alice") is None
    source = guard.brake_of(source="10.0.0.1")
    assert source is not None and source.failures == 1  # the source's count stays


def test_a_source_gets_a_few_free_failures_then_is_braked(clock: Clock) -> None:
    guard = LoginGuard(clock)
    for n in range(SOURCE_GRACE):
        guard.failed(f"user{n}", "10.0.0.9")
        assert guard.braked("someone-else", "10.0.0.9") == 0.0
    guard.failed("user-last", "10.0.0.9")
    assert guard.braked("someone-else", "10.0.0.9") == 1.0
    assert guard.braked("someone-else", "10.0.0.10") == 0.0


def test_counts_are_forgotten_after_a_quiet_while(clock: Clock) -> None:
    guard = LoginGuard(clock)
    for _ in range(5):
        guard.failed("alice", "10.0.0.1")
    clock.now += FORGET_AFTER + 1
    assert guard.brake_of(key="alice") is None
    guard.failed("alice", "10.0.0.1")
    assert guard.braked("alice", "x") == 1.0
