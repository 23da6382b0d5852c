"""The batch importer's pipeline: chunk N+1 is posted while another process commits chunk N.

Posting a chunk is two kinds of work: computing it (the rules, the engine's bookkeeping) and
storing it (the rows, the commit). Python's threads cannot overlap the two (binding a row's
parameters holds the interpreter lock: decision 0003), so the importer computes each chunk
against a ``RecordingUnitOfWork``, which answers reads from the database and from what the
chunks still in flight wrote, and records the writes as a ``ChunkWrites``. A writer process
(``entrypoints/chunk_writer.py``) applies them with ``apply_chunk_writes`` in one transaction
per chunk, in order, and acknowledges each once committed.

What makes that safe:

- **Nobody else writes meanwhile, or nothing is written.** The writer takes a mark of the
  database's change counter before the importer reads anything (``ChunkWriter.fence``), and
  refuses a chunk when any other connection has committed since (SQLite's ``data_version``).
  Everything after a refused or failed chunk is refused too; the importer then posts those
  chunks itself, the usual way, and fences again.
- **The writer checks what the importer predicted**: the log offsets of the appended events,
  the stock positions as they were read (the engine's optimistic check), unique document
  numbers, event ids and receipts.
- **Anything unusual is posted the usual way.** A chunk whose work needs the answer to a
  write (an exception's id for a sequence gap or a parked event, a released void) raises
  ``NotPipelinable`` while it is planned: the importer waits for the writer to commit what is
  in flight, then posts that chunk itself.
- **Accepted means committed**: the importer counts a chunk's events as accepted only when
  the writer has acknowledged its commit. A crash of either process loses nothing committed,
  and a re-run finds those events as duplicates, as it always has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, Protocol, TypeVar

import msgspec

from posledger.app.ports import (
    EventKey,
    ExceptionRecord,
    LedgerRows,
    NewEvent,
    PostingWrites,
    Rejection,
    UnitOfWork,
    WriteConflict,
)
from posledger.app.posting import CONSUMER
from posledger.domain.costing import StockPosition
from posledger.domain.posting import Drawer, SaleRecord

__all__ = ["NotPipelinable", "ChunkWrites", "ChunkAck", "ChunkWriter", "WriterStopped", "InFlight",
           "RecordingUnitOfWork", "apply_chunk_writes"]


K = TypeVar("K")
V = TypeVar("V")


class NotPipelinable(Exception):
    """This chunk's work needs the database's answer to one of its writes: post it the usual way."""


class WriterStopped(Exception):
    """The writer process is gone: what it had not acknowledged must be posted here."""


class ChunkWrites(msgspec.Struct):
    """Everything one chunk's append-and-post writes, in the order the transaction writes it."""

    number: int  # the chunk's place in this import, from 1
    first_offset: int = 0  # the log offset predicted for the first appended event (checked)
    rejections: list[Rejection] = msgspec.field(default_factory=list)
    events: list[NewEvent] = msgspec.field(default_factory=list)
    high_seqs: list[tuple[str, str, int]] = msgspec.field(default_factory=list)  # register, store, seq
    ledger: list[LedgerRows] = msgspec.field(default_factory=list)  # the posting's rows, ids assigned
    findings: list[list[ExceptionRecord]] = msgspec.field(default_factory=list)
    positions: list[tuple[str, int]] = msgspec.field(default_factory=list)  # consumer, offset


class ChunkAck(msgspec.Struct, frozen=True):
    number: int
    error: str | None = None  # None: committed; otherwise why not (nothing of it was written)


class ChunkWriter(Protocol):
    """The process that commits what the importer computed: a port, seen from the importer."""

    def fence(self) -> None:
        """Take the mark (blocking until taken): from now on the writer refuses every chunk once
        another connection has committed. Called with nothing in flight, before any read."""

    def send(self, writes: ChunkWrites) -> None: ...

    def acks(self, *, wait: bool) -> list[ChunkAck]:
        """The acknowledgements that arrived, in order; ``wait``: at least one. Raises
        ``WriterStopped`` if the process is gone."""

    def close(self) -> None: ...


