"""Versioned migrations: only `db upgrade` changes a PostgreSQL schema; processes read the
version at start-up, wait while an upgrade runs, refuse another version, and pause (not fail)
while an upgrade runs under them. The SQLite file upgrades itself on open."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from posledger.adapters.sql.migrations import Migration, SchemaMismatch, sqlite_statements
from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.adapters.sqlite import store as sqlite_store
from posledger.app.ingest import ingest
from posledger.app.master_data import load_master_data
from posledger.app.ports import NewEvent
from tests.contract.conftest import POSTGRES_URL, postgres_or_skip
from tests.support.builders import MASTER, line, sale, tender
from tests.support.harness import FixedClock

# ------------------------------------------------------------------------------------- SQLite


def test_a_new_sqlite_file_gets_every_migration_and_opening_it_again_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    factory = SqliteUnitOfWork(path)
    latest = sqlite_store.sqlite_migrations()[-1].version
    assert factory.current_schema_version() == latest == factory.expected_schema_version
    factory.close()
    SqliteUnitOfWork(path).close()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(v,) for v in range(1, latest + 1)]


def test_a_file_made_before_versioned_migrations_is_taken_as_version_1(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:  # what the single idempotent script used to leave
        connection.executescript(sqlite_store.sqlite_migrations()[0].sql)
        connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
    factory = SqliteUnitOfWork(path)
    assert factory.current_schema_version() == sqlite_store.sqlite_migrations()[-1].version
    factory.close()


def test_a_sqlite_file_from_a_newer_posledger_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    SqliteUnitOfWork(path).close()
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO schema_version VALUES (999)")
    with pytest.raises(SchemaMismatch, match="newer than this posledger knows") as raised:
        SqliteUnitOfWork(path)
    assert raised.value.found == 999


def test_a_sqlite_migration_that_fails_leaves_the_file_at_the_version_before(tmp_path: Path) -> None:
    path = tmp_path / "failing.db"
    SqliteUnitOfWork(path).close()
    migrations = [*sqlite_store.sqlite_migrations(),
                  Migration(len(sqlite_store.sqlite_migrations()) + 1, "adds_then_fails",
                            "ALTER TABLE events ADD COLUMN note TEXT;\nSELECT * FROM no_such_table;\n")]
    connection = sqlite_store.connect(str(path))
    with pytest.raises(sqlite3.OperationalError):
        sqlite_store.upgrade(connection, migrations)
    columns = [row[1] for row in connection.execute("PRAGMA table_info(events)")]
    assert "note" not in columns
    assert sqlite_store.current_version(connection) == migrations[-2].version
    connection.close()


def test_sqlite_scripts_split_into_whole_statements_triggers_included() -> None:
    script = """-- a comment
CREATE TABLE a (x INTEGER); -- trailing
CREATE TRIGGER t AFTER INSERT ON a BEGIN
    UPDATE a SET x = x + 1;
