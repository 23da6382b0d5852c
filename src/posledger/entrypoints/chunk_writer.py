"""The batch importer's writer process: commits the chunks the importer computed.

``app/pipeline.py`` says why and what keeps it safe. This module is the process: it opens
its own connection to the SQLite file, and for each ``ChunkWrites`` that arrives (msgpack, as
msgspec encodes the structs: a sixth of what pickling them costs the importer, which is the
busier side) it takes the writer lock, checks that no other connection has committed since
the importer's fence, applies the writes, commits and acknowledges. After a refusal it refuses
everything until the next fence, since later chunks were computed from what the refused one
would have written.

Flow control: a thread here takes chunks off the pipe while the one before commits (two at
most wait in memory), so the importer's ``send`` returns at once; the importer itself keeps at
most two chunks unacknowledged.

The process ignores Ctrl-C (the importer handles it, then closes the pipe) and ends when the
importer closes the pipe. If the importer is killed, so is this process (Linux's parent-death
signal), so that, as before there was a writer process, a killed import commits nothing more.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing
import os
import queue
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.app.collector import collector_paused
from posledger.app.pipeline import ChunkAck, ChunkWriter, ChunkWrites, WriterStopped, apply_chunk_writes
from posledger.app.ports import UnitOfWorkFactory, WriteConflict
from posledger.entrypoints.check_ahead import SMALL_FILE_BYTES
from posledger.entrypoints.pipes import wide_pipe

__all__ = ["ProcessChunkWriter", "chunk_writer"]

logger = logging.getLogger(__name__)

_FENCE = b"F"
_FENCED = -1  # the acknowledgement number of a fence


@contextmanager
def chunk_writer(uow: UnitOfWorkFactory, source: Path) -> Iterator[ChunkWriter | None]:
    """A writer process for importing ``source`` into ``uow``, or None where one would not pay:
    not a SQLite file (PostgreSQL appends and posts apart), or a small input."""
    if not isinstance(uow, SqliteUnitOfWork) or uow.path == ":memory:" or source.stat().st_size < SMALL_FILE_BYTES:
        yield None
        return
    writer = ProcessChunkWriter(uow.path, transport_backlog=uow.transport_backlog)
    try:
        yield writer
    finally:
        writer.close()


class ProcessChunkWriter:
    """``ChunkWriter`` over a child process and two pipes (chunks there, acknowledgements back)."""

    def __init__(self, path: str, *, transport_backlog: bool) -> None:
        context = multiprocessing.get_context("spawn")  # no inherited threads, locks or connections
        chunks_out, self._chunks = wide_pipe(context)
        self._acks, acks_in = context.Pipe(duplex=False)
        self._process = context.Process(target=_write_chunks,
                                        args=(path, transport_backlog, chunks_out, acks_in, os.getpid()),
                                        name="posledger-chunk-writer", daemon=True)
        self._process.start()
        chunks_out.close()
        acks_in.close()
        self._encoder = msgspec.msgpack.Encoder()
        self._stopped: WriterStopped | None = None

    def fence(self) -> None:
        self._send(_FENCE)
        while self._receive().number != _FENCED:
            pass  # refusals of chunks sent before the fence: already posted by the importer

    def send(self, writes: ChunkWrites) -> None:
        self._send(self._encoder.encode(writes))

    def acks(self, *, wait: bool) -> list[ChunkAck]:
        """What arrived before the process stopped comes back first; the stop on the next call."""
        if self._stopped is not None:
            raise self._stopped
        received: list[ChunkAck] = []
        try:
            while (wait and not received) or self._acks.poll():
                received.append(self._receive())
        except (WriterStopped, OSError) as error:
            self._stopped = error if isinstance(error, WriterStopped) else WriterStopped(str(error))
            if not received:
                raise self._stopped from error
        return received

    def close(self) -> None:
        self._chunks.close()  # the process ends when it has read to the end
        self._process.join(30)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._acks.close()

    def _send(self, message: bytes) -> None:
        try:
            self._chunks.send_bytes(message)
        except OSError as error:  # BrokenPipeError: the process is gone
            raise WriterStopped(str(error)) from error

    def _receive(self) -> ChunkAck:
        try:
            number, error = self._acks.recv()
        except (EOFError, OSError) as failure:
            raise WriterStopped(f"the writer process stopped (exit code {self._process.exitcode})") from failure
        return ChunkAck(number, error)


def _die_with(parent: int) -> None:
    """This process is killed when ``parent`` ends (Linux; elsewhere it ends on the closed pipe)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it ended before that took effect
        os._exit(1)


def _write_chunks(path: str, transport_backlog: bool, chunks: Connection, acks: Connection, parent: int) -> None:
    """The process: each chunk committed and acknowledged, in the order they come."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    factory = SqliteUnitOfWork(path, transport_backlog=transport_backlog)
    decoder = msgspec.msgpack.Decoder(ChunkWrites)
    mark: int | None = None  # data_version at the fence; None: refusing until the next fence
    # A thread takes each chunk off the pipe while the one before commits: the importer's send
    # then returns at once rather than waiting for the commit (its thread holds the interpreter
    # lock only to copy the bytes; SQLite releases it while it writes).
    inbox: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
    threading.Thread(target=_take_off, args=(chunks, inbox), name="chunk-reader", daemon=True).start()
    try:
        while True:
            message = inbox.get()
            if message is None:
                return
            if message == _FENCE:
                mark = factory.data_version()
                acks.send((_FENCED, None))
                continue
            with collector_paused():
                writes = decoder.decode(message)
                if mark is None:
                    acks.send((writes.number, "not written: a chunk before it was refused"))
                    continue
                try:
                    _commit(factory, writes, mark)
                except Exception as error:  # refused: nothing of it was written
                    mark = None
                    acks.send((writes.number, f"{type(error).__name__}: {error}"))
                    continue
            acks.send((writes.number, None))
    except BrokenPipeError:  # the importer is gone
        pass
    finally:
        factory.close()
        acks.close()


def _take_off(chunks: Connection, inbox: queue.Queue[bytes | None]) -> None:
    try:
        while True:
            inbox.put(chunks.recv_bytes())
    except (EOFError, OSError):  # the importer closed the pipe, or is gone
        inbox.put(None)


def _commit(factory: SqliteUnitOfWork, writes: ChunkWrites, mark: int) -> None:
    with factory() as uow:
        if factory.data_version() != mark:
            raise WriteConflict("another connection wrote to the database since the importer read it")
        apply_chunk_writes(uow, writes)
        uow.commit()