def apply_chunk_writes(uow: UnitOfWork, writes: ChunkWrites) -> None:
    """The writer's side: one chunk's recorded writes, applied in the transaction ``uow`` is in."""
    for rejection in writes.rejections:
        uow.events.reject(rejection)
    offsets = uow.events.append_many(writes.events)
    if offsets and offsets != list(range(writes.first_offset, writes.first_offset + len(offsets))):
        raise WriteConflict(f"the log's offsets moved: appended at {offsets[0]}, computed for {writes.first_offset}")
    if writes.high_seqs:
        uow.events.set_high_seqs(writes.high_seqs)
    for rows in writes.ledger:
        uow.ledger.write_rows(rows)
    for findings in writes.findings:
        uow.exceptions.add_many(findings)
    for consumer, offset in writes.positions:
        uow.events.set_position(consumer, offset)


class _ChunkOverlay:
    """What one chunk in flight wrote, by table."""

    __slots__ = ("number", "events", "high_seqs", "stock", "series", "sales", "drawers")

    def __init__(self, number: int) -> None:
        self.number = number
        self.events: dict[EventKey, tuple[str, int]] = {}  # (store_id, event_id): (body hash, offset)
        self.high_seqs: dict[str, int] = {}
        self.stock: dict[tuple[str, str], StockPosition] = {}
        self.series: dict[str, int] = {}
        self.sales: dict[tuple[str, str], SaleRecord] = {}
        self.drawers: dict[str, Drawer] = {}


class InFlight:
    """What the chunks sent to the writer and not yet acknowledged wrote, as later chunks must
    read it: one overlay per chunk, read newest first, dropped when that chunk's commit is
    acknowledged (the database then says the same)."""

    def __init__(self, last_offset: int, position: int, last_ids: tuple[int, int]) -> None:
        self.last_offset = last_offset  # the log's last offset, counting what is in flight
        self.position = position  # the posting consumer's position, likewise
        self.last_entry_id, self.last_move_id = last_ids  # the journal's and the stock moves' last ids
        self._chunks: list[_ChunkOverlay] = []  # oldest first

    def of(self, number: int) -> _ChunkOverlay:
        """The overlay chunk ``number`` (the one being planned) writes into."""
        if not self._chunks or self._chunks[-1].number != number:
            self._chunks.append(_ChunkOverlay(number))
        return self._chunks[-1]

    def committed(self, number: int) -> None:
        self._chunks = [chunk for chunk in self._chunks if chunk.number != number]

    def event(self, key: EventKey) -> tuple[str, int] | None:
        for chunk in reversed(self._chunks):
            hit = chunk.events.get(key)
            if hit is not None:
                return hit
        return None

    def find(self, table: str, key: Any) -> Any:
        """The newest value in flight for ``key`` in ``table`` (an overlay's attribute), or None."""
        for chunk in reversed(self._chunks):
            hit = getattr(chunk, table).get(key)
            if hit is not None:
                return hit
        return None


class _Refusing:
    """Whatever a recording repository does not implement needs the database now."""

    def __getattr__(self, name: str) -> NoReturn:
        raise NotPipelinable(f"{type(self).__name__.strip('_')}.{name}")


class _RecordingEventLog(_Refusing):
    def __init__(self, reads: UnitOfWork, flight: InFlight, writes: ChunkWrites) -> None:
        self._reads, self._flight, self._writes = reads.events, flight, writes

    def find_many(self, keys: list[EventKey]) -> dict[EventKey, tuple[str, int]]:
        in_flight = self._flight.event
        found: dict[EventKey, tuple[str, int]] = {}
        missing = []
        for key in keys:
            hit = in_flight(key)
            if hit is None:
                missing.append(key)
            else:
                found[key] = hit
        if missing:
            found.update(self._reads.find_many(missing))
        return found

    def append_many(self, events: list[NewEvent]) -> list[int]:
        if not events:
            return []
        writes, flight = self._writes, self._flight
        if writes.events:
            raise NotPipelinable("a second append in one chunk")
        first = flight.last_offset + 1
        offsets = list(range(first, first + len(events)))
        writes.first_offset, writes.events = first, events
        written = flight.of(writes.number).events
        for event, offset in zip(events, offsets, strict=True):
            written[(event.store_id, event.event_id)] = (event.body_hash, offset)
        flight.last_offset = offsets[-1]
        return offsets

    def reject(self, rejection: Rejection) -> None:
        self._writes.rejections.append(rejection)

    def high_seqs(self, register_ids: list[str]) -> dict[str, int]:
        return _under(self._flight, "high_seqs", register_ids, self._reads.high_seqs)

    def set_high_seqs(self, rows: list[tuple[str, str, int]]) -> None:
        self._writes.high_seqs.extend(rows)
        self._flight.of(self._writes.number).high_seqs.update((register_id, seq) for register_id, _, seq in rows)

    def appends_follow(self, consumer: str) -> bool:
        return self.position(consumer) == self._flight.last_offset

    def position(self, consumer: str) -> int:
        if consumer != CONSUMER:
            raise NotPipelinable(f"the position of {consumer}")
        return self._flight.position

    def set_position(self, consumer: str, offset: int) -> None:
        if consumer != CONSUMER:
            raise NotPipelinable(f"the position of {consumer}")
        self._writes.positions.append((consumer, offset))
        self._flight.position = offset


