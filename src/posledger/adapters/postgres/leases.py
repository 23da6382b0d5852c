"""Partition leases: which posting worker owns which partitions, by PostgreSQL advisory locks.

Each worker holds one session-level advisory lock per partition it owns, on a connection of its
own. If the worker dies (even kill -9) its session ends and PostgreSQL releases the locks, so a
surviving worker takes the partitions over at its next round. Workers aim for a fair share:
``ceil(partitions / live workers)``, live workers being the sessions that carry the workers'
application name; a worker above its share gives partitions back.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg

log = logging.getLogger("posledger.leases")

APPLICATION_NAME = "posledger-worker"
_LOCK_SPACE = 726_253_400  # advisory lock keys: _LOCK_SPACE + partition


class PartitionLeases:
    def __init__(self, url: str, partitions: int) -> None:
        self._url = url
        self._partitions = partitions
        self._connection: psycopg.Connection[Any] | None = None
        self.owned: set[int] = set()

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed or self._connection.broken:
            if self.owned:
                log.warning("lease connection lost: partitions %s are no longer held", sorted(self.owned))
            self.owned.clear()
            self._connection = psycopg.connect(self._url, autocommit=True, application_name=APPLICATION_NAME)
        return self._connection

    def rebalance(self) -> set[int]:
        """Take free partitions up to a fair share; give back any above it. Returns the owned set."""
        try:
            connection = self._connect()
            # Workers of this database only: another deployment's on the same server is not a peer.
            row = connection.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = %s "
                                     "AND datname = current_database()", (APPLICATION_NAME,)).fetchone()
            workers = max(1, int(row[0]) if row else 1)
            share = math.ceil(self._partitions / workers)
            for partition in sorted(self.owned)[share:]:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_SPACE + partition,))
                self.owned.discard(partition)
            for partition in range(self._partitions):
                if len(self.owned) >= share:
                    break
                if partition in self.owned:
                    continue
                taken = connection.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_SPACE + partition,)).fetchone()
                if taken and taken[0]:
                    self.owned.add(partition)
        except psycopg.Error as error:  # the locks went with the session; take them again next round
            log.warning("could not renew partition leases (%s); retrying next round",
                        str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)
            self.owned.clear()
            if self._connection is not None:
                self._connection.close()
            self._connection = None
        return set(self.owned)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.owned.clear()
