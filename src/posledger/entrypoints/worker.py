"""``posledger worker``: posting for the partitions this process leases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from types import FrameType

from rich.console import Console

from posledger.adapters.postgres.leases import PartitionLeases
from posledger.app.posting import PostingEngine, PostingReport
from posledger.app.retry import RetryLog, StorageUnavailable
from posledger.bootstrap import App

log = logging.getLogger("posledger.worker")
REBALANCE_SECONDS = 2.0


def run_worker(application: App, *, poll_seconds: float, out: Console,
               stop: threading.Event | None = None) -> None:
    """Post the leased partitions until stopped (SIGTERM/SIGINT). With NATS configured, the
    partitions' durable consumers wake the worker at once; the log is swept every second anyway."""
    settings = application.settings
    assert settings.database_url is not None
    stop = stop or threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    leases = PartitionLeases(settings.database_url, settings.partitions)
    engine = PostingEngine(application.uow, application.clock, batch_size=settings.server_batch_size)
    out.print(f"posledger worker: {settings.partitions} partitions on {settings.database_url.split('@')[-1]}"
              + (f", woken by NATS at {settings.nats_url}" if settings.nats_url else ""))
    if settings.nats_url:
        try:
            asyncio.run(_run_with_nats(settings.nats_url, leases, engine, poll_seconds, out, stop,
                                       application.retries))
        finally:
            leases.close()
        return
    owned: set[int] = set()
    backoff = PartitionBackoff()
    rebalanced_at = 0.0
    posted_total = 0
    reported_at = time.monotonic()
    try:
        while not stop.is_set():
            if time.monotonic() - rebalanced_at > REBALANCE_SECONDS:
                now_owned = leases.rebalance()
                if now_owned != owned:
                    out.print(f"owning partitions {sorted(now_owned)}")
                owned = now_owned
                rebalanced_at = time.monotonic()
            busy = False
            for partition in sorted(owned):  # one batch each in turn: a busy store starves nobody
                report = _one_batch(engine, partition, backoff)
                if report is not None:
                    posted_total += report.posted + report.parked
                    busy = busy or report.batches > 0
            if time.monotonic() - reported_at > 10:
                out.print(f"posted {posted_total} event(s) so far")
                reported_at = time.monotonic()
            if not busy:
                stop.wait(poll_seconds)
    finally:
        leases.close()


class PartitionBackoff:
    """A partition whose batch failed waits before its next try, doubling up to a cap, while
    the worker's other partitions go on posting. Nothing is lost meanwhile: the batch rolled
    back and its events are still pending in the log."""

    def __init__(self, first: float = 0.2, cap: float = 10.0) -> None:
        self._first, self._cap = first, cap
        self._failures: dict[int, int] = {}
        self._until: dict[int, float] = {}

    def ready(self, partition: int) -> bool:
        return time.monotonic() >= self._until.get(partition, 0.0)

    def failed(self, partition: int) -> float:
        count = self._failures[partition] = self._failures.get(partition, 0) + 1
        delay = min(self._cap, self._first * 2.0 ** (count - 1))
        self._until[partition] = time.monotonic() + delay
        return delay

    def succeeded(self, partition: int) -> None:
        self._failures.pop(partition, None)
        self._until.pop(partition, None)


def _one_batch(engine: PostingEngine, partition: int, backoff: PartitionBackoff) -> PostingReport | None:
    """One posting batch of ``partition``; None when it failed (it rolled back whole; the
    partition backs off and the next round tries again). Transient errors were already retried
    inside ``run_batch``; anything else is logged with its traceback and never ends the worker:
    the other partitions keep posting."""
    if not backoff.ready(partition):
        return None
    try:
        report = engine.run_batch(partition)
    except StorageUnavailable as error:
        log.warning("partition %s: %s; backing off %.1f s", partition, error, backoff.failed(partition))
        return None
    except Exception:
        log.exception("partition %s: posting failed; backing off %.1f s", partition, backoff.failed(partition))
        return None
    backoff.succeeded(partition)
    return report


def _drain(engine: PostingEngine, partition: int, backoff: PartitionBackoff) -> tuple[int, bool]:
    """Post everything pending in ``partition``; returns how many events it handled and whether
    it got to the end (False when a batch failed and the partition backs off)."""
    handled = 0
    while True:
        report = _one_batch(engine, partition, backoff)
        if report is None:
            return handled, False
        handled += report.posted + report.parked
        if report.batches == 0:
            return handled, True


async def _run_with_nats(nats_url: str, leases: PartitionLeases, engine: PostingEngine, poll_seconds: float,
                         out: Console, stop: threading.Event, retries: RetryLog) -> None:
    from posledger.adapters.nats import PartitionConsumers

    consumers = PartitionConsumers(nats_url, retries)
    backoff = PartitionBackoff()
    owned: set[int] = set()
    rebalanced_at = swept_at = reported_at = 0.0
    posted_total = 0
    try:
        while not stop.is_set():
            now = time.monotonic()
            if now - rebalanced_at > REBALANCE_SECONDS:
                now_owned = await asyncio.to_thread(leases.rebalance)
                for lost in owned - now_owned:
                    consumers.release(lost)
                if now_owned != owned:
                    out.print(f"owning partitions {sorted(now_owned)}")
                owned, rebalanced_at = now_owned, now
            if not owned:
                await asyncio.sleep(poll_seconds)
                continue
            partitions = sorted(owned)
            fetched = await asyncio.gather(*(consumers.fetch(p, poll_seconds) for p in partitions))
            sweep = time.monotonic() - swept_at > 1.0
            for partition, messages in zip(partitions, fetched, strict=True):
                drained = True
                if messages or sweep:
                    handled, drained = await asyncio.to_thread(_drain, engine, partition, backoff)
                    posted_total += handled
                if not drained:  # redelivered after ack_wait; the log keeps the events anyway
                    continue
                for message in messages:  # acknowledged once what they announce is posted
                    with contextlib.suppress(Exception):
                        await message.ack()
            if sweep:
                swept_at = time.monotonic()
            if time.monotonic() - reported_at > 10:
                out.print(f"posted {posted_total} event(s) so far")
                reported_at = time.monotonic()
    finally:
        await consumers.close()
