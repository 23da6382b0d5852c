"""PostgreSQL: a psycopg 3 connection, the schema migrations, and the unit-of-work factory.

The repositories in ``adapters/sql`` are shared with SQLite; this module only supplies the
``Database`` handle (``?`` placeholders become ``%s``), transactions, id allocation from
sequences, which errors are transient, and the migrations.

Schema changes and running processes: only ``posledger db upgrade`` changes the schema. It
holds the *schema gate* (an advisory lock) exclusively while it migrates; every transaction of
every posledger process takes the same lock shared as its first statement. So an upgrade waits
for the transactions in flight, the transactions that start meanwhile wait for the upgrade
(they pause and resume; none deadlocks against DDL), and a process starting during an upgrade
sees the gate taken and waits for it, saying so. At start-up a process only *reads* the schema
version, and refuses to run on another version than its own, naming the command to run.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any

import psycopg
import psycopg.errors

from posledger.adapters.sql.database import Row
from posledger.adapters.sql.migrations import Migration, SchemaMismatch, load_migrations, pending
from posledger.adapters.sql.unit_of_work import ReaderPool, RetryingFactory, SqlUnitOfWork
from posledger.app.retry import DEFAULT_POLICY, RetryLog, RetryPolicy

log = logging.getLogger("posledger.postgres")
_SEQUENCES = {("events", '"offset"'): "events_offset_seq",
              ("journal_entries", "entry_id"): "journal_entries_entry_id_seq",
              ("stock_moves", "move_id"): "stock_moves_move_id_seq"}


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """``?`` placeholders to psycopg's ``%s`` (the SQL has no literal ``%`` or ``?``)."""
    return re.sub(r"\?", "%s", sql)


class PostgresDatabase:
    dialect = "postgresql"

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

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self.connection.cursor() as cursor, \
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def upsert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    on_conflict: str) -> None:
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                         f"{on_conflict}", rows)

    def next_ids(self, table: str, column: str, count: int) -> list[int]:
        sequence = _SEQUENCES[(table, column)]
        rows = self.fetchall(f"SELECT nextval('{sequence}') FROM generate_series(1, ?)", (count,))
        return [int(row[0]) for row in rows]


# ---------------------------------------------------------------------------------------- errors

# SQLSTATEs that say "the transaction failed, not the work": run it again.
_TRANSIENT_SQLSTATES = {
    "40001": "serialization_failure",
    "40P01": "deadlock",
    "40003": "commit_unknown",
    "55P03": "lock_timeout",
    "57P01": "admin_shutdown",
    "57P02": "crash_shutdown",
    "57P03": "cannot_connect_now",
    "53300": "too_many_connections",
}


def transient_kind(error: BaseException) -> str | None:
    """The kind of a transient PostgreSQL failure, or None. Connection failures (class 08, or a
    libpq error with no SQLSTATE: refused, reset, closed) are transient; a wrong password or a
    missing database (they carry a SQLSTATE of their own) is not."""
    if not isinstance(error, psycopg.Error):
        return None
    state = error.sqlstate
    if state in _TRANSIENT_SQLSTATES:
        return _TRANSIENT_SQLSTATES[state]
    if state is not None:
        return "connection" if state.startswith("08") else None
    if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        return "connection"
    return None


# ------------------------------------------------------------------------------ the schema gate

_GATE_CLASS = 7262534  # pg_advisory_lock(int, int): (this, the schema's crc32) is the gate
_WRITER_GATE_CLASS = 7262535  # (this, the schema's crc32): the writer gate of settled snapshots
# A server that vanishes (a failover, a cut cable) is noticed in about 30 s, not hours: a
# transaction waiting on a dead socket would otherwise hold this process's unit of work.
_LIBPQ_OPTIONS: dict[str, Any] = {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10,
                                  "keepalives_interval": 5, "keepalives_count": 3, "tcp_user_timeout": 30_000}


def _gate_key(schema: str | None) -> tuple[int, int]:
    """One gate per schema (tests give each run a schema of its own in one database)."""
    return _GATE_CLASS, zlib.crc32((schema or "").encode()) & 0x7FFFFFFF


