"""Limits on what one client can make the server do (CONTRACT section 15), per server process:

- ``TokenBuckets``: per token, ``rate`` requests a second sustained and ``burst`` at once; over
  it, 429 ``rate_limited`` with ``Retry-After``. The bootstrap admin token is not limited (bulk
  loads, benchmarks).
- ``FailedAuthentications``: a client address with 20 failed authentications within a minute
  gets 429 for a minute, whatever token it sends then, so that guessing tokens is slow.

Both keep their state in memory, bounded: a node that restarts forgets it, and each node of a
deployment counts on its own (a limit of N per node).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["TokenBuckets", "FailedAuthentications"]

_MAX_KEYS = 100_000  # beyond this many clients or tokens, the oldest state is dropped


class TokenBuckets:
    def __init__(self, rate: float, burst: int, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}  # key: (tokens left, when)
        self._labels: dict[str, str] = {}
        self._lock = threading.Lock()

    def waiting(self, key: str) -> float:
        """The seconds until ``key`` may send again, without taking (0: it may now, or it has
        never been seen): what the gate answers with before any other work is done."""
        if self.rate <= 0:
            return 0.0
        found = self._buckets.get(key)
        if found is None:
            return 0.0
        left = min(float(self.burst), found[0] + (self._monotonic() - found[1]) * self.rate)
        return 0.0 if left >= 1 else (1 - left) / self.rate

    def label(self, key: str) -> str:
        """What the access log calls ``key``'s bucket: its token's id."""
        return self._labels.get(key, "unknown")

    def take(self, key: str, label: str | None = None) -> float:
        """0 when the request may go; otherwise the seconds until it may. ``label`` names the
        bucket in the access log (a token's id: never the token, nor its hash)."""
        if label is not None and key not in self._labels:
            if len(self._labels) >= _MAX_KEYS:
                self._labels.clear()
            self._labels[key] = label
        if self.rate <= 0:
            return 0.0
        now = self._monotonic()
        with self._lock:
            left, then = self._buckets.get(key, (float(self.burst), now))
            left = min(float(self.burst), left + (now - then) * self.rate)
            if left >= 1:
                if len(self._buckets) >= _MAX_KEYS and key not in self._buckets:
                    self._buckets.clear()
                self._buckets[key] = (left - 1, now)
                return 0.0
            self._buckets[key] = (left, now)
            return (1 - left) / self.rate


class FailedAuthentications:
    LIMIT = 20
    WINDOW_SECONDS = 60.0
    BLOCK_SECONDS = 60.0

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._failures: dict[str, deque[float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def blocked(self, client: str) -> float:
        """Seconds the client must still wait (0: not blocked)."""
        with self._lock:
            until = self._blocked_until.get(client)
            if until is None:
                return 0.0
            left = until - self._monotonic()
            if left <= 0:
                del self._blocked_until[client]
                return 0.0
            return left

    def failed(self, client: str) -> None:
        now = self._monotonic()
        with self._lock:
            if len(self._failures) >= _MAX_KEYS and client not in self._failures:
                self._failures.clear()
            failures = self._failures.setdefault(client, deque())
            failures.append(now)
            while failures and failures[0] < now - self.WINDOW_SECONDS:
                failures.popleft()
            if len(failures) >= self.LIMIT:
                self._blocked_until[client] = now + self.BLOCK_SECONDS
                failures.clear()
