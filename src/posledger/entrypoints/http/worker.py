"""The posting worker inside ``posledger serve``: posts what the API accepted, off the
request path, and records the posting lag."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from posledger.app.posting import PostingEngine
from posledger.app.retry import StorageUnavailable

log = logging.getLogger("posledger.worker")


class PostingWorker:
    def __init__(self, engine: PostingEngine, on_lag: Callable[[float], None],
                 idle_wait_seconds: float = 0.5, gather_seconds: float = 0.02) -> None:
        self._engine = engine
        self._on_lag = on_lag
        self._idle_wait = idle_wait_seconds
        self._gather = gather_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="posting-worker", daemon=True)
        self.last_run_at = 0.0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """New events were accepted: post them now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            # Let a few more events arrive: one posting transaction (one fsync) for many
            # events instead of one each; 20 ms is far inside the lag budget.
            time.sleep(self._gather)
            try:
                while not self._stop.is_set():
                    report = self._engine.run_batch()
                    self.last_run_at = time.time()
                    now = time.time()
                    for accepted_at in report.accepted_at:
                        self._on_lag(max(0.0, now - datetime.fromisoformat(accepted_at).timestamp()))
                    if report.batches == 0:
                        break
            except StorageUnavailable as error:  # retried to the bound already; wait and go round
                self.failures += 1
                log.warning("posting paused: %s; trying again in 1 s", error)
                time.sleep(1.0)
            except Exception:  # keep posting alive; the error is logged and counted
                self.failures += 1
                log.exception("posting batch failed; retrying")
                time.sleep(1.0)
            self._wake.wait(self._idle_wait)
