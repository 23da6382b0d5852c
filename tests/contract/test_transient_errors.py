"""Transient database failures injected into ingest and posting, for real: a deadlock provoked
with a second connection, the backend terminated mid-transaction, SQLite's lock held past the
busy timeout. Each time the use case runs its transaction again and succeeds, the retry is on
record, and the books equal those of a reference run that met no failure."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from posledger.adapters.sqlite import SqliteUnitOfWork
from tests.contract.conftest import POSTGRES_URL, fresh_postgres_schema, postgres_or_skip
from tests.support.builders import MASTER, line, receive, register_event, reset_sequences, sale, tender
from tests.support.harness import Hub, fingerprint, make_hub


def _events() -> list[dict[str, Any]]:
    """A small store day: stock in, then sales on one register (so ingest touches its
    sequence row, and posting touches journal, stock and the events' status)."""
    reset_sequences()
    events = [receive("A", 50, 600, location="S1", store="S1")]
    for number in range(1, 6):
        events.append(sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"T-{number}",
                           event_id=f"S1-R1-T{number}"))
    return events


def _reference(tmp_path: Path) -> dict[str, Any]:
    hub = make_hub(SqliteUnitOfWork(tmp_path / "reference.db"))
    hub.load(MASTER)
    for event in _events():
        hub.send_and_post(event)
    return fingerprint(hub.uow)


@pytest.fixture
def pg_hub() -> Iterator[Hub]:
    postgres_or_skip()
    with fresh_postgres_schema() as factory:
        hub = make_hub(factory)
        hub.load(MASTER)
        yield hub


def _other_session(hub: Hub) -> psycopg.Connection[tuple[Any, ...]]:
    """A second session on the hub's schema, patient about deadlocks so that the hub's
    session (deadlock_timeout 1 s) is the one PostgreSQL picks to abort."""
    schema = hub.uow.schema  # type: ignore[attr-defined]
    connection = psycopg.connect(POSTGRES_URL, options=f"-c search_path={schema}")
    connection.execute("SET deadlock_timeout = '20s'")
    return connection


