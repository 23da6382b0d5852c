"""Posting rules for stock events: receipts, transfers, adjustments and counts."""

from __future__ import annotations

from posledger.domain import accounts as acc
from posledger.domain import costing
from posledger.domain.events import StockAdjusted, StockCounted, StockReceived, StockTransferred
from posledger.domain.journal import EntryBuilder
from posledger.domain.master import Store
from posledger.domain.posting.context import EventContext

__all__ = ["post_stock_received", "post_stock_transferred", "post_stock_adjusted",
           "post_stock_counted"]


def _store_of(ctx: EventContext, location_id: str) -> Store:
    location = ctx.master.location(location_id)
    assert location is not None  # checked before posting: unknown locations park the event
    return ctx.master.stores[location.store_id]


def _finish(ctx: EventContext, entries: dict[str, EntryBuilder], memo: str) -> None:
    for store_id, entry in entries.items():
        store = ctx.master.stores[store_id]
        ctx.result.entries.append(entry.build(store_id, ctx.day_for(store), None, memo))


def post_stock_received(ctx: EventContext, received: StockReceived) -> None:
    store = _store_of(ctx, received.location_id)
    entry = EntryBuilder()
    for line in received.lines:
        movement = costing.receive(ctx.position(line.sku, received.location_id), line.qty, line.unit_cost)
        ctx.move(movement, line.sku, received.location_id, store.store_id, "receipt", ctx.day_for(store))
        entry.debit(acc.INVENTORY, movement.value)
        entry.credit(acc.GRNI, movement.value)
    _finish(ctx, {store.store_id: entry}, f"receipt {received.reference or ''}".strip())


def post_stock_transferred(ctx: EventContext, transfer: StockTransferred) -> None:
    """Out of the source at its average cost through 1310; in at exactly that cost."""
    source = _store_of(ctx, transfer.from_location_id)
    destination = _store_of(ctx, transfer.to_location_id)
    entries = {source.store_id: EntryBuilder()}
    entries.setdefault(destination.store_id, EntryBuilder())
    for line in transfer.lines:
        out = costing.issue(ctx.position(line.sku, transfer.from_location_id), line.qty,
                            ctx.item(line.sku).standard_cost)
        ctx.move(out, line.sku, transfer.from_location_id, source.store_id, "transfer_out",
                 ctx.day_for(source))
        cost = -out.value
        entries[source.store_id].debit(acc.INTERSTORE_TRANSFERS, cost)
        entries[source.store_id].credit(acc.INVENTORY, cost)
        into = costing.add_at_cost(ctx.position(line.sku, transfer.to_location_id), line.qty, cost)
        ctx.move(into, line.sku, transfer.to_location_id, destination.store_id, "transfer_in",
                 ctx.day_for(destination))
        entries[destination.store_id].debit(acc.INVENTORY, cost)
        entries[destination.store_id].credit(acc.INTERSTORE_TRANSFERS, cost)
    _finish(ctx, entries, f"transfer {transfer.reference or ''}".strip())


def _adjust(ctx: EventContext, entry: EntryBuilder, store: Store, location_id: str, sku: str,
            delta: int, kind: str) -> None:
    position = ctx.position(sku, location_id)
    standard_cost = ctx.item(sku).standard_cost
    if delta < 0:
        movement = costing.issue(position, -delta, standard_cost)
    else:
        movement = costing.gain(position, delta, standard_cost)
    ctx.move(movement, sku, location_id, store.store_id, kind, ctx.day_for(store))
    entry.debit(acc.INVENTORY, movement.value)
    entry.credit(acc.SHRINKAGE, movement.value)


def post_stock_adjusted(ctx: EventContext, adjusted: StockAdjusted) -> None:
    store = _store_of(ctx, adjusted.location_id)
    entry = EntryBuilder()
    for line in adjusted.lines:
        _adjust(ctx, entry, store, adjusted.location_id, line.sku, line.qty_delta, "adjustment")
    _finish(ctx, {store.store_id: entry}, f"adjustment {adjusted.reason or ''}".strip())


def post_stock_counted(ctx: EventContext, counted: StockCounted) -> None:
    """A count sets on-hand to what was counted: the difference is a loss or a gain."""
    store = _store_of(ctx, counted.location_id)
    entry = EntryBuilder()
    for line in counted.lines:
        delta = line.counted_qty - ctx.position(line.sku, counted.location_id).on_hand
        if delta:
            _adjust(ctx, entry, store, counted.location_id, line.sku, delta, "count")
    _finish(ctx, {store.store_id: entry}, "count")
