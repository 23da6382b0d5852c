"""``posledger worker``: posting for the partitions this process leases."""

from __future__ import annotations

import logging
import signal
import threading
import time
from types import FrameType

import psycopg
from rich.console import Console

from posledger.adapters.postgres.leases import PartitionLeases
from posledger.app.ports import WriteConflict
from posledger.app.posting import PostingEngine
from posledger.bootstrap import App

log = logging.getLogger("posledger.worker")
REBALANCE_SECONDS = 2.0


def run_worker(application: App, *, poll_seconds: float, out: Console,
               stop: threading.Event | None = None) -> None:
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
    owned: set[int] = set()
    rebalanced_at = 0.0
    posted_total = 0
    reported_at = time.monotonic()
    out.print(f"posledger worker: {settings.partitions} partitions on {settings.database_url.split('@')[-1]}")
    try:
        while not stop.is_set():
            if time.monotonic() - rebalanced_at > REBALANCE_SECONDS:
                now_owned = leases.rebalance()
                if now_owned != owned:
                    out.print(f"owning partitions {sorted(now_owned)}")
                owned = now_owned
                rebalanced_at = time.monotonic()
            busy = False
            for partition in sorted(owned):
                try:
                    report = engine.run_batch(partition)
                except (psycopg.OperationalError, WriteConflict) as error:
                    log.warning("partition %s: %s; retrying", partition, error)
                    time.sleep(0.2)
                    continue
                posted_total += report.posted + report.parked
                busy = busy or report.batches > 0
            if time.monotonic() - reported_at > 10:
                out.print(f"posted {posted_total} event(s) so far")
                reported_at = time.monotonic()
            if not busy:
                stop.wait(poll_seconds)
    finally:
        leases.close()
