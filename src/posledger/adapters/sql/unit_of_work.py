"""A unit of work over a ``Database``: the repositories share one transaction."""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import TracebackType
from typing import Generic, TypeVar

from posledger.adapters.sql.database import Database
from posledger.adapters.sql.repositories import (
    SqlAuditLog,
    SqlChecks,
    SqlEventLog,
    SqlExceptions,
    SqlLedger,
    SqlMasterData,
    SqlParking,
    SqlQueries,
    SqlReservations,
    SqlTokens,
)
from posledger.app.retry import RetryLog, RetryPolicy, run_transaction

T = TypeVar("T")
D = TypeVar("D", bound=Database)

READERS = 8  # reader connections per process at most; more concurrent reads wait for one


class ReaderLease(Generic[D]):
    """One reader connection, taken from its pool until ``give_back`` (once; again is a no-op)."""

    def __init__(self, pool: ReaderPool[D], db: D) -> None:
        self.pool, self.db, self._given_back = pool, db, False

    def give_back(self) -> None:
        if not self._given_back:
            self._given_back = True
            self.pool._return(self.db)


class ReaderPool(Generic[D]):
    """Reader connections for read-only units of work, so reads never queue behind the writer:
    opened on demand, reused, at most ``limit`` in use at once (more readers wait for one)."""

    def __init__(self, open_reader: Callable[[], D], usable: Callable[[D], bool],
                 close_reader: Callable[[D], None], limit: int = READERS) -> None:
        self._open, self._usable, self._close = open_reader, usable, close_reader
        self._idle: queue.SimpleQueue[D] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(limit)
        self._closed = False

    def take(self) -> ReaderLease[D]:
        self._slots.acquire()
        try:
            while True:
                try:
                    db = self._idle.get_nowait()
                except queue.Empty:
                    db = self._open()
                    break
                if self._usable(db):
                    break
                self._close(db)
        except BaseException:
            self._slots.release()
            raise
        return ReaderLease(self, db)

    def _return(self, db: D) -> None:
        if self._closed or not self._usable(db):
            self._close(db)  # readers in use when the pool closed are closed as they come back
        else:
            self._idle.put(db)
        self._slots.release()

    def idle(self) -> int:
        return self._idle.qsize()

    def close_idle(self) -> None:
        while True:
            try:
                self._close(self._idle.get_nowait())
            except queue.Empty:
                return

    def close(self) -> None:
        self._closed = True
        self.close_idle()


class SqlUnitOfWork:
    """Begins on enter; rolls back on exit unless ``commit()`` was called."""

    def __init__(self, db: Database, begin: Callable[[], None], commit: Callable[[], None],
                 rollback: Callable[[], None], release: Callable[[], None] = lambda: None, *,
                 transport_backlog: bool = True) -> None:
        self._begin, self._commit, self._rollback, self._release = begin, commit, rollback, release
        self._open = False
        self.db = db
        self.events = SqlEventLog(db, transport_backlog=transport_backlog)
        self.parking = SqlParking(db)
        self.ledger = SqlLedger(db)
        self.exceptions = SqlExceptions(db)
        self.master = SqlMasterData(db)
        self.reservations = SqlReservations(db)
        self.queries = SqlQueries(db)
        self.tokens = SqlTokens(db)
        self.checks = SqlChecks(db)
        self.audit = SqlAuditLog(db)

    def __enter__(self) -> SqlUnitOfWork:
        self._begin()
        self._open = True
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._open:
                self.rollback()
        finally:
            self._release()

    def commit(self) -> None:
        self._commit()
        self._open = False

    def rollback(self) -> None:
        if self._open:
            self._rollback()
            self._open = False


class RetryingFactory(ABC):
    """What the SQL backends' unit-of-work factories share: ``run`` (the port's retrying entry
    point) over their own ``__call__`` and their own idea of which errors are transient."""

    retries: RetryLog
    policy: RetryPolicy

    @abstractmethod
    def __call__(self, *, read_only: bool = False, settled: bool = False) -> SqlUnitOfWork:
        """A unit of work (not retried); ``settled``: see the port."""

    @abstractmethod
    def transient_kind(self, error: BaseException) -> str | None:
        """A short name for a transient failure of this backend (``deadlock``,
        ``connection``...), or None when retrying would not help."""

    def current_schema_version(self) -> int:
        """The version recorded now, in one attempt (for /health: an upgrade may have run since
        start-up; such a process keeps working, migrations only add)."""
        with self(read_only=True) as uow:
            row = uow.db.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_version")
            return int(row[0]) if row else 0

    def run(self, work: Callable[[SqlUnitOfWork], T], *, read_only: bool = False,
            operation: str = "transaction", idempotent: bool = False, settled: bool = False) -> T:
        return run_transaction(lambda ro: self(read_only=ro, settled=settled and ro), work, read_only=read_only,  # type: ignore[arg-type]
                               operation=operation, classify=self.transient_kind, policy=self.policy,
                               retries=self.retries, idempotent=idempotent)
