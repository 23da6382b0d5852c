"""The register's outbox: a sale is complete once it is in here (on disk), whatever the hub does.

One SQLite file for the whole simulated fleet; each register reads its own rows in ``seq``
order. Rows stay after they are sent (``sent_at``), so a test can compare what the fleet sold
with what the hub posted."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from pathlib import Path
from typing import Any


class Outbox:
    def __init__(self, path: str | Path) -> None:
        self._connection = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS outbox (event_id TEXT PRIMARY KEY, register_id TEXT NOT NULL,"
            " seq INTEGER NOT NULL, body TEXT NOT NULL, created_at REAL NOT NULL, sent_at REAL,"
            " result TEXT)")
        self._connection.execute("CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (register_id, sent_at, seq)")
        self._connection.execute("CREATE TABLE IF NOT EXISTS fleet (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT)")
        self._connection.execute("INSERT INTO fleet (id, name) VALUES (1, ?) ON CONFLICT (id) DO NOTHING",
                                 (secrets.token_hex(3).upper(),))
        self.fleet_name: str = self._connection.execute("SELECT name FROM fleet").fetchone()[0]
        self._lock = threading.Lock()

    def add(self, events: list[dict[str, Any]], now: float) -> None:
        with self._lock:
            self._connection.execute("BEGIN")
            self._connection.executemany(
                "INSERT INTO outbox (event_id, register_id, seq, body, created_at) VALUES (?, ?, ?, ?, ?)",
                [(e["event_id"], e["register_id"], e["seq"], json.dumps(e), now) for e in events])
            self._connection.execute("COMMIT")

    def pending(self, register_id: str, limit: int) -> list[tuple[str, str]]:
        """(event_id, JSON text) of the register's unsent events, in seq order. The text goes
        on the wire as stored: no decoding and re-encoding."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT event_id, body FROM outbox WHERE register_id = ? AND sent_at IS NULL ORDER BY seq LIMIT ?",
                (register_id, limit)).fetchall()
        return [(row[0], row[1]) for row in rows]

    def sent(self, register_id: str, limit: int) -> list[tuple[str, str]]:
        """Events already sent, for chaos: a register that resends."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT event_id, body FROM outbox WHERE register_id = ? AND sent_at IS NOT NULL "
                "ORDER BY random() LIMIT ?", (register_id, limit)).fetchall()
        return [(row[0], row[1]) for row in rows]

    def mark(self, results: list[tuple[str, str]], now: float) -> None:
        """Mark events answered. Losing this mark in a power cut only means a resend, which
        the hub answers ``duplicate``; so it skips the fsync that ``add`` must do."""
        with self._lock:
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.execute("BEGIN")
            self._connection.executemany("UPDATE outbox SET sent_at = ?, result = ? WHERE event_id = ?",
                                         [(now, result, event_id) for event_id, result in results])
            self._connection.execute("COMMIT")
            self._connection.execute("PRAGMA synchronous=FULL")

    def backlog(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT COALESCE(result, 'pending'), COUNT(*) FROM outbox GROUP BY 1").fetchall()
        return {row[0]: int(row[1]) for row in rows}

    def event_ids(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._connection.execute("SELECT event_id FROM outbox")}

    def last_seq(self, register_id: str) -> int:
        with self._lock:
            row = self._connection.execute("SELECT MAX(seq) FROM outbox WHERE register_id = ?",
                                           (register_id,)).fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        self._connection.close()
