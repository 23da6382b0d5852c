"""The ``posledger`` command line. Every command calls use cases; none touches SQL."""

from __future__ import annotations

import gc
import json
import logging
import os
import sqlite3
import sys
from dataclasses import asdict, replace
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from posledger.app.batch_import import import_checked
from posledger.app.checks import rebuild_projections, run_check
from posledger.app.day_report import day_summary
from posledger.app.master_data import load_master_data
from posledger.app.ports import UnitOfWork
from posledger.app.queries import (
    list_exceptions,
    resolve_exception,
    stock_report,
    trial_balance,
)
from posledger.bootstrap import App, bootstrap
from posledger.config import Settings
from posledger.domain.errors import InvalidInput
from posledger.domain.fields import parse_day
from posledger.entrypoints.check_ahead import checked_ahead
from posledger.entrypoints.chunk_writer import chunk_writer

app = typer.Typer(
    help="posledger: POS events in; stock ledger, general ledger and invoices out, exactly once.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False,
)
report_app = typer.Typer(help="Reports: trial balance and stock.", no_args_is_help=True)
master_app = typer.Typer(help="Master data: stores, registers, locations, items, tax rules, promotions.",
                         no_args_is_help=True)
exceptions_app = typer.Typer(help="Sales-audit and integration exceptions. Without a subcommand: list them.",
                             invoke_without_command=True)
app.add_typer(report_app, name="report")
app.add_typer(master_app, name="master-data")
app.add_typer(exceptions_app, name="exceptions")

# Piped output (a file, CI, `less`) gets 120 columns instead of rich's 80, so tables stay whole.
console = Console() if sys.stdout.isatty() else Console(width=120)
errors = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=120)
_state: dict[str, Any] = {}


@app.callback()
def _main(db: Path | None = typer.Option(None, "--db", help="SQLite database file "
                                                                "[default: $POSLEDGER_DB or ./posledger.db]")) -> None:
    if db is not None:
        _state["db"] = str(db)


def _settings() -> Settings:
    settings = Settings.from_env()
    if "db" in _state:
        settings = replace(settings, db_path=_state["db"])
    return settings


def _app(process: str = "posledger", *, read_only: bool = False) -> App:
    """The application, opened once per command. A database at another schema version stops the
    command with the message that names the fix (exit 3); one that stays unreachable past
    POSLEDGER_STARTUP_TIMEOUT stops it with exit 4. Either is a reason a restart alone cannot cure.
    ``read_only`` commands (reports, checks, listings) refuse a SQLite file that does not exist
    rather than create an empty one and report zeros from it (a misspelt POSLEDGER_DB)."""
    if read_only and "app" not in _state:
        settings = _settings()
        if not settings.database_url and not Path(settings.db_path).exists():
            raise _fail(f"no database at {settings.db_path} (--db or POSLEDGER_DB): nothing to read. Check the "
                        "path; `posledger master-data load`, `import` or `serve` create it")
    if "app" not in _state:
        from posledger.adapters.sql.migrations import SchemaMismatch

        try:
            _state["app"] = bootstrap(_settings(), say=lambda message: errors.print(f"[yellow]{message}[/yellow]"),
                                      process=process)
        except SchemaMismatch as error:
            raise _fail(str(error), 3) from None
        except Exception as error:
            if type(error).__module__.startswith("psycopg"):
                raise _fail(f"cannot open the database: {str(error).strip()}", 4) from None
            raise
    return _state["app"]  # type: ignore[no-any-return]


