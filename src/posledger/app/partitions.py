"""Posting partitions: every store belongs to one partition, and one posting worker at a time
owns a partition, so each store's events are posted in order while stores post in parallel.

The number of partitions is fixed for the life of a deployment (it is stored on every event):
choose it generously (default 16) so that it exceeds the number of workers you will ever run.
"""

from __future__ import annotations

import zlib

__all__ = ["DEFAULT_PARTITIONS", "partition_of"]

DEFAULT_PARTITIONS = 16


def partition_of(store_id: str, partitions: int = DEFAULT_PARTITIONS) -> int:
    return zlib.crc32(store_id.encode()) % partitions
