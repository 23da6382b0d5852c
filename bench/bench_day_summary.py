"""Benchmark: the day summary (GET /v1/stores/{id}/days/{day}) of one busy store-day, in process.

One store, stock received, four registers each with a session, N sales of two lines each (cash or card) and a
return every twentieth sale, all on one business day, posted as the server posts them; then the
day summary is read five times and the median printed, with what it read (documents, sessions).
The summary reads what posting kept for the day (balances, tenders, taxes by rate) and its
sessions: its cost is the day's keys, not its documents, nor history.
Prints figures; never passes or fails.

    python bench/bench_day_summary.py            # N = 5,000 and 20,000
    python bench/bench_day_summary.py --n 50000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from posledger.app.day_report import day_summary
from posledger.app.ingest import ingest
from posledger.app.master_data import load_master_data
from posledger.app.posting import PostingEngine
from posledger.bootstrap import bootstrap
from posledger.config import Settings

DAY = "2026-11-27"
REGISTERS = [f"B1-R{n}" for n in range(1, 5)]
MASTER: dict[str, Any] = {
    "stores": [{"store_id": "B1", "kind": "store", "name": "Busy", "timezone": "America/New_York",
                "currency": "USD", "prices_include_tax": False, "tax_region": "NY"}],
    "registers": [{"register_id": r, "store_id": "B1"} for r in REGISTERS],
    "items": [{"sku": f"K{n}", "name": f"item {n}", "tax_code": "STD" if n % 3 else "RED", "price": 500 + n,
               "standard_cost": 200} for n in range(50)],
    "tax_rules": [{"tax_region": "NY", "tax_code": "STD", "rate": "0.08875"},
                  {"tax_region": "NY", "tax_code": "RED", "rate": "0.04"}],
}


class Clock:
    def now(self) -> str:
        return "2026-11-27T23:00:00.000+00:00"


def _line(number: int, sku: int) -> dict[str, Any]:
    price = 500 + sku
    rate = 0.04 if sku % 3 == 0 else 0.08875
    return {"line_no": number, "sku": f"K{sku}", "qty": 1, "unit_price": price, "discount": 0, "promo_id": None,
            "tax_code": "RED" if sku % 3 == 0 else "STD", "tax": int(price * rate + 0.5)}


def _events(n: int) -> list[dict[str, Any]]:
    seqs = {r: 0 for r in REGISTERS}

    def envelope(register: str, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        seqs[register] += 1
        return {"event_id": f"{register}-{seqs[register]:07d}", "type": kind, "store_id": "B1",
                "register_id": register, "seq": seqs[register], "occurred_at": f"{DAY}T12:00:00-05:00",
                "payload": payload}

    receipt = {"event_id": "B1-PO-1", "type": "stock.received", "store_id": "B1", "register_id": None,
               "occurred_at": f"{DAY}T07:00:00-05:00",
               "payload": {"location_id": "B1", "reference": "PO-1",
                           "lines": [{"sku": f"K{sku}", "qty": n, "unit_cost": 200} for sku in range(50)]}}
    events = [receipt] + [envelope(r, "register.opened", {"session_id": f"{r}-S", "cashier_id": None,
                                                          "opening_float": 10000}) for r in REGISTERS]
    for number in range(n):
        register = REGISTERS[number % len(REGISTERS)]
        lines = [_line(1, number % 50), _line(2, (number * 7) % 50)]
        total = sum(ln["unit_price"] + ln["tax"] for ln in lines)
        tender = "cash" if number % 2 else "card"
        events.append(envelope(register, "sale.completed", {
            "receipt_no": f"{register}-{number}", "cashier_id": None, "customer_id": None, "currency": "USD",
            "channel": "store", "lines": lines, "tenders": [{"tender": tender, "amount": total}]}))
        if number % 20 == 19:
            returned = lines[:1]
            events.append(envelope(register, "return.completed", {
                "receipt_no": f"{register}-RT-{number}", "currency": "USD", "reason": "changed mind",
                "disposition": "restock", "original": {"store_id": "B1", "receipt_no": f"{register}-{number}"},
                "lines": returned, "tenders": [{"tender": tender, "amount": returned[0]["unit_price"]
                                                + returned[0]["tax"]}]}))
    return events


def run(n: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        application = bootstrap(Settings(db_path=str(Path(scratch) / "day.db"), posting_process=False))
        try:
            clock = Clock()
            load_master_data(application.uow, MASTER, clock=clock)
            events = _events(n)
            for start in range(0, len(events), 1000):
                ingest(application.uow, events[start:start + 1000], clock=clock)
            PostingEngine(application.uow, clock, batch_size=500).run()
            timings = []
            for _ in range(5):
                started = time.perf_counter()
                summary = application.uow.run(lambda uow: day_summary(uow, "B1", date.fromisoformat(DAY)),
                                              read_only=True, operation="day summary")
                timings.append(time.perf_counter() - started)
        finally:
            application.close()
    documents = n + n // 20  # the day's invoices and credit notes
    sessions = sum(len(r["sessions"]) for r in summary["registers"])
    median = statistics.median(timings)
    print(f"{n:>7,} sales: day summary median {median * 1000:8.1f} ms (min {min(timings) * 1000:.1f}) for a day "
          f"of {documents:,} documents, {len(summary['tax_by_rate'])} tax rates and {sessions} sessions")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="sales in the day (repeatable)")
    args = parser.parse_args()
    print(f"day summary of one store-day, SQLite, in process (python {sys.version.split()[0]})", file=sys.stderr)
    for n in args.n or [5_000, 20_000]:
        run(n)


if __name__ == "__main__":
    main()