def _cli_actor() -> str:
    """Who the audit log says acted from the command line: the operating-system user."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _money(minor: int) -> str:
    return f"{minor / 100:,.2f}"


# Exception details that are amounts in minor units (shown as 1,234.56; --json keeps the integers).
_AMOUNT_KEYS = frozenset({"amount", "expected", "counted", "over_short", "difference", "total", "tax", "charged",
                          "computed", "gross", "net", "discount", "tendered", "due", "value", "printed", "lines",
                          "cash"})


def _readable(detail: dict[str, Any]) -> str:
    """An exception's detail for a person: ``key: value`` pairs, amounts in major units."""
    parts = []
    for key, value in detail.items():
        if key == "parked":
            continue
        if isinstance(value, bool) or value is None:
            shown = str(value).lower()
        elif isinstance(value, int) and (key in _AMOUNT_KEYS or key.endswith(("_amount", "_total", "_tax"))):
            shown = _money(value)
        elif isinstance(value, list | dict):
            shown = json.dumps(value, separators=(", ", ": "), default=str)
        else:
            shown = str(value)
        parts.append(f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return parse_day(value, option)
    except InvalidInput as error:
        raise _fail(f"{error.field}: {error.detail}") from None


# ------------------------------------------------------------------ master data


@master_app.command("load")
def master_data_load(file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                                 help="Bulk master-data JSON (CONTRACT section 7).")) -> None:
    """Load a bulk master-data file. Nothing is written if any entry is invalid; events waiting
    for master data that now exists are posted."""
    application = _app()
    try:
        document = json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise _fail(f"{file}: not valid JSON: {error.msg} at line {error.lineno}") from None
    try:
        report = load_master_data(application.uow, document, clock=application.clock, actor=_cli_actor())
    except InvalidInput as error:  # every error of the file at once, one a line
        raise _fail("\n".join(f"{file}: {e.field}: {e.detail}" for e in error.errors)) from None
    changed = ", ".join(f"{count} {kind}" for kind, count in report.changed.items()) or "nothing new"
    console.print(f"master data: {changed}; {report.unchanged} unchanged; catalog version {report.version}")
    if report.released:
        posting = application.engine.run()
        console.print(f"{report.released} waiting event(s) retried: {posting.posted} posted, "
                      f"{posting.parked} still waiting")


# ------------------------------------------------------------------ import and post


