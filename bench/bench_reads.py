"""Read-side benchmark (issue 15): the same reads on two databases of the same shape and
different history, and how much each read grows with history.

Builds each database with the project's own commands (`posledger master-data load`, then
`posledger import` of generated days: 50 stores, 2 registers each, 200 items, ~3,000 sales a day
spread over the stores), starts `posledger serve` on it, and times every read (median of 5, warm).
Prints one table with the figures for each size and the ratio largest/smallest. Prints figures;
never passes or fails.

    python bench/bench_reads.py                 # 30,000 and 300,000 events
    python bench/bench_reads.py --large         # and 3,000,000 (about 20 minutes to build)
    python bench/bench_reads.py --keep /tmp/r   # keep (and reuse) the databases there
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from bench.bench_http import ADMIN, free_port  # noqa: E402

from posledger.simulator.fleet import master_data  # noqa: E402

STORES, REGISTERS, SKUS = 50, 2, 200
SALES_PER_DAY = 3_000
CLI = [sys.executable, "-m", "posledger.entrypoints.cli"]


def generate(path: Path, events: int, seed: int = 7) -> int:
    """A JSON Lines file of ``events``: a stock receipt per store, then days of sales."""
    rng = random.Random(seed)
    master = master_data(STORES, REGISTERS, "B", SKUS)
    registers = [(r["store_id"], r["register_id"]) for r in master["registers"]]
    items = master["items"]
    seqs: dict[str, int] = {}
    written = 0
    day = 0
    with path.open("w") as out:
        for store in master["stores"]:
            out.write(json.dumps({
                "event_id": f"{store['store_id']}-PO-0", "type": "stock.received", "store_id": store["store_id"],
                "register_id": None, "occurred_at": "2026-01-01T06:00:00+00:00",
                "payload": {"location_id": store["store_id"], "reference": "PO-0",
                            "lines": [{"sku": item["sku"], "qty": 1_000_000, "unit_cost": item["standard_cost"]}
                                      for item in items]}}) + "\n")
            written += 1
        while written < events:
            date = time.strftime("%Y-%m-%d", time.gmtime(time.mktime((2026, 1, 2, 12, 0, 0, 0, 0, 0)) + day * 86400))
            for number in range(min(SALES_PER_DAY, events - written)):
                store, register = rng.choice(registers)
                seq = seqs[register] = seqs.get(register, 0) + 1
                lines = []
                for line_no, item in enumerate(rng.sample(items, rng.randint(1, 3)), start=1):
                    qty = rng.randint(1, 3)
                    net = qty * item["price"]
                    lines.append({"line_no": line_no, "sku": item["sku"], "qty": qty, "unit_price": item["price"],
                                  "discount": 0, "promo_id": None, "tax_code": "STD",
                                  "tax": (net * 16 + 100) // 200})
                total = sum(ln["qty"] * ln["unit_price"] + ln["tax"] for ln in lines)
                tender = rng.choice(["cash", "card"])
                out.write(json.dumps({
                    "event_id": f"{register}-{seq:08d}", "type": "sale.completed", "store_id": store,
                    "register_id": register, "seq": seq,
                    "occurred_at": f"{date}T{8 + number * 12 // SALES_PER_DAY:02d}:{number % 60:02d}:00+00:00",
                    "payload": {"receipt_no": f"{register}-{seq}", "cashier_id": "C1", "customer_id": None,
                                "currency": "USD", "channel": "store", "lines": lines,
                                "tenders": [{"tender": tender, "amount": total}]}}) + "\n")
                written += 1
            day += 1
    return day


def build(directory: Path, events: int) -> dict[str, Any]:
    db = directory / f"reads-{events}.db"
    env = {**os.environ, "POSLEDGER_DB": str(db)}
    if db.exists():
        return {"db": db, "env": env, "built": "reused"}
    master = directory / "master.json"
    master.write_text(json.dumps(master_data(STORES, REGISTERS, "B", SKUS)))
    subprocess.run([*CLI, "master-data", "load", str(master)], env=env, check=True, capture_output=True)
    source = directory / f"events-{events}.jsonl"
    days = generate(source, events)
    print(f"building {events:,} events over {days} days: posledger import ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    subprocess.run([*CLI, "import", str(source), "--quiet"], env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    source.unlink()
    print(f"  imported in {seconds:.1f} s ({events / seconds:,.0f} events/s, process start included)",
          file=sys.stderr, flush=True)
    return {"db": db, "env": env, "built": f"{seconds:.1f} s", "days": days}


def median_ms(action: Callable[[], Any], repeat: int = 5) -> float:
    action()  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(built: dict[str, Any]) -> dict[str, float]:
    env = {**built["env"], "POSLEDGER_ADMIN_TOKEN": ADMIN}
    port = free_port()
    server = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    figures: dict[str, float] = {}
    try:
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        for _ in range(300):
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        last_day = client.get("/v1/ledger/entries", params={"limit": 1, "account": "4000"}).json()
        day = last_day["items"][0]["business_day"] if last_day.get("items") else "2026-01-02"

        def get(path: str, **params: Any) -> Callable[[], Any]:
            def call() -> Any:
                response = client.get(path, params=params)
                response.raise_for_status()
                return response
            return call

        figures["trial balance, consolidated"] = median_ms(get("/v1/ledger/trial-balance"))
        figures["trial balance, one store"] = median_ms(get("/v1/ledger/trial-balance", store_id="SIM001"))
        figures["trial balance, one day, all stores"] = median_ms(get("/v1/ledger/trial-balance", **{"from": day, "to": day}))
        # The first ten days (both databases have them): a range's cost is its days, not history.
        figures["trial balance, 10 days, all stores"] = median_ms(get("/v1/ledger/trial-balance", **{"from": "2026-01-02", "to": "2026-01-11"}))
        figures["entries account=4000, first page"] = median_ms(get("/v1/ledger/entries", account="4000", limit=100))
        deep = client.get("/v1/ledger/entries", params={"account": "4000", "limit": 1000})
        for _ in range(20):  # 20 pages in
            cursor = deep.json().get("next_cursor")
            if not cursor:
                break
            deep = client.get("/v1/ledger/entries", params={"account": "4000", "limit": 1000, "cursor": cursor})
        cursor = deep.json().get("next_cursor")
        figures["entries account=4000, page 21"] = median_ms(get("/v1/ledger/entries", account="4000", limit=100,
                                                                 **({"cursor": cursor} if cursor else {})))
        figures["entries store+day"] = median_ms(get("/v1/ledger/entries", store_id="SIM001", business_day=day, limit=100))
        figures["stock, one SKU"] = median_ms(get("/v1/stock/SIM-0001"))
        figures["day summary, one store-day"] = median_ms(get(f"/v1/stores/SIM001/days/{day}"))
        figures["invoices store+day, first page"] = median_ms(get("/v1/invoices", store_id="SIM001",
                                                                  business_day=day, limit=100))
        figures["/health"] = median_ms(get("/health"))
        figures["/metrics"] = median_ms(get("/metrics"))

        # A stock read beside other reads running all along in the same server: one client
        # asking for the consolidated trial balance again and again (the case), then two
        # clients also paging 1,000-line drill-downs.
        def beside(name: str, clients: int, heavy: bool) -> None:
            stop = threading.Event()

            def load() -> None:
                other = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
                while not stop.is_set():
                    other.get("/v1/ledger/trial-balance")
                    if heavy:
                        other.get("/v1/ledger/entries", params={"account": "4000", "limit": 1000})
                other.close()

            threads = [threading.Thread(target=load) for _ in range(clients)]
            for thread in threads:
                thread.start()
            time.sleep(0.2)
            try:
                figures[name] = median_ms(get("/v1/stock/SIM-0001"), repeat=9)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()

        beside("stock, one SKU, beside a running trial balance", 1, heavy=False)
        beside("stock, one SKU, beside two clients of heavy reads", 2, heavy=True)
        client.close()
    finally:
        server.terminate()
        server.wait(30)

    def cli(*args: str) -> Callable[[], Any]:
        return lambda: subprocess.run([*CLI, *args], env=built["env"], check=True, capture_output=True)

    figures["posledger report trial-balance --json (process)"] = median_ms(cli("report", "trial-balance", "--json"), 3)
    started = time.perf_counter()
    subprocess.run([*CLI, "check"], env=built["env"], check=False, capture_output=True)
    figures["posledger check, first run or after --full (process)"] = (time.perf_counter() - started) * 1000
    figures["posledger check, again (process)"] = median_ms(cli("check"), 3)
    figures["posledger check --full (process)"] = median_ms(cli("check", "--full"), 1)
    figures["process start (import the CLI), for scale"] = median_ms(
        lambda: subprocess.run([sys.executable, "-c", "import posledger.entrypoints.cli"], check=True), 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30_000, 300_000], help="events per database")
    parser.add_argument("--large", action="store_true", help="add a 3,000,000-event database")
    parser.add_argument("--keep", type=Path, help="build the databases here and reuse them next time")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes + ([3_000_000] if args.large else [])))
    print(f"posledger read benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{STORES} stores x {REGISTERS} registers, {SKUS} items, {SALES_PER_DAY:,} sales a day", file=sys.stderr)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        results = {size: measure(build(directory, size)) for size in sizes}
    names = list(results[sizes[0]])
    header = f"{'read (ms, median, warm)':<56}" + "".join(f"{size:>12,}" for size in sizes) + f"{'ratio':>8}"
    print(header)
    for name in names:
        values = [results[size][name] for size in sizes]
        ratio = values[-1] / values[0] if values[0] else float("nan")
        print(f"{name:<56}" + "".join(f"{value:>12.2f}" for value in values) + f"{ratio:>8.2f}")
    print(json.dumps({str(size): {k: round(v, 2) for k, v in results[size].items()} for size in sizes}))


if __name__ == "__main__":
    main()
