"""Transient failures are retried; a use case's transaction is the unit of retry.

A deadlock, a serialization failure, a lock timeout, a server shutting down or a broken
connection says nothing about the work itself: the transaction rolled back whole, so running
it again from the start is safe and, once the cause has passed, succeeds. ``run_transaction``
does that with exponential backoff and full jitter, bounded both in attempts and in time; when
the bound is reached it raises ``StorageUnavailable``, which the HTTP layer answers with 503
and the posting loops wait out. Which errors are transient is the adapter's knowledge (it
passes ``classify``); how often and how long to retry is decided here, once for every backend.

``RetryLog`` keeps what was retried (counts per kind and the last one) so that ``/health`` and
the logs can say what the process has been riding out.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from posledger.app.ports import UnitOfWork, WriteConflict

__all__ = ["RetryPolicy", "RetryLog", "RetriedError", "StorageUnavailable", "run_transaction",
           "DEFAULT_POLICY"]

T = TypeVar("T")
log = logging.getLogger("posledger.retry")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 20  # including the first
    first_delay: float = 0.02  # seconds; doubles per attempt
    max_delay: float = 2.0
    deadline: float = 30.0  # seconds from the first attempt, sleeps included

    def delay(self, attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """Full jitter: anywhere between 0 and the exponential step, so that processes that
        failed together (a deadlock has two sides) do not retry together."""
        return rng(0.0, min(self.max_delay, self.first_delay * 2.0 ** (attempt - 1)))


DEFAULT_POLICY = RetryPolicy()


class StorageUnavailable(Exception):
    """A transient failure outlasted the retry bound. Nothing of the work was done."""

    def __init__(self, operation: str, kind: str, detail: str) -> None:
        super().__init__(f"{operation}: {kind} persisted through every retry ({detail})")
        self.operation = operation
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True, slots=True)
class RetriedError:
    at: str  # ISO 8601, UTC
    operation: str
    kind: str
    detail: str  # the first line of the error, at most 200 characters
    attempt: int

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "operation": self.operation, "kind": self.kind, "detail": self.detail,
                "attempt": self.attempt}


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


class RetryLog:
    """Thread-safe counts of retried and exhausted operations per kind, and the last of each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retried: Counter[str] = Counter()
        self.exhausted: Counter[str] = Counter()
        self.last_retried: RetriedError | None = None
        self.last_exhausted: RetriedError | None = None

    def record(self, operation: str, kind: str, error: BaseException | str, attempt: int,
               *, exhausted: bool = False) -> RetriedError:
        detail = error if isinstance(error, str) else _first_line(error)
        entry = RetriedError(datetime.now(UTC).isoformat(timespec="milliseconds"), operation, kind, detail, attempt)
        with self._lock:
            if exhausted:
                self.exhausted[kind] += 1
                self.last_exhausted = entry
            else:
                self.retried[kind] += 1
                self.last_retried = entry
        return entry

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "retried": dict(self.retried),
                "exhausted": dict(self.exhausted),
                "last_retried": self.last_retried.as_dict() if self.last_retried else None,
                "last_exhausted": self.last_exhausted.as_dict() if self.last_exhausted else None,
            }


# A connection lost while COMMIT was on its way: the server may have committed or not.
AMBIGUOUS_AT_COMMIT = frozenset({"connection", "admin_shutdown", "crash_shutdown", "commit_unknown"})


def run_transaction(open_uow: Callable[[bool], UnitOfWork], work: Callable[[UnitOfWork], T], *,
                    read_only: bool, operation: str, classify: Callable[[BaseException], str | None],
                    policy: RetryPolicy = DEFAULT_POLICY, retries: RetryLog | None = None,
                    idempotent: bool = False, sleep: Callable[[float], None] = time.sleep,
                    monotonic: Callable[[], float] = time.monotonic) -> T:
    """Run ``work`` in a unit of work and commit it (unless ``read_only``); run it again from
    the start after a transient failure. ``work`` must not have effects outside the unit of
    work that a second run would repeat: it may be called several times, and only the last
    call's transaction commits.

    When the connection fails *during* COMMIT, the outcome is unknown. Work that is
    ``idempotent`` (running it again after it did commit changes nothing and answers the same:
    ingest finds its events stored, posting finds them posted, an upsert finds its row) is run
    again; other work stops with ``StorageUnavailable`` of kind ``commit_unknown`` rather than
    risk doing twice what may have been done once."""
    started = monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            with open_uow(read_only) as uow:
                result = work(uow)
                if not read_only:
                    _commit(uow, operation, idempotent, classify, retries, attempt)
                return result
        except StorageUnavailable:
            raise
        except Exception as error:
            kind = "write_conflict" if isinstance(error, WriteConflict) else classify(error)
            if kind is None:
                raise
            delay = policy.delay(attempt)
            if attempt >= policy.attempts or monotonic() - started + delay > policy.deadline:
                if retries is not None:
                    retries.record(operation, kind, error, attempt, exhausted=True)
                log.error("%s: %s after %d attempt(s); giving up for now: %s", operation, kind, attempt,
                          _first_line(error))
                raise StorageUnavailable(operation, kind, _first_line(error)) from error
            if retries is not None:
                retries.record(operation, kind, error, attempt)
            log.warning("%s: %s (attempt %d); retrying in %.0f ms", operation, kind, attempt, delay * 1000)
            sleep(delay)


def _commit(uow: UnitOfWork, operation: str, idempotent: bool, classify: Callable[[BaseException], str | None],
            retries: RetryLog | None, attempt: int) -> None:
    try:
        uow.commit()
    except Exception as error:
        kind = classify(error)
        if kind in AMBIGUOUS_AT_COMMIT and not idempotent:
            if retries is not None:
                retries.record(operation, "commit_unknown", error, attempt, exhausted=True)
            log.error("%s: the connection failed during COMMIT (%s); not retried, the outcome is unknown",
                      operation, _first_line(error))
            raise StorageUnavailable(operation, "commit_unknown", _first_line(error)) from error
        raise