@app.command("import")
def import_file(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True,
                                help="JSON Lines: one event per line."),
    chunk_size: int = typer.Option(1000, min=1, max=10_000, help="Events per transaction."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Import a day's events from a store that syncs in batches. Bad lines are reported with
    their line number and field; good lines are kept; re-running the same file posts nothing twice."""
    application = _app()
    size = file.stat().st_size
    with Progress(TextColumn("[bold]importing"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TextColumn("{task.fields[lines]} lines"), TimeElapsedColumn(), console=errors,
                  disable=quiet, transient=False) as progress:
        task = progress.add_task("import", total=size, lines=0)
        # Checked ahead by one child process and committed by another, while this one posts.
        with chunk_writer(application.uow, file) as writer:
            report = import_checked(application.uow, application.engine, checked_ahead(file, chunk_size),
                                    clock=application.clock, cache=application.cache,
                                    partitions=application.settings.partitions, writer=writer,
                                    progress=lambda lines, done: progress.update(task, completed=done, lines=lines))
    for problem in report.problems[:200]:  # every bad field of every bad line, in line order
        for error in problem.each():
            errors.print(f"line {problem.line_no}: {problem.status} ({error.code}) {error.field}: {error.detail}",
                         markup=False, highlight=False)
    if len(report.problems) > 200:
        errors.print(f"... and {len(report.problems) - 200} more problems")
    console.print(f"{report.lines} lines: {report.accepted} accepted, {report.duplicate} duplicate, "
                  f"{len(report.problems)} rejected; posted {report.posting.posted}, "
                  f"waiting {report.posting.parked}, exceptions raised {report.posting.findings}")
    if report.problems:
        raise typer.Exit(1)


@app.command("post")
def post_pending() -> None:
    """Post every accepted event not yet posted (after a crash, or to retry waiting events)."""
    report = _app().engine.run()
    console.print(f"posted {report.posted}, waiting {report.parked}, exceptions raised {report.findings}")


# ------------------------------------------------------------------ reports


@report_app.command("trial-balance")
def report_trial_balance(
    store: str | None = typer.Option(None, "--store", help="One store; omit for consolidated."),
    day_from: str | None = typer.Option(None, "--from", help="First business day, YYYY-MM-DD."),
    day_to: str | None = typer.Option(None, "--to", help="Last business day, YYYY-MM-DD."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON as GET /v1/ledger/trial-balance."),
) -> None:
    """Trial balance per account: debits, credits and balance."""
    application = _app(read_only=True)
    first, last = _day(day_from, "--from"), _day(day_to, "--to")
    try:
        balance = application.uow.run(lambda uow: trial_balance(uow, store, first, last), read_only=True,
                                      operation="trial balance")
    except InvalidInput as error:
        raise _fail(f"{error.detail}") from None
    if as_json:
        _print_json(balance)
        return
    _print_trial_balance(balance)


def _print_trial_balance(balance: dict[str, Any]) -> None:
    title = f"Trial balance — {balance['store_id'] or 'all stores'}"
    if balance["from"] or balance["to"]:
        title += f" ({balance['from'] or '…'} to {balance['to'] or '…'})"
    table = Table(title=title)
    for column in ("account", "name"):
        table.add_column(column)
    for column in ("debit", "credit", "balance"):
        table.add_column(column, justify="right")
    for row in balance["accounts"]:
        table.add_row(row["account"], row["name"], _money(row["debit"]), _money(row["credit"]),
                      _money(row["balance"]))
    totals = balance["totals"]
    table.add_row("", "[bold]totals", _money(totals["debit"]), _money(totals["credit"]),
                  _money(totals["debit"] - totals["credit"]))
    console.print(table)


@report_app.command("stock")
def report_stock(
    sku: str | None = typer.Option(None, "--sku"),
    location: str | None = typer.Option(None, "--location"),
    as_json: bool = typer.Option(False, "--json", help="Print {\"stock\": [...]} as the contract says."),
) -> None:
    """On hand, reserved, available to promise, average unit cost and value per SKU and location."""
    report = _app(read_only=True).uow.run(lambda uow: stock_report(uow, sku, location), read_only=True,
                                          operation="stock")
    if as_json:
        _print_json(report)
        return
    table = Table(title="Stock")
    for column in ("sku", "location_id"):
        table.add_column(column)
    for column in ("on_hand", "reserved", "atp", "unit_cost", "value"):
        table.add_column(column, justify="right")
    for row in report["stock"]:
        table.add_row(row["sku"], row["location_id"], str(row["on_hand"]), str(row["reserved"]),
                      str(row["atp"]), _money(row["unit_cost"]), _money(row["value"]))
    console.print(table)


@report_app.command("day")
def report_day(
    store: str = typer.Option(..., "--store", help="The store."),
    day: str = typer.Option(..., "--day", help="The business day, YYYY-MM-DD."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON as GET /v1/stores/{store}/days/{day}."),
) -> None:
    """A business day's summary: sales, returns, tax by rate, tenders, and each register
    session's Z-report (opening float, cash sales and refunds, paid outs, drops, expected,
    counted, over/short)."""
    business_day = _day(day, "--day")
    assert business_day is not None

    def work(uow: UnitOfWork) -> dict[str, Any]:
        if uow.master.body_of("stores", store) is None:
            raise _fail(f"no store {store} in master data")
        return day_summary(uow, store, business_day)

    summary = _app(read_only=True).uow.run(work, read_only=True, operation="day summary")
    if as_json:
        _print_json(summary)
        return
    _print_day(summary)


def _print_day(summary: dict[str, Any]) -> None:
    figures = Table(title=f"{summary['store_id']} — business day {summary['business_day']} ({summary['status']}, "
                          f"{summary['currency']})")
    figures.add_column("figure")
    figures.add_column("amount", justify="right")
    for name in ("net_sales", "returns", "tax", "cogs", "over_short"):
        figures.add_row(name.replace("_", " "), _money(summary[name]))
    for tender, amount in summary["tenders"].items():
        figures.add_row(f"tender {tender.replace('_', ' ')}", _money(amount))
    figures.add_row("open exceptions", str(summary["exceptions_open"]))
    console.print(figures)
    taxes = Table(title="Tax by rate")
    for column in ("tax code", "rate", "taxable", "tax"):
        taxes.add_column(column, justify="right" if column in ("taxable", "tax") else "left")
    for row in summary["tax_by_rate"]:
        taxes.add_row(row["tax_code"], row["rate"], _money(row["taxable"]), _money(row["tax"]))
    console.print(taxes)
    z_report = Table(title="Z-report")
    columns = ("opening_float", "cash_sales", "cash_refunds", "float_adds", "paid_out", "drops", "expected",
               "counted", "over_short")
    for column in ("register", "session", "status", *columns):
        z_report.add_column(column.replace("_", " "), justify="right" if column in columns else "left")
    for register in summary["registers"]:
        for session in register["sessions"]:
            z_report.add_row(register["register_id"], session["session_id"], session["status"],
                             *("" if session[c] is None else _money(session[c]) for c in columns))
    console.print(z_report)
    for late in summary["late"]:
        console.print(f"late: {late['event_id']} on {late['register_id']} moved {_money(late['cash'])} "
                      f"in cash outside any session (exception {late['exception_id']}, {late['exception_type']})")


# ------------------------------------------------------------------ exceptions


@exceptions_app.callback()
def exceptions_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="open or resolved"),
    type_: str | None = typer.Option(None, "--type", help="e.g. tax_mismatch"),
    store: str | None = typer.Option(None, "--store"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List exceptions (all by default)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _app(read_only=True).uow.run(
        lambda uow: list_exceptions(uow, status=status, type=type_, store_id=store, limit=100_000),
        read_only=True, operation="exceptions")
    if as_json:
        _print_json({"exceptions": rows})
        return
    table = Table(title=f"Exceptions ({len(rows)})")
    for column in ("id", "type", "status", "store", "register", "event", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(str(row["id"]), row["type"], row["status"], row["store_id"] or "",
                      row["register_id"] or "", row["event_id"] or "", _readable(row["detail"])[:200])
    console.print(table)


@exceptions_app.command("resolve")
def exceptions_resolve(
    exception_id: int = typer.Argument(...),
    by: str = typer.Option(..., "--by", help="Who resolves it."),
    reason: str = typer.Option(..., "--reason", help="Why, in a sentence."),
    retry: bool = typer.Option(False, "--retry", help="Also retry posting the event it holds back."),
) -> None:
    """Resolve an exception with who and why."""
    application = _app()
    try:
        record = resolve_exception(application.uow, exception_id, by=by, reason=reason, retry=retry,
                                   clock=application.clock, actor=_cli_actor())
    except LookupError as error:
        raise _fail(str(error)) from None
    except InvalidInput as error:
        raise _fail(f"{error.field}: {error.detail}") from None
    if retry:
        application.engine.run()
    console.print(f"exception {record['id']} ({record['type']}) resolved by {record['resolved_by']}")


# ------------------------------------------------------------------ demo


@app.command("demo")
def demo(
    sales_per_register: int = typer.Option(40, min=1, max=100_000, help="Sales per register."),
    port: int = typer.Option(8000, "--port", help="Where the hub listens (another free port if taken)."),
    simulate_seconds: float = typer.Option(15.0, "--simulate-seconds", min=0,
                                           help="How long the simulated fleet sells after the scenario."),
    exit_after: bool = typer.Option(False, "--exit", help="Stop the hub after the summary."),
) -> None:
    """Start the hub, send a Black Friday of three stores and a warehouse over HTTP (every event
    type and the awkward cases), let a simulated fleet sell, print a per-store summary and the
    trial balance, and leave the hub running with its URL and an admin token."""
    from posledger.entrypoints.demo import run_demo

    application = _app()
    run_demo(application, console, sales_per_register, port=port, simulate_seconds=simulate_seconds,
             keep_serving=not exit_after)


token_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="device, manager, finance, admin or monitor"),
    store: str | None = typer.Option(None, "--store", help="The store of a device or manager token."),
    name: str | None = typer.Option(None, "--name", help="A label, e.g. the register or the person."),
    expires: str | None = typer.Option(None, "--expires",
                                       help="When it stops working, RFC 3339 with an offset (default: never)."),
) -> None:
    """Create an API token and print its secret once (stdout); its token_id goes to stderr."""
    from posledger.app.access import create_token

    application = _app()
    try:
        created = create_token(application.uow, role, store, name or f"{role}-{store or 'all'}",
                               clock=application.clock, expires_at=expires, actor=_cli_actor())
    except InvalidInput as error:
        option = {"store_id": "store", "expires_at": "expires"}.get(error.field, error.field)
        raise _fail(f"--{option}: {error.detail}") from None
    errors.print(f"token_id {created.token_id}")
    sys.stdout.write(created.token + "\n")


@token_app.command("list")
def token_list(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table.")) -> None:
    """The tokens, without their secrets."""
    from posledger.app.access import list_tokens

    application = _app(read_only=True)
    records, page = [], list_tokens(application.uow)
    while page:  # every page
        records.extend(page)
        page = list_tokens(application.uow, after=page[-1].token_id)
    if as_json:
        sys.stdout.write(json.dumps([msgspec.to_builtins(record) for record in records], indent=2) + "\n")
        return
    table = Table("token_id", "role", "store", "name", "created", "expires", "last used", "revoked")
    for r in records:
        table.add_row(r.token_id, r.role, r.store_id or "", r.name, r.created_at, r.expires_at or "",
                      r.last_used_at or "", "yes" if r.revoked else "")
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: str = typer.Argument(..., help="The token_id (from `posledger token list`).")) -> None:
    """Revoke a token: it fails from the next request on, on every node."""
    from posledger.app.access import revoke_token

    application = _app()
    try:
        revoke_token(application.uow, token_id, clock=application.clock, actor=_cli_actor())
    except LookupError as error:
        raise _fail(str(error).strip("'")) from None
    console.print(f"revoked {token_id}")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level"),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) with a posting worker inside."""
    import uvicorn

    from posledger.app.access import bootstrap_token_problem
    from posledger.config import Settings
    from posledger.entrypoints.http import create_app

    problem = bootstrap_token_problem(Settings.from_env().admin_token)
    if problem is not None:  # before anything opens: the server refuses to start
        raise _fail(problem)
    if not _settings().database_url:
        _hold_serve_lock(_settings().db_path)
    application = _app("posledger serve")
    settings = application.settings
    if not settings.admin_token:
        errors.print("note: POSLEDGER_ADMIN_TOKEN is not set; create tokens with `posledger token create`")
    api = create_app(application, admin_token=settings.admin_token, max_body_bytes=settings.max_body_bytes,
                     start_worker=not settings.external_workers)
    if settings.external_workers:
        console.print("posting is left to `posledger worker` processes (POSLEDGER_EXTERNAL_WORKERS)")
    if settings.access_log:  # one JSON line per request, on stderr (POSLEDGER_ACCESS_LOG=0: none)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        request_log = logging.getLogger("posledger.requests")
        request_log.addHandler(handler)
        request_log.setLevel(logging.INFO)
        request_log.propagate = False
    database = settings.database_url.split("@")[-1] if settings.database_url else settings.db_path
    console.print(f"posledger serving on http://{host}:{port} (API docs at /docs); database {database}")
    # Idle keep-alive connections close after 5 s and connections beyond the limit get 503; header
    # and body read timeouts for slow clients belong to the TLS proxy in front (deploy/).
    # X-Forwarded-For is read only from the proxies FORWARDED_ALLOW_IPS names (deploy/): a client
    # must not choose the address failed authentications are counted against.
    uvicorn.run(api, host=host, port=port, log_level=log_level, access_log=False, server_header=False,
                limit_concurrency=settings.max_connections, timeout_keep_alive=5,
                proxy_headers=bool(os.environ.get("FORWARDED_ALLOW_IPS")))


