"""Ports: what the use cases need from storage. Each backend (SQLite, PostgreSQL) implements
all of them and passes the one shared contract suite in ``tests/contract``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Any, Protocol, TypeVar

import msgspec

from posledger.domain.costing import StockPosition
from posledger.domain.journal import JournalEntry
from posledger.domain.posting import DocumentDraft, Drawer, SaleRecord, StockMove

__all__ = [
    "EventKey", "NewEvent", "SessionRow", "StoredEvent", "WriteConflict", "Rejection", "SequenceGap", "ExceptionRecord", "IssuedDocument",
    "PostingWrites", "EventLog", "Parking", "Ledger", "Exceptions", "MasterDataStore",
    "Reservations", "Queries", "Tokens", "UnitOfWork", "UnitOfWorkFactory", "TrialBalanceRow",
    "StockRow", "EntryLineRow", "LedgerRows",
]


T = TypeVar("T")


class WriteConflict(Exception):
    """Another writer changed what this transaction read (optimistic concurrency); roll back
    and compute again."""


EventKey = tuple[str, str]  # (store_id, event_id): an event's identity (CONTRACT section 1)


class NewEvent(msgspec.Struct, frozen=True, gc=False):
    event_id: str
    type: str
    store_id: str
    register_id: str | None
    seq: int | None
    occurred_at: str
    body: str  # canonical JSON: sorted keys, no spaces
    body_hash: str  # sha256 of body
    accepted_at: str
    source: str
    partition: int = 0  # which posting partition owns the event's store (crc32(store_id) % N)
    status: str = "accepted"  # "posted" when the same transaction posts it (the batch path)
    posted_at: str | None = None


class StoredEvent(msgspec.Struct, frozen=True, gc=False):
    offset: int
    event_id: str
    type: str
    store_id: str
    register_id: str | None
    seq: int | None
    body: str
    body_hash: str
    accepted_at: str
    status: str  # accepted | posted | exception


@dataclass(frozen=True, slots=True)
class Rejection:
    event_id: str | None
    received_at: str
    problem_type: str
    field: str
    detail: str
    source: str
    store_id: str | None = None  # the store the refused document named, when it named one
    errors: str | None = None  # JSON: every field error, [{field, code, detail}] (CONTRACT section 7)


@dataclass(frozen=True, slots=True)
class SequenceGap:
    register_id: str
    low: int
    high: int
    exception_id: int


class ExceptionRecord(msgspec.Struct, frozen=True, gc=False):
    id: int
    type: str
    status: str  # open | resolved
    store_id: str | None
    register_id: str | None
    event_id: str | None
    business_day: str | None
    detail: dict[str, Any]
    created_at: str
    resolved_at: str | None = None
    resolved_by: str | None = None
    resolution: str | None = None


class IssuedDocument(msgspec.Struct, frozen=True, gc=False):
    number: str
    series: str
    sequence: int
    event_id: str
    event_offset: int  # the event's place in the log
    draft: DocumentDraft


class PostingWrites(msgspec.Struct):
    """Everything one posting batch writes, in one transaction with the consumer position."""

    # The event's log offset and id, the entry's number within the event, the entry.
    entries: list[tuple[int, str, int, JournalEntry]] = msgspec.field(default_factory=list)
    moves: list[tuple[int, StockMove]] = msgspec.field(default_factory=list)  # the event's log offset
    positions: dict[tuple[str, str], tuple[str, StockPosition]] = msgspec.field(default_factory=dict)
    # Each position as the batch read it (None: no row). The write checks nobody changed it
    # meanwhile; otherwise it raises WriteConflict and the batch is computed again.
    positions_as_read: dict[tuple[str, str], StockPosition | None] = msgspec.field(default_factory=dict)
    # Positions the batch consulted but did not change, taken from what the engine knew rather
    # than read in this transaction: the write checks they still hold these (else WriteConflict).
    positions_unchanged: dict[tuple[str, str], StockPosition] = msgspec.field(default_factory=dict)
    documents: list[IssuedDocument] = msgspec.field(default_factory=list)
    series: dict[str, int] = msgspec.field(default_factory=dict)
    sales: dict[tuple[str, str], SaleRecord] = msgspec.field(default_factory=dict)
    drawers: dict[str, Drawer] = msgspec.field(default_factory=dict)
    # Every session the batch touched, as its last event left it (a batch may open and close
    # several sessions of one register): (register_id, session_id, open_event_id): drawer.
    sessions: dict[tuple[str, str, str], Drawer] = msgspec.field(default_factory=dict)
    # The day summary's figures, summed over the batch: (day, store, tender): amount, and
    # (day, store, tax code, rate): [taxable, tax] (credit notes subtract).
    day_tenders: dict[tuple[date, str, str], int] = msgspec.field(default_factory=dict)
    day_taxes: dict[tuple[date, str, str, str], list[int]] = msgspec.field(default_factory=dict)
    statuses: list[tuple[int, str]] = msgspec.field(default_factory=list)
    # An order.fulfilled consumes its order's reservations at its own store's locations only
    # (CONTRACT section 15): (order_id, location_id) for each of them.
    consumed_orders: list[tuple[str, str]] = msgspec.field(default_factory=list)
    findings: list[ExceptionRecord] = msgspec.field(default_factory=list)  # sales-audit findings, in order
    posted_at: str | None = None


class LedgerRows(msgspec.Struct):
    """A batch's ``PostingWrites`` as the backend's rows (``Ledger.rows``): computed without the
    database, so another process may write them (``Ledger.write_rows``)."""

    entries: list[tuple[Any, ...]]
    lines: list[tuple[Any, ...]]
    account_balances: list[tuple[Any, ...]]
    daily_balances: list[tuple[Any, ...]]
    moves: list[tuple[Any, ...]]
    positions_created: list[tuple[Any, ...]]
    positions_changed: list[tuple[Any, ...]]
    positions_unchanged: list[tuple[Any, ...]]
    documents: list[tuple[Any, ...]]
    series: list[tuple[Any, ...]]
    sales: list[tuple[Any, ...]]
    drawers: list[tuple[Any, ...]]
    sessions: list[tuple[Any, ...]]
    statuses: list[tuple[Any, ...]]
    posted_at: str | None
    consumed_orders: list[tuple[Any, ...]]
    daily_tenders: list[tuple[Any, ...]] = []
    daily_taxes: list[tuple[Any, ...]] = []


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account: str
    debit: int
    credit: int


@dataclass(frozen=True, slots=True)
class StockRow:
    sku: str
    location_id: str
    store_id: str
    position: StockPosition
    reserved: int


class SessionRow(msgspec.Struct, frozen=True, gc=False):
    """A register session's figures as its events left them (the Z-report's row). ``expected`` =
    opening float + cash sales - cash refunds + float adds - drops - paid outs."""

    register_id: str
    session_id: str
    store_id: str
    business_day: str | None  # the business day it opened on
    status: str  # "open" | "closed"
    opened_at: str | None  # None for sessions posted before schema 9
    closed_at: str | None
    opening_float: int
    cash_sales: int
    cash_refunds: int
    float_adds: int
    drops: int
    paid_outs: int
    expected: int
    counted: int | None
    over_short: int | None
    approved_by: str | None
    open_event_id: str = ""  # the register.opened event ("" for sessions posted before schema 9)


class EntryLineRow(msgspec.Struct, frozen=True, gc=False):
    entry_id: int
    line_no: int
    event_id: str
    account: str
    debit: int
    credit: int
    store_id: str
    business_day: str
    register_id: str | None
    memo: str


class EventLog(Protocol):
    # An event's identity is (store_id, event_id): CONTRACT section 1.
    def get(self, store_id: str, event_id: str) -> StoredEvent | None: ...
    def stores_with(self, event_id: str) -> list[str]: ...  # stores that sent (or had refused) this id
    def find_many(self, keys: list[EventKey]) -> dict[EventKey, tuple[str, int]]: ...  # (hash, offset)
    def append_many(self, events: list[NewEvent]) -> list[int]: ...
    def after(self, offset: int, limit: int) -> list[StoredEvent]: ...
    def pending_in_partition(self, partition: int, limit: int) -> list[StoredEvent]: ...
    def page(self, *, store_id: str | None, status: str | None, type: str | None, since: str | None,
             after: int, limit: int) -> list[StoredEvent]: ...  # GET /v1/events: after an offset
    # Fair posting: each store's first event still to post (partition, store, offset), and a
    # store's next events to post.
    def pending_heads(self, partition: int | None, limit: int) -> list[tuple[int, str, int]]: ...
    def pending_of_store(self, partition: int, store_id: str, limit: int) -> list[StoredEvent]: ...
    def unpublished(self, limit: int) -> list[tuple[str, int, int]]: ...  # event_id, offset, partition
    def mark_published(self, offsets: list[int]) -> None: ...
    def by_offsets(self, offsets: list[int]) -> list[StoredEvent]: ...
    def reject(self, rejection: Rejection) -> None: ...
    def last_rejection(self, store_id: str | None, event_id: str) -> Rejection | None: ...
    def high_seqs(self, register_ids: list[str]) -> dict[str, int]: ...
    def set_high_seqs(self, rows: list[tuple[str, str, int]]) -> None: ...  # register, store, seq
    def gaps_containing(self, register_id: str, seq: int) -> list[SequenceGap]: ...
    def add_gap(self, gap: SequenceGap) -> None: ...
    def remove_gap(self, gap: SequenceGap) -> None: ...
    def open_gaps(self, exception_id: int) -> int: ...
    def appends_follow(self, consumer: str) -> bool:
        """Whether what this transaction appends now comes right after everything ``consumer``
        has posted, with nothing before it pending and nothing appended beside it by another
        transaction (SQLite's write lock promises that; PostgreSQL does not)."""
        ...

    def position(self, consumer: str) -> int: ...
    def last_offset(self) -> int: ...  # the highest offset in the log (0: empty)
    def set_position(self, consumer: str, offset: int) -> None: ...
    def counts(self) -> dict[str, int]: ...  # per status, over the whole log (tests, benchmarks)
    def pending_count(self) -> int: ...  # accepted, not yet posted (cost by the backlog)
    def oldest_pending(self) -> str | None: ...  # accepted_at of the oldest event not yet posted


class Parking(Protocol):
    def park(self, offset: int, store_id: str, wait_key: str | None, exception_id: int) -> None: ...
    def unpark(self, offset: int) -> int | None: ...
    def ready(self, limit: int, partition: int | None = None) -> list[int]: ...
    def release(self, wait_key: str) -> int: ...
    def waiting_keys(self, prefix: str) -> set[str]: ...


class Ledger(Protocol):
    def load_stock(self, sku: str, location_id: str) -> StockPosition | None: ...
    def load_stocks(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StockPosition]: ...
    def load_sale(self, store_id: str, receipt_no: str) -> SaleRecord | None: ...
    def load_drawer(self, register_id: str) -> Drawer | None: ...
    def store_has_postings(self, store_id: str) -> bool: ...
    def last_document_number(self, series: str) -> int: ...
    def last_document_numbers(self, series: list[str]) -> dict[str, int]: ...  # only those that exist
    def write(self, writes: PostingWrites) -> None: ...
    # ``write`` in two halves: the rows (no IO; journal entries and stock moves get the ids given),
    # and writing them, which checks the first ids are still the next (else WriteConflict).
    def rows(self, writes: PostingWrites, entry_ids: Sequence[int], move_ids: Sequence[int]) -> LedgerRows: ...
    def write_rows(self, rows: LedgerRows) -> None: ...


class Exceptions(Protocol):
    def add(self, record: ExceptionRecord) -> int: ...
    def add_many(self, records: list[ExceptionRecord]) -> None: ...  # ids not needed: one statement
    def get(self, exception_id: int) -> ExceptionRecord | None: ...
    def resolve(self, exception_id: int, at: str, by: str, resolution: str) -> bool: ...
    def open_for_event(self, store_id: str, event_id: str) -> list[ExceptionRecord]: ...
    def open_counts(self) -> dict[str, int]: ...  # open exceptions per type, from kept gauges
    def list(self, *, status: str | None = None, type: str | None = None,
             store_id: str | None = None, event_id: str | None = None, business_day: date | None = None,
             limit: int = 1000, after: int = 0) -> list[ExceptionRecord]: ...  # after: an id (cursor)


class MasterDataStore(Protocol):
    def version(self) -> int: ...
    def body_of(self, kind: str, key: str) -> str | None: ...
    def page(self, kind: str, after: str, limit: int) -> list[tuple[str, str]]: ...  # (key, body), key order
    def upsert(self, kind: str, key: str, body: str, at: str) -> int | None: ...
    def snapshot_rows(self, kinds: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]: ...
    def changes_since(self, version: int, kinds: tuple[str, ...]) -> list[tuple[str, str, str, int]]: ...


class Reservations(Protocol):
    def reserved(self, sku: str, location_id: str, excluding_order: str | None = None) -> int: ...
    def add(self, order_id: str, sku: str, location_id: str, qty: int, at: str) -> bool: ...
    # ``locations``: release only the order's reservations there (a store's token releases its own).
    def release(self, order_id: str, sku: str | None = None, locations: list[str] | None = None) -> int: ...
    def locations_of(self, order_id: str) -> list[str]: ...  # where its active reservations are


class TokenRecord(msgspec.Struct, frozen=True):
    """An API token as it is listed: never its secret (only its SHA-256 is stored)."""

    token_id: str
    role: str
    store_id: str | None
    name: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked: bool


class AuditEntry(msgspec.Struct, frozen=True):
    """One change: who (a token_id, ``bootstrap admin`` or ``cli:<user>``), when, what, and the
    entry before and after it as JSON text (None: it did not exist, or does not any more)."""

    id: int
    at: str
    actor: str
    action: str  # master_data.upsert | token.create | token.revoke | exception.resolve
    subject: str  # items/A, tok_..., exception/17
    before: str | None
    after: str | None


class AuditLog(Protocol):
    def add(self, at: str, actor: str, action: str, subject: str, before: str | None,
            after: str | None) -> None: ...
    def since(self, after_id: int, limit: int) -> list[AuditEntry]: ...


class Tokens(Protocol):
    def add(self, token_id: str, token_hash: str, role: str, store_id: str | None, name: str, at: str,
            expires_at: str | None) -> None: ...
    def find(self, token_hash: str) -> TokenRecord | None: ...  # not revoked (expiry is the caller's)
    def get(self, token_id: str) -> TokenRecord | None: ...
    def list(self, after: str = "", limit: int = 1000) -> list[TokenRecord]: ...  # by token_id
    def revoke(self, token_id: str) -> int: ...
    def touch(self, token_id: str, at: str) -> None: ...  # last used


class Queries(Protocol):
    def trial_balance(self, store_ids: list[str] | None, day_from: date | None,
                      day_to: date | None) -> list[TrialBalanceRow]: ...
    def entry_lines(self, *, account: str | None, store_id: str | None,
                    business_day: date | None, event_offset: int | None, after: tuple[int, int],
                    limit: int, register_id: str | None = None) -> list[EntryLineRow]: ...
    def stock(self, sku: str | None, location_id: str | None, *, store_id: str | None = None,
              after: tuple[str, str] | None = None, limit: int | None = None) -> list[StockRow]: ...
    def documents_for_event(self, event_offset: int) -> list[IssuedDocument]: ...
    def document(self, number: str) -> IssuedDocument | None: ...
    def documents(self, store_id: str | None, business_day: date | None, after: tuple[str, int] | None,
                  limit: int) -> list[IssuedDocument]: ...  # after: (series, sequence) of the last seen
    def moves_for_event(self, event_offset: int) -> list[StockMove]: ...
    def stock_value_by_store(self) -> dict[str, int]: ...
    def on_hand_from_moves(self) -> dict[tuple[str, str], tuple[int, int]]: ...
    def document_numbers(self) -> dict[str, list[int]]: ...
    def postings_per_event(self) -> dict[str, int]: ...
    def drawers(self) -> list[Drawer]: ...
    # Sessions by register, then as they opened; after: (register_id, opened_at or "", session_id,
    # open_event_id) of the last one seen
    def sessions(self, *, store_id: str | None = None, register_id: str | None = None,
                 business_day: date | None = None, after: tuple[str, str, str, str] | None = None,
                 limit: int | None = None) -> list[SessionRow]: ...
    # The day's kept balances of a store: account -> (debit, credit)
    def day_balances(self, store_id: str, business_day: date) -> dict[str, tuple[int, int]]: ...
    def day_open_exceptions(self, store_id: str, business_day: date) -> int: ...
    # What the day's sales, returns, exchanges and voids took per tender (kept at posting)
    def day_tenders(self, store_id: str, business_day: date) -> dict[str, int]: ...
    # The day's (tax code, rate, taxable, tax), from its invoices less its credit notes (kept at posting)
    def day_taxes(self, store_id: str, business_day: date) -> list[tuple[str, str, int, int]]: ...


@dataclass(frozen=True, slots=True)
class CheckPoint:
    """Where the last passing check stopped: every journal line up to ``entry_id`` and every
    stock move up to ``move_id`` (posting order) was verified, with these totals."""

    entry_id: int
    move_id: int
    checked_at: str
    account_sums: dict[tuple[str, str], tuple[int, int]]  # (store, account): (debit, credit)
    stock_sums: dict[tuple[str, str], tuple[int, int]]  # (sku, location): (qty, value)
    series: dict[str, int]  # series: last number verified gapless


class Checks(Protocol):
    """What ``check`` reads and keeps: the journal and stock moves after a position, the
    balances maintained at posting, and the checkpoint of the last passing run."""

    def checkpoint(self) -> CheckPoint | None: ...
    def save_checkpoint(self, checkpoint: CheckPoint) -> None: ...
    def last_ids(self) -> tuple[int, int]: ...  # highest entry_id, move_id posted
    def line_sums(self, after_entry_id: int) -> dict[tuple[str, str], tuple[int, int]]: ...
    def move_sums(self, after_move_id: int) -> dict[tuple[str, str], tuple[int, int]]: ...
    def account_balances(self) -> dict[tuple[str, str], tuple[int, int]]: ...
    def store_days_after(self, entry_id: int) -> list[tuple[str, str]]: ...  # (store, day) touched
    # (day, store, account): (debit, credit) from the journal, and as kept; None: every day
    def daily_line_sums(self, store_days: list[tuple[str, str]] | None) -> dict[tuple[str, str, str], tuple[int, int]]: ...
    def daily_balances(self, store_days: list[tuple[str, str]] | None) -> dict[tuple[str, str, str], tuple[int, int]]: ...
    def events_posted_twice(self, after_entry_id: int) -> list[str]: ...
    # series: (last number issued, numbers issued after ``checked``, highest number found)
    def series_counts(self, checked: dict[str, int]) -> dict[str, tuple[int, int, int]]: ...
    # The day summary's tenders and taxes by rate, kept (recomputed=False) or from the journal
    # and the documents: {("tender", store, day, tender): (amount,), ("tax", store, day, code, rate): (taxable, tax)}
    def day_figures(self, *, recomputed: bool) -> dict[tuple[str, ...], tuple[int, ...]]: ...
    def rebuild_balances(self) -> tuple[int, int]: ...  # rows of account and daily balances
    def rebuild_exception_counts(self) -> int: ...


class UnitOfWork(Protocol):
    @property
    def events(self) -> EventLog: ...

    @property
    def parking(self) -> Parking: ...

    @property
    def ledger(self) -> Ledger: ...

    @property
    def exceptions(self) -> Exceptions: ...

    @property
    def master(self) -> MasterDataStore: ...

    @property
    def reservations(self) -> Reservations: ...

    @property
    def queries(self) -> Queries: ...

    @property
    def tokens(self) -> Tokens: ...

    @property
    def checks(self) -> Checks: ...

    @property
    def audit(self) -> AuditLog: ...


    def __enter__(self) -> UnitOfWork: ...
    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    """Makes units of work. ``read_only`` lets a backend skip the write lock for queries.

    Use cases call ``run``: it opens a unit of work, calls ``work`` with it, commits (unless
    ``read_only``) and runs the whole of it again after a transient failure of the backend
    (deadlock, serialization failure, lock timeout, shutdown, broken connection), within the
    bound of ``app.retry``; ``idempotent`` work is also run again when the connection fails
    during COMMIT (see ``run_transaction``). A bare ``with factory() as uow`` gets no retries."""

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...

    def run(self, work: Callable[[UnitOfWork], T], *, read_only: bool = False,
            operation: str = "transaction", idempotent: bool = False, settled: bool = False) -> T: ...
    # ``settled`` (read-only): a snapshot in which every id handed out before it is committed,
    # so "everything after id X" next time misses nothing (incremental checks). On PostgreSQL
    # it waits for the transactions in flight (a pause of one posting batch at most).

    expected_schema_version: int  # the version this release was built for (and checked at start-up)

    def current_schema_version(self) -> int: ...  # read now: an upgrade may have run since start-up
