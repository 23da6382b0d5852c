"""The posting engine: consume accepted events in acceptance order, exactly once.

Each batch reads the events after the consumer's position (and parked events that became
ready), runs the pure posting rules, and writes all outputs, the events' new status and the
new position in ONE transaction (STYLE.md example 6). A crash before commit leaves nothing
behind; a re-run after commit finds nothing to do. The ledger's unique keys (one entry set per
event_id) make a double posting fail loudly rather than happen silently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from posledger.app.clock import Clock
from posledger.app.collector import collector_paused
from posledger.app.event_cache import EventCache
from posledger.app.ingest import Appended
from posledger.app.master_data import snapshot
from posledger.app.ports import (
    ExceptionRecord,
    IssuedDocument,
    PostingWrites,
    StoredEvent,
    UnitOfWork,
    UnitOfWorkFactory,
)
from posledger.app.retry import StorageUnavailable
from posledger.domain.codec import decode_stored_event
from posledger.domain.costing import StockPosition
from posledger.domain.day_summary import add_day_taxes
from posledger.domain.errors import InvalidInput
from posledger.domain.events import Event
from posledger.domain.master import MasterData
from posledger.domain.posting import (
    Drawer,
    Parked,
    Posted,
    SaleRecord,
    document_number,
    post_event,
    stock_keys,
)

log = logging.getLogger(__name__)
__all__ = ["PostingEngine", "PostingReport", "CONSUMER"]

CONSUMER = "posting"
T = TypeVar("T")
R = TypeVar("R")
FAIR_STORES = 5_000  # stores with events waiting that one batch looks at (CONTRACT section 15: fairness)
POSITIONS_KEPT = 200_000  # stock positions an engine keeps between batches (~200 bytes each)


@dataclass(slots=True)
class PostingReport:
    posted: int = 0
    parked: int = 0
    findings: int = 0
    batches: int = 0
    accepted_at: list[str] = field(default_factory=list)  # of the events posted, for lag metrics
    # The batch may have left work behind: it was full, or it released parked events.
    more: bool = False

    def add(self, other: PostingReport) -> None:
        self.posted += other.posted
        self.parked += other.parked
        self.findings += other.findings
        self.batches += other.batches


def document_series(store_id: str, kind: str) -> str:
    """The gapless series a store's invoices (``S001-INV``) or credit notes (``S001-CN``) are
    numbered in."""
    return f"{store_id}-{'INV' if kind == 'invoice' else 'CN'}"


class BatchState:
    """``PostingState`` over a unit of work, with a write-back cache for one batch.

    Reads go to the cache first, so event N+1 sees what event N posted even though nothing is
    written until the batch commits. ``known`` holds stock positions as earlier batches of this
    engine committed them, so a batch reads from the database only the positions it has not
    seen; a stale one (another process posted meanwhile) cannot do harm, because a position is
    written only if it still holds what the batch took it to hold, and one taken from ``known``
    and not written (a count that found nothing to adjust) is checked all the same (else
    ``WriteConflict``, and the engine forgets what it knew and computes the batch again)."""

    def __init__(self, uow: UnitOfWork, master: MasterData,
                 known: dict[tuple[str, str], StockPosition | None] | None = None) -> None:
        self._uow = uow
        self._master = master
        self.writes = PostingWrites()
        self._known = known if known is not None else {}
        self.from_known: set[tuple[str, str]] = set()  # positions taken from ``known``, not read here
        self._stock: dict[tuple[str, str], StockPosition] = {}
        self._stock_as_read: dict[tuple[str, str], StockPosition | None] = {}  # None: no row yet
        self._sales: dict[tuple[str, str], SaleRecord | None] = {}
        self._drawers: dict[str, Drawer] = {}
        self._series: dict[str, int] = {}
        self.waiting_keys: set[str] = set()  # receipts that parked voids wait for

    @property
    def master(self) -> MasterData:
        return self._master

    def as_read(self, key: tuple[str, str]) -> StockPosition | None:
        return self._stock_as_read.get(key)

    def stock(self, sku: str, location_id: str) -> StockPosition:
        key = (sku, location_id)
        position = self._stock.get(key)
        if position is None:
            known = self._known
            if key in known:
                found = known[key]
                self.from_known.add(key)
            else:
                found = self._uow.ledger.load_stock(sku, location_id)
            self._stock_as_read[key] = found
            position = self._stock[key] = found or StockPosition()
        return position

    def prefetch(self, keys: list[tuple[str, str]]) -> None:
        """Load many positions in one query; positions that do not exist yet start empty."""
        stock, as_read, known = self._stock, self._stock_as_read, self._known
        missing = []
        for key in dict.fromkeys(keys):
            if key in stock:
                continue
            if key in known:
                position = as_read[key] = known[key]
                stock[key] = position or StockPosition()
                self.from_known.add(key)
            else:
                missing.append(key)
        if not missing:
            return
        found = self._uow.ledger.load_stocks(missing)
        for key in missing:
            as_read[key] = found.get(key)
            stock[key] = found.get(key) or StockPosition()

    def sale(self, store_id: str, receipt_no: str) -> SaleRecord | None:
        key = (store_id, receipt_no)
        if key not in self._sales:
            self._sales[key] = self._uow.ledger.load_sale(store_id, receipt_no)
        return self._sales[key]

    def drawer(self, register_id: str, store_id: str) -> Drawer:
        drawer = self._drawers.get(register_id)
        if drawer is None:
            drawer = self._uow.ledger.load_drawer(register_id) or Drawer(register_id, store_id)
            self._drawers[register_id] = drawer
        return drawer

    def prefetch_series(self, series: list[str]) -> None:
        """The last numbers of many series in one query (a batch's stores' invoice series)."""
        missing = [name for name in dict.fromkeys(series) if name not in self._series]
        if missing:
            found = self._uow.ledger.last_document_numbers(missing)
            for name in missing:
                self._series[name] = found.get(name, 0)

    def _next_number(self, series: str) -> int:
        last = self._series.get(series)
        if last is None:
            last = self._uow.ledger.last_document_number(series)
        self._series[series] = last + 1
        self.writes.series[series] = last + 1
        return last + 1

    def apply(self, store_id: str, event_id: str, offset: int, posted: Posted) -> list[str]:
        """Stage what one event posted. Returns the sale keys it posted (for waiting voids)."""
        writes = self.writes
        for entry_no, entry in enumerate(posted.entries, start=1):
            writes.entries.append((offset, event_id, entry_no, entry))
        for move in posted.moves:
            writes.moves.append((offset, move))
        for key, (store_id, position) in posted.positions.items():
            self._stock[key] = position
            writes.positions[key] = (store_id, position)
            writes.positions_as_read[key] = self._stock_as_read.get(key)
        if posted.tenders:
            entry = posted.entries[-1]
            for tender, amount in posted.tenders:
                day_key = (entry.business_day, entry.store_id, tender)
                writes.day_tenders[day_key] = writes.day_tenders.get(day_key, 0) + amount
        invoice_number = None
        for draft in posted.documents:
            add_day_taxes(writes.day_taxes, draft)
            series = document_series(draft.store_id, draft.kind)
            sequence = self._next_number(series)
            number = document_number(series, sequence)
            writes.documents.append(IssuedDocument(number, series, sequence, event_id, offset, draft))
            if draft.kind == "invoice" and invoice_number is None:
                invoice_number = number
        posted_receipts = []
        for sale in posted.sales:
            if sale.event_id == event_id and sale.store_id == store_id and sale.invoice_number is None:
                sale = sale.numbered(invoice_number)
                posted_receipts.append(f"receipt:{sale.store_id}/{sale.receipt_no}")
            key = (sale.store_id, sale.receipt_no)
            self._sales[key] = sale
            writes.sales[key] = sale
        drawer = posted.drawer
        if drawer is not None:
            self._drawers[drawer.register_id] = drawer
            writes.drawers[drawer.register_id] = drawer
            session_id = drawer.session_id
            if session_id is not None:
                writes.sessions[(drawer.register_id, session_id, drawer.open_event_id)] = drawer
        if posted.consumed_order_id is not None and posted.sales:
            store_id = posted.sales[-1].store_id
            master = self._master
            locations = [store_id, *(location_id for location_id, location in master.locations.items()
                                     if location.store_id == store_id)]
            writes.consumed_orders.extend((posted.consumed_order_id, location_id) for location_id in locations)
        return posted_receipts


class PostingEngine:
    """Drains the log. Single-writer per backend partition; safe to run repeatedly."""

    def __init__(self, uow_factory: UnitOfWorkFactory, clock: Clock, batch_size: int = 500,
                 cache: EventCache | None = None) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._batch_size = batch_size
        self._master: MasterData | None = None
        self._cache = cache
        self._fair_turn: tuple[int, str] = (-1, "")  # the last store a batch gave a fair share
        # Stock positions as this engine's batches committed them (see BatchState), bounded.
        self._positions: dict[tuple[str, str], StockPosition | None] = {}

    def _snapshot(self, uow: UnitOfWork) -> MasterData:
        version = uow.master.version()
        if self._master is None or self._master.version != version:
            self._master = snapshot(uow)
        return self._master

    def run(self, progress: Callable[[int], None] | None = None) -> PostingReport:
        """Post everything pending; returns when the log is drained."""
        total = PostingReport()
        while True:
            report = self.run_batch()
            total.add(report)
            if progress is not None and report.posted + report.parked:
                progress(report.posted + report.parked)
            if not report.more:  # drained: no empty transaction just to find that out
                return total

    def run_batch(self, partition: int | None = None) -> PostingReport:
        """Post one batch. Without ``partition``: the single-consumer mode, events after the
        consumer position. With it: the accepted events of that partition, in log order (the
        caller owns the partition; see ``posledger worker``).

        The batch is one transaction, run again from scratch after a transient failure (a
        deadlock, a lost connection) or when another worker changed a stock position it read
        (a transfer into another partition's store): ``UnitOfWorkFactory.run``.

        One bad event stops nothing (CONTRACT section 15): when the batch fails for any other
        reason, its events are posted one at a time, and the one that fails alone is parked as
        ``posting_failed`` with the error, so that the rest (every other store's too) post."""
        try:
            return self._transaction(lambda uow, state: self._batch(uow, partition, state, self._batch_size),
                                     "posting")
        except StorageUnavailable:
            raise
        except Exception as error:
            log.warning("a posting batch failed (%s: %s); posting its events one at a time",
                        type(error).__name__, error)
            return self._one_at_a_time(partition)

    def _one_at_a_time(self, partition: int | None) -> PostingReport:
        total = PostingReport()
        for _ in range(self._batch_size):
            try:
                report = self._transaction(lambda uow, state: self._batch(uow, partition, state, 1), "posting")
            except StorageUnavailable:
                raise
            except Exception as error:
                log.error("posting an event failed (%s: %s); parked as posting_failed", type(error).__name__,
                          error, exc_info=True)
                report = self._park_failed_alone(partition, error)
            total.add(report)
            total.accepted_at.extend(report.accepted_at)
            if not report.posted and not report.parked:
                return total  # drained
        total.more = True
        return total

    def _park_failed_alone(self, partition: int | None, error: Exception) -> PostingReport:
        return self._transaction(lambda uow, state: self._park_failed(uow, partition, state, error),
                                 "park a failed event")

    def _park_failed(self, uow: UnitOfWork, partition: int | None, state: BatchState,
                     error: Exception) -> PostingReport:
        """Park the event a batch of one would post (it failed there) as ``posting_failed``."""
        report = PostingReport()
        events, fresh = self._pending(uow, partition, 1)
        if not events:
            return report
        stored = events[0]
        self._park(uow, stored, Parked("posting_failed", None, {
            "error": f"{type(error).__name__}: {str(error)[:500]}",
            "problem": "posting this event failed; resolve with retry once the cause is fixed"}),
            self._clock.now())
        state.writes.statuses.append((stored.offset, "exception"))
        uow.ledger.write(state.writes)
        if fresh and partition is None:
            uow.events.set_position(CONSUMER, stored.offset)
        report.parked = 1
        report.more = True
        return report

    def append_and_post(self, append: Callable[[UnitOfWork], tuple[T, list[Appended], str]]
                        ) -> tuple[T, PostingReport] | None:
        """The batch path: ``append`` adds events to the log and they are posted in the same
        transaction, so a chunk costs one commit, and its events are stored as posted instead of
        stored and updated. ``append`` returns its result, what it appended and when.

        Only when the engine is caught up (nothing pending before the new events, in log order):
        otherwise nothing is written and None comes back, and the caller appends and posts
        apart. Any failure undoes both parts; the caller then appends apart, so a posting
        failure never costs what was accepted."""
        return self._transaction(lambda uow, state: self._append_then_post(uow, state, append), "ingest and post")

    def plan_append_and_post(self, uow: UnitOfWork, append: Callable[[UnitOfWork], tuple[T, list[Appended], str]]
                             ) -> tuple[T, PostingReport] | None:
        """``append_and_post``'s work done once against ``uow``, with no transaction, commit or
        retry: the pipelined importer's planning, whose unit of work records the writes for
        another process to commit (``app.pipeline``). The stock positions it wrote are known to
        later batches at once, since the writer commits the plans in order or the importer
        calls ``forget``."""
        with collector_paused():
            try:
                state = BatchState(uow, self._snapshot(uow), self._positions)
                outcome = self._append_then_post(uow, state, append)
            except BaseException:
                self._positions.clear()
                raise
        self._remember({key: position for key, (_, position) in state.writes.positions.items()})
        return outcome

    def forget(self) -> None:
        """Drop what this engine knows of stock positions (another writer may have moved them)."""
        self._positions.clear()

    def _append_then_post(self, uow: UnitOfWork, state: BatchState,
                          append: Callable[[UnitOfWork], tuple[T, list[Appended], str]]
                          ) -> tuple[T, PostingReport] | None:
        if not uow.events.appends_follow(CONSUMER) or uow.parking.ready(1):
            return None
        result, appended, accepted_at = append(uow)
        report = PostingReport()
        events = [(StoredEvent(a.offset, a.event.envelope.event_id, a.event.envelope.type,
                               a.event.envelope.store_id, a.event.envelope.register_id, a.event.envelope.seq,
                               a.body, a.body_hash, accepted_at, "accepted"), a.event) for a in appended]
        self._post(uow, state, events, report, stored_as_posted=True)
        if appended:
            uow.events.set_position(CONSUMER, appended[-1].offset)
            report.batches = 1
        return result, report

    def _transaction(self, attempt: Callable[[UnitOfWork, BatchState], R], operation: str) -> R:
        """``attempt`` in one posting transaction, retried from scratch after a transient failure;
        the stock positions it wrote are known to later batches once it has committed."""
        written: dict[tuple[str, str], StockPosition | None] = {}

        def once(uow: UnitOfWork) -> R:
            written.clear()
            try:
                state = BatchState(uow, self._snapshot(uow), self._positions)
                outcome = attempt(uow, state)
            except BaseException:  # a stale position among them, perhaps: read them afresh
                self._positions.clear()
                raise
            written.update((key, position) for key, (_, position) in state.writes.positions.items())
            return outcome

        with collector_paused():
            try:
                # Idempotent: posted events are no longer pending, so a retry posts nothing twice.
                outcome = self._uow_factory.run(once, operation=operation, idempotent=True)
            except BaseException:
                self._positions.clear()
                raise
        self._remember(written)  # committed
        return outcome

    def _remember(self, written: dict[tuple[str, str], StockPosition | None]) -> None:
        if len(self._positions) + len(written) > POSITIONS_KEPT:
            self._positions.clear()
        self._positions.update(written)

    def _pending(self, uow: UnitOfWork, partition: int | None, limit: int
                 ) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """What a batch of ``limit`` posts (parked events now ready first, then fresh ones in log
        order, then other stores' fair shares), and which of them are fresh in log order."""
        ready = uow.parking.ready(limit, partition)
        events = uow.events.by_offsets(ready) if ready else []
        fresh: list[StoredEvent] = []
        if len(events) < limit:
            if partition is None:
                fresh = uow.events.after(uow.events.position(CONSUMER), limit - len(events))
            else:
                fresh = uow.events.pending_in_partition(partition, limit - len(events))
            if limit > 1 and len(fresh) == limit - len(events):
                return events + fresh + self._fair_shares(uow, partition, fresh), fresh
        return events + fresh, fresh

    def _fair_shares(self, uow: UnitOfWork, partition: int | None, fresh: list[StoredEvent]) -> list[StoredEvent]:
        """Posting is fair across stores (CONTRACT section 15). A full batch means a backlog, and
        one store's flood may fill it; so the stores whose events wait beyond the next batch's
        reach add their next ones to this batch, sharing a quarter of the batch (taking
        turns when they are more than that): a flood delays another store's events by one batch
        at most, as long as the other stores together send less than a quarter of what the
        flood does.
        Each store's own events still post in log order; what one store's event needs from
        another's (a return's original sale) parks until that posts, as always. The cost, a seek
        per waiting store, is paid only when there is a backlog."""
        # A store whose first waiting event lies within the next batch's reach posts then anyway:
        # only those further behind (more than a batch of offsets beyond this one) get a share.
        reach = fresh[-1].offset + len(fresh)
        waiting = [(p, store, head) for p, store, head in uow.events.pending_heads(partition, FAIR_STORES)
                   if head > reach]
        if not waiting:
            return []
        # A quarter of the batch again at most: a bigger transaction would hold SQLite's write lock
        # longer and slow ingest (a share of the whole batch cost the lean benchmark 15 %).
        budget = max(1, len(fresh) // 4)
        turn = next((i for i, (p, store, _) in enumerate(waiting) if (p, store) > self._fair_turn), 0)
        waiting = (waiting[turn:] + waiting[:turn])[:budget]
        self._fair_turn = waiting[-1][:2]
        share = max(1, budget // len(waiting))
        if share == 1:
            return uow.events.by_offsets([head for _, _, head in waiting])
        return [event for p, store, _ in waiting for event in uow.events.pending_of_store(p, store, share)]

    def _batch(self, uow: UnitOfWork, partition: int | None, state: BatchState, limit: int) -> PostingReport:
        report = PostingReport()
        events, fresh = self._pending(uow, partition, limit)
        if not events:
            return report
        now = self._clock.now()
        parsed = []
        for stored in events:
            try:
                parsed.append((stored, self._parse(stored)))
            except InvalidInput as error:  # stored, so once valid: kept and shown, never blocking the rest
                self._park(uow, stored, Parked("invalid_stored_event", None, {
                    "field": error.field, "detail": error.detail,
                    "problem": "this release cannot read the stored event; resolve with retry once fixed"}), now)
                state.writes.statuses.append((stored.offset, "exception"))
                report.parked += 1
        self._post(uow, state, parsed, report)
        if fresh and partition is None:
            uow.events.set_position(CONSUMER, fresh[-1].offset)
        report.batches = 1
        report.more = report.more or len(events) >= limit
        return report

    def _post(self, uow: UnitOfWork, state: BatchState, parsed: list[tuple[StoredEvent, Event]],
              report: PostingReport, stored_as_posted: bool = False) -> None:
        """Post ``parsed`` in order and write what they posted. ``stored_as_posted``: their log
        rows already say posted, so only those that park get a status."""
        state.waiting_keys = uow.parking.waiting_keys("receipt:")
        now = self._clock.now()
        state.prefetch([key for _, event in parsed for key in stock_keys(event)])
        state.prefetch_series([document_series(event.envelope.store_id, "invoice") for _, event in parsed])
        for stored, event in parsed:
            self._post_one(uow, state, stored, event, now, report, stored_as_posted)
        state.writes.posted_at = self._clock.now()
        writes = state.writes
        writes.positions_unchanged = {key: position for key in state.from_known
                                      if key not in writes.positions and (position := state.as_read(key)) is not None}
        uow.ledger.write(writes)
        uow.exceptions.add_many(state.writes.findings)

    def _parse(self, stored: StoredEvent) -> Event:
        event = self._cache.take(stored.body_hash) if self._cache is not None else None
        if event is None:
            event = decode_stored_event(stored.body)
        return event

    def _post_one(self, uow: UnitOfWork, state: BatchState, stored: StoredEvent, event: Event,
                  now: str, report: PostingReport, stored_as_posted: bool = False) -> None:
        outcome = post_event(event, state)
        if isinstance(outcome, Parked):
            self._park(uow, stored, outcome, now)
            if outcome.wait_key is not None:
                state.waiting_keys.add(outcome.wait_key)
            state.writes.statuses.append((stored.offset, "exception"))
            report.parked += 1
            return
        if stored.status == "exception":
            self._unpark(uow, stored, now)
        for receipt_key in state.apply(stored.store_id, stored.event_id, stored.offset, outcome):
            if receipt_key in state.waiting_keys and uow.parking.release(receipt_key):
                report.more = True
        day = outcome.business_day.isoformat() if outcome.business_day else None
        findings = state.writes.findings
        for finding in outcome.findings:  # written with the batch, in one statement
            findings.append(ExceptionRecord(
                0, finding.type, "open", event.envelope.store_id, event.envelope.register_id,
                stored.event_id, day, finding.detail, now))
        if not stored_as_posted:
            state.writes.statuses.append((stored.offset, "posted"))
        report.posted += 1
        report.accepted_at.append(stored.accepted_at)
        report.findings += len(outcome.findings)

    def _park(self, uow: UnitOfWork, stored: StoredEvent, parked: Parked, now: str) -> None:
        open_records = uow.exceptions.open_for_event(stored.store_id, stored.event_id)
        existing = [e for e in open_records if e.type == parked.type and e.detail.get("parked")]
        for superseded in open_records:
            if superseded.detail.get("parked") and superseded.type != parked.type:
                uow.exceptions.resolve(superseded.id, now, "system", f"now waiting: {parked.type}")
        if existing:
            exception_id = existing[0].id
        else:
            exception_id = uow.exceptions.add(ExceptionRecord(
                0, parked.type, "open", stored.store_id, stored.register_id,
                stored.event_id, None, {**parked.detail, "parked": True}, now))
        uow.parking.park(stored.offset, stored.store_id, parked.wait_key, exception_id)

    def _unpark(self, uow: UnitOfWork, stored: StoredEvent, now: str) -> None:
        exception_id = uow.parking.unpark(stored.offset)
        for record in uow.exceptions.open_for_event(stored.store_id, stored.event_id):
            if record.id == exception_id or record.detail.get("parked"):
                uow.exceptions.resolve(record.id, now, "system", "posted after retry")
