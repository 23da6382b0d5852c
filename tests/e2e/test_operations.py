"""Operations (CONTRACT section 16): an online backup and a restore with no sqlite3 tool, read-only
commands that refuse a database that does not exist, one `serve` per SQLite file, the effective
settings with secrets hidden, and a check a person can read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN, start_server
from tests.e2e.test_cli import run, sale_line
from tests.support.builders import MASTER


def _loaded(db: Path, tmp_path: Path) -> None:
    master = tmp_path / "master.json"
    master.write_text(json.dumps(MASTER))
    run(db, "master-data", "load", str(master))
    day = tmp_path / "day.jsonl"
    day.write_text("\n".join(sale_line(n) for n in range(1, 51)) + "\n")
    run(db, "import", str(day), "--quiet")


def test_backup_while_serving_and_restore_give_the_same_books(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    _loaded(db, tmp_path)
    before = run(db, "report", "trial-balance", "--json").stdout
    process, url = start_server(db)  # the backup is taken while the server holds the file
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
            assert admin.get("/health").status_code == 200
        backup = tmp_path / "backup.db"
        made = run(db, "db", "backup", str(backup))
        assert "schema version" in made.stdout and backup.stat().st_mode & 0o777 == 0o600
        assert not backup.with_name("backup.db-wal").exists()
        refused = run(db, "db", "backup", str(backup), check=False)
        assert refused.returncode == 2 and "never overwrites" in refused.stderr
        # A restore is refused while a server holds the database.
        busy = run(db, "db", "restore", str(backup), "--yes", check=False)
        assert busy.returncode == 2 and "is serving" in busy.stderr
    finally:
        process.terminate()
        process.wait(10)
    restored = tmp_path / "restored.db"
    assert run(restored, "db", "restore", str(backup)).returncode == 0
    assert run(restored, "report", "trial-balance", "--json").stdout == before
    again = run(restored, "db", "restore", str(backup), check=False)
    assert again.returncode == 2 and "--yes" in again.stderr
    assert run(restored, "check").returncode == 0
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    assert "not a posledger database" in run(tmp_path / "x.db", "db", "restore", str(not_a_backup),
                                             check=False).stderr


def test_read_only_commands_refuse_a_database_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "posledgr.db"  # misspelt
    for args in (("report", "trial-balance"), ("report", "stock", "--sku", "A"), ("exceptions",), ("check",),
                 ("token", "list")):
        result = run(missing, *args, check=False)
        assert result.returncode == 2 and "no database at" in result.stderr, (args, result.stderr)
    assert not missing.exists()


def test_a_second_serve_on_one_sqlite_file_refuses(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    process, _ = start_server(db)
    try:
        env = {**os.environ, "POSLEDGER_DB": str(db), "POSLEDGER_ADMIN_TOKEN": ADMIN}
        second = subprocess.run([sys.executable, "-m", "posledger.entrypoints.cli", "serve", "--port", "1"],
                                capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 2 and f"pid {process.pid}" in second.stderr, second.stderr
    finally:
        process.terminate()
        process.wait(10)


def test_config_show_prints_the_effective_settings_with_secrets_hidden(tmp_path: Path) -> None:
    env = {**os.environ, "POSLEDGER_DATABASE_URL": "postgresql://app:s3cret@db.internal/posledger",
           "POSLEDGER_ADMIN_TOKEN": ADMIN, "POSLEDGER_RATE_LIMIT": "25"}
    shown = subprocess.run([sys.executable, "-m", "posledger.entrypoints.cli", "config", "show", "--json"],
                           capture_output=True, text=True, env=env, timeout=60, check=True, cwd=tmp_path)
    values = json.loads(shown.stdout)
    assert values["POSLEDGER_DATABASE_URL"] == "postgresql://app:***@db.internal/posledger"
    assert values["POSLEDGER_ADMIN_TOKEN"] == f"(set, {len(ADMIN)} characters)"
    assert values["POSLEDGER_RATE_LIMIT"] == 25.0
    assert "s3cret" not in shown.stdout and ADMIN not in shown.stdout
