"""NATS JetStream between ingest and posting: `serve` publishes every accepted event (Nats-Msg-Id =
offset:event_id), workers' durable pull consumers wake the partition owners. Restart NATS in the middle
of the load: every event is still posted exactly once, and the stream holds one message per event.

These tests start a private `nats-server -js` on a free port with a temporary store; they never
touch the machine's shared NATS."""

from __future__ import annotations

import asyncio
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
    nats_or_skip,
    start_nats,
    stop_processes,
    wait_ready,
    wait_until_posted,
)

CLI = [sys.executable, "-m", "posledger.entrypoints.cli"]
async def _stream_messages(url: str) -> int:
    import nats

    connection = await nats.connect(url)
    try:
        info = await connection.jetstream().stream_info("POSLEDGER_EVENTS")
        return int(info.state.messages)
    finally:
        await connection.close()


@pytest.mark.slow
def test_events_flow_through_jetstream_and_survive_a_nats_restart(tmp_path: Path) -> None:
    nats_or_skip()
    nats_port = free_port()
    nats_url = f"nats://127.0.0.1:{nats_port}"
    nats_process = start_nats(nats_port, tmp_path / "jetstream", tmp_path / "nats.log")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with fresh_postgres_database() as database_url:
            env = {**os.environ, "POSLEDGER_DATABASE_URL": database_url, "POSLEDGER_ADMIN_TOKEN": ADMIN,
                   "POSLEDGER_EXTERNAL_WORKERS": "1", "POSLEDGER_PARTITIONS": "8", "POSLEDGER_NATS_URL": nats_url}
            subprocess.run([*CLI, "db", "upgrade"], env=env, check=True, capture_output=True)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            for args, log in ((["serve", "--port", str(port)], "serve.log"), (["worker"], "w1.log"),
                              (["worker"], "w2.log")):
                with (tmp_path / log).open("ab") as sink:
                    processes.append(subprocess.Popen([*CLI, *args], env=env, stdout=sink, stderr=sink))
            wait_ready(url)
            simulator = subprocess.Popen(
                [*CLI, "simulate", "--url", url, "--token", ADMIN, "--stores", "4", "--registers", "2", "--rate",
                 "150", "--duration", "8", "--outbox", str(tmp_path / "outbox.db"), "--json", "--chaos",
                 "--drain-timeout", "90"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=os.environ.copy())
            processes.append(simulator)
            time.sleep(3)
            nats_process.send_signal(signal.SIGKILL)
            nats_process.wait()
            time.sleep(1.5)
            nats_process = start_nats(nats_port, tmp_path / "jetstream", tmp_path / "nats.log")
            output, _ = simulator.communicate(timeout=150)
            summary = json.loads(output)
            assert summary["backlog"] == 0 and summary["rejected"] == 0, summary
            # Nothing left to post, and nothing left for the relay to hand to NATS.
            wait_until_posted(database_url, "status = 'accepted' OR \"offset\" IN "
                                            "(SELECT \"offset\" FROM unpublished_events)")
            assert all(process.poll() is None for process in processes[:3]), "no process died of the NATS restart"
            with psycopg.connect(database_url) as connection:
                statuses = dict(connection.execute("SELECT event_id, status FROM events").fetchall())
                doubled = connection.execute("SELECT COUNT(*) FROM (SELECT event_id FROM journal_entries "
                                             "WHERE entry_no = 1 GROUP BY event_id HAVING COUNT(*) > 1) d").fetchone()
            import sqlite3

            with sqlite3.connect(tmp_path / "outbox.db") as outbox:
                sold = {row[0] for row in outbox.execute("SELECT event_id FROM outbox")}
            assert sold <= set(statuses) and all(s == "posted" for s in statuses.values())
            assert doubled == (0,)
            assert asyncio.run(_stream_messages(nats_url)) == len(statuses), "one message per event"
            check = subprocess.run([*CLI, "check"], env=env, capture_output=True, text=True)
            assert check.returncode == 0, check.stdout + check.stderr
            stop_processes(processes)
    finally:
        stop_processes([*processes, nats_process])