def _under(flight: InFlight, table: str, keys: list[K], read: Callable[[list[K]], dict[K, V]]) -> dict[K, V]:
    """``read(keys)`` under what is in flight: the keys a chunk in flight wrote, from it."""
    found: dict[K, V] = {}
    missing = []
    for key in keys:
        hit = flight.find(table, key)
        if hit is None:
            missing.append(key)
        else:
            found[key] = hit
    if missing:
        found.update(read(missing))
    return found


class _RecordingParking(_Refusing):
    """Chunks in flight never park (parking needs an exception's id), so what is parked is what
    the database says."""

    def __init__(self, reads: UnitOfWork) -> None:
        self._reads = reads.parking

    def ready(self, limit: int, partition: int | None = None) -> list[int]:
        return self._reads.ready(limit, partition)

    def waiting_keys(self, prefix: str) -> set[str]:
        return self._reads.waiting_keys(prefix)


class _RecordingLedger(_Refusing):
    def __init__(self, reads: UnitOfWork, flight: InFlight, writes: ChunkWrites) -> None:
        self._reads, self._flight, self._writes = reads.ledger, flight, writes

    def load_stock(self, sku: str, location_id: str) -> StockPosition | None:
        return self.load_stocks([(sku, location_id)]).get((sku, location_id))

    def load_stocks(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StockPosition]:
        return _under(self._flight, "stock", keys, self._reads.load_stocks)

    def load_sale(self, store_id: str, receipt_no: str) -> SaleRecord | None:
        hit: SaleRecord | None = self._flight.find("sales", (store_id, receipt_no))
        return hit if hit is not None else self._reads.load_sale(store_id, receipt_no)

    def load_drawer(self, register_id: str) -> Drawer | None:
        hit: Drawer | None = self._flight.find("drawers", register_id)
        return hit if hit is not None else self._reads.load_drawer(register_id)

    def last_document_number(self, series: str) -> int:
        return self.last_document_numbers([series]).get(series, 0)

    def last_document_numbers(self, series: list[str]) -> dict[str, int]:
        return _under(self._flight, "series", series, self._reads.last_document_numbers)

    def write(self, writes: PostingWrites) -> None:
        """Recorded as the rows the writer stores (built here: the writer has the database's work
        to do, this process has the rest), with the ids they will get."""
        chunk, flight = self._writes.number, self._flight
        entry_ids = range(flight.last_entry_id + 1, flight.last_entry_id + 1 + len(writes.entries))
        move_ids = range(flight.last_move_id + 1, flight.last_move_id + 1 + len(writes.moves))
        self._writes.ledger.append(self._reads.rows(writes, entry_ids, move_ids))
        flight.last_entry_id += len(writes.entries)
        flight.last_move_id += len(writes.moves)
        written = flight.of(chunk)
        written.stock.update((key, position) for key, (_, position) in writes.positions.items())
        written.series.update(writes.series)
        written.sales.update(writes.sales)
        written.drawers.update(writes.drawers)


class _RecordingExceptions(_Refusing):
    def __init__(self, writes: ChunkWrites) -> None:
        self._writes = writes

    def add_many(self, records: list[ExceptionRecord]) -> None:
        if records:
            self._writes.findings.append(records)


class RecordingUnitOfWork:
    """The unit of work a chunk is planned in: reads from ``reads`` (a read-only unit of work)
    under what is in flight, writes recorded into ``writes`` and ``flight``. What it cannot do
    without the database's answer to a write raises ``NotPipelinable``; the caller must then
    drop ``flight`` (it may hold part of this chunk)."""

    def __init__(self, reads: UnitOfWork, flight: InFlight, writes: ChunkWrites) -> None:
        self.events = _RecordingEventLog(reads, flight, writes)
        self.parking = _RecordingParking(reads)
        self.ledger = _RecordingLedger(reads, flight, writes)
        self.exceptions = _RecordingExceptions(writes)
        self.master = reads.master

    def __getattr__(self, name: str) -> Any:  # reservations, queries, tokens, checks, commit...
        raise NotPipelinable(f"unit of work: {name}")
