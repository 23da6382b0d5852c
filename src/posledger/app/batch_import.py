"""The batch path for stores that sync once a day: a JSON Lines file of events.

Lines are read in chunks; each chunk is validated, then appended and posted in one
transaction (``ingest_and_post``). A bad line is reported with its number and field and the good lines around it are
kept. Re-running the same file posts nothing twice: every line comes back ``duplicate``.
A crash (even SIGKILL) loses nothing that was committed, and the next run (or
``posledger post``) posts whatever had been accepted but not yet posted.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import msgspec

from posledger.app.clock import Clock
from posledger.app.collector import collector_paused
from posledger.app.event_cache import EventCache
from posledger.app.ingest import Checked, FieldError, IngestResult, append, check, ingest_checked
from posledger.app.partitions import DEFAULT_PARTITIONS
from posledger.app.pipeline import (
    ChunkAck,
    ChunkWriter,
    ChunkWrites,
    InFlight,
    NotPipelinable,
    RecordingUnitOfWork,
    WriterStopped,
)
from posledger.app.ports import UnitOfWork, UnitOfWorkFactory
from posledger.app.posting import CONSUMER, PostingEngine, PostingReport

__all__ = ["LineProblem", "ImportReport", "CheckedChunk", "check_chunk", "checked_chunks", "import_lines",
           "import_checked", "ingest_and_post", "post_checked"]

logger = logging.getLogger(__name__)

_JSON = msgspec.json.Decoder()


class LineProblem(msgspec.Struct, frozen=True):
    line_no: int
    event_id: str | None
    status: str  # rejected | conflict
    type: str
    field: str | None
    detail: str
    errors: tuple[FieldError, ...] = ()  # every field error of the line, when it has several

    def each(self) -> list[FieldError]:
        """Every error of the line: ``errors``, or the one."""
        return list(self.errors) or [FieldError(self.field or "(body)", self.type, self.detail)]


@dataclass(slots=True)
class ImportReport:
    lines: int = 0
    accepted: int = 0
    duplicate: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    posting: PostingReport = field(default_factory=PostingReport)


class CheckedChunk(msgspec.Struct, frozen=True):
    """What ``check_chunk`` made of up to ``chunk_size`` non-blank lines of the input: the lines
    that are not JSON, the line number of each document passed to ``check`` with what it made
    of them, and how far into the input (lines and bytes) the chunk ends."""

    not_json: list[LineProblem]
    line_nos: list[int]
    checked: Checked
    last_line_no: int
    consumed_bytes: int


def check_chunk(lines: list[tuple[int, str | bytes]], source: str, last_line_no: int,
                consumed_bytes: int) -> CheckedChunk:
    """Decode and validate one chunk (no IO, no state: it may run in another process). The
    result is stamped with the time it is appended (``Checked.at``), not the time it was checked."""
    with collector_paused():
        not_json, line_nos, documents = [], [], []
        for line_no, line in lines:
            try:
                documents.append(_JSON.decode(line))
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
                not_json.append(LineProblem(line_no, None, "rejected", "invalid_json", "(body)",
                                            f"not valid JSON: {error}"))
                continue
            line_nos.append(line_no)
        return CheckedChunk(not_json, line_nos, check(documents, "", source), last_line_no, consumed_bytes)


def checked_chunks(lines: Iterable[str | bytes], chunk_size: int, source: str, *, first_line_no: int = 1,
                   consumed_bytes: int = 0) -> Iterator[CheckedChunk]:
    """The input checked in chunks of ``chunk_size`` non-blank lines, here, in order; the last
    chunk may be short or empty. ``first_line_no``, ``consumed_bytes``: where ``lines`` starts
    in the input (a checker that takes over from another part-way)."""
    chunk: list[tuple[int, str | bytes]] = []
    consumed = consumed_bytes
    line_no = first_line_no - 1
    for line_no, line in enumerate(lines, start=first_line_no):
        consumed += len(line.encode()) if isinstance(line, str) else len(line)
        if line.strip():
            chunk.append((line_no, line))
            if len(chunk) >= chunk_size:
                yield check_chunk(chunk, source, line_no, consumed)
                chunk = []
    yield check_chunk(chunk, source, line_no, consumed)


def import_lines(uow_factory: UnitOfWorkFactory, engine: PostingEngine, lines: Iterable[str | bytes], *,
                 clock: Clock, chunk_size: int = 1000, cache: EventCache | None = None, partitions: int = 16,
                 progress: Callable[[int, int], None] | None = None) -> ImportReport:
    """``progress(lines_done, bytes_done)`` is called after each chunk."""
    return import_checked(uow_factory, engine, checked_chunks(lines, chunk_size, "import"), clock=clock,
                          cache=cache, partitions=partitions, progress=progress)


def import_checked(uow_factory: UnitOfWorkFactory, engine: PostingEngine, chunks: Iterable[CheckedChunk], *,
                   clock: Clock, cache: EventCache | None = None, partitions: int = 16,
                   progress: Callable[[int, int], None] | None = None,
                   writer: ChunkWriter | None = None) -> ImportReport:
    """Checked chunks (``checked_chunks``, or a checker in another process) appended and posted in
    order. ``progress(lines_done, bytes_done)`` is called after each chunk. ``writer``: a process
    that commits each chunk while this one computes the next (``app.pipeline``)."""
    if writer is not None:
        return _PipelinedImport(uow_factory, engine, writer, clock, cache, partitions, progress).run(chunks)
    report = ImportReport()
    for chunk in chunks:
        _post_here(report, uow_factory, engine, chunk, clock, cache, partitions)
        if progress is not None:
            progress(report.lines, chunk.consumed_bytes)
    return report


def _post_here(report: ImportReport, uow_factory: UnitOfWorkFactory, engine: PostingEngine, chunk: CheckedChunk,
               clock: Clock, cache: EventCache | None, partitions: int) -> None:
    """One chunk appended and posted by this process, counted into ``report``."""
    report.problems.extend(chunk.not_json)
    if chunk.line_nos:
        results, posting = post_checked(uow_factory, engine, chunk.checked.at(clock.now()), cache=cache,
                                        partitions=partitions)
        report.posting.add(posting)
        _count(report, chunk.line_nos, results)
    else:
        report.posting.add(engine.run())  # whatever an earlier, interrupted run left
    report.lines = chunk.last_line_no


@dataclass(slots=True)
class _Sent:
    """A chunk the writer has and has not acknowledged yet, with what it will count for."""

    number: int
    chunk: CheckedChunk
    results: list[IngestResult]
    posting: PostingReport
    first_event: tuple[tuple[str, str], int] | None  # the first event it appends (store, id), its planned offset


class _PipelinedImport:
    """``import_checked`` with a writer process: each chunk planned here (``app.pipeline``) and
    committed there, at most ``IN_FLIGHT`` chunks ahead of the last acknowledged commit.
    Chunks the pipeline cannot carry (see ``NotPipelinable``), or that the writer refused, are
    posted here the usual way, once everything before them is committed."""

    # Four, not two: the writer's commit waits on the disk, and with more planned ahead the
    # importer keeps planning through it (measured, issue 7: +7 % at 100,000 sales; eight gave
    # nothing more).
    IN_FLIGHT = 4

    def __init__(self, uow_factory: UnitOfWorkFactory, engine: PostingEngine, writer: ChunkWriter, clock: Clock,
                 cache: EventCache | None, partitions: int, progress: Callable[[int, int], None] | None) -> None:
        self._uow_factory, self._engine, self._writer = uow_factory, engine, writer
        self._clock, self._cache, self._partitions, self._progress = clock, cache, partitions, progress
        self._report = ImportReport()
        self._sent: deque[_Sent] = deque()
        self._flight: InFlight | None = None  # None: not fenced (at the start, after posting here)
        self._number = 0
        self._writer_alive = True

    def run(self, chunks: Iterable[CheckedChunk]) -> ImportReport:
        for chunk in chunks:
            if self._writer_alive and chunk.line_nos:
                self._settle(wait=len(self._sent) >= self.IN_FLIGHT)
                if self._writer_alive and self._try_to_send(chunk):
                    continue
            self._drain()
            self._here(chunk)
        self._drain()
        return self._report

    def _try_to_send(self, chunk: CheckedChunk) -> bool:
        """Plan ``chunk`` and send it to the writer; False if it must be posted here."""
        try:
            flight = self._fenced()
            self._number += 1
            writes = ChunkWrites(self._number)
            checked = chunk.checked.at(self._clock.now())
            partitions = self._partitions
            with self._uow_factory(read_only=True) as reads:
                recording = cast(UnitOfWork, RecordingUnitOfWork(reads, flight, writes))
                outcome = self._engine.plan_append_and_post(recording, lambda uow: (
                    *append(uow, checked, partitions=partitions, posted=True), checked.now))
            if outcome is None:
                raise NotPipelinable("events accepted before this chunk wait to post")
        except WriterStopped:
            self._writer_stopped()
            return False
        except NotPipelinable as why:
            logger.debug("chunk ending at line %s posted here: %s", chunk.last_line_no, why)
            self._unfence()  # the plan may have left part of itself in flight
            return False
        except Exception:  # posted here, where a failure of its posting does not cost the append
            logger.warning("planning the chunk ending at line %s failed; posting it here", chunk.last_line_no,
                           exc_info=True)
            self._unfence()
            return False
        results, posting = outcome
        try:
            self._writer.send(writes)
        except WriterStopped:
            self._writer_stopped()
            return False
        first_event = (((first := writes.events[0]).store_id, first.event_id), writes.first_offset) \
            if writes.events else None
        self._sent.append(_Sent(self._number, chunk, results, posting, first_event))
        return True

    def _fenced(self) -> InFlight:
        if self._flight is None:
            self._writer.fence()  # before the first read: every commit after it is caught
            with self._uow_factory(read_only=True) as reads:
                self._flight = InFlight(reads.events.last_offset(), reads.events.position(CONSUMER),
                                        reads.checks.last_ids())
        return self._flight

    def _unfence(self) -> None:
        """Whatever was planned but not sent is dropped with what the engine knew; the chunks in
        flight are committed first (or refused and posted here)."""
        self._drain()
        self._flight = None
        self._engine.forget()

    def _settle(self, *, wait: bool) -> None:
        try:
            acks = self._writer.acks(wait=wait) if self._sent or wait else []
        except WriterStopped:
            self._writer_stopped()
            return
        for ack in acks:
            self._acknowledged(ack)

    def _drain(self) -> None:
        while self._sent and self._writer_alive:
            self._settle(wait=True)

    def _acknowledged(self, ack: ChunkAck) -> None:
        if not self._sent or self._sent[0].number != ack.number:  # refused after a refusal: posted here
            return
        sent = self._sent[0]
        if ack.error is not None:
            logger.info("the writer refused chunk %s (%s); posting it and the chunks after it here",
                        ack.number, ack.error)
            self._redo_here()
            return
        self._sent.popleft()
        assert self._flight is not None
        self._flight.committed(ack.number)
        report = self._report
        report.problems.extend(sent.chunk.not_json)
        report.posting.add(sent.posting)
        _count(report, sent.chunk.line_nos, sent.results)
        report.lines = sent.chunk.last_line_no
        if self._progress is not None:
            self._progress(report.lines, sent.chunk.consumed_bytes)

    def _redo_here(self) -> None:
        """The writer refused the oldest chunk in flight and so every chunk after it: each is
        posted here, in order, from what the database now holds."""
        pending = [sent.chunk for sent in self._sent]
        self._sent.clear()  # their refusals, when they come, match nothing in flight
        self._flight = None
        self._engine.forget()
        for chunk in pending:
            self._here(chunk)

    def _writer_stopped(self) -> None:
        """The writer is gone, perhaps after committing chunks it could not acknowledge: those
        are counted as it planned them (a chunk's events are in the log at the offsets planned
        only if it committed, all of it), the rest posted here."""
        logger.warning("the writer process stopped; posting the rest of the import here")
        self._writer_alive = False
        committed = 0
        with self._uow_factory(read_only=True) as reads:
            for count, sent in enumerate(self._sent, start=1):
                if sent.first_event is None:
                    continue  # it appends nothing: a chunk after it tells whether it committed
                key, offset = sent.first_event
                stored = reads.events.find_many([key]).get(key)
                if stored is None or stored[1] != offset:
                    break
                committed = count
        for sent in list(self._sent)[:committed]:
            self._acknowledged(ChunkAck(sent.number))
        self._redo_here()

    def _here(self, chunk: CheckedChunk) -> None:
        self._flight = None
        self._engine.forget()
        _post_here(self._report, self._uow_factory, self._engine, chunk, self._clock, self._cache, self._partitions)
        if self._progress is not None:
            self._progress(self._report.lines, chunk.consumed_bytes)


def _count(report: ImportReport, line_nos: list[int], results: list[IngestResult]) -> None:
    for line_no, result in zip(line_nos, results, strict=True):
        if result.status == "accepted":
            report.accepted += 1
        elif result.status == "duplicate":
            report.duplicate += 1
        else:
            problem = result.problem
            assert problem is not None
            report.problems.append(LineProblem(line_no, result.event_id, result.status, problem.type,
                                               problem.field, problem.detail, problem.errors))


def ingest_and_post(uow_factory: UnitOfWorkFactory, engine: PostingEngine, documents: list[Any], *,
                    clock: Clock, source: str, cache: EventCache | None = None,
                    partitions: int = DEFAULT_PARTITIONS) -> tuple[list[IngestResult], PostingReport]:
    """``documents`` (decoded JSON) validated, then appended and posted: ``post_checked``."""
    with collector_paused():
        checked = check(documents, clock.now(), source)
    return post_checked(uow_factory, engine, checked, cache=cache, partitions=partitions)


def post_checked(uow_factory: UnitOfWorkFactory, engine: PostingEngine, checked: Checked, *,
                 cache: EventCache | None = None,
                 partitions: int = DEFAULT_PARTITIONS) -> tuple[list[IngestResult], PostingReport]:
    """A validated chunk appended and posted in one transaction when the log allows it (SQLite,
    nothing pending before it: ``PostingEngine.append_and_post``), one commit for the chunk.
    Otherwise, or if that transaction fails for good, appended in one transaction and then
    posted in transactions of their own, so a posting failure never undoes what was accepted."""
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
    results = ingest_checked(uow_factory, checked, cache=cache, partitions=partitions)
    return results, engine.run()
