"""A posledger instance for tests: a backend's unit of work, the engine, a fixed clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from posledger.app.ingest import IngestResult, ingest
from posledger.app.master_data import load_master_data
from posledger.app.ports import UnitOfWorkFactory
from posledger.app.posting import PostingEngine, PostingReport
from posledger.app.queries import InvariantReport, check_invariants


class FixedClock:
    def __init__(self, now: str = "2026-11-22T15:00:00.000+00:00") -> None:
        self.value = now

    def now(self) -> str:
        return self.value


@dataclass
class Hub:
    uow: UnitOfWorkFactory
    clock: FixedClock
    engine: PostingEngine

    def load(self, master: dict[str, Any]) -> None:
        load_master_data(self.uow, master, clock=self.clock)

    def send(self, *events: dict[str, Any]) -> list[IngestResult]:
        return ingest(self.uow, list(events), clock=self.clock)

    def post(self) -> PostingReport:
        return self.engine.run()

    def send_and_post(self, *events: dict[str, Any]) -> list[IngestResult]:
        results = self.send(*events)
        self.post()
        return results

    def invariants(self) -> InvariantReport:
        with self.uow() as uow:
            return check_invariants(uow)


def make_hub(uow: UnitOfWorkFactory, batch_size: int = 500) -> Hub:
    clock = FixedClock()
    return Hub(uow, clock, PostingEngine(uow, clock, batch_size=batch_size))


def fingerprint(uow: UnitOfWorkFactory) -> dict[str, Any]:
    """What "the books" are, for comparing a run against a reference run of the same events:
    per-store trial balances, stock positions, invoice numbers per series, event statuses."""

    def read(unit: Any) -> dict[str, Any]:
        stores = sorted({row.store_id for row in unit.queries.stock(None, None)}
                        | {key for kind, key, _ in unit.master.snapshot_rows(("stores",)) if kind == "stores"})
        balances = {store: {(r.account, r.debit, r.credit) for r in unit.queries.trial_balance([store], None, None)}
                    for store in stores}
        stock = {(r.sku, r.location_id): (r.position.on_hand, r.position.value)
                 for r in unit.queries.stock(None, None)}
        statuses = dict(unit.events.counts())
        return {"balances": balances, "stock": stock, "documents": unit.queries.document_numbers(),
                "statuses": statuses, "invariants_ok": check_invariants(unit).ok}

    return uow.run(read, read_only=True, operation="fingerprint")
