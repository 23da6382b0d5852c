"""Backends the shared contract suite runs on: SQLite, and PostgreSQL on the local server.

PostgreSQL: ``POSLEDGER_TEST_DATABASE_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each test gets a schema of its own, dropped afterwards. Where the server is down the PostgreSQL
cases skip with the reason, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from posledger.adapters.sqlite import SqliteUnitOfWork
from tests.support.builders import MASTER, reset_sequences
from tests.support.harness import Hub, make_hub

POSTGRES_URL = os.environ.get("POSLEDGER_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_or_skip() -> None:
    import psycopg

    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.OperationalError as error:
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is required under CI and is not reachable: {error}") from error
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")


@contextmanager
def fresh_postgres_schema() -> Iterator[Any]:
    """A PostgresUnitOfWork on a schema of its own, dropped afterwards."""
    import psycopg

    from posledger.adapters.postgres import PostgresUnitOfWork, upgrade

    schema = f"t_{uuid.uuid4().hex[:12]}"
    upgrade(POSTGRES_URL, schema=schema)
    uow = PostgresUnitOfWork(POSTGRES_URL, schema=schema)
    try:
        yield uow
    finally:
        uow.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "sqlite":
        uow: Any = SqliteUnitOfWork(tmp_path / "contract.db")
        yield uow
        uow.close()
        return
    postgres_or_skip()
    with fresh_postgres_schema() as uow:
        yield uow


@pytest.fixture
def hub(backend: Any) -> Hub:
    reset_sequences()
    hub = make_hub(backend)
    hub.load(MASTER)
    return hub
