"""The posting worker of ``posledger serve`` in a process of its own, so that HTTP ingest and
posting each have a core (and an interpreter lock) of their own.

The child opens the same database and runs the single-consumer ``PostingEngine`` whenever the
server says events were accepted (a shared ``multiprocessing.Event``) and every half second
anyway. It reports the posting lag of each batch back through a pipe, where the server's
metrics observe it. If the child dies, the server starts another after a short back-off; if
the server dies (even ``kill -9``), the child notices within half a second and exits. Posting
stays exactly once either way: the position and the outputs commit together, and two posting
engines on one database serialise on its write lock.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from posledger.config import Settings

log = logging.getLogger("posledger.worker")


def _child(settings: Settings, wake: Any, reports: Connection, parent_pid: int,
           gather_seconds: float, idle_wait_seconds: float) -> None:
    """The posting process's main loop."""
    from posledger.app.posting import PostingEngine
    from posledger.app.retry import StorageUnavailable
    from posledger.bootstrap import bootstrap

    # Ctrl-C reaches the whole process group: the server stops this process itself, in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=os.environ.get("POSLEDGER_LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    application = bootstrap(settings, process="posledger serve (posting)")
    engine = PostingEngine(application.uow, application.clock, batch_size=settings.server_batch_size)
    try:
        while os.getppid() == parent_pid:
            wake.clear()
            time.sleep(gather_seconds)  # a few more events: one transaction (one fsync) for many
            try:
                while True:
                    report = engine.run_batch()
                    now = time.time()
                    lags = [max(0.0, now - datetime.fromisoformat(at).timestamp()) for at in report.accepted_at]
                    reports.send(("posted", now, lags))
                    if report.batches == 0:
                        break
            except StorageUnavailable as error:
                reports.send(("failed", time.time(), []))
                log.warning("posting paused: %s; trying again in 1 s", error)
                time.sleep(1.0)
            except Exception:  # keep posting alive; the error is logged and counted
                reports.send(("failed", time.time(), []))
                log.exception("posting batch failed; retrying")
                time.sleep(1.0)
            wake.wait(idle_wait_seconds)
    except (BrokenPipeError, EOFError, KeyboardInterrupt):  # the server is gone or stopping
        pass
    finally:
        application.close()


class PostingProcess:
    """The same face as ``PostingWorker`` (start, notify, stop, alive), over a child process."""

    def __init__(self, settings: Settings, on_lag: Callable[[float], None], *,
                 gather_seconds: float = 0.02, idle_wait_seconds: float = 0.5) -> None:
        self._settings = settings
        self._on_lag = on_lag
        self._gather = gather_seconds
        self._idle_wait = idle_wait_seconds
        self._context = multiprocessing.get_context("spawn")  # no inherited threads or connections
        self._wake = self._context.Event()
        self._stopping = threading.Event()
        self._spawning = threading.Lock()  # stop() and a restart never race
        self._process: Any = None
        self._reports: Connection | None = None
        self._supervisor = threading.Thread(target=self._supervise, name="posting-process", daemon=True)
        self.last_run_at = 0.0
        self.failures = 0
        self.restarts = 0

    def start(self) -> None:
        self._spawn()
        self._supervisor.start()

    def _spawn(self) -> None:
        with self._spawning:
            if self._stopping.is_set():
                return
            if self._reports is not None:
                self._reports.close()
            self._start_child()

    def _start_child(self) -> None:
        receiving, sending = self._context.Pipe(duplex=False)
        self._process = self._context.Process(
            target=_child, name="posledger-posting", daemon=True,
            args=(self._settings, self._wake, sending, os.getpid(), self._gather, self._idle_wait))
        self._process.start()
        sending.close()  # the child holds the only sending end: EOF here when it dies
        self._reports = receiving

    def _supervise(self) -> None:
        """Read the child's reports; start a new child (after a back-off) if it dies."""
        delay = 0.5
        while not self._stopping.is_set():
            reports = self._reports
            assert reports is not None
            try:
                if reports.poll(0.5):
                    kind, at, lags = reports.recv()
                    self.last_run_at = at
                    if kind == "failed":
                        self.failures += 1
                    for lag in lags:
                        self._on_lag(lag)
                    delay = 0.5
                continue
            except (EOFError, OSError):
                pass
            if self._stopping.is_set():
                return
            self._process.join(1)
            log.error("the posting process exited (code %s); starting another in %.1f s",
                      self._process.exitcode, delay)
            self.failures += 1
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
            if not self._stopping.is_set():
                self.restarts += 1
                self._spawn()

    def notify(self) -> None:
        """New events were accepted: post them now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        with self._spawning:
            self._stopping.set()
        if self._process is not None and self._process.is_alive():
            self._process.terminate()  # SIGTERM: the batch in hand rolls back, nothing is lost
            self._process.join(timeout)
            if self._process.is_alive():
                self._process.kill()
        self._supervisor.join(timeout)

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()
