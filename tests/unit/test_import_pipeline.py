"""The importer's pipeline (app/pipeline.py, entrypoints/chunk_writer.py): chunks planned in the
importing process and committed by a writer process give the very database that importing
them the usual way gives, row for row; another connection writing part-way, or the writer
dying, costs nothing and posts nothing twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.app.batch_import import ImportReport, checked_chunks, import_checked
from posledger.app.ingest import ingest
from posledger.app.master_data import load_master_data
from posledger.app.pipeline import ChunkAck, ChunkWrites, apply_chunk_writes
from posledger.app.ports import NewEvent, WriteConflict
from posledger.app.posting import PostingEngine
from posledger.app.queries import check_invariants
from posledger.entrypoints.chunk_writer import ProcessChunkWriter
from tests.support.builders import (
    MASTER,
    cash_moved,
    closed,
    line,
    opened,
    receive,
    register_event,
    reset_sequences,
    return_,
    sale,
    stock_event,
    tender,
)
from tests.support.harness import FixedClock

CHUNK = 40


def _day(rounds: int) -> list[str]:
    """A store day that touches every read a chunk makes of the chunks before it: returns and
    voids of sales a chunk or two back, the same event again (and another body under its id),
    drawers across chunks, transfers, and what the pipeline must leave to the usual path
    (sequence gaps, voids that wait). Bad lines among them."""
    reset_sequences()
    events: list[dict[str, Any]] = [receive("A", 100_000, 600), receive("B", 100_000, 400),
                                    receive("C", 50_000, 1000, location="S2", store="S2"),
                                    opened(10_000), opened(5_000, register="S1-R2")]
    lines: list[str] = [json.dumps(event) for event in events]
    for n in range(rounds):
        register = "S1-R1" if n % 3 else "S1-R2"
        sold = sale([line("A", 2, tax=231), line("B", 1, 1000, tax=40, tax_code="RED", line_no=2)],
                    [tender("cash", 1000), tender("card", 2869)], receipt_no=f"R-{n}", register=register)
        lines.append(json.dumps(sold))
        lines.append(json.dumps(sale([line("C", 1, 2500, tax=222)], [tender("card", 2722)],
                                     receipt_no=f"S2-{n}", register="S2-R1")))
        if n % 7 == 3:  # the sale of two rounds back: often in a chunk still being committed
            lines.append(json.dumps(return_([line("A", 1, tax=115)], [tender("cash", 1414)],
                                            receipt_no=f"RT-{n}", original=f"R-{n - 2}")))
        if n % 11 == 5:
            lines.append(json.dumps(register_event("sale.voided", {"receipt_no": f"R-{n - 1}", "reason": "x",
                                                                   "approved_by": "M1"},
                                                   register="S1-R1" if (n - 1) % 3 else "S1-R2")))
        if n % 13 == 6:
            lines.append(lines[-3])  # the same event again: a duplicate
            other = json.loads(lines[-4])
            other["payload"]["reason"] = "another"
            lines.append(json.dumps(other))  # its id with another body: a conflict
        if n % 17 == 8:
            lines.append(json.dumps(cash_moved("drop", 500)))
            lines.append(json.dumps(stock_event("stock.transferred", {
                "from_location_id": "S1", "to_location_id": "S1-BACK", "reference": f"T-{n}",
                "lines": [{"sku": "A", "qty": 3}]})))
        if n % 97 == 9:
            lines.append(json.dumps(sale([line("A", 1, tax=115)], [tender("cash", 1414)], receipt_no=f"G-{n}",
                                         register="S3-R1", seq=1_000 + n)))  # a jump: a sequence gap
        if n % 61 == 10:
            lines.append(json.dumps(register_event("sale.voided", {"receipt_no": f"NOPE-{n}", "reason": "x",
                                                                   "approved_by": None})))  # waits
        if n % 29 == 12:
            lines.append("{not json")
            lines.append(json.dumps(sale([line("A", 0)], [tender("cash", 0)], receipt_no=f"Z-{n}",
                                         seq=1)))  # refused: its seq is not the register's next
    lines.append(json.dumps(closed(9_000)))
    return lines


def _open(path: Path) -> tuple[SqliteUnitOfWork, PostingEngine, FixedClock]:
    uow = SqliteUnitOfWork(path, transport_backlog=False)
    clock = FixedClock()
    load_master_data(uow, MASTER, clock=clock)
    return uow, PostingEngine(uow, clock, batch_size=CHUNK), clock


def _import(path: Path, lines: list[str], writer: Any = None) -> ImportReport:
    uow, engine, clock = _open(path)
    try:
        return import_checked(uow, engine, checked_chunks(lines, CHUNK, "import"), clock=clock, writer=writer)
    finally:
        uow.close()


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as connection:
        names = [row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {name: sorted(connection.execute(f'SELECT * FROM "{name}"').fetchall(), key=repr) for name in names}


def _summary(report: ImportReport) -> tuple[Any, ...]:
    return (report.lines, report.accepted, report.duplicate, report.problems, report.posting.posted,
            report.posting.parked, report.posting.findings)


class CountingWriter:
    """A writer process that counts what it was sent and refused, and can be made to suffer:
    ``before_send(n)`` runs before the n-th chunk goes."""

    def __init__(self, path: Path, before_send: Any = None) -> None:
        self.inner = ProcessChunkWriter(str(path), transport_backlog=False)
        self.sent = 0
        self.refused = 0
        self._before_send = before_send

    def fence(self) -> None:
        self.inner.fence()

    def send(self, writes: ChunkWrites) -> None:
        self.sent += 1
        if self._before_send is not None:
            self._before_send(self.sent, self.inner)
        self.inner.send(writes)

    def acks(self, *, wait: bool) -> list[ChunkAck]:
        acks = self.inner.acks(wait=wait)
        self.refused += sum(ack.error is not None for ack in acks)
        return acks

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(scope="module")
def day() -> list[str]:
    return _day(300)


@pytest.fixture(scope="module")
def reference(day: list[str], tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The day imported the usual way: what every pipelined run must equal."""
    path = tmp_path_factory.mktemp("reference") / "posledger.db"
    report = _import(path, day)
    return _summary(report), _tables(path)


