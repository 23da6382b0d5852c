"""Parsed events handed from ingest to posting inside one process.

Posting reads events from the durable log; when the same process has just validated them,
re-parsing the JSON is wasted work. The cache is keyed by the body's hash (the body names the
event's store and id), so a stale or rolled-back entry can never be used for another body; it
is bounded, and a miss just means parsing again. Purely an optimisation: correctness never depends on a hit."""

from __future__ import annotations

import threading
from collections import OrderedDict

from posledger.domain.events import Event

__all__ = ["EventCache"]


class EventCache:
    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._events: OrderedDict[str, Event] = OrderedDict()  # body hash: the event parsed from it
        self._lock = threading.Lock()

    def put(self, body_hash: str, event: Event) -> None:
        with self._lock:
            events = self._events
            events[body_hash] = event
            if len(events) > self._capacity:
                events.popitem(last=False)

    def take(self, body_hash: str) -> Event | None:
        with self._lock:
            return self._events.pop(body_hash, None)

    def __len__(self) -> int:
        return len(self._events)
