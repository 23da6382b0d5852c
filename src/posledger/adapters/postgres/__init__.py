"""PostgreSQL backend: the same SQL repositories over psycopg 3."""

from posledger.adapters.postgres.store import PostgresUnitOfWork, upgrade

__all__ = ["PostgresUnitOfWork", "upgrade"]
