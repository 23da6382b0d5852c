"""An in-memory ``PostingState``: the fake the domain's scenario tests post against."""

from __future__ import annotations

import json
from typing import Any

from posledger.domain.codec import parse_event
from posledger.domain.costing import StockPosition
from posledger.domain.journal import JournalEntry
from posledger.domain.master import MASTER_KINDS, MasterData, entry_key, parse_entry
from posledger.domain.posting import (
    Drawer,
    Finding,
    Outcome,
    Parked,
    Posted,
    SaleRecord,
    StockMove,
    post_event,
)


def master_from(document: dict[str, Any]) -> MasterData:
    tables: dict[str, dict[Any, Any]] = {kind: {} for kind in MASTER_KINDS}
    for kind, entries in document.items():
        for index, raw in enumerate(entries):
            entry = parse_entry(kind, json.loads(json.dumps(raw)), f"{kind}[{index}]")
            key = (entry.tax_region, entry.tax_code) if kind == "tax_rules" else entry_key(kind, entry)
            tables[kind][key] = entry
    return MasterData(version=1, **tables)


class Books:
    def __init__(self, master: dict[str, Any]) -> None:
        self.master = master_from(master)
        self.positions: dict[tuple[str, str], StockPosition] = {}
        self.sales: dict[tuple[str, str], SaleRecord] = {}
        self.drawers: dict[str, Drawer] = {}
        self.entries: list[JournalEntry] = []
        self.moves: list[StockMove] = []
        self.findings: list[Finding] = []
        self.documents: list[Any] = []
        self._numbers: dict[str, int] = {}

    def stock(self, sku: str, location_id: str) -> StockPosition:
        return self.positions.get((sku, location_id), StockPosition())

    def sale(self, store_id: str, receipt_no: str) -> SaleRecord | None:
        return self.sales.get((store_id, receipt_no))

    def drawer(self, register_id: str, store_id: str) -> Drawer:
        return self.drawers.get(register_id, Drawer(register_id, store_id))

    def post(self, document: dict[str, Any]) -> Outcome:
        outcome = post_event(parse_event(document), self)
        if isinstance(outcome, Parked):
            return outcome
        self.apply(document["event_id"], outcome)
        return outcome

    def apply(self, event_id: str, posted: Posted) -> None:
        self.entries.extend(posted.entries)
        self.moves.extend(posted.moves)
        self.findings.extend(posted.findings)
        for key, (_store, position) in posted.positions.items():
            self.positions[key] = position
        invoice = None
        for draft in posted.documents:
            series = f"{draft.store_id}-{draft.kind}"
            self._numbers[series] = self._numbers.get(series, 0) + 1
            number = f"{series}-{self._numbers[series]}"
            self.documents.append((number, draft))
            if draft.kind == "invoice" and invoice is None:
                invoice = number
        for record in posted.sales:
            if record.event_id == event_id and record.invoice_number is None:
                record = record.numbered(invoice)
            self.sales[(record.store_id, record.receipt_no)] = record
        if posted.drawer is not None:
            self.drawers[posted.drawer.register_id] = posted.drawer
