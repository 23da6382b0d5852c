"""Versioned schema migrations, shared by the SQLite and PostgreSQL adapters.

Each backend keeps its migrations as ``migrations/NNNN_name.sql`` in its package. A database
records every version applied in ``schema_version`` (one row each); its schema version is the
highest. Migrations are applied in order, each in its own transaction together with its row in
``schema_version``, so an upgrade that stops half way leaves the database at a version, never
between two. Migrations only add (tables, columns with defaults, indexes): a process of the
previous release keeps working on the upgraded schema until it is replaced (expand, then
contract in a later release).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


class SchemaMismatch(Exception):
    """The database's schema is not the one this posledger was built for. A restart does not fix
    this; the message names what does."""

    def __init__(self, found: int, expected: int) -> None:
        self.found = found
        self.expected = expected
        if found < expected:
            what = "has no posledger schema" if found == 0 else f"is at schema version {found}"
            message = (f"the database {what}; this posledger needs version {expected}: "
                       f"run `posledger db upgrade`")
        else:
            message = (f"the database is at schema version {found}, newer than this posledger knows "
                       f"({expected}): run a posledger release that knows version {found} "
                       f"(`posledger db status` shows the versions)")
        super().__init__(message)


def load_migrations(package: str) -> list[Migration]:
    """The migrations shipped in ``package``'s ``migrations`` folder, in version order. Versions
    start at 1 and have no gaps (a gap is a packaging mistake and refused here)."""
    folder = resources.files(package).joinpath("migrations")
    migrations = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match[1]), match[2], entry.read_text()))
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"{package}: migration versions must run 1, 2, 3... without gaps; found {versions}")
    return migrations


def pending(migrations: list[Migration], current: int) -> list[Migration]:
    return [migration for migration in migrations if migration.version > current]


def sqlite_statements(script: str) -> list[str]:
    """Split a SQLite script into whole statements (triggers' BEGIN ... END included), so that a
    migration can run statement by statement inside a transaction of ours:
    ``executescript`` would commit first."""
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(line.strip().startswith("--") or not line.strip()
                                  for line in buffer.splitlines()):
        raise ValueError(f"incomplete statement at the end of the migration: {buffer.strip()[:80]}")
    return statements
