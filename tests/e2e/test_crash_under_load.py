"""Kill -9 the server in the middle of a chaotic simulated load, restart it, let the registers
drain their outboxes: every event the fleet sold is in the hub, posted exactly once, and the
ledger's invariants hold."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN, free_port, start_server

CLI = [sys.executable, "-m", "posledger.entrypoints.cli"]


@pytest.mark.slow
def test_kill_9_during_a_chaotic_load_loses_nothing_and_posts_nothing_twice(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    outbox = tmp_path / "outbox.db"
    port = free_port()
    server, url = start_server(db, port)
    simulator = subprocess.Popen(
        [*CLI, "simulate", "--url", url, "--token", ADMIN, "--stores", "2", "--registers", "2",
         "--rate", "150", "--duration", "8", "--chaos", "--outbox", str(outbox), "--json",
         "--drain-timeout", "90"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy())
    try:
        time.sleep(3.5)
        server.send_signal(signal.SIGKILL)
        server.wait()
        time.sleep(1.5)  # the registers keep selling into their outboxes meanwhile
        server, url = start_server(db, port)
        output, _ = simulator.communicate(timeout=150)
        summary = json.loads(output)
        assert simulator.returncode == 0, summary
        assert summary["backlog"] == 0 and summary["rejected"] == 0
        deadline = time.monotonic() + 60
        while httpx.get(f"{url}/health").json()["checks"]["pending_events"] and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        if simulator.poll() is None:
            simulator.kill()
        server.terminate()
        server.wait(10)
    with sqlite3.connect(outbox) as connection:
        sold = {row[0] for row in connection.execute("SELECT event_id FROM outbox")}
    with sqlite3.connect(db) as connection:
        stored = dict(connection.execute("SELECT event_id, status FROM events WHERE register_id IS NOT NULL"))
        entries = connection.execute("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM journal_entries "
                                     "WHERE entry_no = 1").fetchone()
        posted = connection.execute("SELECT COUNT(*) FROM events WHERE status = 'posted'").fetchone()[0]
    assert sold and set(stored) == sold, "the hub holds exactly the events the registers sold"
    assert all(status == "posted" for status in stored.values()), [s for s in stored.values() if s != "posted"]
    assert entries[0] == entries[1] <= posted, "no event has two journal entries sets"
    # --full: every balance kept at posting equals the journal's sums after the kills (a line
    # and its balance update commit in one transaction, so no kill can leave one without the other).
    check = subprocess.run([*CLI, "check", "--full"], env={**os.environ, "POSLEDGER_DB": str(db)},
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
