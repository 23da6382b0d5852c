"""Benchmarks of `posledger serve` driven by the POS simulator (issue 3). Prints figures; never
passes or fails.

    ./dev bench-http                       # throughput, lean, latency and lag
    python bench/bench_http.py --only throughput --seconds 60
    python bench/bench_http.py --only lean --events 100000 --connections 4

1. throughput: batches of 100 at a high offered rate for --seconds; accepted/s (simulator) and
   posted/s (hub), and whether posting kept up.
   lean: the same hub fed by a lean, independent client (bodies made before the clock starts,
   4 keep-alive connections, no outbox) as fast as it answers: the server's own capacity.
2. latency: single-event POSTs at 200/s; accept latency p50/p95/p99.
3. lag: 2,000 events/s in batches of 100; sale-to-posted lag p50/p99 from the hub's histogram.
4. scale-out (only when asked: --only scale-out): PostgreSQL + NATS + 1 and 2 `posledger worker`
   processes, batches of 100; lag p50/p99 from the log (posted_at - accepted_at).
   scale-out-lean: the same hub fed by the lean client, as fast as it answers or paced with
   --lean-rate; e.g. the 3,000/s target:
       python bench/bench_http.py --only scale-out-lean --workers 2 --events 90000 --lean-rate 3000 --warmup 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from posledger.simulator.fleet import Fleet, FleetConfig  # noqa: E402
from posledger.simulator.outbox import Outbox  # noqa: E402

ADMIN = "bench-admin-token-of-32-characters-at-least"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(directory: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "POSLEDGER_DB": str(directory / "hub.db"), "POSLEDGER_ADMIN_TOKEN": ADMIN,
           **(extra_env or {})}
    process = subprocess.Popen([sys.executable, "-m", "posledger.entrypoints.cli", "serve", "--port", str(port)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def lag_quantiles(url: str) -> dict[str, float]:
    """p50 and p99 of posledger_posting_lag_seconds, read off the histogram's buckets."""
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    buckets = [(float("inf") if b == "+Inf" else float(b), float(c)) for b, c in
               re.findall(r'posledger_posting_lag_seconds_bucket\{le="([^"]+)"\} ([0-9.e+]+)', text)]
    total = buckets[-1][1] if buckets else 0
    result = {}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        bound = next((le for le, count in buckets if total and count >= q * total), float("nan"))
        result[f"lag_{name}_seconds_at_most"] = bound
    result["posted"] = total
    return result


def server_accept_latency(url: str) -> dict[str, float]:
    """p50/p99 of POST /v1/events as the hub measured it (no client-side queueing), read off
    posledger_request_seconds's buckets."""
    text = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
    pattern = r'posledger_request_seconds_bucket\{le="([^"]+)",method="POST",route="/v1/events"\} ([0-9.e+]+)'
    buckets = [(float("inf") if b == "+Inf" else float(b), float(c)) for b, c in re.findall(pattern, text)]
    total = buckets[-1][1] if buckets else 0
    return {f"server_accept_{name}_ms_at_most": next((le * 1000 for le, count in buckets
                                                       if total and count >= q * total), float("nan"))
            for name, q in (("p50", 0.5), ("p99", 0.99))}


def posted_count(url: str) -> float:
    match = re.search(r"posledger_posting_lag_seconds_count ([0-9.e+]+)", httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text)
    return float(match.group(1)) if match else 0.0


