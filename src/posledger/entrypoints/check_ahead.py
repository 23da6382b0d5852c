"""Validation ahead of posting, in a child process: the batch importer's second core.

Posting a chunk (the rules, the rows, the commit) must happen in order in one process, but
checking the chunks after it (JSON decode, the typed codec, the card-data check, the canonical
body and its hash: ``check_chunk``, no IO and no state) need not wait for it. So a child
process reads the file itself, checks it chunk by chunk and sends each result down a pipe,
while this process appends and posts the chunk before. Receiving a checked event costs this
process about 4 µs (decoding it); checking it costs 20-25 µs.

The child reads the file itself so that nothing large travels towards it: with lines sent both
ways, a writer blocked on a full pipe at each end would deadlock, and a feeder thread in this
process would take the interpreter lock from posting (measured: with ``ProcessPoolExecutor``,
whose threads pickle and unpickle here, the import was no faster at all). The pipe's buffer is
the flow control: the child runs at most a chunk or two ahead.

A chunk travels as msgspec JSON, decoded straight into its types: 2.5 µs an event to encode
against 10 for a pickle (the checker's time), and no slower to decode (this process's).

Nothing durable happens in the child: whatever it returns is appended by this process in the
usual transaction, stamped with the time it is appended. If the child dies, this process
checks the rest of the file itself, from the line after the last chunk it received.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

import msgspec

from posledger.app.batch_import import CheckedChunk, checked_chunks
from posledger.app.collector import collector_paused
from posledger.entrypoints.pipes import wide_pipe

__all__ = ["checked_ahead"]

logger = logging.getLogger(__name__)

SMALL_FILE_BYTES = 256 * 1024  # below this, starting a process (~0.15 s) costs more than it saves
AHEAD = 4  # checked chunks the child may hold, encoded, waiting for the importer (~2 MB each)


def checked_ahead(path: Path, chunk_size: int, source: str = "import") -> Iterator[CheckedChunk]:
    """``checked_chunks`` of the file at ``path``, the same results in the same order, checked by
    a child process ahead of the caller (a small file: here)."""
    if path.stat().st_size < SMALL_FILE_BYTES:
        with path.open("rb") as handle:
            yield from checked_chunks(handle, chunk_size, source)
        return
    context = multiprocessing.get_context("spawn")  # the child inherits no threads, locks or connections
    receiver, sender = wide_pipe(context)
    child = context.Process(target=_check_file, args=(str(path), chunk_size, source, sender),
                            name="posledger-check-ahead", daemon=True)
    child.start()
    sender.close()  # the child holds the only sending end: its exit ends the pipe
    last: CheckedChunk | None = None
    decoder = msgspec.json.Decoder(CheckedChunk)
    try:
        while True:
            try:
                message = receiver.recv_bytes()
                with collector_paused():  # what it decodes lives on: no collection need look at it
                    chunk = decoder.decode(message) if message else None
            except (EOFError, OSError):
                logger.warning("the checking process stopped (exit code %s); checking the rest of %s here",
                               child.exitcode, path)
                yield from _check_rest(path, chunk_size, source, last)
                return
            if chunk is None:
                return
            last = chunk
            yield chunk
    finally:
        receiver.close()
        if child.is_alive():
            child.terminate()
        child.join(5)


def _check_file(path: str, chunk_size: int, source: str, sender: Connection) -> None:
    """The child: the file checked chunk by chunk, each sent as soon as it is checked; an empty
    message at the end."""
    # Ctrl-C reaches the whole process group: the importer handles it, and this process ends
    # when the importer closes the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    encoder = msgspec.json.Encoder()
    # A thread sends while the next chunks are checked, up to AHEAD of them: a chunk is larger
    # than the pipe, so without it this process would wait for the importer at every chunk and
    # leave a core idle whenever the writer waits too.
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=AHEAD)
    sending = threading.Thread(target=_send, args=(outbox, sender), name="check-sender", daemon=True)
    sending.start()
    try:
        with open(path, "rb") as handle:
            for chunk in checked_chunks(handle, chunk_size, source):
                message = encoder.encode(chunk)
                while sending.is_alive():
                    try:
                        outbox.put(message, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                else:
                    return  # the importer stopped (or was killed): nobody is waiting for the rest
        outbox.put(b"")
        outbox.put(None)
        sending.join()
    finally:
        if not sending.is_alive():
            sender.close()


def _send(outbox: queue.Queue[bytes | None], sender: Connection) -> None:
    try:
        while (message := outbox.get()) is not None:
            sender.send_bytes(message)
    except (BrokenPipeError, OSError):
        pass
    finally:
        sender.close()


def _check_rest(path: Path, chunk_size: int, source: str, last: CheckedChunk | None) -> Iterator[CheckedChunk]:
    done = last.last_line_no if last is not None else 0
    with path.open("rb") as handle:
        for _ in range(done):
            next(handle, None)
        yield from checked_chunks(handle, chunk_size, source, first_line_no=done + 1,
                                  consumed_bytes=last.consumed_bytes if last is not None else 0)
