"""A real ``posledger serve`` process on a free port, with a fresh database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.builders import MASTER

ADMIN = "test-admin-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    db: Path
    process: subprocess.Popen[bytes]
    tokens: dict[str, str]

    def client(self, role: str | None = "admin") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def wait_posted(self, event_id: str, timeout: float = 10) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                body = client.get(f"/v1/events/{event_id}").json()
                if body.get("status") in ("posted", "exception") or time.monotonic() > deadline:
                    return dict(body)
                time.sleep(0.05)


def start_server(db: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    env = {**os.environ, "POSLEDGER_DB": str(db), "POSLEDGER_ADMIN_TOKEN": ADMIN}
    log = db.with_suffix(".log")
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "posledger.entrypoints.cli", "serve", "--port", str(port)],
            env=env, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
    process.kill()
    raise RuntimeError("server did not become ready")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    db = tmp_path / "server.db"
    process, url = start_server(db)
    tokens = {"admin": ADMIN}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"}) as admin:
        assert admin.post("/v1/master-data", json=MASTER).status_code == 200
        for role, store in (("device", "S1"), ("manager", "S1"), ("finance", None)):
            response = admin.post("/v1/tokens", json={"role": role, "store_id": store, "name": role})
            assert response.status_code == 201, response.text
            tokens[role] = response.json()["token"]
        tokens["device_s2"] = admin.post("/v1/tokens", json={"role": "device", "store_id": "S2"}).json()["token"]
        tokens["manager_s2"] = admin.post("/v1/tokens", json={"role": "manager", "store_id": "S2"}).json()["token"]
    tokens[None] = ""  # type: ignore[index]
    yield Server(url, db, process, tokens)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
