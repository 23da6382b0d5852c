"""The minimal database handle the SQL repositories use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

Row = Sequence[Any]


class Database(Protocol):
    dialect: str  # "sqlite" or "postgresql": for the few statements that differ

    def fetchone(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...  # rows affected
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> int: ...  # rows affected, summed
    def conflict_errors(self) -> tuple[type[BaseException], ...]: ...  # unique-key violations
    def next_ids(self, table: str, column: str, count: int) -> list[int]: ...  # ``count`` new ids
    # Plain inserts of many rows: SQLite's executemany, PostgreSQL's COPY (one stream, no
    # statement per row).
    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...
    # Inserts of many rows with an ``ON CONFLICT ...`` clause: SQLite, several rows a statement;
    # PostgreSQL, a statement a row in pipeline mode (COPY takes no ON CONFLICT).
    def upsert_many(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                    on_conflict: str) -> None: ...