def _writer_gate_key(schema: str | None) -> tuple[int, int]:
    """Held shared by every write transaction (with the schema gate, in the same statement) and
    exclusively, for a moment, by a check taking a settled snapshot: reads never hold it, so a
    check waits for the writes in flight only, and a report never holds up a check."""
    return _WRITER_GATE_CLASS, zlib.crc32((schema or "").encode()) & 0x7FFFFFFF


@cache
def postgres_migrations() -> tuple[Migration, ...]:
    return tuple(load_migrations("posledger.adapters.postgres"))


def latest_version() -> int:
    return postgres_migrations()[-1].version


def _options(schema: str | None) -> str:
    return f"-c search_path={schema}" if schema else ""


def current_version(connection: psycopg.Connection[Any]) -> int:
    """The schema version recorded in the database; 0 when it has no posledger schema."""
    row = connection.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
    return int(row[0]) if row else 0


def connect(url: str, *, schema: str | None = None, autocommit: bool = False, timeout: float = 120.0,
            sleep: Callable[[float], None] = time.sleep, application_name: str = "posledger"
            ) -> psycopg.Connection[Any]:
    """Connect, waiting up to ``timeout`` seconds while the server is unreachable or starting
    (with a log line each time). An error a wait cannot fix (a wrong password, no such database)
    is raised at once."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            return psycopg.connect(url, autocommit=autocommit, options=_options(schema),
                                   application_name=application_name, **_LIBPQ_OPTIONS)
        except psycopg.OperationalError as error:
            kind = transient_kind(error)
            if kind is None or time.monotonic() + delay > deadline:
                raise
            log.warning("PostgreSQL at %s is unreachable (%s); retrying in %.1f s", url.split("@")[-1],
                        str(error).strip().splitlines()[0] if str(error).strip() else kind, delay)
            sleep(delay)
            delay = min(delay * 2, 5.0)


def await_schema(connection: psycopg.Connection[Any], *, schema: str | None = None, expected: int | None = None,
                 sleep: Callable[[float], None] = time.sleep, say: Callable[[str], None] | None = None) -> int:
    """Return the schema version once no upgrade is running and it is ``expected``; while an
    upgrade runs, wait (saying so); on another version raise ``SchemaMismatch``. Reads only."""
    expected = latest_version() if expected is None else expected
    say = say or log.warning
    key = _gate_key(schema)
    waited = 0.0
    while True:
        with connection.transaction():
            free = connection.execute("SELECT pg_try_advisory_xact_lock_shared(%s, %s)", key).fetchone()
            if free and free[0]:
                found = current_version(connection)
                break
        if waited == 0.0 or waited % 10 < 0.5:
            say(f"waiting for a schema upgrade (`posledger db upgrade`) to finish before starting "
                f"({waited:.0f} s so far)")
        sleep(0.5)
        waited += 0.5
    if found != expected:
        raise SchemaMismatch(found, expected)
    return found


@dataclass
class UpgradeReport:
    before: int
    after: int
    applied: list[tuple[str, float]] = field(default_factory=list)  # label, seconds


def _take_gate(connection: psycopg.Connection[Any], key: tuple[int, int], say: Callable[[str], None],
               timeout: float, wait_seconds: float = 5.0) -> None:
    """Take the gate exclusively. While this request waits, every new transaction queues behind
    it, so it waits at most ``wait_seconds`` at a time: a transaction that holds the gate longer
    (a long report, a stuck client) is named, the queue is let through, and the upgrade tries
    again, for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    connection.execute(f"SET lock_timeout = '{int(wait_seconds * 1000)}ms'")
    try:
        while True:
            try:
                connection.execute("SELECT pg_advisory_lock(%s, %s)", key)
                return
            except psycopg.errors.LockNotAvailable:
                holders = connection.execute(
                    "SELECT a.pid, a.application_name, COALESCE(EXTRACT(EPOCH FROM now() - a.xact_start), 0) "
                    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                    "AND l.classid = %s AND l.objid = %s AND l.objsubid = 2 AND l.granted", key).fetchall()
                named = ", ".join(f"pid {pid} ({name or 'unnamed'}, {float(age):.0f} s)" for pid, name, age in holders)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the schema gate stayed held for {timeout:.0f} s by: {named}; end "
                                       "those transactions (pg_terminate_backend) or try again later") from None
                say(f"transactions still hold the schema gate after {wait_seconds:.0f} s ({named}); "
                    "letting the others through, trying again")
                time.sleep(1.0)
    finally:
        connection.execute("SET lock_timeout = 0")


