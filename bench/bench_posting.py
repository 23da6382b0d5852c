"""Benchmark: N sale events posted end to end, in process, on SQLite.

Each event: validation, log append, posting (stock, GL, invoice) and a durable commit
(WAL, synchronous=FULL), in chunks as `posledger import` does (the events written to a file
first, outside the clock; validation in a child process ahead of posting and the commits in
another beside it, as the importer does). Prints events per second, this process's CPU µs per
event and peak memory (max RSS of the import, and with the invariants check after it). Never passes or fails.

    ./dev bench                     # N = 10,000 and 200,000
    ./dev bench --n 50000 --batch 1000 --profile
    ./dev bench --n 10000 --phases  # µs per event per phase: where the time goes (checked here)
    ./dev bench --n 200000 --commit-here  # commits in the posting process: no writer process
    ./dev bench --n 200000 --check-here  # validation and commits in the posting process: one core
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posledger.adapters.sql.repositories import SqlEventLog, SqlLedger  # noqa: E402
from posledger.adapters.sql.unit_of_work import SqlUnitOfWork  # noqa: E402
from posledger.adapters.sqlite import SqliteUnitOfWork  # noqa: E402
from posledger.app import ingest as ingest_module  # noqa: E402
from posledger.app import posting as posting_module  # noqa: E402
from posledger.app.batch_import import checked_chunks, import_checked  # noqa: E402
from posledger.app.clock import SystemClock  # noqa: E402
from posledger.app.event_cache import EventCache  # noqa: E402
from posledger.app.ingest import ingest  # noqa: E402
from posledger.app.master_data import load_master_data  # noqa: E402
from posledger.app.posting import PostingEngine  # noqa: E402
from posledger.app.queries import check_invariants  # noqa: E402
from posledger.domain import codec as codec_module  # noqa: E402
from posledger.domain.money import apply_rate, parse_rate  # noqa: E402
from posledger.entrypoints.check_ahead import checked_ahead  # noqa: E402
from posledger.entrypoints.chunk_writer import chunk_writer  # noqa: E402

STORES = 50
REGISTERS_PER_STORE = 4
SKUS = 500
RATE = "0.08875"


def master() -> dict[str, Any]:
    stores = [{"store_id": f"S{s:03d}", "kind": "store", "name": f"Store {s}", "timezone": "America/New_York",
               "currency": "USD", "prices_include_tax": False, "tax_region": "NY"} for s in range(STORES)]
    registers = [{"register_id": f"S{s:03d}-R{r}", "store_id": f"S{s:03d}"}
                 for s in range(STORES) for r in range(REGISTERS_PER_STORE)]
    items = [{"sku": f"SKU-{i:05d}", "name": f"Item {i}", "tax_code": "STD", "price": 500 + i * 7,
              "standard_cost": 250 + i * 3} for i in range(SKUS)]
    return {"stores": stores, "registers": registers, "items": items,
            "tax_rules": [{"tax_region": "NY", "tax_code": "STD", "rate": RATE}]}


def sales(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    rate = parse_rate(RATE)
    seqs: dict[str, int] = {}
    registers = [(f"S{s:03d}", f"S{s:03d}-R{r}") for s in range(STORES) for r in range(REGISTERS_PER_STORE)]
    for _ in range(n):
        store, register = rng.choice(registers)
        seq = seqs[register] = seqs.get(register, 0) + 1
        lines = []
        for number, sku in enumerate(rng.sample(range(SKUS), 3), start=1):
            qty = rng.randint(1, 3)
            price = 500 + sku * 7
            discount = rng.choice([0, 0, 0, qty * price // 10])
            lines.append({"line_no": number, "sku": f"SKU-{sku:05d}", "qty": qty, "unit_price": price,
                          "discount": discount, "promo_id": None, "tax_code": "STD",
                          "tax": apply_rate(qty * price - discount, rate)})
        total = sum(ln["qty"] * ln["unit_price"] - ln["discount"] + ln["tax"] for ln in lines)
        if rng.random() < 0.5:
            tenders = [{"tender": "card", "amount": total,
                        "card": {"scheme": "visa", "last4": "4242", "auth_code": "A1", "terminal_id": "T1"}}]
        else:
            tenders = [{"tender": "wallet", "amount": total // 2}, {"tender": "card", "amount": total - total // 2}]
        yield {"event_id": f"{register}-{seq:08d}", "type": "sale.completed", "store_id": store,
               "register_id": register, "seq": seq, "occurred_at": "2026-11-27T10:15:03-05:00",
               "payload": {"receipt_no": f"{register}-{seq}", "cashier_id": "C1", "customer_id": None,
                           "currency": "USD", "channel": "store", "lines": lines, "tenders": tenders,
                           "totals": {"net": total - sum(ln["tax"] for ln in lines),
                                      "tax": sum(ln["tax"] for ln in lines), "gross": total}}}


class Phases:
    """Wall time per phase, by wrapping the functions that do each (a benchmark may patch)."""

    NAMES = {
        "validate (decode + card check)": (ingest_module, "parse_event"),
        "  of which card check": (codec_module, "refuse_card_data"),
        "canonical JSON": (ingest_module, "canonical_json"),
        "log rows (append)": (SqlEventLog, "append_many"),
        "posting rules (pure)": (posting_module, "post_event"),
        "posting rows (ledger, stock, documents, statuses)": (SqlLedger, "write"),
        "commits (fsync)": (SqlUnitOfWork, "commit"),
    }

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(self.NAMES, 0.0)

    def install(self) -> None:
        for name, (owner, attribute) in self.NAMES.items():
            setattr(owner, attribute, self._timed(name, getattr(owner, attribute)))

    def _timed(self, name: str, function: Any) -> Any:
        seconds = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - started
        return timed

    def per_event_us(self, n: int, total: float) -> dict[str, float]:
        figures = {name: round(seconds / n * 1e6, 1) for name, seconds in self.seconds.items()}
        counted = sum(seconds for name, seconds in self.seconds.items() if not name.startswith(" "))
        figures["engine bookkeeping and the rest"] = round((total - counted) / n * 1e6, 1)
        figures["total"] = round(total / n * 1e6, 1)
        return figures


def _open(directory: str, database_url: str | None) -> tuple[Any, Callable[[], float]]:
    """The unit-of-work factory (SQLite in ``directory``, or PostgreSQL on a schema of its own)
    and a function giving the database's size in MB."""
    if database_url is None:
        return (SqliteUnitOfWork(Path(directory) / "bench.db"),
                lambda: sum(f.stat().st_size for f in Path(directory).iterdir()) / 2**20)
    from posledger.adapters.postgres import PostgresUnitOfWork, upgrade

    schema = f"bench_{os.getpid()}"
    upgrade(database_url, schema=schema)
    uow = PostgresUnitOfWork(database_url, schema=schema)

    def size() -> float:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as connection:
            row = connection.execute("SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                                     "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
                                     "AND c.relkind = 'r'", (schema,)).fetchone()
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
        return int(row[0]) / 2**20 if row else 0.0

    return uow, size


