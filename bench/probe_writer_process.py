"""Probe (issue 7): what a writer process would take off the posting process.

Runs `./dev bench`'s import of N sales and times, per event, what a writer process would do
instead of the posting process (the ledger's writes, the events append, the commit) and what
shipping each batch's rows would cost: the posting process pickling its PostingWrites, the
writer unpickling them. Prints both sides' µs per event; the slower side bounds a pipeline of
the two. Never passes or fails.

    .venv/bin/python bench/probe_writer_process.py 200000
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_posting  # noqa: E402

from posledger.adapters.sql.repositories import SqlEventLog, SqlLedger  # noqa: E402
from posledger.adapters.sql.unit_of_work import SqlUnitOfWork  # noqa: E402

SECONDS = {"write": 0.0, "append": 0.0, "commit": 0.0, "pickle": 0.0, "unpickle": 0.0}


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args)
        finally:
            SECONDS[name] += time.perf_counter() - started
    return timed


def _shipped(write: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    def shipped(ledger: Any, writes: Any) -> None:
        started = time.perf_counter()
        blob = pickle.dumps(writes, protocol=pickle.HIGHEST_PROTOCOL)
        SECONDS["pickle"] += time.perf_counter() - started
        started = time.perf_counter()
        pickle.loads(blob)
        SECONDS["unpickle"] += time.perf_counter() - started
        write(ledger, writes)
    return shipped


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    SqlLedger.write = _shipped(_timed("write", SqlLedger.write))  # type: ignore[method-assign]
    SqlEventLog.append_many = _timed("append", SqlEventLog.append_many)  # type: ignore[method-assign]
    SqlUnitOfWork.commit = _timed("commit", SqlUnitOfWork.commit)  # type: ignore[method-assign]
    result = bench_posting.run(n, 1000, False, committed_apart=False)  # the writes in this process, to time
    total = result["seconds"] - SECONDS["pickle"] - SECONDS["unpickle"]
    moved = SECONDS["write"] + SECONDS["append"] + SECONDS["commit"]
    print(result)
    print({name: round(seconds / n * 1e6, 1) for name, seconds in SECONDS.items()}, "µs/event;",
          "posting process now", round(total / n * 1e6, 1))
    print("with a writer process: posting", round((total - moved + SECONDS["pickle"]) / n * 1e6, 1),
          "µs/event, writer", round((moved + SECONDS["unpickle"]) / n * 1e6, 1), "µs/event")


if __name__ == "__main__":  # the checking child (spawn) imports this module again
    main()
