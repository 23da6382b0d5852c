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
