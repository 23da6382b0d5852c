"""SQLite: connection set-up (WAL, synchronous=FULL), schema, and the unit-of-work factory.

Durability: with ``synchronous=FULL`` in WAL mode, a transaction is on disk when COMMIT
returns, so "accepted" means what it says even across power loss. Write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing mid-way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from posledger.adapters.sql.database import Row
from posledger.adapters.sql.unit_of_work import SqlUnitOfWork

SCHEMA_VERSION = 1


class SqliteDatabase:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cursor = self.connection.execute(sql, params)
        row = cursor.fetchone()
        cursor.close()
        return row  # type: ignore[no-any-return]

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.connection.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.connection.execute(sql, params).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        return self.connection.executemany(sql, rows).rowcount

    def conflict_errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.IntegrityError,)

    def next_ids(self, table: str, column: str, count: int) -> list[int]:
        """Safe without a sequence: every write transaction holds SQLite's write lock
        (BEGIN IMMEDIATE), so nobody else can take the same ids."""
        row = self.connection.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()
        return list(range(int(row[0]) + 1, int(row[0]) + 1 + count))


def _connect(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=30000")
    connection.execute("PRAGMA cache_size=-65536")
    connection.execute("PRAGMA temp_store=MEMORY")
    connection.execute("PRAGMA wal_autocheckpoint=10000")
    return connection


def _migrate(connection: sqlite3.Connection) -> None:
    """Create what is missing. Every statement is idempotent, so two processes opening a new
    file at once both succeed."""
    schema = resources.files("posledger.adapters.sqlite").joinpath("schema.sql").read_text()
    connection.executescript("BEGIN IMMEDIATE;" + schema + "COMMIT;")
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    if row is None or row[0] is None:
        connection.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
    elif row[0] > SCHEMA_VERSION:
        raise RuntimeError(f"database schema {row[0]} is newer than this posledger ({SCHEMA_VERSION})")


class SqliteUnitOfWork:
    """The unit-of-work factory for one SQLite file. One connection, one transaction at a time
    (a lock serialises threads); SQLite itself serialises processes."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._connection = _connect(self.path)
        _migrate(self._connection)
        self._db = SqliteDatabase(self._connection)
        self._lock = threading.RLock()

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        connection = self._connection

        def begin() -> None:
            self._lock.acquire()
            try:
                connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
            except BaseException:
                self._lock.release()
                raise

        def commit() -> None:
            connection.execute("COMMIT")

        def rollback() -> None:
            connection.execute("ROLLBACK")

        return SqlUnitOfWork(self._db, begin, commit, rollback, self._lock.release)

    def close(self) -> None:
        self._connection.close()


def open_sqlite(path: str | Path) -> SqliteUnitOfWork:
    return SqliteUnitOfWork(path)
