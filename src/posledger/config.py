"""One Settings object, read once from the environment. No work at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: str = "posledger.db"
    database_url: str | None = None
    nats_url: str | None = None
    batch_size: int = 500
    server_batch_size: int = 100  # smaller in the server: a posting batch holds the write lock
    admin_token: str | None = None
    partitions: int = 16  # fixed for the life of a deployment (stored on every event)
    external_workers: bool = False  # `serve` leaves posting to `posledger worker` processes
    max_body_bytes: int = 8 * 2**20

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            db_path=env.get("POSLEDGER_DB", "posledger.db"),
            database_url=env.get("POSLEDGER_DATABASE_URL") or None,
            nats_url=env.get("POSLEDGER_NATS_URL") or None,
            batch_size=int(env.get("POSLEDGER_BATCH_SIZE", "500")),
            server_batch_size=int(env.get("POSLEDGER_SERVER_BATCH_SIZE", "100")),
            admin_token=env.get("POSLEDGER_ADMIN_TOKEN") or None,
            partitions=int(env.get("POSLEDGER_PARTITIONS", "16")),
            external_workers=env.get("POSLEDGER_EXTERNAL_WORKERS", "").lower() in ("1", "true", "yes"),
            max_body_bytes=int(env.get("POSLEDGER_MAX_BODY_BYTES", str(8 * 2**20))),
        )
