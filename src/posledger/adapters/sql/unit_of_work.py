"""A unit of work over a ``Database``: the repositories share one transaction."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from posledger.adapters.sql.database import Database
from posledger.adapters.sql.repositories import (
    SqlEventLog,
    SqlExceptions,
    SqlLedger,
    SqlMasterData,
    SqlParking,
    SqlQueries,
    SqlReservations,
    SqlTokens,
)


class SqlUnitOfWork:
    """Begins on enter; rolls back on exit unless ``commit()`` was called."""

    def __init__(self, db: Database, begin: Callable[[], None], commit: Callable[[], None],
                 rollback: Callable[[], None], release: Callable[[], None] = lambda: None) -> None:
        self._begin, self._commit, self._rollback, self._release = begin, commit, rollback, release
        self._open = False
        self.events = SqlEventLog(db)
        self.parking = SqlParking(db)
        self.ledger = SqlLedger(db)
        self.exceptions = SqlExceptions(db)
        self.master = SqlMasterData(db)
        self.reservations = SqlReservations(db)
        self.queries = SqlQueries(db)
        self.tokens = SqlTokens(db)

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
