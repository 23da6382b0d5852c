"""``posledger demo``: a business day of three stores and a warehouse, end to end."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections import Counter
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from posledger.app.ports import UnitOfWork
from posledger.app.queries import InvariantReport, check_invariants, list_exceptions, trial_balance
from posledger.bootstrap import App
from posledger.demo import scenario as demo_scenario


class DemoServer:
    """``posledger serve`` inside the demo process, on a background thread."""

    def __init__(self, application: App, port: int, admin_token: str) -> None:
        import uvicorn

        from posledger.entrypoints.http import create_app

        self.port = port if _port_free(port) else _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        api = create_app(application, admin_token=admin_token, max_body_bytes=application.settings.max_body_bytes)
        self._server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=self.port, log_level="warning",
                                                     access_log=False, server_header=False))
        self._thread = threading.Thread(target=self._server.run, name="demo-server", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("the demo server did not start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(client: httpx.Client, path: str, body: Any) -> dict[str, Any]:
    response = client.post(path, json=body)
    response.raise_for_status()
    return dict(response.json())


def _send(client: httpx.Client, events: list[dict[str, Any]]) -> Counter[str]:
    """POST the events as a store would, in batches, and count the results."""
    statuses: Counter[str] = Counter()
    for start in range(0, len(events), 100):
        body = _post(client, "/v1/events", events[start:start + 100])
        statuses.update(result["status"] for result in body["results"])
    return statuses


def _wait_posted(client: httpx.Client, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/health").json()["checks"]["pending_events"] and time.monotonic() < deadline:
        time.sleep(0.05)


def run_demo(application: App, console: Console, sales_per_register: int, *, port: int = 8000,
             simulate_seconds: float = 15.0, keep_serving: bool = True) -> None:
    scenario = demo_scenario.build(sales_per_register)
    admin_token = application.settings.admin_token or secrets.token_urlsafe(32)
    server = DemoServer(application, port, admin_token)
    server.start()
    console.print(f"[bold]posledger demo[/bold]: the hub runs at [cyan]{server.url}[/cyan] on "
                  f"[cyan]{application.settings.db_path}[/cyan]; Black Friday {demo_scenario.DAY} in three "
                  "stores and a warehouse, sent over HTTP as the stores would")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {admin_token}"},
                      timeout=60) as client:
        first = scenario.events[0]
        rerun = client.get(f"/v1/events/{first['event_id']}", params={"store_id": first["store_id"]}).status_code == 200
        if rerun:
            console.print("[yellow]This database already holds the demo's events: every event comes back "
                          "'duplicate' and nothing is posted twice. Use --db with a new file for a fresh day.")
        report = _post(client, "/v1/master-data", scenario.master)
        console.print(f"master data loaded (catalog version {report['version']}); SKU-3001 is held back")
        statuses: Counter[str] = Counter()
        morning = [e for e in scenario.events if e["type"] in ("stock.received", "stock.transferred")
                   and "TR-BACK" not in e["event_id"]]
        statuses += _send(client, morning)
        _wait_posted(client)
        if not rerun:
            _post(client, "/v1/reservations", {"order_id": "WEB-5001", "sku": "SKU-2001", "location_id": "S002",
                                               "qty": 2})
            console.print("online order WEB-5001 reserves 2 x SKU-2001 at S002 (POST /v1/reservations)")
        rest = [e for e in scenario.events if e not in morning]
        with Progress(TextColumn("[bold]stores sending"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task("send", total=len(rest))
            for start in range(0, len(rest), 50):
                statuses += _send(client, rest[start:start + 50])
                progress.update(task, advance=len(rest[start:start + 50]))
        _wait_posted(client)
        waiting = client.get("/v1/exceptions", params={"status": "open", "type": "unknown_master_data"}).json()
        console.print(f"{len(waiting['items'])} event(s) wait for master data; PUT /v1/items/SKU-3001 now")
        item = scenario.late_master["items"][0]
        released = client.put(f"/v1/items/{item['sku']}", json=item).json()
        _wait_posted(client)
        console.print(f"  {released['released']} released and posted by the hub's worker")
        statuses += _send(client, scenario.held_back)
        console.print(f"late event {scenario.held_back[0]['event_id']} arrived: its sequence gap resolves")
        _wait_posted(client)
        scenario_registers = {register["register_id"] for register in scenario.master["registers"]}
        expected = {d.register_id: d.cash_expected for d in application.uow.run(
                        lambda uow: uow.queries.drawers(), read_only=True, operation="drawers")
                    if d.session_status == "open" and d.register_id in scenario_registers}
        if expected:
            statuses += _send(client, demo_scenario.closes(scenario, expected))
        console.print("registers closed: " + (", ".join(sorted(expected)) if expected else "already"))
        console.print("events: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())))
        for note in scenario.notes:
            console.print(f"  • {note}")
        if simulate_seconds > 0:
            _simulate(application, console, server.url, admin_token, simulate_seconds)
        _wait_posted(client)
    _summary(application, console)
    console.print(f"\nThe hub is running at [bold cyan]{server.url}[/bold cyan] (API docs: {server.url}/docs)\n"
                  f"admin token: [bold]{admin_token}[/bold]\n"
                  f"try: curl -H 'Authorization: Bearer {admin_token}' "
                  f"'{server.url}/v1/ledger/trial-balance?store_id=S001'")
    if not keep_serving:
        server.stop()
        return
    console.print("Press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


def _simulate(application: App, console: Console, url: str, token: str, seconds: float) -> None:
    from pathlib import Path

    from posledger.simulator.fleet import Fleet, FleetConfig
    from posledger.simulator.outbox import Outbox

    outbox = Outbox(Path(f"{application.settings.db_path}.sim-outbox"))
    fleet = Fleet(FleetConfig(url, token, stores=3, registers=2, rate=40, duration=seconds, batch=20), outbox)
    console.print(f"a simulated fleet (3 stores x 2 registers, 40 events/s, outboxes on disk) sells for "
                  f"{seconds:g} s ...")
    summary = asyncio.run(fleet.run())
    outbox.close()
    latency = summary["latency_ms"]
    console.print(f"  {summary['accepted']} accepted, {summary['duplicate']} duplicate, backlog "
                  f"{summary['backlog']}; {summary['accepted_per_second']}/s; accept latency p50 "
                  f"{latency['p50']} ms, p99 {latency['p99']} ms")


def _summary(application: App, console: Console) -> None:
    from posledger.entrypoints.cli import _print_trial_balance

    def read(uow: UnitOfWork) -> tuple[dict[str, dict[str, int]], list[dict[str, Any]], dict[str, Any],
                                       InvariantReport]:
        stores = sorted(key for kind, key, _ in uow.master.snapshot_rows() if kind == "stores")
        balances = {store_id: {row["account"]: row["balance"] for row in trial_balance(uow, store_id)["accounts"]}
                    for store_id in stores}
        return balances, list_exceptions(uow, limit=100_000), trial_balance(uow), check_invariants(uow)

    balances, exceptions, consolidated, invariants = application.uow.run(read, read_only=True, operation="summary")
    table = Table(title="Per-store summary")
    table.add_column("store")
    for column in ("net sales", "returns", "tax", "COGS", "margin", "cash over/short", "open exceptions"):
        table.add_column(column, justify="right")
    open_exceptions = Counter(e["store_id"] for e in exceptions if e["status"] == "open")
    for store_id, balance in balances.items():
        net_sales = -(balance.get("4000", 0) + balance.get("4010", 0))
        returns = balance.get("4020", 0)
        cogs = balance.get("5000", 0)
        table.add_row(store_id, _m(net_sales), _m(returns), _m(-balance.get("2100", 0)), _m(cogs),
                      _m(net_sales - returns - cogs), _m(-balance.get("6200", 0)),
                      str(open_exceptions.get(store_id, 0)))
    console.print(table)
    by_type = Counter(e["type"] for e in exceptions)
    resolved = Counter(e["type"] for e in exceptions if e["status"] == "resolved")
    console.print("exceptions raised: " + ", ".join(
        f"{kind} {count}" + (f" ({resolved[kind]} resolved by themselves)" if resolved[kind] else "")
        for kind, count in sorted(by_type.items())))
    _print_trial_balance(consolidated)
    verdict = "[green]hold[/green]" if invariants.ok else f"[red]BROKEN[/red] {invariants}"
    console.print(f"ledger invariants (balanced, GL 1300 = stock value per store, on hand = moves, "
                  f"exactly once, gapless invoices): {verdict}")
    console.print("next: posledger report stock | posledger exceptions | posledger report trial-balance "
                  "--store S003 --json")


def _m(minor: int) -> str:
    return f"{minor / 100:,.2f}"
