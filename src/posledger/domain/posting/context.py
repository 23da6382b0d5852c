"""Per-event working context shared by the rules: the store, its business day, a stock
overlay (so two lines of the same SKU see each other) and the result being built."""

from __future__ import annotations

from datetime import date

from posledger.domain import costing
from posledger.domain.calendar import business_day_of
from posledger.domain.costing import StockPosition
from posledger.domain.events import Envelope
from posledger.domain.master import Item, MasterData, Store
from posledger.domain.posting.model import Finding, Posted, PostingState, StockMove


class EventContext:
    __slots__ = ("state", "envelope", "master", "store", "business_day", "result")

    def __init__(self, state: PostingState, envelope: Envelope, store: Store) -> None:
        self.state = state
        self.envelope = envelope
        self.master: MasterData = state.master
        self.store = store
        self.business_day = self.day_for(store)
        self.result = Posted(business_day=self.business_day)

    def day_for(self, store: Store) -> date:
        if self.envelope.business_day is not None:
            return self.envelope.business_day
        return business_day_of(self.envelope.occurred_at, store)

    def item(self, sku: str) -> Item:
        return self.master.items[sku]

    def position(self, sku: str, location_id: str) -> StockPosition:
        staged = self.result.positions.get((sku, location_id))
        if staged is not None:
            return staged[1]
        return self.state.stock(sku, location_id)

    def move(self, movement: costing.Movement, sku: str, location_id: str, store_id: str,
             kind: str, business_day: date | None = None) -> None:
        """Record a movement in the stock ledger and raise ``negative_stock`` if it leaves
        on-hand below zero on the way out."""
        self.result.positions[(sku, location_id)] = (store_id, movement.position)
        self.result.moves.append(StockMove(sku, location_id, store_id, movement.qty,
                                           movement.value, kind,
                                           business_day or self.business_day))
        if movement.qty < 0 and movement.position.on_hand < 0:
            self.find("negative_stock", sku=sku, location_id=location_id,
                      on_hand=movement.position.on_hand)

    def find(self, finding_type: str, **detail: object) -> None:
        self.result.findings.append(Finding(finding_type, dict(detail)))
