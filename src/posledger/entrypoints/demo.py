"""``posledger demo``: a business day of three stores and a warehouse, end to end."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from posledger.app.ingest import ingest
from posledger.app.master_data import load_master_data
from posledger.app.queries import check_invariants, list_exceptions, trial_balance
from posledger.app.reservations import reserve
from posledger.bootstrap import App
from posledger.demo import scenario as demo_scenario


def _send(application: App, events: list[dict[str, Any]]) -> Counter[str]:
    results = ingest(application.uow, events, clock=application.clock, source="demo",
                     cache=application.cache)
    application.engine.run()
    return Counter(r.status for r in results)


def run_demo(application: App, console: Console, sales_per_register: int) -> None:
    scenario = demo_scenario.build(sales_per_register)
    console.print(f"[bold]posledger demo[/bold]: Black Friday {demo_scenario.DAY} in three stores "
                  f"and a warehouse; database [cyan]{application.settings.db_path}[/cyan]")
    with application.uow() as uow:
        rerun = uow.events.get(scenario.events[0]["event_id"]) is not None
    if rerun:
        console.print("[yellow]This database already holds the demo's events: every event comes back "
                      "'duplicate' and nothing is posted twice. Use --db with a new file for a fresh day.")
    report = load_master_data(application.uow, scenario.master, clock=application.clock)
    console.print(f"master data loaded (catalog version {report.version}); SKU-3001 is held back")

    statuses: Counter[str] = Counter()
    morning = [e for e in scenario.events if e["type"].startswith("stock.") and "TR-BACK" not in e["event_id"]
               and e["type"] != "stock.counted" and e["type"] != "stock.adjusted"]
    statuses += _send(application, morning)
    if not rerun:
        reserve(application.uow, "WEB-5001", "SKU-2001", "S002", 2, clock=application.clock)
        console.print("online order WEB-5001 reserves 2 x SKU-2001 at S002")
    rest = [e for e in scenario.events if e not in morning]
    with Progress(TextColumn("[bold]stores sending"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("send", total=len(rest))
        for start in range(0, len(rest), 50):
            statuses += _send(application, rest[start:start + 50])
            progress.update(task, advance=len(rest[start:start + 50]))

    with application.uow() as uow:
        waiting = list_exceptions(uow, status="open", type="unknown_master_data")
    console.print(f"{len(waiting)} event(s) wait for master data; loading SKU-3001 now")
    released = load_master_data(application.uow, scenario.late_master, clock=application.clock)
    posting = application.engine.run()
    console.print(f"  {released.released} released, {posting.posted} posted")
    statuses += _send(application, scenario.held_back)
    console.print(f"late event {scenario.held_back[0]['event_id']} arrived: its sequence gap resolves")

    with application.uow() as uow:
        expected = {d.register_id: d.cash_expected for d in uow.queries.drawers()
                    if d.session_status == "open"}
    if expected:
        statuses += _send(application, demo_scenario.closes(scenario, expected))
    console.print("registers closed: " + ", ".join(sorted(expected)) if expected else "registers already closed")
    console.print("events: " + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items())))
    for note in scenario.notes:
        console.print(f"  • {note}")
    _summary(application, console)


def _summary(application: App, console: Console) -> None:
    with application.uow() as uow:
        stores = sorted(key for kind, key, _ in uow.master.snapshot_rows() if kind == "stores")
        table = Table(title="Per-store summary")
        table.add_column("store")
        for column in ("net sales", "returns", "tax", "COGS", "margin", "cash over/short", "open exceptions"):
            table.add_column(column, justify="right")
        open_exceptions = Counter(e["store_id"] for e in list_exceptions(uow, status="open", limit=100_000))
        for store_id in stores:
            balance = {row["account"]: row["balance"] for row in trial_balance(uow, store_id)["accounts"]}
            net_sales = -(balance.get("4000", 0) + balance.get("4010", 0))
            returns = balance.get("4020", 0)
            cogs = balance.get("5000", 0)
            table.add_row(store_id, _m(net_sales), _m(returns), _m(-balance.get("2100", 0)), _m(cogs),
                          _m(net_sales - returns - cogs), _m(-balance.get("6200", 0)),
                          str(open_exceptions.get(store_id, 0)))
        console.print(table)
        by_type = Counter(e["type"] for e in list_exceptions(uow, limit=100_000))
        resolved = Counter(e["type"] for e in list_exceptions(uow, status="resolved", limit=100_000))
        console.print("exceptions raised: " + ", ".join(
            f"{kind} {count}" + (f" ({resolved[kind]} resolved by themselves)" if resolved[kind] else "")
            for kind, count in sorted(by_type.items())))
        from posledger.entrypoints.cli import _print_trial_balance

        _print_trial_balance(trial_balance(uow))
        invariants = check_invariants(uow)
    verdict = "[green]hold[/green]" if invariants.ok else f"[red]BROKEN[/red] {invariants}"
    console.print(f"ledger invariants (balanced, GL 1300 = stock value per store, on hand = moves, "
                  f"exactly once, gapless invoices): {verdict}")
    console.print("next: posledger report stock | posledger exceptions | posledger report trial-balance "
                  "--store S003 --json")


def _m(minor: int) -> str:
    return f"{minor / 100:,.2f}"
