"""One Settings object, read once from the environment. No work at import time."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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
    startup_timeout: float = 120.0  # seconds to wait for an unreachable database at start-up
    posting_process: bool = True  # `serve` posts in a child process (a core of its own), not a thread
    # Per token and server process: sustained requests a second and the burst above it (0: no
    # limit). A busy store sends a few requests a second; these are far above that.
    rate_limit: float = 100.0
    rate_burst: int = 500
    max_connections: int = 1000  # concurrent connections per server process; more get 503
    access_log: bool = True  # `serve` writes a JSON line per request to stderr

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The environment, over the config file named by ``POSLEDGER_CONFIG`` (or
        ``./posledger.toml`` when it exists). The file holds the same keys: TOML
        (``POSLEDGER_DATABASE_URL = "postgresql://..."``) or ``KEY=VALUE`` lines."""
        base = os.environ if environ is None else environ
        env = with_secret_files({**read_config_file(base.get("POSLEDGER_CONFIG")), **base})
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
            startup_timeout=float(env.get("POSLEDGER_STARTUP_TIMEOUT", "120")),
            posting_process=env.get("POSLEDGER_POSTING_PROCESS", "1").lower() not in ("0", "false", "no"),
            rate_limit=float(env.get("POSLEDGER_RATE_LIMIT", "100")),
            rate_burst=int(env.get("POSLEDGER_RATE_BURST", "500")),
            max_connections=int(env.get("POSLEDGER_MAX_CONNECTIONS", "1000")),
            access_log=env.get("POSLEDGER_ACCESS_LOG", "1").lower() not in ("0", "false", "no"),
        )


# Each setting's environment variable (also its key in posledger.toml): `posledger config show`
# lists them with their effective values, docs/operations/running.md explains each.
VARIABLES: dict[str, str] = {
    "db_path": "POSLEDGER_DB", "database_url": "POSLEDGER_DATABASE_URL", "nats_url": "POSLEDGER_NATS_URL",
    "batch_size": "POSLEDGER_BATCH_SIZE", "server_batch_size": "POSLEDGER_SERVER_BATCH_SIZE",
    "admin_token": "POSLEDGER_ADMIN_TOKEN", "partitions": "POSLEDGER_PARTITIONS",
    "external_workers": "POSLEDGER_EXTERNAL_WORKERS", "max_body_bytes": "POSLEDGER_MAX_BODY_BYTES",
    "startup_timeout": "POSLEDGER_STARTUP_TIMEOUT", "posting_process": "POSLEDGER_POSTING_PROCESS",
    "rate_limit": "POSLEDGER_RATE_LIMIT", "rate_burst": "POSLEDGER_RATE_BURST",
    "max_connections": "POSLEDGER_MAX_CONNECTIONS", "access_log": "POSLEDGER_ACCESS_LOG",
}

SECRETS = ("POSLEDGER_DATABASE_URL", "POSLEDGER_ADMIN_TOKEN", "POSLEDGER_NATS_URL")


def shown(settings: Settings) -> dict[str, object]:
    """The effective settings by variable name, secrets hidden: a token as whether it is set and
    its length, a URL without its password."""
    found: dict[str, object] = {}
    for name, variable in VARIABLES.items():
        value = getattr(settings, name)
        if variable == "POSLEDGER_ADMIN_TOKEN":
            value = None if value is None else f"(set, {len(value)} characters)"
        elif variable in SECRETS and isinstance(value, str):
            value = re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", value)
        found[variable] = value
    return found


def with_secret_files(env: Mapping[str, str]) -> dict[str, str]:
    """``POSLEDGER_ADMIN_TOKEN_FILE=/run/secrets/admin_token`` and the like: a secret read from a
    file (Docker and systemd credentials), never written in a unit or compose file. The variable
    itself wins when both are set."""
    resolved = dict(env)
    for key in SECRETS:
        path = env.get(f"{key}_FILE")
        if path and not env.get(key):
            try:
                resolved[key] = Path(path).read_text().strip()
            except OSError as error:
                raise SystemExit(f"{key}_FILE names {path}, which cannot be read: {error.strerror}") from None
    return resolved


def read_config_file(path: str | None) -> dict[str, str]:
    """Keys from a config file; a missing default file is no error, a missing named one is."""
    candidate = Path(path) if path else Path("posledger.toml")
    if not candidate.exists():
        if path:
            raise SystemExit(f"POSLEDGER_CONFIG names {path}, which does not exist")
        return {}
    text = candidate.read_text()
    if candidate.suffix == ".toml":
        return {str(key): str(value) for key, value in tomllib.loads(text).items()}
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values
