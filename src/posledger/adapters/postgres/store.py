"""PostgreSQL: a psycopg 3 connection, the schema, and the unit-of-work factory.

The repositories in ``adapters/sql`` are shared with SQLite; this module only supplies the
``Database`` handle (``?`` placeholders become ``%s``), transactions, id allocation from
sequences, and the DDL.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import psycopg
import psycopg.errors

from posledger.adapters.sql.database import Row
from posledger.adapters.sql.unit_of_work import SqlUnitOfWork

SCHEMA_VERSION = 1
_SEQUENCES = {("events", '"offset"'): "events_offset_seq"}


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (the SQL has no literal ``%`` or ``?``)."""
    return re.sub(r"\?", "%s", sql)


class PostgresDatabase:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self.connection.cursor() as cursor:
            cursor.execute(_pg(sql), tuple(params))
            return cursor.fetchone()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.connection.cursor() as cursor:
            cursor.execute(_pg(sql), tuple(params))
            return list(cursor.fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(_pg(sql), tuple(params))
            return cursor.rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int:
        rows = [tuple(row) for row in rows]
        if not rows:
            return 0
        with self.connection.cursor() as cursor:
            cursor.executemany(_pg(sql), rows)
            return cursor.rowcount

    def conflict_errors(self) -> tuple[type[BaseException], ...]:
        return (psycopg.errors.UniqueViolation,)

    def next_ids(self, table: str, column: str, count: int) -> list[int]:
        sequence = _SEQUENCES[(table, column)]
        rows = self.fetchall(f"SELECT nextval('{sequence}') FROM generate_series(1, ?)", (count,))
        return [int(row[0]) for row in rows]


def _migrate(connection: psycopg.Connection[Any]) -> None:
    schema = resources.files("posledger.adapters.postgres").joinpath("schema.sql").read_text()
    with connection.transaction():
        # Two processes starting at once: the advisory lock makes the second wait, then find
        # everything in place.
        connection.execute("SELECT pg_advisory_xact_lock(7262534)")
        connection.execute(schema)
        row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
        if row is None or row[0] is None:
            connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise RuntimeError(f"database schema {row[0]} is newer than this posledger ({SCHEMA_VERSION})")


class PostgresUnitOfWork:
    """The unit-of-work factory for one PostgreSQL database (``url``, a libpq URL).

    One connection per factory, one transaction at a time (threads queue on a lock), as with
    SQLite; several processes each hold their own connection."""

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = url
        self._options = f"-c search_path={schema}" if schema else ""
        connection: psycopg.Connection[Any] = psycopg.connect(url, autocommit=True, options=self._options)
        if schema:
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        _migrate(connection)
        connection.autocommit = False
        self._connection = connection
        self._db = PostgresDatabase(connection)
        self._lock = threading.RLock()

    def _reconnect_if_broken(self) -> None:
        """A terminated backend or a restarted server breaks the connection: open a new one.
        The transaction that was running is gone (rolled back by the server), so nothing is lost."""
        if not (self._connection.broken or self._connection.closed):
            return
        self._connection = psycopg.connect(self.url, autocommit=False, options=self._options)
        self._db.connection = self._connection

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        def begin() -> None:
            self._lock.acquire()
            try:
                self._reconnect_if_broken()
            except BaseException:
                self._lock.release()
                raise

        def commit() -> None:
            self._connection.commit()

        def rollback() -> None:
            if not self._connection.broken:
                self._connection.rollback()

        return SqlUnitOfWork(self._db, begin, commit, rollback, self._lock.release)

    def close(self) -> None:
        self._connection.close()
