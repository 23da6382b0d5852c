"""The posting rules: a function from (event, state) to what it posts, or why it waits.

``post_event`` first checks that every piece of master data the event names exists (else the
event is *parked* as ``unknown_master_data`` and retried when master data changes), then runs
the rule for its type. It does no IO: the state is read through ``PostingState``.
"""

from __future__ import annotations

from collections.abc import Callable

from posledger.domain.events import (
    CashMoved,
    Event,
    Exchange,
    RegisterClosed,
    RegisterOpened,
    Return,
    Sale,
    SaleLine,
    StockAdjusted,
    StockCounted,
    StockReceived,
    StockTransferred,
    Void,
)
from posledger.domain.master import MasterData
from posledger.domain.posting.cash import post_cash_moved, post_register_closed, post_register_opened
from posledger.domain.posting.context import EventContext
from posledger.domain.posting.model import (
    DocumentDraft,
    Drawer,
    Finding,
    Outcome,
    Parked,
    Posted,
    PostingState,
    SaleRecord,
    SoldLine,
    StockMove,
    document_number,
    parse_document_number,
)
from posledger.domain.posting.sales import post_exchange, post_return, post_sale, post_void
from posledger.domain.posting.stock import (
    post_stock_adjusted,
    post_stock_counted,
    post_stock_received,
    post_stock_transferred,
)

__all__ = [
    "post_event", "missing_master_data", "stock_keys", "Outcome", "Posted", "Parked", "PostingState",
    "SaleRecord", "SoldLine", "Drawer", "DocumentDraft", "Finding", "StockMove", "document_number",
    "parse_document_number",
]


def _lines_of(event: Event) -> list[SaleLine]:
    payload = event.payload
    if isinstance(payload, Sale):
        return list(payload.lines)
    if isinstance(payload, Return):
        return [r.line for r in payload.lines]
    if isinstance(payload, Exchange):
        return [r.line for r in payload.return_lines] + list(payload.sale_lines)
    return []


def _skus_and_locations(event: Event) -> tuple[list[str], list[str]]:
    payload = event.payload
    if isinstance(payload, (StockReceived, StockAdjusted, StockCounted)):
        return [line.sku for line in payload.lines], [payload.location_id]
    if isinstance(payload, StockTransferred):
        return ([line.sku for line in payload.lines],
                [payload.from_location_id, payload.to_location_id])
    return [line.sku for line in _lines_of(event)], []


def _own_location(event: Event) -> str | None:
    """The location a stock event acts at, which must be of the event's store."""
    payload = event.payload
    if isinstance(payload, (StockReceived, StockAdjusted, StockCounted)):
        return payload.location_id
    if isinstance(payload, StockTransferred):
        return payload.from_location_id
    return None


def missing_master_data(event: Event, master: MasterData) -> list[str]:
    """Everything the event names that master data does not know, as readable phrases."""
    envelope = event.envelope
    missing: list[str] = []
    store = master.stores.get(envelope.store_id)
    if store is None:
        missing.append(f"store {envelope.store_id}")
    if envelope.register_id is not None:
        register = master.registers.get(envelope.register_id)
        if register is None:
            missing.append(f"register {envelope.register_id}")
        elif register.store_id != envelope.store_id:
            missing.append(f"register {envelope.register_id} in store {envelope.store_id} "
                           f"(it belongs to {register.store_id})")
    skus, locations = _skus_and_locations(event)
    for sku in dict.fromkeys(skus):
        if sku not in master.items:
            missing.append(f"sku {sku}")
    own = _own_location(event)
    for location_id in dict.fromkeys(locations):
        location = master.location(location_id)
        if location is None:
            missing.append(f"location {location_id}")
        elif location.store_id not in master.stores:
            missing.append(f"store {location.store_id} of location {location_id}")
        elif location_id == own and location.store_id != envelope.store_id:
            # As a register of another store: the event's books are its own store's, so a
            # stock event names its own location (a transfer's sending side; it may send
            # anywhere). CONTRACT section 15.
            missing.append(f"location {location_id} in store {envelope.store_id} "
                           f"(it belongs to {location.store_id})")
    if store is not None:
        for code in dict.fromkeys(line.tax_code for line in _lines_of(event)):
            if (store.tax_region, code) not in master.tax_rules:
                missing.append(f"tax rule {store.tax_region}/{code}")
    return missing


def stock_keys(event: Event) -> list[tuple[str, str]]:
    """The (sku, location_id) positions an event will most likely touch, so that a batch can
    load them in one query. A hint only: the rules read whatever they need."""
    skus, locations = _skus_and_locations(event)
    if not locations:
        locations = [event.envelope.store_id]
    return [(sku, location) for sku in skus for location in locations]


_RULES: dict[type, Callable[[EventContext, object], Parked | None]] = {
    Sale: post_sale,  # type: ignore[dict-item]
    Return: post_return,  # type: ignore[dict-item]
    Exchange: post_exchange,  # type: ignore[dict-item]
    Void: post_void,  # type: ignore[dict-item]
    RegisterOpened: post_register_opened,  # type: ignore[dict-item]
    CashMoved: post_cash_moved,  # type: ignore[dict-item]
    RegisterClosed: post_register_closed,  # type: ignore[dict-item]
    StockReceived: post_stock_received,  # type: ignore[dict-item]
    StockTransferred: post_stock_transferred,  # type: ignore[dict-item]
    StockAdjusted: post_stock_adjusted,  # type: ignore[dict-item]
    StockCounted: post_stock_counted,  # type: ignore[dict-item]
}


def _sale_fully_known(event: Event, master: MasterData) -> bool:
    """The common case, answered without building the phrases of ``missing_master_data``: a
    sale whose store, register, items and tax rules all exist."""
    payload = event.payload
    if type(payload) is not Sale:
        return False
    envelope = event.envelope
    store = master.stores.get(envelope.store_id)
    if store is None:
        return False
    if envelope.register_id is not None:
        register = master.registers.get(envelope.register_id)
        if register is None or register.store_id != envelope.store_id:
            return False
    items, rules, region = master.items, master.tax_rules, store.tax_region
    return all(line.sku in items and (region, line.tax_code) in rules for line in payload.lines)


def post_event(event: Event, state: PostingState) -> Outcome:
    """What ``event`` posts given ``state``; or ``Parked`` with the reason it waits."""
    master = state.master
    if not _sale_fully_known(event, master):
        missing = missing_master_data(event, master)
        if missing:
            return Parked("unknown_master_data", "master", {"missing": missing})
    store = master.stores[event.envelope.store_id]
    currency = getattr(event.payload, "currency", None)
    if currency is not None and currency != store.currency:
        return Parked("currency_mismatch", "master",
                      {"currency": currency, "store_currency": store.currency})
    ctx = EventContext(state, event.envelope, store)
    parked = _RULES[type(event.payload)](ctx, event.payload)
    if parked is not None:
        return parked
    result = ctx.result
    result.entries = [entry for entry in result.entries if entry.lines]
    return result
