"""run_transaction: the unit of work is the unit of retry, bounded in attempts and time."""

from __future__ import annotations

from typing import Any

import pytest

from posledger.app.ports import WriteConflict
from posledger.app.retry import DEFAULT_POLICY, RetryLog, RetryPolicy, StorageUnavailable, run_transaction


class Deadlock(Exception):
    pass


class FakeUow:
    """Counts what happened to each unit of work the retry loop opened."""

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal
        self.committed = False

    def __enter__(self) -> FakeUow:
        self.journal.append("begin")
        return self

    def __exit__(self, *exc: object) -> None:
        self.journal.append("commit" if self.committed else "rollback")

    def commit(self) -> None:
        self.committed = True


def classify(error: BaseException) -> str | None:
    return "deadlock" if isinstance(error, Deadlock) else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def _run(work: Any, *, policy: RetryPolicy = DEFAULT_POLICY, read_only: bool = False,
         retries: RetryLog | None = None) -> tuple[Any, list[str], Clock]:
    journal: list[str] = []
    clock = Clock()
    result = run_transaction(lambda _ro: FakeUow(journal), work, read_only=read_only, operation="test",  # type: ignore[arg-type, return-value]
                             classify=classify, policy=policy, retries=retries, sleep=clock.sleep,
                             monotonic=clock.monotonic)
    return result, journal, clock


def test_a_transient_failure_runs_the_whole_unit_again_and_commits_only_the_last() -> None:
    calls: list[int] = []

    def work(uow: FakeUow) -> str:
        calls.append(len(calls) + 1)
        if len(calls) < 3:
            raise Deadlock("deadlock detected")
        return "done"

    retries = RetryLog()
    result, journal, clock = _run(work, retries=retries)
    assert result == "done" and calls == [1, 2, 3]
    assert journal == ["begin", "rollback", "begin", "rollback", "begin", "commit"]
    assert len(clock.slept) == 2
    snapshot = retries.snapshot()
    assert snapshot["retried"] == {"deadlock": 2} and snapshot["exhausted"] == {}
    assert snapshot["last_retried"]["detail"] == "deadlock detected"
    assert snapshot["last_retried"]["attempt"] == 2 and snapshot["last_retried"]["operation"] == "test"


def test_a_write_conflict_is_retried_whatever_the_backend() -> None:
    attempts: list[int] = []

    def work(uow: FakeUow) -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise WriteConflict("position changed")
        return 7

    result, _, _ = _run(work)
    assert result == 7 and len(attempts) == 2


def test_an_error_that_is_not_transient_is_raised_at_once_and_nothing_commits() -> None:
    def work(uow: FakeUow) -> None:
        raise ValueError("a bug, not the weather")

    journal: list[str] = []
    with pytest.raises(ValueError):
        run_transaction(lambda _ro: FakeUow(journal), work, read_only=False, operation="test",  # type: ignore[arg-type, return-value]
                        classify=classify, sleep=lambda _s: None)
    assert journal == ["begin", "rollback"]


def test_the_retries_stop_at_the_attempt_bound_with_storage_unavailable() -> None:
    def work(uow: FakeUow) -> None:
        raise Deadlock("deadlock detected")

    retries = RetryLog()
    with pytest.raises(StorageUnavailable) as raised:
        _run(work, policy=RetryPolicy(attempts=4), retries=retries)
    assert raised.value.kind == "deadlock" and raised.value.operation == "test"
    assert retries.snapshot()["retried"] == {"deadlock": 3}
    assert retries.snapshot()["exhausted"] == {"deadlock": 1}


def test_the_retries_stop_at_the_time_bound() -> None:
    def work(uow: FakeUow) -> None:
        raise Deadlock("deadlock detected")

    policy = RetryPolicy(attempts=1000, first_delay=1.0, max_delay=1.0, deadline=5.0)
    journal: list[str] = []
    clock = Clock()
    with pytest.raises(StorageUnavailable):
        run_transaction(lambda _ro: FakeUow(journal), work, read_only=False, operation="test",  # type: ignore[arg-type, return-value]
                        classify=classify, policy=policy, sleep=clock.sleep, monotonic=clock.monotonic)
    assert clock.now <= 5.0
    assert journal.count("begin") < 1000


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy = RetryPolicy(first_delay=0.02, max_delay=2.0)
    highest = [policy.delay(attempt, rng=lambda low, high: high) for attempt in range(1, 10)]
    assert highest[:4] == [0.02, 0.04, 0.08, 0.16]
    assert max(highest) == 2.0
    assert all(policy.delay(attempt, rng=lambda low, high: low) == 0.0 for attempt in range(1, 10))


def test_a_read_only_unit_is_never_committed() -> None:
    result, journal, _ = _run(lambda uow: 42, read_only=True)
    assert result == 42 and journal == ["begin", "rollback"]


class LostAtCommit(FakeUow):
    """A unit whose COMMIT loses the connection once: did it commit? Nobody knows."""

    lost = [True]

    def commit(self) -> None:
        if self.lost and self.lost.pop():
            raise ConnectionLost("server closed the connection unexpectedly")
        super().commit()


class ConnectionLost(Exception):
    pass


def classify_connection(error: BaseException) -> str | None:
    return "connection" if isinstance(error, ConnectionLost) else None


def test_a_connection_lost_during_commit_is_not_retried_for_work_that_is_not_idempotent() -> None:
    journal: list[str] = []
    LostAtCommit.lost = [True]
    retries = RetryLog()
    with pytest.raises(StorageUnavailable) as raised:
        run_transaction(lambda _ro: LostAtCommit(journal), lambda uow: "token", read_only=False,  # type: ignore[arg-type, return-value]
                        operation="create token", classify=classify_connection, retries=retries,
                        sleep=lambda _s: None)
    assert raised.value.kind == "commit_unknown"
    assert journal.count("begin") == 1
    assert retries.snapshot()["exhausted"] == {"commit_unknown": 1}


def test_a_connection_lost_during_commit_is_retried_for_idempotent_work() -> None:
    journal: list[str] = []
    LostAtCommit.lost = [True]
    result = run_transaction(lambda _ro: LostAtCommit(journal), lambda uow: "ingested", read_only=False,  # type: ignore[arg-type, return-value]
                             operation="ingest", classify=classify_connection, idempotent=True,
                             sleep=lambda _s: None)
    assert result == "ingested" and journal == ["begin", "rollback", "begin", "commit"]


def test_sqlite_waits_for_a_lock_much_less_than_the_retry_deadline() -> None:
    """Else the first wait would use up the deadline and a busy database would never be retried."""
    from posledger.adapters.sqlite.store import BUSY_TIMEOUT_SECONDS

    assert DEFAULT_POLICY.deadline >= BUSY_TIMEOUT_SECONDS * 4