PG_URL = os.environ.get("POSLEDGER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def lag_from_database(database_url: str, since: float | None = None) -> dict[str, float]:
    """Sale-to-posted lag from the log itself: posted_at - accepted_at of every event (accepted
    at or after ``since``, a Unix time, when given: the timed part, without the set-up)."""
    from datetime import datetime

    import psycopg

    with psycopg.connect(database_url) as connection:
        rows = connection.execute("SELECT accepted_at, posted_at FROM events WHERE posted_at IS NOT NULL").fetchall()
    if since is not None:
        rows = [(a, p) for a, p in rows if datetime.fromisoformat(a).timestamp() >= since]
    lags = sorted(datetime.fromisoformat(p).timestamp() - datetime.fromisoformat(a).timestamp() for a, p in rows)
    if not lags:
        return {}
    first = min(datetime.fromisoformat(a).timestamp() for a, _ in rows)
    last = max(datetime.fromisoformat(p).timestamp() for _, p in rows)
    return {"lag_p50_seconds": round(lags[len(lags) // 2], 3), "lag_p99_seconds": round(lags[int(len(lags) * 0.99)], 3),
            "posted_per_second_db": round(len(lags) / max(last - first, 1e-9), 1)}


@contextlib.contextmanager
def scale_out_hub(workers: int) -> Iterator[tuple[str, str]]:
    """serve (ingest only) + NATS + ``workers`` posting workers, all on a PostgreSQL database of
    their own: yields the hub's URL and the database URL, and takes it all down afterwards."""
    import shutil
    import uuid

    import psycopg

    name = f"posledger_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    database_url = PG_URL.rsplit("/", 1)[0] + f"/{name}"
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as directory:
        try:
            nats_port = free_port()
            processes.append(subprocess.Popen(
                [shutil.which("nats-server") or "/usr/sbin/nats-server", "-js", "-a", "127.0.0.1", "-p",
                 str(nats_port), "-sd", str(Path(directory) / "js")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            env = {"POSLEDGER_DATABASE_URL": database_url, "POSLEDGER_NATS_URL": f"nats://127.0.0.1:{nats_port}",
                   "POSLEDGER_EXTERNAL_WORKERS": "1"}
            subprocess.run([sys.executable, "-m", "posledger.entrypoints.cli", "db", "upgrade"],
                           env={**os.environ, **env}, check=True, capture_output=True)
            server, url = start_server(Path(directory), env)
            processes.append(server)
            for _ in range(workers):
                processes.append(subprocess.Popen([sys.executable, "-m", "posledger.entrypoints.cli", "worker"],
                                                  env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
            yield url, database_url
        finally:
            for process in processes:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
            with psycopg.connect(PG_URL, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_posted(database_url: str, timeout: float = 900) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            left = connection.execute("SELECT COUNT(*) FROM events WHERE status = 'accepted'").fetchone()
            if left and left[0] == 0:
                return
            time.sleep(0.2)


def scale_out_scenario(seconds: float, rate: float, workers: int) -> dict[str, Any]:
    """The simulator against serve + NATS + ``workers`` posting workers on PostgreSQL."""
    with scale_out_hub(workers) as (url, database_url), tempfile.TemporaryDirectory() as directory:
        outbox = Outbox(Path(directory) / "outbox.db")
        fleet = Fleet(FleetConfig(url, ADMIN, stores=10, registers=5, rate=rate, duration=seconds, batch=100,
                                  opening_stock=1_000_000, drain_timeout=600), outbox)
        summary = asyncio.run(fleet.run())
        outbox.close()
        wait_posted(database_url)
        return {"scenario": f"postgres+nats, {workers} worker(s)", "offered_rate": rate, **summary,
                **lag_from_database(database_url)}


def scale_out_lean_scenario(total: int, connections: int, workers: int, rate: float | None,
                            warmup: float = 0.0) -> dict[str, Any]:
    """The lean, independent client against serve + NATS + ``workers`` posting workers on
    PostgreSQL: ``total`` events, as fast as the hub answers or paced at ``rate`` events/s. The
    lag figures leave out the events accepted in the first ``warmup`` seconds (the workers'
    caches and NATS consumers still cold) and, as ``..._with_warmup``, count them too."""
    with scale_out_hub(workers) as (url, database_url):
        sent = lean_send(url, total, connections, rate=rate)
        wait_posted(database_url)
        started_at = sent.pop("started_at")
        lag = lag_from_database(database_url, since=started_at + warmup)
        if warmup:
            everything = lag_from_database(database_url, since=started_at)
            lag |= {f"{name}_with_warmup": value for name, value in everything.items()}
        return {"scenario": f"postgres+nats, {workers} worker(s), lean client", "offered_rate": rate,
                "warmup_seconds": warmup, **sent, **lag}


def scenario(name: str, seconds: float, rate: float, batch: int, stores: int, registers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        server, url = start_server(Path(directory))
        try:
            outbox = Outbox(Path(directory) / "outbox.db")
            fleet = Fleet(FleetConfig(url, ADMIN, stores=stores, registers=registers, rate=rate, duration=seconds,
                                      batch=batch, opening_stock=1_000_000, drain_timeout=600), outbox)
            started = time.monotonic()
            summary = asyncio.run(fleet.run())
            sent_seconds = time.monotonic() - started
            while httpx.get(f"{url}/health").json()["checks"]["pending_events"]:
                time.sleep(0.2)
            all_posted = time.monotonic() - started
            figures = {"scenario": name, "offered_rate": rate, "batch": batch,
                       "registers": stores * registers, **summary,
                       "posted_per_second": round(posted_count(url) / all_posted, 1),
                       "send_seconds": round(sent_seconds, 1), "all_posted_seconds": round(all_posted, 1),
                       **lag_quantiles(url), **server_accept_latency(url)}
            outbox.close()
            return figures
        finally:
            server.terminate()
            server.wait(30)


def pregenerated_batches(total: int, batch: int, stores: int, registers: int, fleet: str) -> list[bytes]:
    """``total`` events of a simulated fleet (sales mostly, with opens, returns, voids and drops),
    as request bodies of ``batch`` events, encoded before the clock starts."""
    import random

    from posledger.simulator.fleet import Register, register_id, store_id

    rng = random.Random(7)
    tills = [Register(register_id(s, r, fleet), store_id(s), 200, random.Random(rng.random()))
             for s in range(1, stores + 1) for r in range(1, registers + 1)]
    bodies = []
    for start in range(0, total, batch):
        till = tills[(start // batch) % len(tills)]  # a register sends its own events, in order
        bodies.append(json.dumps([till.next_event() for _ in range(min(batch, total - start))]).encode())
    return bodies


def lean_send(url: str, total: int, connections: int, batch: int = 100, stores: int = 10, registers: int = 5,
              rate: float | None = None) -> dict[str, Any]:
    """The lean, independent client: master data and opening stock first, then ``total`` events
    of a simulated fleet in batches of ``batch`` over ``connections`` keep-alive connections (its
    own threads; the request bodies made before the clock starts, no outbox), as fast as the hub
    answers or, with ``rate``, paced at that many events per second. Figures while sending."""
    import http.client
    import threading
    import uuid

    from posledger.simulator.fleet import master_data

    fleet = f"L{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"}
    document = master_data(stores, registers, fleet)
    httpx.post(f"{url}/v1/master-data", json=document, headers=headers, timeout=60).raise_for_status()
    opening = [{"event_id": f"{fleet}-OPEN-{store['store_id']}", "type": "stock.received",
                "store_id": store["store_id"], "register_id": None, "occurred_at": "2026-11-27T06:00:00Z",
                "payload": {"location_id": store["store_id"], "reference": "opening stock",
                            "lines": [{"sku": item["sku"], "qty": 1_000_000, "unit_cost": item["standard_cost"]}
                                      for item in document["items"]]}} for store in document["stores"]]
    httpx.post(f"{url}/v1/events", json=opening, headers=headers, timeout=60).raise_for_status()
    while httpx.get(f"{url}/health").json()["checks"]["pending_events"]:
        time.sleep(0.1)
    # Each connection sends whole registers' batches, so every register's events arrive in order.
    bodies = pregenerated_batches(total, batch, stores, registers, fleet)
    tills = stores * registers
    shares = [[(index, body) for index, body in enumerate(bodies) if (index % tills) % connections == c]
              for c in range(connections)]
    host, port = url.removeprefix("http://").split(":")
    accepted = [0] * connections
    failures: list[str] = []
    started, started_at = time.monotonic(), time.time()

    def send(number: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=120)
        for index, body in shares[number]:
            if rate:  # batch ``index`` is due when the offered rate has reached it
                due = started + index * batch / rate - time.monotonic()
                if due > 0:
                    time.sleep(due)
            connection.request("POST", "/v1/events", body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
            if response.status >= 300:
                failures.append(f"{response.status} {answer[:200]!r}")
                continue
            accepted[number] += sum(1 for r in json.loads(answer)["results"] if r["status"] == "accepted")
        connection.close()

    threads = [threading.Thread(target=send, args=(number,)) for number in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    return {"events": total, "batch": batch, "connections": connections, "registers": tills,
            "accepted": sum(accepted), "failed_requests": len(failures),
            "first_failure": failures[0] if failures else None,
            "accepted_per_second": round(sum(accepted) / seconds, 1), "send_seconds": round(seconds, 2),
            "started": started, "started_at": started_at}


def lean_client_scenario(total: int, connections: int) -> dict[str, Any]:
    """The SQLite hub alone as fast as it goes, fed by the lean client (lean_send): accepted/s
    while sending, posted/s until the last one posted. What the simulator itself costs (about as
    much CPU as posting: it keeps an on-disk outbox) is left out, so this measures the server."""
    with tempfile.TemporaryDirectory() as directory:
        server, url = start_server(Path(directory))
        try:
            sent = lean_send(url, total, connections)
            started = sent.pop("started")
            sent.pop("started_at")
            while httpx.get(f"{url}/health").json()["checks"]["pending_events"]:
                time.sleep(0.05)
            all_posted = time.monotonic() - started
            return {"scenario": "throughput, lean client", **sent,
                    "posted_per_second": round(sent["accepted"] / all_posted, 1),
                    "all_posted_seconds": round(all_posted, 2), **lag_quantiles(url), **server_accept_latency(url)}
        finally:
            server.terminate()
            server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["throughput", "lean", "latency", "lag", "scale-out", "scale-out-lean"],
                        action="append")
    parser.add_argument("--events", type=int, default=100_000, help="lean: events the lean client sends")
    parser.add_argument("--connections", type=int, default=4, help="lean: keep-alive connections")
    parser.add_argument("--workers", type=int, action="append", help="scale-out: worker counts (default 1 and 2)")
    parser.add_argument("--seconds", type=float, default=60.0, help="sustained seconds for throughput")
    parser.add_argument("--rate", type=float, default=5000.0, help="offered events/s for throughput")
    parser.add_argument("--lean-rate", type=float,
                        help="scale-out-lean: offered events/s (default: as fast as the hub answers)")
    parser.add_argument("--warmup", type=float, default=0.0,
                        help="scale-out-lean: seconds at the start left out of the lag figures (also shown with them)")
    args = parser.parse_args()
    chosen = args.only or ["throughput", "lean", "latency", "lag"]
    print(f"posledger HTTP benchmarks: {os.cpu_count()} cores, Python {sys.version.split()[0]}; the simulator "
          "and the hub share this machine", flush=True)
    if "throughput" in chosen:
        print(json.dumps(scenario("throughput", args.seconds, args.rate, 100, 10, 5)), flush=True)
    if "lean" in chosen:
        print(json.dumps(lean_client_scenario(args.events, args.connections)), flush=True)
    if "latency" in chosen:
        print(json.dumps(scenario("latency", 30, 200, 1, 5, 4)), flush=True)
    if "lag" in chosen:
        # Issue 7: at 2,000 events/s offered in batches of 100, the sale-to-posted lag.
        print(json.dumps(scenario("lag", 30, 2000, 100, 10, 5)), flush=True)
    if "scale-out" in chosen:
        for workers in args.workers or [1, 2]:
            print(json.dumps(scale_out_scenario(args.seconds, args.rate, workers)), flush=True)
    if "scale-out-lean" in chosen:
        for workers in args.workers or [1, 2]:
            figures = scale_out_lean_scenario(args.events, args.connections, workers, args.lean_rate, args.warmup)
            figures.pop("started")
            print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