@pytest.fixture
def writer_for(tmp_path: Path) -> Iterator[Any]:
    writers: list[CountingWriter] = []

    def make(before_send: Any = None) -> CountingWriter:
        writers.append(CountingWriter(tmp_path / "posledger.db", before_send))
        return writers[-1]

    yield make
    for writer in writers:
        writer.close()


def test_the_pipeline_writes_the_same_database_as_the_usual_path(
        day: list[str], reference: tuple[tuple[Any, ...], dict[str, Any]], tmp_path: Path, writer_for: Any) -> None:
    expected_report, expected_tables = reference
    path = tmp_path / "posledger.db"
    _open(path)[0].close()  # the schema and master data first, as the usual run had them
    writer = writer_for()
    report = _import(path, day, writer)
    assert _summary(report) == expected_report
    assert report.duplicate > 0 and report.posting.parked > 0 and report.problems  # the day has each kind
    chunks = -(-len(day) // CHUNK)
    assert writer.sent > chunks // 2, "most chunks should go through the writer"
    assert writer.sent < chunks, "gaps and waiting voids should be posted the usual way"
    assert writer.refused == 0
    assert _tables(path) == expected_tables


def test_another_writer_part_way_costs_a_chunk_its_pipelining_not_its_events(
        day: list[str], reference: tuple[tuple[Any, ...], dict[str, Any]], tmp_path: Path, writer_for: Any) -> None:
    expected_report, _ = reference
    path = tmp_path / "posledger.db"
    _open(path)[0].close()
    other = SqliteUnitOfWork(path, transport_backlog=False)

    def meanwhile(sent: int, _: ProcessChunkWriter) -> None:
        if sent == 5:  # a master-data change committed by another connection
            load_master_data(other, {"items": [{"sku": "D", "name": "Hat", "category": "acc", "tax_code": "STD",
                                                "price": 900, "standard_cost": 300, "active": True}]},
                             clock=FixedClock())

    writer = writer_for(meanwhile)
    report = _import(path, day, writer)
    other.close()
    assert writer.refused >= 1, "the writer must refuse what was computed before the other commit"
    assert _summary(report) == expected_report
    uow = SqliteUnitOfWork(path)
    with uow() as unit:
        assert check_invariants(unit).ok
        assert unit.queries.postings_per_event() == {}  # events posted more than once
        assert any(key == "D" for kind, key, _ in unit.master.snapshot_rows(("items",)))
    uow.close()


def test_an_event_accepted_by_another_connection_part_way_is_posted_in_log_order(
        day: list[str], tmp_path: Path, writer_for: Any) -> None:
    path = tmp_path / "posledger.db"
    _open(path)[0].close()
    other = SqliteUnitOfWork(path, transport_backlog=False)

    def meanwhile(sent: int, _: ProcessChunkWriter) -> None:
        if sent == 4:  # accepted over HTTP, say: not posted yet
            ingest(other, [receive("A", 10, 700, location="S2", store="S2")], clock=FixedClock())

    report = _import(path, day, writer_for(meanwhile))
    other.close()
    assert report.accepted > 0
    uow = SqliteUnitOfWork(path)
    with uow() as unit:
        assert check_invariants(unit).ok
        assert unit.events.pending_count() == 0
        assert unit.queries.postings_per_event() == {}  # events posted more than once
    uow.close()


def test_a_writer_that_dies_part_way_loses_nothing_and_posts_nothing_twice(
        day: list[str], reference: tuple[tuple[Any, ...], dict[str, Any]], tmp_path: Path, writer_for: Any) -> None:
    expected_report, expected_tables = reference
    path = tmp_path / "posledger.db"
    _open(path)[0].close()

    def kill(sent: int, inner: ProcessChunkWriter) -> None:
        if sent == 6:
            pid = inner._process.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            inner._process.join(5)

    report = _import(path, day, writer_for(kill))
    # What the writer committed and could not acknowledge is found in the log and counted as
    # accepted, as the usual path counts it.
    assert _summary(report) == expected_report
    tables = _tables(path)
    # Only a chunk that appends nothing cannot be told committed: it is posted again, and its
    # rejections are recorded twice, as when a file is imported again.
    assert len(tables.pop("rejections")) >= len(expected_tables["rejections"])
    assert tables == {name: rows for name, rows in expected_tables.items() if name != "rejections"}


def test_the_writer_refuses_writes_computed_for_other_offsets(tmp_path: Path) -> None:
    uow, _, _ = _open(tmp_path / "posledger.db")
    event = NewEvent("E-1", "stock.received", "S1", None, None, "2026-11-22T10:00:00-05:00", "{}", "0" * 64,
                     "2026-11-22T15:00:00.000+00:00", "import")
    with uow() as unit, pytest.raises(WriteConflict):
        apply_chunk_writes(unit, ChunkWrites(1, first_offset=7, events=[event]))
    uow.close()