def _wait_for_a_blocked_session(other: psycopg.Connection[tuple[Any, ...]], timeout: float = 10) -> int:
    """The pid of the session waiting for a lock ``other`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            row = admin.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                                (other.info.backend_pid,)).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.01)
    raise AssertionError("the hub's transaction never waited for the other session")


def _in_thread(action: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as error:  # noqa: BLE001 - the test looks at it
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _interrupted(hub: Hub, hold: str, action: Callable[[], Any],
                 interrupt: Callable[[psycopg.Connection[tuple[Any, ...]], int], None]) -> Any:
    """Run ``action`` (a use case of ``hub``) while another session holds ``hold`` (a lock the
    use case needs late in its transaction); once the use case waits for it, ``interrupt``
    (given the other session and the waiting backend's pid), then let the use case go on."""
    other = _other_session(hub)
    try:
        other.execute(hold)
        thread, outcome = _in_thread(action)
        interrupt(other, _wait_for_a_blocked_session(other))
        time.sleep(0.1)
        other.rollback()
        thread.join(30)
        assert not thread.is_alive()
    finally:
        other.close()
    (result,) = outcome
    if isinstance(result, BaseException):
        raise result
    return result


def _deadlock(hub: Hub, hold: str, then: str, action: Callable[[], Any]) -> Any:
    """A real deadlock: the other session asks for ``then``, a lock the use case already holds;
    the call returns once PostgreSQL has aborted the use case's transaction."""
    def ask(other: psycopg.Connection[tuple[Any, ...]], _pid: int) -> None:
        other.execute(then)

    return _interrupted(hub, hold, action, ask)


def _terminated(hub: Hub, hold: str, action: Callable[[], Any]) -> Any:
    """The use case's backend terminated while it waits (an operator's pg_terminate_backend, a
    failover)."""
    def terminate(_other: psycopg.Connection[tuple[Any, ...]], pid: int) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    return _interrupted(hub, hold, action, terminate)


def _send_all_but_last(hub: Hub) -> dict[str, Any]:
    *first, last = _events()
    for event in first:
        hub.send_and_post(event)
    return last


def test_ingest_survives_a_real_deadlock(pg_hub: Hub, tmp_path: Path) -> None:
    last = _send_all_but_last(pg_hub)
    results = _deadlock(pg_hub, "SELECT * FROM register_sequences WHERE register_id = 'S1-R1' FOR UPDATE",
                        "LOCK TABLE events IN SHARE MODE", lambda: pg_hub.send(last))
    assert [r.status for r in results] == ["accepted"]
    assert pg_hub.uow.retries.retried["deadlock"] >= 1  # type: ignore[attr-defined]
    pg_hub.post()
    assert fingerprint(pg_hub.uow) == _reference(tmp_path)


def test_posting_survives_a_real_deadlock(pg_hub: Hub, tmp_path: Path) -> None:
    last = _send_all_but_last(pg_hub)
    pg_hub.send(last)
    report = _deadlock(pg_hub, f"SELECT * FROM events WHERE event_id = '{last['event_id']}' FOR UPDATE",
                       "LOCK TABLE journal_entries IN SHARE MODE", pg_hub.post)
    assert report.posted == 1
    assert pg_hub.uow.retries.retried["deadlock"] >= 1  # type: ignore[attr-defined]
    assert fingerprint(pg_hub.uow) == _reference(tmp_path)


def test_ingest_survives_its_backend_being_terminated(pg_hub: Hub, tmp_path: Path) -> None:
    last = _send_all_but_last(pg_hub)
    results = _terminated(pg_hub, "SELECT * FROM register_sequences WHERE register_id = 'S1-R1' FOR UPDATE",
                          lambda: pg_hub.send(last))
    assert [r.status for r in results] == ["accepted"]
    kinds = pg_hub.uow.retries.retried  # type: ignore[attr-defined]
    assert kinds["admin_shutdown"] + kinds["connection"] >= 1, kinds
    pg_hub.post()
    assert fingerprint(pg_hub.uow) == _reference(tmp_path)


def test_posting_survives_its_backend_being_terminated(pg_hub: Hub, tmp_path: Path) -> None:
    last = _send_all_but_last(pg_hub)
    pg_hub.send(last)
    report = _terminated(pg_hub, f"SELECT * FROM events WHERE event_id = '{last['event_id']}' FOR UPDATE",
                         pg_hub.post)
    assert report.posted == 1
    kinds = pg_hub.uow.retries.retried  # type: ignore[attr-defined]
    assert kinds["admin_shutdown"] + kinds["connection"] >= 1, kinds
    assert fingerprint(pg_hub.uow) == _reference(tmp_path)


def test_sqlite_ingest_and_posting_wait_out_a_lock_held_past_the_busy_timeout(tmp_path: Path) -> None:
    factory = SqliteUnitOfWork(tmp_path / "busy.db", busy_timeout=0.05)  # the test need not hold it 5 s
    hub = make_hub(factory)
    hub.load(MASTER)
    last = _send_all_but_last(hub)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None, check_same_thread=False)

    def hold_the_write_lock(seconds: float) -> None:
        holder.execute("BEGIN IMMEDIATE")
        time.sleep(seconds)
        holder.execute("COMMIT")

    blocker = threading.Thread(target=hold_the_write_lock, args=(0.4,))
    blocker.start()
    time.sleep(0.05)
    assert [r.status for r in hub.send(last)] == ["accepted"]
    blocker.join()
    blocker = threading.Thread(target=hold_the_write_lock, args=(0.4,))
    blocker.start()
    time.sleep(0.05)
    assert hub.post().posted == 1
    blocker.join()
    holder.close()
    assert factory.retries.retried["busy"] >= 2
    assert fingerprint(factory) == _reference(tmp_path)


def test_a_database_that_stays_down_ends_in_storage_unavailable_and_nothing_half_done(tmp_path: Path) -> None:
    """Past the bound the caller gets StorageUnavailable (the HTTP API answers 503), the retry
    log says so, and the next call, once the cause is gone, succeeds."""
    from posledger.app.retry import RetryPolicy, StorageUnavailable

    factory = SqliteUnitOfWork(tmp_path / "down.db", policy=RetryPolicy(attempts=3, first_delay=0.01),
                               busy_timeout=0.02)
    hub = make_hub(factory)
    hub.load(MASTER)
    holder = sqlite3.connect(tmp_path / "down.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    event = register_event("register.opened", {"session_id": "X", "opening_float": 100, "cashier_id": "C1"})
    with pytest.raises(StorageUnavailable):
        hub.send(event)
    holder.execute("COMMIT")
    holder.close()
    assert factory.retries.snapshot()["exhausted"] == {"busy": 1}
    assert [r.status for r in hub.send(event)] == ["accepted"]
