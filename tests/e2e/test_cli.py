"""The command line end to end, in real subprocesses, on a real SQLite file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import MASTER

POSLEDGER = [sys.executable, "-m", "posledger.entrypoints.cli"]


def run(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSLEDGER_DB": str(db), "COLUMNS": "200"}
    result = subprocess.run([*POSLEDGER, *args], capture_output=True, text=True, env=env, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def sale_line(n: int, register: str = "S1-R1", store: str = "S1", **change: Any) -> str:
    event = {"event_id": f"{register}-{n:07d}", "type": "sale.completed", "store_id": store,
             "register_id": register, "seq": n, "occurred_at": "2026-11-22T10:00:00-05:00",
             "payload": {"receipt_no": f"R-{n}", "currency": "USD",
                         "lines": [{"line_no": 1, "sku": "A", "qty": 1, "unit_price": 1299, "discount": 0,
                                    "tax_code": "STD", "tax": 115},
                                   {"line_no": 2, "sku": "B", "qty": 2, "unit_price": 1000, "discount": 0,
                                    "tax_code": "RED", "tax": 80}],
                         "tenders": [{"tender": "card", "amount": 3494}]}}
    event.update(change)
    return json.dumps(event)


@pytest.fixture
def master_file(tmp_path: Path) -> Path:
    path = tmp_path / "master.json"
    path.write_text(json.dumps(MASTER))
    return path


def test_master_data_load_then_import_reports_bad_lines_and_keeps_good_ones(
        db_path: Path, master_file: Path, tmp_path: Path) -> None:
    run(db_path, "master-data", "load", str(master_file))
    lines = [sale_line(1), "{not json", sale_line(2, seq=0), sale_line(3), ""]
    lines.append(json.dumps({**json.loads(sale_line(4)), "payload": {**json.loads(sale_line(4))["payload"],
                                                                     "customer_id": "4111111111111111"}}))
    # Three mistakes on one line: each is named, in the line's turn.
    lines.append(json.dumps({**json.loads(sale_line(5, seq=0)), "occured_at": "x",
                             "payload": {**json.loads(sale_line(5))["payload"], "currency": 7}}))
    batch = tmp_path / "day.jsonl"
    batch.write_text("\n".join(lines) + "\n")
    result = run(db_path, "import", str(batch), "--quiet", check=False)
    assert result.returncode == 1
    assert "line 2: rejected (invalid_json)" in result.stderr
    assert "line 3: rejected (invalid_event) seq:" in result.stderr
    assert "line 6: rejected (pan_detected)" in result.stderr
    line_7 = [text for text in result.stderr.splitlines() if text.startswith("line 7:")]
    assert len(line_7) == 3, result.stderr
    assert any("(unknown_field) occured_at:" in text and 'did you mean "occurred_at"' in text for text in line_7)
    assert any("payload.currency:" in text for text in line_7) and any(" seq:" in text for text in line_7)
    assert result.stderr.index("line 6:") < result.stderr.index("line 7:")
    assert "4111111111111111" not in result.stderr + result.stdout
    assert "2 accepted" in result.stdout and "posted 2" in result.stdout
    again = run(db_path, "import", str(batch), "--quiet", check=False)
    assert "0 accepted, 2 duplicate" in again.stdout and "posted 0" in again.stdout
    assert "4111111111111111" not in db_path.read_bytes().decode("latin-1")


def test_json_reports_follow_the_contract(db_path: Path, master_file: Path, tmp_path: Path) -> None:
    run(db_path, "master-data", "load", str(master_file))
    batch = tmp_path / "day.jsonl"
    receipt = {"event_id": "PO-1", "type": "stock.received", "store_id": "S1", "register_id": None,
               "occurred_at": "2026-11-22T08:00:00-05:00",
               "payload": {"location_id": "S1", "reference": "PO-1",
                           "lines": [{"sku": "A", "qty": 10, "unit_cost": 600}]}}
    batch.write_text(json.dumps(receipt) + "\n" + sale_line(1) + "\n")
    run(db_path, "import", str(batch), "--quiet")
    balance = json.loads(run(db_path, "report", "trial-balance", "--json").stdout)
    assert set(balance) >= {"accounts", "totals"}
    assert set(balance["accounts"][0]) == {"account", "name", "debit", "credit", "balance"}
    assert balance["totals"]["debit"] == balance["totals"]["credit"]
    per_store = json.loads(run(db_path, "report", "trial-balance", "--store", "S1", "--from", "2026-11-22",
                               "--to", "2026-11-22", "--json").stdout)
    assert per_store["totals"] == balance["totals"]
    stock = json.loads(run(db_path, "report", "stock", "--sku", "A", "--json").stdout)
    assert stock == {"stock": [{"sku": "A", "location_id": "S1", "on_hand": 9, "reserved": 0, "atp": 9,
                                "unit_cost": 600, "value": 5400}]}
    exceptions = json.loads(run(db_path, "exceptions", "--json").stdout)["exceptions"]
    assert [e["type"] for e in exceptions] == ["negative_stock"]  # SKU B was never received
    bad_day = run(db_path, "report", "trial-balance", "--from", "22-11-2026", check=False)
    assert bad_day.returncode == 2 and "--from" in bad_day.stderr
    run(db_path, "check")


def test_the_demo_runs_and_its_books_hold(db_path: Path) -> None:
    from tests.e2e.conftest import free_port

    result = run(db_path, "demo", "--sales-per-register", "10", "--simulate-seconds", "2", "--exit",
                 "--port", str(free_port()))
    assert "ledger invariants" in result.stdout and "hold" in result.stdout
    assert "sequence_gap 1 (1 resolved by themselves)" in result.stdout
    assert "cash_variance 1" in result.stdout
    assert "The hub is running at http://127.0.0.1:" in result.stdout and "admin token:" in result.stdout
    assert "backlog 0" in result.stdout


def test_help_explains_the_commands(db_path: Path) -> None:
    result = run(db_path, "--help")
    for command in ("import", "master-data", "report", "exceptions", "demo"):
        assert command in result.stdout


@pytest.mark.slow
def test_sigkill_in_the_middle_of_an_import_loses_nothing_and_posts_nothing_twice(
        db_path: Path, master_file: Path, tmp_path: Path) -> None:
    run(db_path, "master-data", "load", str(master_file))
    registers = [("S1-R1", "S1"), ("S1-R2", "S1"), ("S2-R1", "S2")]
    batch = tmp_path / "big.jsonl"
    count = 30_000
    with batch.open("w") as handle:
        for n in range(1, count // 3 + 1):
            for register, store in registers:
                handle.write(sale_line(n, register, store) + "\n")
    env = {**os.environ, "POSLEDGER_DB": str(db_path)}
    process = subprocess.Popen([*POSLEDGER, "import", str(batch), "--quiet", "--chunk-size", "500"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    import sqlite3

    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            with sqlite3.connect(db_path, timeout=1) as connection:
                accepted = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        except sqlite3.Error:
            continue
        if accepted >= 4_000:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    with sqlite3.connect(db_path) as connection:
        accepted_before = connection.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert 0 < accepted_before < count, "the kill should land in the middle of the import"
    result = run(db_path, "import", str(batch), "--quiet")
    assert f"{count - accepted_before} accepted, {accepted_before} duplicate" in result.stdout
    with sqlite3.connect(db_path) as connection:
        events = connection.execute("SELECT COUNT(*), SUM(status = 'posted') FROM events").fetchone()
        entries = connection.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM journal_entries").fetchone()
        invoices = connection.execute("SELECT COUNT(*), MAX(sequence) FROM documents WHERE series = 'S1-INV'").fetchone()
    assert events == (count, count)
    assert entries == (count, count)
    assert invoices[0] == invoices[1] == 2 * count // 3
    run(db_path, "check")


def test_db_upgrade_and_status_on_the_sqlite_file(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    status = run(db, "db", "status", "--json", check=False)
    assert status.returncode == 1 and json.loads(status.stdout)["database"] == 0
    upgraded = run(db, "db", "upgrade")
    assert "applied 0001_initial" in upgraded.stdout and "schema version 0 -> " in upgraded.stdout
    assert "nothing to do" in run(db, "db", "upgrade").stdout
    after = json.loads(run(db, "db", "status", "--json").stdout)
    assert after["database"] == after["expected"] and after["pending"] == []


def test_a_database_of_another_schema_version_stops_a_command_with_the_fix(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "newer.db"
    run(db, "db", "upgrade")
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO schema_version VALUES (999)")
    refused = run(db, "report", "trial-balance", check=False)
    assert refused.returncode == 3
    assert "newer than this posledger knows" in refused.stderr


def test_serve_and_worker_refuse_a_postgres_database_that_was_not_upgraded(tmp_path: Path) -> None:
    from tests.e2e.conftest import fresh_postgres_database

    with fresh_postgres_database(upgraded=False) as url:
        env = {**os.environ, "POSLEDGER_DATABASE_URL": url, "POSLEDGER_EXTERNAL_WORKERS": "1"}
        for command in (["serve", "--port", "1"], ["worker"]):
            result = subprocess.run([*POSLEDGER, *command], capture_output=True, text=True, env=env, timeout=60)
            assert result.returncode == 3, result.stderr
            assert "run `posledger db upgrade`" in result.stderr
        upgraded = subprocess.run([*POSLEDGER, "db", "upgrade"], capture_output=True, text=True, env=env, timeout=60)
        assert upgraded.returncode == 0 and "applied 0001_initial" in upgraded.stdout, upgraded.stderr
