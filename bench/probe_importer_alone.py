"""Probe (issue 7): the importer's own ceiling in the pipeline.

Runs `./dev bench`'s import of N sales with a writer that stores nothing: each chunk is planned
and encoded as usual, and every acknowledgement comes at the end (so the chunks' overlays stand
in for the database). What it prints is the rate the pipeline could reach if committing cost
nothing: the importer and the checker alone. Never passes or fails.

    .venv/bin/python bench/probe_importer_alone.py 100000
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_posting  # noqa: E402

from posledger.app import batch_import  # noqa: E402
from posledger.app.pipeline import ChunkAck, ChunkWrites  # noqa: E402


class NullWriter:
    """A ``ChunkWriter`` that encodes what it is sent, as the real one's pipe needs, and keeps nothing."""

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._numbers: list[int] = []

    def fence(self) -> None:
        pass

    def send(self, writes: ChunkWrites) -> None:
        self._encoder.encode(writes)
        self._numbers.append(writes.number)

    def acks(self, *, wait: bool) -> list[ChunkAck]:
        if not wait:
            return []
        acks, self._numbers = [ChunkAck(number) for number in self._numbers], []
        return acks

    def close(self) -> None:
        pass


@contextmanager
def _null_writer(uow: Any, source: Path) -> Iterator[NullWriter]:
    yield NullWriter()


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    batch_import._PipelinedImport.IN_FLIGHT = 10**9  # never wait for an acknowledgement
    bench_posting.chunk_writer = _null_writer  # type: ignore[assignment]
    result = bench_posting.run(n, 1000, False)
    print({key: result[key] for key in ("n", "events_per_second", "cpu_us_per_event", "children_cpu_us_per_event")})


if __name__ == "__main__":  # the checking child (spawn) imports this module again
    main()