def _hold_serve_lock(db_path: str) -> None:
    """One ``serve`` per SQLite file: a second would post the same log beside the first and
    contend for its write lock. The lock is the operating system's (``flock``), so it is released
    however the process ends; the file names the holder's pid."""
    import fcntl

    path = Path(f"{db_path}.serve-lock")
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise _fail(f"another `posledger serve` (pid {holder}) is serving {db_path}; one server per SQLite file "
                    "(use PostgreSQL to serve from several)") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _state["serve_lock"] = handle  # held until the process exits


@app.command("simulate")
def simulate(
    url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The hub's base URL."),
    token: str = typer.Option(..., "--token", envvar="POSLEDGER_TOKEN",
                              help="An admin token (it also loads the fleet's master data)."),
    stores: int = typer.Option(3, "--stores", min=1, max=1000),
    registers: int = typer.Option(2, "--registers", min=1, max=100, help="Registers per store."),
    rate: float = typer.Option(50.0, "--rate", min=0.1, help="Events per second, whole fleet."),
    duration: float = typer.Option(30.0, "--duration", min=0.1, help="Seconds of selling."),
    batch: int = typer.Option(100, "--batch", min=1, max=1000, help="Events per request (1 = single POSTs)."),
    chaos: bool = typer.Option(False, "--chaos", help="Resends, reordering, dropped connections, an offline register."),
    outbox_path: Path = typer.Option(Path("posledger-sim-outbox.db"), "--outbox", help="The fleet's on-disk outbox."),
    setup: bool = typer.Option(True, "--setup/--no-setup", help="Load the fleet's master data and opening stock."),
    drain_timeout: float = typer.Option(300.0, "--drain-timeout", help="Seconds to wait for the outbox to empty."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Simulate a fleet of POS registers against a running hub, with on-disk outboxes and
    retries; print accepted per second and latency percentiles."""
    import asyncio

    from rich.live import Live

    from posledger.simulator.fleet import Fleet, FleetConfig
    from posledger.simulator.outbox import Outbox

    outbox = Outbox(outbox_path)
    fleet = Fleet(FleetConfig(url, token, stores, registers, rate, duration, batch, chaos, setup,
                              drain_timeout=drain_timeout), outbox)

    def table() -> Table:
        summary = fleet.stats.summary()
        view = Table(title=f"simulating {stores} stores x {registers} registers at {rate:g}/s"
                           + (" with chaos" if chaos else ""))
        for column in ("elapsed s", "sold", "accepted", "duplicate", "retries", "backlog", "accepted/s",
                       "p50 ms", "p95 ms", "p99 ms"):
            view.add_column(column, justify="right")
        latency = summary["latency_ms"]
        view.add_row(str(summary["seconds"]), str(summary["generated"]), str(summary["accepted"]),
                     str(summary["duplicate"]), str(summary["retries"]), str(outbox.backlog()),
                     str(summary["accepted_per_second"]), str(latency["p50"]), str(latency["p95"]),
                     str(latency["p99"]))
        return view

    async def run() -> dict[str, Any]:
        if as_json or not errors.is_terminal:
            return await fleet.run()
        with Live(table(), console=errors, refresh_per_second=4) as live:
            task = asyncio.create_task(fleet.run())
            while not task.done():
                live.update(table())
                await asyncio.sleep(0.25)
            live.update(table())
            return await task

    summary = asyncio.run(run())
    outbox.close()
    if as_json:
        _print_json(summary)
    else:
        console.print(summary)
    if summary["backlog"] or summary["rejected"]:
        raise typer.Exit(1)


@app.command("worker")
def worker(
    poll: float = typer.Option(0.2, "--poll", min=0.01, help="Seconds to wait when nothing is pending."),
) -> None:
    """A posting worker for the PostgreSQL backend: owns a fair share of the store partitions
    (PostgreSQL advisory locks), posts their events in log order, and takes over a dead
    worker's partitions within seconds. Run as many as you like."""
    from posledger.entrypoints.worker import run_worker

    application = _app("posledger worker")
    if not application.settings.database_url:
        raise _fail("`posledger worker` needs POSLEDGER_DATABASE_URL (PostgreSQL); with SQLite, "
                    "`posledger serve` posts by itself")
    run_worker(application, poll_seconds=poll, out=errors)


config_app = typer.Typer(help="Settings: every one is an environment variable or a key of posledger.toml.",
                         no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(as_json: bool = typer.Option(False, "--json")) -> None:
    """The effective settings (environment over $POSLEDGER_CONFIG or ./posledger.toml, and --db),
    secrets hidden."""
    from posledger.config import shown

    values = shown(_settings())
    if as_json:
        _print_json(values)
        return
    for variable, value in values.items():
        console.print(f"{variable} = {json.dumps(value)}", highlight=False)


db_app = typer.Typer(help="The database: schema migrations, backup and restore.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the pending schema migrations to the configured database (the SQLite file, or
    PostgreSQL at $POSLEDGER_DATABASE_URL), each in its own transaction. Safe at every deploy
    and while `serve` and `worker` run: they pause at their next transaction until it is done."""
    from posledger.adapters.sql.migrations import SchemaMismatch
    from posledger.bootstrap import upgrade_database

    settings = _settings()
    where = settings.database_url.split("@")[-1] if settings.database_url else settings.db_path
    try:
        report = upgrade_database(settings, progress=lambda message: errors.print(f"db upgrade: {message}"))
    except SchemaMismatch as error:
        raise _fail(str(error), 3) from None
    for label, seconds in report["applied"]:
        console.print(f"applied {label} in {seconds:.2f} s")
    if report["applied"]:
        console.print(f"{where}: schema version {report['before']} -> {report['after']}")
    else:
        console.print(f"{where}: schema version {report['after']}, nothing to do")


@db_app.command("backup")
def db_backup(file: Path = typer.Argument(..., help="The backup to write; it must not exist yet.")) -> None:
    """An online, consistent copy of the SQLite database (SQLite's backup API, WAL included): safe
    while `serve`, `import` and `worker` run. For PostgreSQL use pg_dump (see
    docs/operations/running.md)."""
    settings = _settings()
    if settings.database_url:
        raise _fail("the database is PostgreSQL: back it up with `pg_dump --format=custom --file=FILE "
                    "$POSLEDGER_DATABASE_URL` (docs/operations/running.md)")
    source_path = Path(settings.db_path)
    if not source_path.exists():
        raise _fail(f"no database at {source_path} (--db or POSLEDGER_DB)")
    if file.exists():
        raise _fail(f"{file} exists; a backup never overwrites")
    partial = file.with_name(file.name + ".partial")
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    target = sqlite3.connect(partial)
    try:
        with Progress(TextColumn("[bold]backing up"), BarColumn(), TextColumn("{task.completed}/{task.total} pages"),
                      console=errors, transient=True) as progress:
            task = progress.add_task("backup", total=None)
            source.backup(target, pages=4096,
                          progress=lambda _status, remaining, total: progress.update(task, total=total,
                                                                                       completed=total - remaining))
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no WAL beside it
        version = target.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    finally:
        target.close()
        source.close()
    os.chmod(partial, 0o600)
    os.replace(partial, file)
    console.print(f"backed up {source_path} to {file} ({file.stat().st_size / 2**20:.1f} MB, schema version "
                  f"{version})")


@db_app.command("restore")
def db_restore(file: Path = typer.Argument(..., help="A backup made by `posledger db backup`."),
               yes: bool = typer.Option(False, "--yes", help="Replace a database that exists.")) -> None:
    """Replace the SQLite database with a backup. Refused while a `serve` holds the database (stop
    it first), and over an existing database without --yes. A backup of an older release is
    upgraded when next opened."""
    settings = _settings()
    if settings.database_url:
        raise _fail("the database is PostgreSQL: restore with `pg_restore --clean --dbname=$POSLEDGER_DATABASE_URL "
                    "FILE` (docs/operations/running.md)")
    if not file.exists():
        raise _fail(f"no backup at {file}")
    target_path = Path(settings.db_path)
    try:
        backup = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        version = backup.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
    except sqlite3.DatabaseError:
        raise _fail(f"{file} is not a posledger database") from None
    try:
        if target_path.exists() and not yes:
            raise _fail(f"{target_path} exists: pass --yes to replace it with {file}")
        _hold_serve_lock(str(target_path))  # refuses while a server holds it, and keeps one from starting
        target = sqlite3.connect(target_path)
        try:
            backup.backup(target)
        finally:
            target.close()
    finally:
        backup.close()
    console.print(f"restored {target_path} from {file} (schema version {version})")


@db_app.command("status")
def db_status(as_json: bool = typer.Option(False, "--json")) -> None:
    """The database's schema version, this release's, and the migrations still to apply.
    Exits 1 when they differ (the check a deploy script can make before starting processes)."""
    from posledger.bootstrap import schema_status

    status = schema_status(_settings())
    if as_json:
        _print_json(status)
    else:
        state = "an upgrade is running; " if status["upgrade_running"] else ""
        pending = ", ".join(status["pending"]) or "none"
        console.print(f"database schema version {status['database']}; this posledger: {status['expected']}; "
                      f"{state}pending: {pending}")
    if status["database"] != status["expected"]:
        raise typer.Exit(1)


@app.command("check")
def check(full: bool = typer.Option(False, "--full", help="Walk every journal line and stock move, "
                                                            "not only what was posted since the last passing check."),
          as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Check the contract's ledger invariants and the balances kept at posting against the
    journal. Incremental by default: a passing run keeps a checkpoint, and the next run reads only
    what was posted since. Exit 1 when something is wrong."""
    application = _app(read_only=True)
    report = run_check(application.uow, full=full, clock=application.clock)
    if as_json:
        print(json.dumps(asdict(report) | {"ok": report.ok}))
    else:
        for problem in report.problems():
            console.print(f"[red]problem:[/red] {problem}", highlight=False)
        console.print(f"{report.scope}: {report.entries_checked} journal entries and {report.moves_checked} "
                      f"stock moves read; {'ok' if report.ok else 'PROBLEMS FOUND'}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("rebuild")
def rebuild() -> None:
    """Rebuild what posledger keeps beside the journal (balances per store and account, per
    business day, open-exception counts) from the journal and the exceptions, in one
    transaction. Safe while serving: posting waits for it."""
    application = _app()
    rows = rebuild_projections(application.uow)
    for name, count in rows.items():
        console.print(f"{name}: {count} rows")


def main() -> None:
    # Posting allocates many short-lived, acyclic objects; the default GC thresholds make the
    # collector run every few events for nothing. Collect far less often (see bench/).
    gc.set_threshold(50_000, 20, 100)
    # Every file this process creates (databases, exports, reports) is its owner's alone.
    os.umask(0o077)
    # Retries, back-offs and waits are logged as warnings, with the time, for the operator.
    logging.basicConfig(level=os.environ.get("POSLEDGER_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app()
    finally:
        application = _state.get("app")
        if application is not None:
            application.close()


if __name__ == "__main__":  # pragma: no cover
    main()
