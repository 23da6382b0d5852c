"""Backends the shared contract suite runs on. PostgreSQL joins with issue 4."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from posledger.adapters.sqlite import SqliteUnitOfWork
from tests.support.builders import MASTER, reset_sequences
from tests.support.harness import Hub, make_hub


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteUnitOfWork]:
    uow = SqliteUnitOfWork(tmp_path / "contract.db")
    yield uow
    uow.close()


@pytest.fixture
def hub(backend: SqliteUnitOfWork) -> Hub:
    reset_sequences()
    hub = make_hub(backend)
    hub.load(MASTER)
    return hub
