"""Python's cyclic garbage collector, held off while a batch is validated or posted.

A batch allocates tens of thousands of short-lived objects that reference counting frees anyway;
the collector would walk them, and the batch's growing state, again and again (measured: 5-25 %
of the time of `./dev bench`). What a batch leaves behind is bounded by the batch, and the
collector runs again as soon as it ends. It is process-wide: other threads go without it for
the length of one batch, which changes nothing but when their cycles are freed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