def run(n: int, batch: int, profile: bool, phases: bool = False, database_url: str | None = None,
        check_here: bool = False, committed_apart: bool = True) -> dict[str, Any]:
    timer = Phases() if phases else None
    if timer is not None:
        timer.install()
    with tempfile.TemporaryDirectory() as directory, tempfile.TemporaryDirectory() as events_directory:
        uow, database_size = _open(directory, database_url)
        clock = SystemClock()
        load_master_data(uow, master(), clock=clock)
        cache = EventCache()
        engine = PostingEngine(uow, clock, batch_size=batch, cache=cache)
        # Stock on hand everywhere first, as in a store that opens for business.
        for store in range(STORES):
            ingest(uow, [{"event_id": f"PO-{store}", "type": "stock.received", "store_id": f"S{store:03d}",
                          "register_id": None, "occurred_at": "2026-11-27T06:00:00-05:00",
                          "payload": {"location_id": f"S{store:03d}", "reference": "PO",
                                      "lines": [{"sku": f"SKU-{i:05d}", "qty": 10_000, "unit_cost": 250 + i * 3}
                                                for i in range(SKUS)]}}], clock=clock, cache=cache)
        engine.run()
        # Event generation is the POS's work, not ours: the events are written to a file first,
        # outside the clock, and imported from it as `posledger import` does (without its
        # process start): chunks of ``batch`` lines, each appended and posted in one transaction,
        # checked ahead by a child process unless ``check_here``.
        source = Path(events_directory) / "sales.jsonl"
        with source.open("wb") as out:
            encoder = msgspec.json.Encoder()
            for event in sales(n):
                out.write(encoder.encode(event) + b"\n")
        profiler = cProfile.Profile() if profile else None
        started, cpu_started, children_started = time.perf_counter(), time.process_time(), _children_cpu()
        if profiler:
            profiler.enable()
        writing = chunk_writer(uow, source) if committed_apart and not check_here else nullcontext()
        with source.open("rb") as handle, writing as writer:
            chunks = checked_chunks(handle, batch, "bench") if check_here else checked_ahead(source, batch, "bench")
            report = import_checked(uow, engine, chunks, clock=clock, cache=cache, writer=writer)
        if profiler:
            profiler.disable()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # this process's CPU: steadier than wall time on a shared machine
        children_cpu = _children_cpu() - children_started  # the checking and writing processes, ended by now
        assert report.accepted == n and not report.problems, report.problems[:3]
        # The peak so far: the import's. The invariants check after it reads the whole database.
        import_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with uow() as unit:
            ok = check_invariants(unit).ok
            counts = unit.events.counts()
        uow.close()
        db_mb = database_size()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
    if timer is not None:
        for name, us in timer.per_event_us(n, elapsed).items():
            print(f"  {name:<52} {us:>8.1f} µs/event", file=sys.stderr)
    return {"n": n, "seconds": round(elapsed, 2), "events_per_second": round(n / elapsed),
            "cpu_us_per_event": round(cpu / n * 1e6, 1),
            "children_cpu_us_per_event": round(children_cpu / n * 1e6, 1), "checked": "here" if check_here else "ahead",
            "committed": "apart" if committed_apart and not check_here and not database_url else "here",
            "max_rss_mb": round(import_rss_mb, 1),
            "max_rss_mb_with_check": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "posted": counts.get("posted", 0) - STORES, "invariants_hold": ok, "db_mb": round(db_mb, 1),
            "backend": "postgresql" if database_url else "sqlite"}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    gc.set_threshold(50_000, 20, 100)  # as the posledger command does
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, action="append", help="events (repeatable); default 10000 and 200000")
    parser.add_argument("--batch", type=int, default=1000, help="events per ingest and posting transaction")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the timed part")
    parser.add_argument("--phases", action="store_true",
                        help="print µs per event per phase (validate, card check, rules, rows, commits)")
    parser.add_argument("--check-here", action="store_true",
                        help="validate in the posting process instead of a child process ahead of it "
                             "(always so with --phases, whose timers see this process only)")
    parser.add_argument("--commit-here", action="store_true",
                        help="commit in the posting process instead of a writer process beside it "
                             "(always so with --check-here and on PostgreSQL)")
    parser.add_argument("--database-url", help="post into PostgreSQL (a schema of its own, dropped afterwards) "
                                               "instead of a SQLite file, e.g. postgresql://postgres@127.0.0.1/test")
    parser.add_argument("--quiet-header", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.quiet_header:
        print(f"posledger posting benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"batch {args.batch}, sale events of 3 lines and 1-2 tenders, {STORES} stores x "
              f"{REGISTERS_PER_STORE} registers, {SKUS} SKUs")
    for n in args.n or [10_000, 200_000]:
        # Each size in its own process, so that peak memory is that size's alone.
        if len(args.n or [0, 0]) > 1:
            import subprocess

            command = [sys.executable, __file__, "--n", str(n), "--batch", str(args.batch), "--quiet-header"]
            command += ["--database-url", args.database_url] if args.database_url else []
            command += ["--check-here"] if args.check_here else []
            command += ["--commit-here"] if args.commit_here else []
            subprocess.run(command + (["--profile"] if args.profile else []) + (["--phases"] if args.phases else []),
                           check=True)
            continue
        print(json.dumps(run(n, args.batch, args.profile, args.phases, args.database_url,
                             check_here=args.check_here or args.phases, committed_apart=not args.commit_here)),
              flush=True)


if __name__ == "__main__":
    main()
