"""The composition root: the one place that picks adapters from settings."""

from __future__ import annotations

from dataclasses import dataclass

from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.app.clock import Clock, SystemClock
from posledger.app.event_cache import EventCache
from posledger.app.ports import UnitOfWorkFactory
from posledger.app.posting import PostingEngine
from posledger.config import Settings


@dataclass
class App:
    settings: Settings
    uow: UnitOfWorkFactory
    clock: Clock
    engine: PostingEngine
    cache: EventCache

    def close(self) -> None:
        close = getattr(self.uow, "close", None)
        if close is not None:
            close()


def bootstrap(settings: Settings | None = None, clock: Clock | None = None) -> App:
    settings = settings or Settings.from_env()
    clock = clock or SystemClock()
    uow: UnitOfWorkFactory
    if settings.database_url:
        from posledger.adapters.postgres import PostgresUnitOfWork

        uow = PostgresUnitOfWork(settings.database_url)
    else:
        uow = SqliteUnitOfWork(settings.db_path)
    cache = EventCache()
    engine = PostingEngine(uow, clock, batch_size=settings.batch_size, cache=cache)
    return App(settings, uow, clock, engine, cache)
