"""SQLite: connection set-up (WAL, synchronous=FULL), migrations, and the unit-of-work factory.

Durability: with ``synchronous=FULL`` in WAL mode, a transaction is on disk when COMMIT
returns, so "accepted" means what it says even across power loss. Write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing mid-way.

The embedded file belongs to one process (and the commands an operator runs beside it), so
opening it applies pending migrations, each in its own ``BEGIN IMMEDIATE`` transaction; a file
from a newer posledger is refused.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from itertools import chain
from pathlib import Path
from typing import Any

from posledger.adapters.sql.database import Row
from posledger.adapters.sql.migrations import (
    Migration,
    SchemaMismatch,
    load_migrations,
    pending,
    sqlite_statements,
)
from posledger.adapters.sql.unit_of_work import ReaderPool, RetryingFactory, SqlUnitOfWork
from posledger.app.retry import DEFAULT_POLICY, RetryLog, RetryPolicy

ROWS_PER_INSERT = 100
MAX_VARIABLES = 999  # what SQLite before 3.32 allowed in one statement; newer ones allow 32,766


class SqliteDatabase:
    dialect = "sqlite"

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

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Rows in statements of up to ``ROWS_PER_INSERT`` rows each (``VALUES (…), (…), …``):
        a row costs about 60 % of what it costs one statement per row, where the sqlite3
        module's per-row round trip is most of the price (measured in bench/, issue 7)."""
        self.upsert_many(table, columns, rows, "")

    def upsert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    on_conflict: str) -> None:
        if not rows:
            return
        width = len(columns)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        one = f"({', '.join('?' * width)})"
        tail = f" {on_conflict}" if on_conflict else ""
        per = max(1, min(ROWS_PER_INSERT, MAX_VARIABLES // width))
        whole = len(rows) - len(rows) % per
        if whole:
            flat = list(chain.from_iterable(rows[:whole]))
            step = per * width
            self.connection.executemany(head + ",".join([one] * per) + tail,
                                        [flat[start:start + step] for start in range(0, len(flat), step)])
        if whole < len(rows):
            self.connection.executemany(head + one + tail, rows[whole:])

    def next_ids(self, table: str, column: str, count: int) -> list[int]:
        """Safe without a sequence: every write transaction holds SQLite's write lock
        (BEGIN IMMEDIATE), so nobody else can take the same ids."""
        row = self.connection.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()
        return list(range(int(row[0]) + 1, int(row[0]) + 1 + count))


BUSY_TIMEOUT_SECONDS = 5.0  # well inside the retry deadline, so a lock held longer is retried


def owner_only(path: str) -> None:
    """The database file readable and writable by its owner alone (CONTRACT section 15): created
    so, or narrowed when an older release left it open to others. SQLite gives the WAL and
    shared-memory files the database file's permissions."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        for name in (path, f"{path}-wal", f"{path}-shm"):
            if os.path.exists(name) and os.stat(name).st_mode & 0o077 and os.stat(name).st_uid == os.getuid():
                os.chmod(name, 0o600)
    except OSError:  # a read-only directory or file: SQLite reports what matters
        pass


def connect(path: str, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> sqlite3.Connection:
    owner_only(path)
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=busy_timeout)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    connection.execute("PRAGMA cache_size=-65536")
    connection.execute("PRAGMA temp_store=MEMORY")
    connection.execute("PRAGMA wal_autocheckpoint=10000")
    return connection


@cache
def sqlite_migrations() -> tuple[Migration, ...]:
    return tuple(load_migrations("posledger.adapters.sqlite"))


def current_version(connection: sqlite3.Connection) -> int:
    """The schema version recorded in the file; 0 when it has no posledger schema yet."""
    if connection.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone() is None:
        return 0
    row = connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def upgrade(connection: sqlite3.Connection, migrations: Sequence[Migration] | None = None,
            progress: Callable[[str], None] | None = None) -> list[tuple[str, float]]:
    """Apply pending migrations, each with its ``schema_version`` row in one transaction, the
    version re-read under the write lock (two processes opening a new file at once: the second
    finds the work done). Returns what was applied, with seconds."""
    migrations = list(migrations if migrations is not None else sqlite_migrations())
    latest = migrations[-1].version
    found = current_version(connection)
    if found > latest:
        raise SchemaMismatch(found, latest)
    applied: list[tuple[str, float]] = []
    for migration in pending(migrations, found):
        started = time.monotonic()
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            if current_version(connection) < migration.version:
                if progress is not None:
                    progress(f"applying {migration.label}")
                for statement in sqlite_statements(migration.sql):
                    connection.execute(statement)
                connection.execute("INSERT INTO schema_version (version) VALUES (?)", (migration.version,))
                applied.append((migration.label, time.monotonic() - started))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back already
                connection.execute("ROLLBACK")
            raise
    return applied


def transient_kind(error: BaseException) -> str | None:
    """SQLite's only transient failure: another connection held the lock past busy_timeout."""
    if isinstance(error, sqlite3.OperationalError):
        text = str(error).lower()
        if "locked" in text or "busy" in text:
            return "busy"
    return None


class WriterQueue:
    """Write transactions of every posledger process on one file, one at a time, through an
    advisory lock on ``<file>.writer-lock`` taken before ``BEGIN IMMEDIATE``.

    SQLite alone serialises them too, but a writer that finds the file locked sleeps in its
    busy handler, by steps that grow to 100 ms; with ingest and posting in two processes
    committing back to back that sleep, not the work, set the pace of ``serve``. Waiting here
    instead ends within a fraction of a millisecond of the holder's release. The wait is
    bounded like SQLite's busy timeout: past it, "database is locked", which the retry loop
    backs off and retries. A process that dies releases the lock with its file descriptors."""

    FIRST_POLLS = 0.05  # seconds of short polls (0.2 ms) before settling to 1 ms ones

    def __init__(self, path: str, timeout: float) -> None:
        self._fd = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._timeout = timeout

    def acquire(self) -> None:
        deadline = started = time.monotonic()
        deadline += self._timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                if now >= deadline:
                    raise sqlite3.OperationalError("database is locked (another posledger process is "
                                                   "writing)") from None
                time.sleep(0.0002 if now - started < self.FIRST_POLLS else 0.001)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class SqliteUnitOfWork(RetryingFactory):
    """The unit-of-work factory for one SQLite file. One writer connection, one write
    transaction at a time (a lock serialises threads; SQLite itself serialises processes).
    Read-only units of work run on reader connections of their own (WAL lets readers work
    beside the writer, each in its own snapshot), so a heavy report neither waits for nor holds
    up ingest and posting. ``settled`` needs nothing here: ids are handed out under the write
    lock, so any committed id was committed after every smaller one."""

    def __init__(self, path: str | Path, *, retries: RetryLog | None = None,
                 policy: RetryPolicy = DEFAULT_POLICY, busy_timeout: float = BUSY_TIMEOUT_SECONDS,
                 transport_backlog: bool = True) -> None:
        self.path = str(path)
        self.transport_backlog = transport_backlog  # accepted events wait for a relay (NATS runs)
        self.retries = retries or RetryLog()
        self.policy = policy
        self._connection = connect(self.path, busy_timeout)
        try:
            upgrade(self._connection)
        except BaseException:
            self._connection.close()
            raise
        self.expected_schema_version = sqlite_migrations()[-1].version
        self._db = SqliteDatabase(self._connection)
        self._lock = threading.RLock()
        self._busy_timeout = busy_timeout
        self._writers = WriterQueue(self.path, busy_timeout) if self.path != ":memory:" else None
        self._readers = ReaderPool(self._open_reader, lambda reader: True,
                                   lambda reader: reader.connection.close())

    def transient_kind(self, error: BaseException) -> str | None:
        return transient_kind(error)

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to the file (SQLite's
        ``PRAGMA data_version`` on the writer connection; this factory's own commits leave it
        be). Read inside a write transaction, it says whether anyone wrote since it was last read."""
        with self._lock:
            row = self._connection.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def _open_reader(self) -> SqliteDatabase:
        connection = connect(self.path, self._busy_timeout)
        connection.execute("PRAGMA query_only=ON")
        return SqliteDatabase(connection)

    def _read_unit(self) -> SqlUnitOfWork:
        lease = self._readers.take()
        connection = lease.db.connection

        def begin() -> None:
            try:
                connection.execute("BEGIN")
            except BaseException:
                lease.give_back()
                raise

        def rollback() -> None:
            if connection.in_transaction:
                connection.execute("ROLLBACK")

        return SqlUnitOfWork(lease.db, begin, lambda: None, rollback, lease.give_back)

    def __call__(self, *, read_only: bool = False, settled: bool = False) -> SqlUnitOfWork:
        if read_only and self.path != ":memory:":
            return self._read_unit()
        connection = self._connection

        writers = None if read_only else self._writers

        def begin() -> None:
            self._lock.acquire()
            try:
                if writers is not None:
                    writers.acquire()
                try:
                    connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
                except BaseException:
                    if writers is not None:
                        writers.release()
                    raise
            except BaseException:
                self._lock.release()
                raise

        def commit() -> None:
            connection.execute("COMMIT")

        def rollback() -> None:
            if connection.in_transaction:
                connection.execute("ROLLBACK")

        def end() -> None:
            try:
                if writers is not None:
                    writers.release()
            finally:
                self._lock.release()

        return SqlUnitOfWork(self._db, begin, commit, rollback, end, transport_backlog=self.transport_backlog)

    def close(self) -> None:
        self._connection.close()
        self._readers.close()
        if self._writers is not None:
            self._writers.close()


def open_sqlite(path: str | Path) -> SqliteUnitOfWork:
    return SqliteUnitOfWork(path)
