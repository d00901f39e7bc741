"""Memory of logins: a short-lived cache of successes, and a brake on repeated failures.

Rules kept here (in memory only, never on disk, never logged):
- A success is remembered for `SUCCESS_TTL` seconds (5 min, counted from the check against
  Exchange, not sliding) as an HMAC-SHA256 of name and password under a key drawn at random for
  this process: the password itself is never kept, and the digest is worthless outside the
  process. A password changed on Exchange is therefore honoured within 5 minutes.
- A failure is never remembered as a password (no negative cache): only counts, per login name
  and per source address. After failure n of a name the next
  `min(FAILURE_BASE * 2**(n-1), FAILURE_CAP)` seconds refuse that name without asking Exchange:
  1 s, 2 s, 4 s, ... at most 5 min, so a client that keeps an outdated password reaches Exchange
  at most once every 5 minutes. A source (one address, possibly an office behind NAT where
  several people mistype) gets `SOURCE_GRACE` free failures, then the same schedule. A count
  is forgotten `FORGET_AFTER` after its last failure; a success clears the name's count (never
  the source's: one good account must not reset the brake on guessing others' passwords from
  the same address).
- A remembered success is honoured even while its name is braked: a stranger's wrong guesses
  must not lock the real user out of CalDAV.
Time comes from an injected clock (tests move it; they never sleep).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "FAILURE_BASE",
    "FAILURE_CAP",
    "FORGET_AFTER",
    "SOURCE_GRACE",
    "SUCCESS_TTL",
    "Brake",
    "LoginGuard",
]

SUCCESS_TTL = 300.0
FAILURE_BASE = 1.0
FAILURE_CAP = 300.0
FORGET_AFTER = 900.0
SOURCE_GRACE = 5
_T = TypeVar("_T")
MAX_ENTRIES = 10_000  # per table: an address-spraying client cannot grow memory without bound


@dataclass
class Brake:
    """Failures of one name or source: how many, and until when it is refused."""

    failures: int
    last_failure: float
    until: float


@dataclass(frozen=True)
class _Success:
    digest: bytes
    principal: str
    expires: float


class LoginGuard:
    """Thread-safe success cache and failure brake (see the module rules)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._successes: dict[str, _Success] = {}
        self._by_name: dict[str, Brake] = {}
        self._by_source: dict[str, Brake] = {}

    def _digest(self, key: str, password: str) -> bytes:
        message = key.encode("utf-8", "surrogatepass") + b"\0" + password.encode(
            "utf-8", "surrogatepass"
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()

    # -- successes -----------------------------------------------------------------------------

    def remembered(self, key: str, password: str) -> str | None:
        """The principal of a remembered success of exactly this name and password, or None."""
        digest = self._digest(key, password)
        with self._lock:
            entry = self._successes.get(key)
            if entry is None:
                return None
            if entry.expires <= self._clock():
                del self._successes[key]
                return None
        return entry.principal if hmac.compare_digest(entry.digest, digest) else None

    def succeeded(self, key: str, password: str, principal: str) -> None:
        digest = self._digest(key, password)
        now = self._clock()
        with self._lock:
            self._by_name.pop(key, None)
            if len(self._successes) >= MAX_ENTRIES:
                self._prune(self._successes, lambda e: e.expires <= now)
            self._successes[key] = _Success(digest, principal, now + SUCCESS_TTL)

    def forget(self, key: str) -> None:
        with self._lock:
            self._successes.pop(key, None)

    def cached_names(self) -> list[str]:
        """The names with a remembered success (for tests and `calbridge status`)."""
        with self._lock:
            now = self._clock()
            return sorted(k for k, e in self._successes.items() if e.expires > now)

    # -- failures ------------------------------------------------------------------------------

    def braked(self, key: str, source: str) -> float:
        """Seconds until this name and this source may be checked again (0: now)."""
        now = self._clock()
        with self._lock:
            waits = [
                brake.until - now
                for brake in (self._live(self._by_name, key, now),
                              self._live(self._by_source, source, now))
                if brake is not None
            ]
        return max([0.0, *waits])

    def failed(self, key: str, source: str) -> None:
        now = self._clock()
        with self._lock:
            for table, name, free in ((self._by_name, key, 0),
                                      (self._by_source, source, SOURCE_GRACE)):
                brake = self._live(table, name, now)
                failures = brake.failures + 1 if brake is not None else 1
                if brake is None and len(table) >= MAX_ENTRIES:
                    self._prune(table, lambda b: now - b.last_failure > FORGET_AFTER)
                    if len(table) >= MAX_ENTRIES:
                        table.pop(next(iter(table)))  # the oldest entry
                table[name] = Brake(failures, now, now + _delay(failures - free))

    def brake_of(self, key: str | None = None, source: str | None = None) -> Brake | None:
        """The live brake on a name or a source (for tests and diagnostics)."""
        now = self._clock()
        with self._lock:
            if key is not None:
                return self._live(self._by_name, key, now)
            return self._live(self._by_source, source or "", now)

    @staticmethod
    def _live(table: dict[str, Brake], name: str, now: float) -> Brake | None:
        brake = table.get(name)
        if brake is not None and now - brake.last_failure > FORGET_AFTER:
            del table[name]
            return None
        return brake

    @staticmethod
    def _prune(table: dict[str, _T], stale: Callable[[_T], bool]) -> None:
        for name in [n for n, entry in table.items() if stale(entry)]:
            del table[name]


def _delay(failures: int) -> float:
    """Seconds refused after the `failures`-th counted failure (none before the first)."""
    if failures < 1:
        return 0.0
    return min(FAILURE_CAP, FAILURE_BASE * float(1 << min(failures - 1, 30)))
