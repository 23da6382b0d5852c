"""A real ``posledger serve`` process on a free port, with a fresh database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.builders import MASTER

ADMIN = "test-admin-token-of-32-characters-at-least"


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
    database_url: str | None = None

    def client(self, role: str | None = "admin") -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def wait_posted(self, event_id: str, timeout: float = 10,
                    until: tuple[str, ...] = ("posted", "exception"), store_id: str | None = None) -> dict[str, object]:
        """The event's status once it is one of ``until`` (or whatever it is at the timeout);
        ``store_id`` names its store when another store has used the same id."""
        deadline = time.monotonic() + timeout
        params = {"store_id": store_id} if store_id else {}
        with self.client() as client:
            while True:
                body = client.get(f"/v1/events/{event_id}", params=params).json()
                if body.get("status") in until or time.monotonic() > deadline:
                    return dict(body)
                time.sleep(0.05)


def wait_ready(url: str, timeout: float = 30) -> None:
    """Until the server answers /health at all (200 ready or 503 not yet ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def start_server(db: Path, port: int | None = None, database_url: str | None = None,
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    port = port or free_port()
    env = {**os.environ, "POSLEDGER_DB": str(db), "POSLEDGER_ADMIN_TOKEN": ADMIN, **(extra_env or {})}
    env.pop("POSLEDGER_DATABASE_URL", None)
    if database_url:
        env["POSLEDGER_DATABASE_URL"] = database_url
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


@contextmanager
def fresh_postgres_database(upgraded: bool = True) -> Iterator[str]:
    """A database of its own on the local PostgreSQL server, dropped afterwards; with the
    schema in place (as `posledger db upgrade` leaves it) unless ``upgraded`` is False."""
    import psycopg

    from posledger.adapters.postgres import upgrade
    from tests.contract.conftest import POSTGRES_URL, postgres_or_skip

    postgres_or_skip()
    name = f"posledger_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
        if upgraded:
            upgrade(url)
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def backend_url(name: str) -> Iterator[str | None]:
    if name == "sqlite":
        yield None
    else:
        with fresh_postgres_database() as url:
            yield url


NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def nats_or_skip() -> None:
    if not Path(NATS_SERVER).exists():
        if os.environ.get("CI"):
            raise RuntimeError("nats-server is required under CI")
        pytest.skip("nats-server is not installed")


def start_nats(port: int, store: Path, log: Path) -> subprocess.Popen[bytes]:
    """A private `nats-server -js` on ``port`` with its own store; never the machine's shared one."""
    with log.open("ab") as sink:
        process = subprocess.Popen([NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store)],
                                   stdout=sink, stderr=sink)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nats-server did not start")


def wait_until_posted(database_url: str, condition: str = "status = 'accepted'", timeout: float = 90) -> None:
    """Until no event of the PostgreSQL log matches ``condition`` (default: still to post)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as connection:
            left = connection.execute(f"SELECT COUNT(*) FROM events WHERE {condition}").fetchone()
        if left == (0,):
            return
        time.sleep(0.3)


def stop_processes(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


@pytest.fixture(params=["sqlite", "postgres", "postgres+nats"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with backend_url(request.param) as database_url:
        if request.param != "postgres+nats":
            yield from _serve(tmp_path, database_url)
            return
        nats_or_skip()
        nats_port = free_port()
        nats_process = start_nats(nats_port, tmp_path / "jetstream", tmp_path / "nats.log")
        extra = {"POSLEDGER_NATS_URL": f"nats://127.0.0.1:{nats_port}", "POSLEDGER_EXTERNAL_WORKERS": "1"}
        env = {**os.environ, "POSLEDGER_DATABASE_URL": str(database_url), **extra}
        with (tmp_path / "worker.log").open("ab") as sink:
            worker = subprocess.Popen([sys.executable, "-m", "posledger.entrypoints.cli", "worker", "--poll", "0.1"],
                                      env=env, stdout=sink, stderr=sink)
        try:
            yield from _serve(tmp_path, database_url, extra)
        finally:
            stop_processes([worker, nats_process])


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    """A server on SQLite only: for what is the same on every backend (the OpenAPI document)."""
    yield from _serve(tmp_path, None)


def _serve(tmp_path: Path, database_url: str | None, extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    db = tmp_path / "server.db"
    process, url = start_server(db, database_url=database_url, extra_env=extra_env)
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
    yield Server(url, db, process, tokens, database_url)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
