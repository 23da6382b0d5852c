"""The composition root: the one place that picks adapters from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.app.clock import Clock, SystemClock
from posledger.app.event_cache import EventCache
from posledger.app.ports import UnitOfWorkFactory
from posledger.app.posting import PostingEngine
from posledger.app.retry import RetryLog
from posledger.config import Settings


@dataclass
class App:
    settings: Settings
    uow: UnitOfWorkFactory
    clock: Clock
    engine: PostingEngine
    cache: EventCache
    retries: RetryLog = field(default_factory=RetryLog)

    def schema_version(self) -> int:
        """The database's schema version, read now."""
        return self.uow.current_schema_version()

    def close(self) -> None:
        close = getattr(self.uow, "close", None)
        if close is not None:
            close()


def bootstrap(settings: Settings | None = None, clock: Clock | None = None,
              say: Callable[[str], None] | None = None, process: str = "posledger") -> App:
    """Open the configured database (waiting for it, and for a running schema upgrade, as
    long as ``settings.startup_timeout`` allows) and wire the use cases. ``process`` names the
    process to the database (PostgreSQL's application_name: `posledger serve`...). Raises
    ``SchemaMismatch`` when the database is not at this release's schema version."""
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    retries = RetryLog()
    uow: UnitOfWorkFactory
    if settings.database_url:
        from posledger.adapters.postgres import PostgresUnitOfWork

        uow = PostgresUnitOfWork(settings.database_url, retries=retries, startup_timeout=settings.startup_timeout,
                                 say=say, application_name=process, transport_backlog=bool(settings.nats_url))
    else:
        uow = SqliteUnitOfWork(settings.db_path, retries=retries, transport_backlog=bool(settings.nats_url))
    cache = EventCache()
    engine = PostingEngine(uow, clock, batch_size=settings.batch_size, cache=cache)
    return App(settings, uow, clock, engine, cache, retries)


def upgrade_database(settings: Settings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """``posledger db upgrade``: apply the pending migrations to the configured database."""
    if settings.database_url:
        from posledger.adapters.postgres import store as postgres

        report = postgres.upgrade(settings.database_url, progress=progress)
        return {"before": report.before, "after": report.after, "applied": report.applied}
    from posledger.adapters.sqlite import store as sqlite

    connection = sqlite.connect(settings.db_path)
    try:
        before = sqlite.current_version(connection)
        applied = sqlite.upgrade(connection, progress=progress)
        return {"before": before, "after": sqlite.current_version(connection), "applied": applied}
    finally:
        connection.close()


def schema_status(settings: Settings) -> dict[str, Any]:
    """``posledger db status``: the database's schema version against this release's."""
    if settings.database_url:
        from posledger.adapters.postgres import store as postgres

        return postgres.status(settings.database_url)
    from posledger.adapters.sql.migrations import pending
    from posledger.adapters.sqlite import store as sqlite

    found = 0
    if Path(settings.db_path).exists():  # a status check creates no file
        connection = sqlite.connect(settings.db_path)
        try:
            found = sqlite.current_version(connection)
        finally:
            connection.close()
    migrations = list(sqlite.sqlite_migrations())
    return {"database": found, "expected": migrations[-1].version,
            "pending": [m.label for m in pending(migrations, found)], "upgrade_running": False}
