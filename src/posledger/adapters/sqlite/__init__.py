"""The embedded default backend: one SQLite file in WAL mode."""

from posledger.adapters.sqlite.store import SqliteDatabase, SqliteUnitOfWork, open_sqlite

__all__ = ["SqliteDatabase", "SqliteUnitOfWork", "open_sqlite"]