def upgrade(url: str, *, schema: str | None = None, migrations: Sequence[Migration] | None = None,
            progress: Callable[[str], None] | None = None, gate_timeout: float = 300.0) -> UpgradeReport:
    """Apply the pending migrations, each in its own transaction, holding the schema gate.

    Running processes pause at their next transaction and resume when it is done. Two upgrades
    at once: the second waits at the gate, then finds nothing left to do."""
    migrations = list(migrations if migrations is not None else postgres_migrations())
    latest = migrations[-1].version
    say = progress or (lambda message: None)
    connection = connect(url, schema=schema, autocommit=True, application_name="posledger db upgrade")
    try:
        if schema:
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        before = current_version(connection)
        if before > latest:
            raise SchemaMismatch(before, latest)
        report = UpgradeReport(before, before)
        if before == latest:
            return report
        say(f"waiting for running transactions to finish (the schema gate), then migrating {before} -> {latest}")
        key = _gate_key(schema)
        _take_gate(connection, key, say, gate_timeout)
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            for migration in pending(migrations, current_version(connection)):
                started = time.monotonic()
                say(f"applying {migration.label}")
                with connection.transaction():
                    connection.execute(migration.sql.encode())
                    connection.execute("INSERT INTO schema_version (version) VALUES (%s)", (migration.version,))
                report.applied.append((migration.label, time.monotonic() - started))
                report.after = migration.version
            report.after = current_version(connection)
        finally:
            with contextlib.suppress(psycopg.Error):  # a broken connection has released it already
                connection.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        return report
    finally:
        connection.close()


def status(url: str, *, schema: str | None = None) -> dict[str, Any]:
    """The database's schema version, this release's, what is pending, whether an upgrade runs."""
    with connect(url, schema=schema, autocommit=True, timeout=10) as connection:
        found = current_version(connection)
        row = connection.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND mode = "
                                 "'ExclusiveLock' AND classid = %s AND objid = %s AND objsubid = 2",
                                 _gate_key(schema)).fetchone()
    return {"database": found, "expected": latest_version(),
            "pending": [m.label for m in pending(list(postgres_migrations()), found)],
            "upgrade_running": bool(row and row[0])}


# ---------------------------------------------------------------------------- the unit of work



