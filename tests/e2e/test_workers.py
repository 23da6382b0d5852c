"""Scale-out on PostgreSQL: `serve` only ingests, `posledger worker` processes post. Kill -9 one
of two workers in the middle of a stream and terminate every database session once: the other
worker takes over, the server and workers reconnect, and every event is posted exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.e2e.conftest import (
    ADMIN,
    free_port,
    fresh_postgres_database,
    stop_processes,
    wait_ready,
    wait_until_posted,
)

CLI = [sys.executable, "-m", "posledger.entrypoints.cli"]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "POSLEDGER_DATABASE_URL": database_url, "POSLEDGER_ADMIN_TOKEN": ADMIN,
            "POSLEDGER_EXTERNAL_WORKERS": "1", "POSLEDGER_PARTITIONS": "8", **extra}


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen([*CLI, *args], env=env, stdout=sink, stderr=sink)


@pytest.mark.slow
def test_a_worker_killed_mid_stream_and_terminated_sessions_lose_nothing(tmp_path: Path) -> None:
    with fresh_postgres_database() as database_url:
        env = _env(database_url)
        subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = _start(["serve", "--port", str(port)], env, tmp_path / "serve.log")
        workers = [_start(["worker"], env, tmp_path / f"worker{n}.log") for n in (1, 2)]
        simulator = None
        try:
            wait_ready(url)
            simulator = subprocess.Popen(
                [*CLI, "simulate", "--url", url, "--token", ADMIN, "--stores", "4", "--registers", "2",
                 "--rate", "150", "--duration", "8", "--outbox", str(tmp_path / "outbox.db"), "--json",
                 "--drain-timeout", "90"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy())
            time.sleep(3)
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait()
            time.sleep(1)
            with psycopg.connect(database_url, autocommit=True) as admin:
                name = database_url.rsplit("/", 1)[1]
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
            output, _ = simulator.communicate(timeout=150)
            summary = json.loads(output)
            assert summary["backlog"] == 0 and summary["rejected"] == 0, summary
            wait_until_posted(database_url)
            assert server.poll() is None and workers[1].poll() is None, "no process died of the terminated sessions"
        finally:
            stop_processes([server, *workers, *([simulator] if simulator else [])])
        import sqlite3

        with sqlite3.connect(tmp_path / "outbox.db") as outbox:
            sold = {row[0] for row in outbox.execute("SELECT event_id FROM outbox")}
        with psycopg.connect(database_url) as connection:
            stored = dict(connection.execute(
                "SELECT event_id, status FROM events WHERE register_id IS NOT NULL").fetchall())
            twice = connection.execute("SELECT COUNT(*) FROM (SELECT event_id FROM journal_entries WHERE entry_no = 1 "
                                       "GROUP BY event_id HAVING COUNT(*) > 1) AS doubled").fetchone()
        assert sold and set(stored) == sold
        assert all(status == "posted" for status in stored.values()), sorted(set(stored.values()))
        assert twice == (0,)
        check = subprocess.run([*CLI, "check"], env=env, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_workers_of_another_database_on_the_same_server_are_not_peers() -> None:
    """Another deployment's workers (another database) must not shrink this one's fair share."""
    from posledger.adapters.postgres.leases import APPLICATION_NAME, PartitionLeases
    from tests.contract.conftest import POSTGRES_URL

    with fresh_postgres_database() as database_url, \
            psycopg.connect(POSTGRES_URL, application_name=APPLICATION_NAME):  # a worker elsewhere
        leases = PartitionLeases(database_url, 8)
        try:
            assert leases.rebalance() == set(range(8))
        finally:
            leases.close()