END;
INSERT INTO a VALUES (1);
-- the end
"""
    statements = sqlite_statements(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


# --------------------------------------------------------------------------------- PostgreSQL


@pytest.fixture
def pg_schema() -> Iterator[str]:
    postgres_or_skip()
    schema = f"m_{uuid.uuid4().hex[:12]}"
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _pg() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(POSTGRES_URL, autocommit=True)


def test_a_process_refuses_a_database_without_schema_and_names_the_command(pg_schema: str) -> None:
    from posledger.adapters.postgres import PostgresUnitOfWork

    with _pg() as connection:
        connection.execute(f'CREATE SCHEMA "{pg_schema}"')
    with pytest.raises(SchemaMismatch, match="run `posledger db upgrade`"):
        PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema)
    with _pg() as connection:  # the refusal only read: nothing was created
        tables = connection.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s",
                                    (pg_schema,)).fetchone()
    assert tables == (0,)


def test_upgrade_applies_each_migration_once_and_reports_it(pg_schema: str) -> None:
    from posledger.adapters.postgres import store

    first = store.upgrade(POSTGRES_URL, schema=pg_schema)
    assert first.before == 0 and first.after == store.latest_version()
    assert [label for label, _ in first.applied] == [m.label for m in store.postgres_migrations()]
    again = store.upgrade(POSTGRES_URL, schema=pg_schema)
    assert again.applied == [] and again.after == store.latest_version()
    status = store.status(POSTGRES_URL, schema=pg_schema)
    assert status == {"database": store.latest_version(), "expected": store.latest_version(), "pending": [],
                      "upgrade_running": False}


def test_a_database_from_a_newer_posledger_is_refused(pg_schema: str) -> None:
    from posledger.adapters.postgres import PostgresUnitOfWork, store

    store.upgrade(POSTGRES_URL, schema=pg_schema)
    with _pg() as connection:
        connection.execute(f'INSERT INTO "{pg_schema}".schema_version VALUES (999)')
    with pytest.raises(SchemaMismatch, match="newer than this posledger knows"):
        PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema)
    with pytest.raises(SchemaMismatch):
        store.upgrade(POSTGRES_URL, schema=pg_schema)


def test_a_process_starting_during_an_upgrade_waits_for_it_and_says_so(pg_schema: str) -> None:
    from posledger.adapters.postgres import PostgresUnitOfWork, store

    store.upgrade(POSTGRES_URL, schema=pg_schema)
    said: list[str] = []
    opened: list[PostgresUnitOfWork] = []
    with _pg() as upgrader:  # holds the gate as `db upgrade` does
        upgrader.execute("SELECT pg_advisory_lock(%s, %s)", store._gate_key(pg_schema))
        starting = threading.Thread(target=lambda: opened.append(
            PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema, say=said.append)))
        starting.start()
        time.sleep(1.5)
        assert not opened and said and "waiting for a schema upgrade" in said[0]
        assert store.status(POSTGRES_URL, schema=pg_schema)["upgrade_running"] is True
        upgrader.execute("SELECT pg_advisory_unlock(%s, %s)", store._gate_key(pg_schema))
    starting.join(10)
    assert opened, "the process started once the upgrade was over"
    opened[0].close()


def test_transactions_pause_while_an_upgrade_migrates_and_resume_after(pg_schema: str) -> None:
    """A migration that takes 2 s while a writer ingests in a loop: the writer's commits stop
    for the migration (none fails, none deadlocks against the DDL) and go on after it."""
    from posledger.adapters.postgres import PostgresUnitOfWork, store

    store.upgrade(POSTGRES_URL, schema=pg_schema)
    factory = PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema)
    clock = FixedClock()
    load_master_data(factory, MASTER, clock=clock)
    commits: list[float] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def writer() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"P-{number}")
            try:
                ingest(factory, [event], clock=clock)
            except BaseException as error:  # noqa: BLE001 - the test reports it
                failures.append(error)
                return
            commits.append(time.monotonic())

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(0.5)
    slow = Migration(store.latest_version() + 1, "slow_column",
                     "SELECT pg_sleep(2);\nALTER TABLE journal_lines ADD COLUMN IF NOT EXISTS note TEXT;")
    started = time.monotonic()
    report = store.upgrade(POSTGRES_URL, schema=pg_schema, migrations=[*store.postgres_migrations(), slow])
    ended = time.monotonic()
    time.sleep(0.5)
    stop.set()
    thread.join(10)
    factory.close()
    assert not failures, failures
    assert report.after == slow.version
    during = [at for at in commits if started + 0.6 < at < ended - 0.3]
    assert not during, f"{len(during)} commits while the migration held the gate"
    assert any(at > ended for at in commits), "the writer resumed after the upgrade"
    assert any(at < started for at in commits)


def test_a_long_transaction_holding_the_gate_is_named_and_does_not_stall_the_others(pg_schema: str) -> None:
    """The upgrade waits for the gate a few seconds at a time: between tries the transactions
    queued behind it go through, and past its timeout it names who holds the gate."""
    from posledger.adapters.postgres import PostgresUnitOfWork, store

    store.upgrade(POSTGRES_URL, schema=pg_schema)
    long_report = PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema, application_name="long report")
    other = PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema)
    said: list[str] = []
    waits: list[float] = []
    stop = threading.Event()

    def short_transactions() -> None:
        while not stop.is_set():
            started = time.monotonic()
            other.run(lambda uow: uow.events.counts(), read_only=True)
            waits.append(time.monotonic() - started)
            time.sleep(0.05)

    with long_report(read_only=True):  # holds the gate shared, as a long report would
        thread = threading.Thread(target=short_transactions)
        thread.start()
        with _pg() as upgrader, pytest.raises(TimeoutError, match="long report"):
            store._take_gate(upgrader, store._gate_key(pg_schema), said.append, timeout=2.0, wait_seconds=0.5)
        stop.set()
        thread.join(10)
    long_report.close()
    other.close()
    assert said and "long report" in said[0]
    assert max(waits) < 1.5, f"a short transaction waited {max(waits):.2f} s behind the upgrade"


def test_units_of_work_do_not_nest(pg_schema: str) -> None:
    from posledger.adapters.postgres import PostgresUnitOfWork, store

    store.upgrade(POSTGRES_URL, schema=pg_schema)
    factory = PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema)
    with factory(), pytest.raises(RuntimeError, match="do not nest"), factory():
        pass
    with factory(read_only=True):  # the refusal left the factory usable
        pass
    factory.close()


# --------------------------------------------------- 0002: data written at version 1 carries over

# What a version-1 database held after posting one stock receipt (700 into inventory) and one cash
# sale (1,299 + 115 tax, cost 350), with one open exception: rows as the old write path left them.
_V1_ROWS = [
    'INSERT INTO events ("offset", event_id, type, store_id, register_id, seq, occurred_at, body, body_hash, '
    "accepted_at, source, status) VALUES "
    "(1, 'S1-PO-1', 'stock.received', 'S1', NULL, NULL, '2026-11-21T10:00:00-05:00', '{}', 'h1', "
    "'2026-11-21T15:00:00+00:00', 'test', 'posted'), "
    "(2, 'S1-R1-1', 'sale.completed', 'S1', 'S1-R1', 1, '2026-11-22T10:00:00-05:00', '{}', 'h2', "
    "'2026-11-22T15:00:00+00:00', 'test', 'posted')",
    "INSERT INTO journal_entries (entry_id, event_id, entry_no, store_id, business_day, register_id, memo) VALUES "
    "(1, 'S1-PO-1', 1, 'S1', '2026-11-21', NULL, 'receipt'), (2, 'S1-R1-1', 1, 'S1', '2026-11-22', 'S1-R1', 'sale')",
    "INSERT INTO journal_lines (event_id, entry_no, line_no, account, debit, credit, store_id, business_day, "
    "register_id) VALUES ('S1-PO-1', 1, 1, '1300', 700, 0, 'S1', '2026-11-21', NULL), "
    "('S1-PO-1', 1, 2, '2100', 0, 700, 'S1', '2026-11-21', NULL), "
    "('S1-R1-1', 1, 1, '1000', 1414, 0, 'S1', '2026-11-22', 'S1-R1'), "
    "('S1-R1-1', 1, 2, '4000', 0, 1299, 'S1', '2026-11-22', 'S1-R1'), "
    "('S1-R1-1', 1, 3, '2200', 0, 115, 'S1', '2026-11-22', 'S1-R1'), "
    "('S1-R1-1', 1, 4, '5000', 350, 0, 'S1', '2026-11-22', 'S1-R1'), "
    "('S1-R1-1', 1, 5, '1300', 0, 350, 'S1', '2026-11-22', 'S1-R1')",
    "INSERT INTO stock_moves (event_id, move_no, sku, location_id, store_id, qty, value, kind, business_day) VALUES "
    "('S1-PO-1', 1, 'A', 'S1', 'S1', 2, 700, 'receipt', '2026-11-21'), "
    "('S1-R1-1', 1, 'A', 'S1', 'S1', -1, -350, 'sale', '2026-11-22')",
    "INSERT INTO stock_positions (sku, location_id, store_id, on_hand, value, last_cost_value, last_cost_qty) "
    "VALUES ('A', 'S1', 'S1', 1, 350, 700, 2)",
    "INSERT INTO documents (number, series, sequence, kind, store_id, event_id, business_day, original_number, "
    "total, tax, body) VALUES ('S1-INV-00000001', 'S1-INV', 1, 'invoice', 'S1', 'S1-R1-1', '2026-11-22', NULL, "
    "1414, 115, '{}')",
    "INSERT INTO document_series (series, last_number) VALUES ('S1-INV', 1)",
    "INSERT INTO sales (store_id, receipt_no, event_id, business_day, register_id, invoice_number, total, tax, "
    "cash, lines, voided) VALUES ('S1', 'R1-1', 'S1-R1-1', '2026-11-22', 'S1-R1', 'S1-INV-00000001', 1414, 115, "
    "1414, '[[1, \"A\", 1, 350, 0]]', 0)",
    "INSERT INTO exceptions (type, status, store_id, detail, created_at) VALUES "
    "('tax_mismatch', 'open', 'S1', '{}', '2026-11-22T15:00:00+00:00'), "
    "('tax_mismatch', 'resolved', 'S1', '{}', '2026-11-22T15:00:00+00:00')",
]


def _assert_version_1_data_carried_over(factory: object) -> None:
    from posledger.app.checks import check_invariants
    from posledger.app.queries import trial_balance

    def read(uow: object) -> None:
        balance = trial_balance(uow, "S1")  # type: ignore[arg-type]
        assert {a["account"]: a["balance"] for a in balance["accounts"]} == {
            "1000": 1414, "1300": 350, "2100": -700, "2200": -115, "4000": -1299, "5000": 350}
        day = trial_balance(uow, None, *(2 * [__import__("datetime").date(2026, 11, 21)]))  # type: ignore[arg-type]
        assert day["totals"] == {"debit": 700, "credit": 700}
        lines = uow.queries.entry_lines(account="1300", store_id=None, business_day=None,  # type: ignore[attr-defined]
                                        event_offset=None, after=(0, 0), limit=10)
        assert [(ln.entry_id, ln.line_no, ln.event_id, ln.debit, ln.credit) for ln in lines] == [
            (1, 1, "S1-PO-1", 700, 0), (2, 5, "S1-R1-1", 0, 350)]
        assert [m.qty for m in uow.queries.moves_for_event(2)] == [-1]  # type: ignore[attr-defined]
        # Entries and documents found by the event's offset (0004), documents by their number.
        documents = uow.queries.documents_for_event(2)  # type: ignore[attr-defined]
        assert [(d.number, d.event_offset) for d in documents] == [("S1-INV-00000001", 2)]
        assert uow.queries.document("S1-INV-00000001").draft.total == 1414  # type: ignore[attr-defined]
        assert uow.queries.document("S1-INV-1") is None  # type: ignore[attr-defined]
        sale = uow.ledger.load_sale("S1", "R1-1")  # type: ignore[attr-defined]
        assert [(ln.account, ln.debit, ln.credit) for ln in sale.journal_lines][:2] == [("1000", 1414, 0), ("4000", 0, 1299)]
        assert uow.exceptions.open_counts() == {"tax_mismatch": 1}  # type: ignore[attr-defined]
        # Posted events need no wake-up: none of them enters the relay's backlog (0005/0004).
        assert uow.events.unpublished(10) == []  # type: ignore[attr-defined]
        report = check_invariants(uow)  # type: ignore[arg-type]
        assert report.ok, report
        # 0008/0007: an event is found by its store and its id; another store has no such event.
        stored = uow.events.get("S1", "S1-R1-1")  # type: ignore[attr-defined]
        assert stored is not None and stored.offset == 2
        assert uow.events.get("S2", "S1-R1-1") is None  # type: ignore[attr-defined]
        assert uow.events.stores_with("S1-R1-1") == ["S1"]  # type: ignore[attr-defined]
        # 0009/0008: the day summary's tenders and taxes by rate, filled in for the days posted.
        kept = uow.checks.day_figures(recomputed=False)  # type: ignore[attr-defined]
        assert kept == uow.checks.day_figures(recomputed=True)  # type: ignore[attr-defined]
        # (Version 1 put the sale's tax on 2200, which the chart now names for gift cards.)
        assert {key[3]: value for key, value in kept.items() if key[0] == "tender"} == {
            "cash": (1414,), "gift_card": (-115,)}

    factory.run(read, read_only=True)  # type: ignore[attr-defined]

    def append_the_same_id_in_another_store(uow: object) -> list[int]:
        stored = uow.events.get("S1", "S1-R1-1")  # type: ignore[attr-defined]
        return uow.events.append_many([NewEvent(  # type: ignore[attr-defined, no-any-return]
            "S1-R1-1", stored.type, "S2", None, None, "2026-11-21T10:00:00-05:00", stored.body.replace('"S1"', '"S2"'),
            "another hash", "2026-11-21T15:00:00Z", "api")])

    (offset,) = factory.run(append_the_same_id_in_another_store)  # type: ignore[attr-defined]
    assert offset > 2  # the log's offsets go on after the rebuilt table's last
    assert factory.run(lambda uow: uow.events.stores_with("S1-R1-1"), read_only=True) == ["S1", "S2"]  # type: ignore[attr-defined]


def test_sqlite_0002_carries_version_1_postings_into_balances_and_integer_keys(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path, isolation_level=None) as connection:
        sqlite_store.upgrade(connection, sqlite_store.sqlite_migrations()[:1])
        for statement in _V1_ROWS:
            connection.execute(statement)
    factory = SqliteUnitOfWork(path)
    try:
        assert factory.current_schema_version() == sqlite_store.sqlite_migrations()[-1].version
        _assert_version_1_data_carried_over(factory)
    finally:
        factory.close()


def test_postgres_0002_carries_version_1_postings_into_balances_and_integer_keys(pg_schema: str) -> None:
    from posledger.adapters.postgres import PostgresUnitOfWork, store

    store.upgrade(POSTGRES_URL, schema=pg_schema, migrations=store.postgres_migrations()[:1])
    with psycopg.connect(POSTGRES_URL, autocommit=True, options=f"-c search_path={pg_schema}") as connection:
        for statement in _V1_ROWS:
            connection.execute(statement.encode())
        connection.execute("SELECT setval('journal_entries_entry_id_seq', 2)")
        connection.execute("SELECT setval('events_offset_seq', 2)")  # as version 1's appends left it
    store.upgrade(POSTGRES_URL, schema=pg_schema)
    factory = PostgresUnitOfWork(POSTGRES_URL, schema=pg_schema)
    try:
        _assert_version_1_data_carried_over(factory)
    finally:
        factory.close()