class PostgresUnitOfWork(RetryingFactory):
    """The unit-of-work factory for one PostgreSQL database (``url``, a libpq URL).

    One connection per factory, one transaction at a time (threads queue on a lock), as with
    SQLite; several processes each hold their own connection. Opening it waits for the server
    (``startup_timeout``) and for a running upgrade, then checks the schema version; it never
    changes the schema (``upgrade`` does)."""

    def __init__(self, url: str, *, schema: str | None = None, retries: RetryLog | None = None,
                 policy: RetryPolicy = DEFAULT_POLICY, startup_timeout: float = 120.0,
                 say: Callable[[str], None] | None = None, application_name: str = "posledger",
                 transport_backlog: bool = True) -> None:
        self.url = url
        self.transport_backlog = transport_backlog  # accepted events wait for a relay (NATS runs)
        self.schema = schema
        self.retries = retries or RetryLog()
        self.policy = policy
        self._options = _options(schema)
        self._gate = _gate_key(schema)
        self._writer_gate = _writer_gate_key(schema)
        self._application_name = application_name  # who is who in pg_stat_activity
        connection = connect(url, schema=schema, autocommit=True, timeout=startup_timeout,
                             application_name=application_name)
        try:
            self.expected_schema_version = await_schema(connection, schema=schema, say=say)
        except BaseException:
            connection.close()
            raise
        connection.autocommit = False
        self._connection = connection
        self._db = PostgresDatabase(connection)
        self._lock = threading.RLock()
        self._open = False  # a unit of work is open (one at a time per factory)
        self._readers = ReaderPool(self._open_reader,
                                   lambda reader: not (reader.connection.broken or reader.connection.closed),
                                   lambda reader: reader.connection.close())

    def transient_kind(self, error: BaseException) -> str | None:
        return transient_kind(error)

    def _reconnect_if_broken(self) -> None:
        """A terminated backend or a restarted server breaks the connection: open a new one.
        The transaction that was running is gone (rolled back by the server), so nothing is lost."""
        if not (self._connection.broken or self._connection.closed):
            return
        self._connection = psycopg.connect(self.url, autocommit=False, options=self._options,
                                           application_name=self._application_name, **_LIBPQ_OPTIONS)
        self._db.connection = self._connection

    def _abandon(self) -> None:
        """End whatever transaction is open; a connection that cannot even roll back is closed,
        and the next transaction opens a new one."""
        try:
            if not (self._connection.broken or self._connection.closed):
                self._connection.rollback()
        except psycopg.Error:
            self._connection.close()

    def _open_reader(self) -> PostgresDatabase:
        connection = psycopg.connect(self.url, autocommit=False, options=self._options,
                                     application_name=self._application_name, **_LIBPQ_OPTIONS)
        connection.read_only = True
        return PostgresDatabase(connection)

    def _settle(self, connection: psycopg.Connection[Any], deadline_seconds: float = 60.0) -> None:
        """Begin a repeatable-read transaction whose snapshot no write was in flight for: take
        the writer gate exclusively (waiting for the write transactions in flight, a posting
        batch at most), take the snapshot, let the writers go. Each try waits at most 1 s, then
        lets the writers queued behind it through before trying again."""
        deadline = time.monotonic() + deadline_seconds
        while True:
            try:
                connection.execute("SET lock_timeout = '1s'")
                connection.execute("SELECT pg_advisory_lock(%s, %s)", self._writer_gate)
                connection.commit()
                break
            except psycopg.errors.LockNotAvailable:
                connection.rollback()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        connection.execute("RESET lock_timeout")
        connection.commit()
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", self._gate)  # the snapshot
        connection.execute("SELECT pg_advisory_unlock(%s, %s)", self._writer_gate)

    def _read_unit(self, settled: bool) -> SqlUnitOfWork:
        """Reads run on their own connections, never queued behind this process's writer (or
        each other, up to ``READERS`` at once): a heavy report does not hold up ingest or posting."""
        lease = self._readers.take()
        connection = lease.db.connection

        def begin() -> None:
            try:
                if settled:
                    self._settle(connection)
                else:
                    connection.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", self._gate)
            except BaseException as error:
                # Closing drops whatever it holds (a session lock on the writer gate would stop
                # every writer): the pool opens a new connection next time.
                connection.close()
                lease.give_back()
                if transient_kind(error) is not None:
                    # The server restarted or ended our sessions: the idle readers are as dead
                    # as this one, so close them all rather than fail once for each.
                    self._readers.close_idle()
                raise

        def rollback() -> None:
            try:
                if not (connection.broken or connection.closed):
                    connection.rollback()
                    connection.isolation_level = None
            except psycopg.Error:
                connection.close()

        return SqlUnitOfWork(lease.db, begin, lambda: None, rollback, lease.give_back)

    def __call__(self, *, read_only: bool = False, settled: bool = False) -> SqlUnitOfWork:
        if read_only:
            return self._read_unit(settled)

        def begin() -> None:
            self._lock.acquire()
            if self._open:  # the same thread again: its commit would end the outer transaction
                self._lock.release()
                raise RuntimeError("a unit of work is already open on this thread; units of work do not nest")
            try:
                self._reconnect_if_broken()
                # Shared holds on the schema gate (waits while an upgrade runs) and on the writer
                # gate (a settled snapshot waits for this transaction), in one round trip.
                self._connection.execute("SELECT pg_advisory_xact_lock_shared(%s, %s), "
                                         "pg_advisory_xact_lock_shared(%s, %s)", (*self._gate, *self._writer_gate))
            except BaseException:
                self._abandon()
                self._lock.release()
                raise
            self._open = True

        def commit() -> None:
            self._connection.commit()

        def release() -> None:
            self._open = False
            self._lock.release()

        return SqlUnitOfWork(self._db, begin, commit, self._abandon, release,
                             transport_backlog=self.transport_backlog)

    def close(self) -> None:
        self._connection.close()
        self._readers.close()  # readers in use are closed as they come back
