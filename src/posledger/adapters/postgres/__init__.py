"""PostgreSQL backend: the same SQL repositories over psycopg 3."""

from posledger.adapters.postgres.store import PostgresUnitOfWork

__all__ = ["PostgresUnitOfWork"]
