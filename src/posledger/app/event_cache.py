"""Parsed events handed from ingest to posting inside one process.

Posting reads events from the durable log; when the same process has just validated them,
re-parsing the JSON is wasted work. The cache is keyed by event_id *and* body hash, so a
stale or rolled-back entry can never be used for another body; it is bounded, and a miss just
means parsing again. Purely an optimisation: correctness never depends on a hit."""

from __future__ import annotations

import threading
from collections import OrderedDict

from posledger.domain.events import Event

__all__ = ["EventCache"]


class EventCache:
    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = capacity
        self._events: OrderedDict[str, tuple[str, Event]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, body_hash: str, event: Event) -> None:
        with self._lock:
            events = self._events
            events[event.envelope.event_id] = (body_hash, event)
            if len(events) > self._capacity:
                events.popitem(last=False)

    def take(self, event_id: str, body_hash: str) -> Event | None:
        with self._lock:
            found = self._events.pop(event_id, None)
        if found is None or found[0] != body_hash:
            return None
        return found[1]

    def __len__(self) -> int:
        return len(self._events)
