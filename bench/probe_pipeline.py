"""Probe: can a pipelined engine use both cores? Prints figures; never passes or fails.

The design (docs/decisions/0003, "What is left"): write batch N on one thread while the posting
rules compute batch N+1 on another, since SQLite releases the interpreter lock while it steps
and commits. This measures that premise with the project's own parts. The rules are
``post_event`` over generated sales with stock positions in memory. The writes are the rows a
sale writes, in the project's schema, with ``insert_many`` and a durable commit. Each is timed
alone, then one after the other, then overlapped.

    python bench/probe_pipeline.py --batches 20
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_posting as bp  # noqa: E402

from posledger.adapters.sqlite import SqliteUnitOfWork  # noqa: E402
from posledger.app.clock import SystemClock  # noqa: E402
from posledger.app.ingest import canonical_json  # noqa: E402
from posledger.app.master_data import load_master_data, snapshot  # noqa: E402
from posledger.app.posting import BatchState  # noqa: E402
from posledger.domain.codec import decode_event  # noqa: E402
from posledger.domain.costing import StockPosition  # noqa: E402
from posledger.domain.posting import post_event  # noqa: E402

BATCH = 1000


class _KnownStock:
    """Positions for every key, as a warm engine's kept positions are: no reads."""

    def load_stocks(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], StockPosition]:
        return {key: StockPosition(1_000_000, 300_000_000, 300_000_000, 1_000_000) for key in keys}

    def load_stock(self, sku: str, location: str) -> StockPosition:
        return StockPosition(1_000_000, 300_000_000, 300_000_000, 1_000_000)

    def load_sale(self, store: str, receipt: str) -> None:
        return None

    def load_drawer(self, register: str) -> None:
        return None


class _Uow:
    ledger = _KnownStock()


def rules(master: Any, events: list[Any]) -> None:
    state = BatchState(_Uow(), master)  # type: ignore[arg-type]
    for event in events:
        post_event(event, state)


def rows(batch: int, bodies: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    base = batch * BATCH
    return {
        "journal_lines": [((base + i) * 7 + n, 1, str(4000 + n), 100, 0) for i in range(BATCH) for n in range(7)],
        "stock_moves": [((base + i) * 3 + n, base + i, n + 1, f"SKU-{(i * 3 + n) % 500:05d}", f"S{i % 50:03d}",
                         f"S{i % 50:03d}", -1, -300, "sale", "2026-11-27") for i in range(BATCH) for n in range(3)],
        "documents": [(f"S{i % 50:03d}-INV-{base + i:08d}", f"S{i % 50:03d}-INV", base + i, "invoice",
                       f"S{i % 50:03d}", f"E-{base + i}", "2026-11-27", None, 1414, 115, bodies[i][:675])
                      for i in range(BATCH)],
    }


COLUMNS = {
    "journal_lines": ("entry_id", "line_no", "account", "debit", "credit"),
    "stock_moves": ("move_id", "event_offset", "move_no", "sku", "location_id", "store_id", "qty", "value", "kind",
                    "business_day"),
    "documents": ("number", "series", "sequence", "kind", "store_id", "event_id", "business_day",
                  "original_number", "total", "tax", "body"),
}


def write(uow: Any, prepared: dict[str, list[tuple[Any, ...]]]) -> None:
    with uow() as unit:
        for table, table_rows in prepared.items():
            unit.db.insert_many(table, COLUMNS[table], table_rows)
        unit.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    n = args.batches
    with tempfile.TemporaryDirectory() as directory:
        uow = SqliteUnitOfWork(Path(directory) / "probe.db")
        load_master_data(uow, bp.master(), clock=SystemClock())
        with uow() as unit:
            master = snapshot(unit)
        bodies = [canonical_json(e) for e in bp.sales(BATCH)]
        events = [decode_event(body) for body in bodies]
        prepared = [rows(b, bodies) for b in range(3 * n + 1)]
        rules(master, events)  # warm

        started = time.perf_counter()
        for _ in range(n):
            rules(master, events)
        rules_alone = time.perf_counter() - started
        started = time.perf_counter()
        for b in range(n):
            write(uow, prepared[b])
        writes_alone = time.perf_counter() - started
        started = time.perf_counter()
        for b in range(n, 2 * n):
            rules(master, events)
            write(uow, prepared[b])
        in_turn = time.perf_counter() - started
        started = time.perf_counter()
        writer: threading.Thread | None = None
        for b in range(2 * n, 3 * n):
            rules(master, events)  # batch b's rules while batch b-1 is written
            if writer is not None:
                writer.join()
            writer = threading.Thread(target=write, args=(uow, prepared[b]))
            writer.start()
        assert writer is not None
        writer.join()
        overlapped = time.perf_counter() - started
        uow.close()
    per = n * BATCH / 1e6
    print(json.dumps({"sales": n * BATCH, "rules_alone_us": round(rules_alone / per, 1),
                      "writes_alone_us": round(writes_alone / per, 1), "in_turn_us": round(in_turn / per, 1),
                      "overlapped_us": round(overlapped / per, 1),
                      "overlap_saves": round(1 - overlapped / in_turn, 3)}))


if __name__ == "__main__":
    main()
