"""Group commit for ingest: concurrent requests share one transaction (and one fsync).

Each request hands its events to one ingest thread and waits. The thread takes whatever has
queued up (up to ``max_events``), runs ``ingest`` once over all of it, commits once, and answers
every request with its own slice of the results. A request is answered only after the commit,
so "accepted" still means on disk; under load, hundreds of single-event POSTs cost a handful of
fsyncs instead of hundreds.

If the group's transaction fails, nothing of it was stored, and each request is run again in a
transaction of its own: one request's failure never fails another's (CONTRACT section 15). A
request that fails alone gets its error; the registers' retries are safe.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

from posledger.app.ingest import IngestResult

log = logging.getLogger("posledger.ingest")

IngestFunction = Callable[[Sequence[Any]], list[IngestResult]]


class GroupCommitIngester:
    def __init__(self, ingest: IngestFunction, max_events: int = 2000) -> None:
        self._ingest = ingest
        self._max_events = max_events
        self._queue: queue.Queue[tuple[list[Any], asyncio.AbstractEventLoop, asyncio.Future[list[IngestResult]]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="group-commit-ingest", daemon=True)
        self.groups = 0
        self.requests = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    async def submit(self, documents: list[Any]) -> list[IngestResult]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[IngestResult]] = loop.create_future()
        self._queue.put((documents, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            size = len(first[0])
            while size < self._max_events:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                group.append(item)
                size += len(item[0])
            self._commit(group)

    def _commit(self, group: list[tuple[list[Any], asyncio.AbstractEventLoop,
                                        asyncio.Future[list[IngestResult]]]]) -> None:
        documents = [document for request, _, _ in group for document in request]
        try:
            results = self._ingest(documents)
        except Exception as error:
            if len(group) > 1:  # nothing was stored: each request alone, so only the bad one fails
                log.warning("group commit of %d events in %d requests failed (%s); committing them one "
                            "request at a time", len(documents), len(group), type(error).__name__)
                for member in group:
                    self._commit([member])
                return
            log.exception("ingest of a request of %d events failed", len(documents))
            _, loop, future = group[0]
            loop.call_soon_threadsafe(_fail, future, error)
            return
        except BaseException as error:  # answer every waiting request, then carry on
            for _, loop, future in group:
                loop.call_soon_threadsafe(_fail, future, error)
            return
        self.groups += 1
        self.requests += len(group)
        start = 0
        for request, loop, future in group:
            loop.call_soon_threadsafe(_succeed, future, results[start:start + len(request)])
            start += len(request)


def _succeed(future: asyncio.Future[list[IngestResult]], results: list[IngestResult]) -> None:
    if not future.done():
        future.set_result(results)


def _fail(future: asyncio.Future[list[IngestResult]], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
