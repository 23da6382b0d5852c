"""The batch path for stores that sync once a day: a JSON Lines file of events.

Lines are read in chunks; each chunk is validated, then appended and posted in one
transaction (``ingest_and_post``). A bad line is reported with its number and field and the good lines around it are
kept. Re-running the same file posts nothing twice: every line comes back ``duplicate``.
A crash (even SIGKILL) loses nothing that was committed, and the next run (or
``posledger post``) posts whatever had been accepted but not yet posted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from posledger.app.clock import Clock
from posledger.app.collector import collector_paused
from posledger.app.event_cache import EventCache
from posledger.app.ingest import IngestResult, append, check, ingest
from posledger.app.partitions import DEFAULT_PARTITIONS
from posledger.app.ports import UnitOfWorkFactory
from posledger.app.posting import PostingEngine, PostingReport

__all__ = ["LineProblem", "ImportReport", "import_lines", "ingest_and_post"]

logger = logging.getLogger(__name__)

_JSON = msgspec.json.Decoder()


@dataclass(frozen=True, slots=True)
class LineProblem:
    line_no: int
    event_id: str | None
    status: str  # rejected | conflict
    type: str
    field: str | None
    detail: str


@dataclass(slots=True)
class ImportReport:
    lines: int = 0
    accepted: int = 0
    duplicate: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    posting: PostingReport = field(default_factory=PostingReport)


def import_lines(uow_factory: UnitOfWorkFactory, engine: PostingEngine, lines: Iterable[str], *,
                 clock: Clock, chunk_size: int = 1000, cache: EventCache | None = None, partitions: int = 16,
                 progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """``progress(lines_done, bytes_done)`` is called after each chunk."""
    report = ImportReport()
    chunk: list[tuple[int, Any]] = []  # line number, decoded
    consumed_bytes = 0

    def flush() -> None:
        if chunk:
            _ingest_chunk(uow_factory, engine, chunk, clock, report, cache, partitions)
            chunk.clear()
        else:
            report.posting.add(engine.run())  # whatever an earlier, interrupted run left
        if progress is not None:
            progress(report.lines, consumed_bytes)

    for line_no, line in enumerate(lines, start=1):
        consumed_bytes += len(line.encode()) if isinstance(line, str) else len(line)
        report.lines = line_no
        if not line.strip():
            continue
        try:
            chunk.append((line_no, _JSON.decode(line)))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            report.problems.append(LineProblem(line_no, None, "rejected", "invalid_json", "(body)",
                                               f"not valid JSON: {error}"))
        if len(chunk) >= chunk_size:
            flush()
    flush()
    return report


def _ingest_chunk(uow_factory: UnitOfWorkFactory, engine: PostingEngine, chunk: list[tuple[int, Any]],
                  clock: Clock, report: ImportReport, cache: EventCache | None, partitions: int) -> None:
    results, posting = ingest_and_post(uow_factory, engine, [document for _, document in chunk], clock=clock,
                                       source="import", cache=cache, partitions=partitions)
    report.posting.add(posting)
    for (line_no, _), result in zip(chunk, results, strict=True):
        if result.status == "accepted":
            report.accepted += 1
        elif result.status == "duplicate":
            report.duplicate += 1
        else:
            problem = result.problem
            assert problem is not None
            report.problems.append(LineProblem(line_no, result.event_id, result.status, problem.type,
                                               problem.field, problem.detail))


def ingest_and_post(uow_factory: UnitOfWorkFactory, engine: PostingEngine, documents: list[Any], *,
                    clock: Clock, source: str, cache: EventCache | None = None,
                    partitions: int = DEFAULT_PARTITIONS) -> tuple[list[IngestResult], PostingReport]:
    """A chunk appended and posted in one transaction when the log allows it (SQLite, nothing
    pending before it: ``PostingEngine.append_and_post``), one commit for the chunk. Otherwise,
    or if that transaction fails for good, appended in one transaction and then posted in
    transactions of their own, so a posting failure never undoes what was accepted."""
    with collector_paused():
        checked = check(documents, clock.now(), source)
    try:
        together = engine.append_and_post(
            lambda uow: (*append(uow, checked, partitions=partitions, posted=True), checked.now))
    except Exception:  # posting failed (or ran out of tries): accept the chunk apart, then post as usual
        logger.exception("posting a chunk with its append failed; appending it apart")
        together = None
    if together is not None:
        results, posting = together
        if posting.more:  # it released parked events (a void whose sale came in the chunk)
            posting.add(engine.run())
        return results, posting
    results = ingest(uow_factory, documents, clock=clock, source=source, cache=cache, partitions=partitions)
    return results, engine.run()
