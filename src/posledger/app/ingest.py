"""Ingest: validate events and append them durably to the log, exactly once per event_id.

"Accepted" means committed to disk. The same ``event_id`` with the same body is a
``duplicate`` (nothing changes); with another body it is a ``conflict`` and the stored event is
untouched. Per-register ``seq`` is tracked here, in the same transaction as the append, so a
``sequence_gap`` exception is raised at once and resolves itself when the missing events arrive.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from posledger.app.clock import Clock
from posledger.app.ports import (
    ExceptionRecord,
    NewEvent,
    Rejection,
    SequenceGap,
    UnitOfWork,
    UnitOfWorkFactory,
)
from posledger.domain.errors import InvalidInput, PanDetected
from posledger.domain.events import parse_event

__all__ = ["Problem", "IngestResult", "ingest", "canonical_json"]


@dataclass(frozen=True, slots=True)
class Problem:
    """An RFC 9457-shaped problem: a stable ``type``, the ``field`` at fault, a ``detail``."""

    type: str
    title: str
    field: str | None
    detail: str


@dataclass(frozen=True, slots=True)
class IngestResult:
    event_id: str | None
    status: str  # accepted | duplicate | conflict | rejected
    offset: int | None = None
    problem: Problem | None = None


def canonical_json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _safe_event_id(document: Any) -> str | None:
    if isinstance(document, dict):
        value = document.get("event_id")
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


def ingest(uow_factory: UnitOfWorkFactory, documents: Sequence[Any], *, clock: Clock,
           source: str = "api") -> list[IngestResult]:
    """Validate and append ``documents`` (decoded JSON) in one transaction; a result each."""
    now = clock.now()
    results: list[IngestResult] = []
    with uow_factory() as uow:
        seen: dict[str, tuple[str, int | None]] = {}
        for document in documents:
            results.append(_ingest_one(uow, document, now, source, seen))
        uow.commit()
    return results


def _ingest_one(uow: UnitOfWork, document: Any, now: str, source: str,
                seen: dict[str, tuple[str, int | None]]) -> IngestResult:
    event_id = _safe_event_id(document)
    try:
        event = parse_event(document)
    except PanDetected as error:
        # The body is neither stored nor echoed; the event_id only if it is not itself a PAN.
        kept_id = None if error.field == "event_id" else event_id
        uow.events.reject(Rejection(kept_id, now, error.type, error.field, error.detail, source))
        return IngestResult(kept_id, "rejected", problem=Problem(
            error.type, "Card data is not accepted", error.field, error.detail))
    except InvalidInput as error:
        uow.events.reject(Rejection(event_id, now, error.type, error.field, error.detail, source))
        return IngestResult(event_id, "rejected", problem=Problem(
            error.type, "Invalid event", error.field, error.detail))
    envelope = event.envelope
    body = canonical_json(document)
    body_hash = hashlib.sha256(body.encode()).hexdigest()
    prior = seen.get(envelope.event_id)
    if prior is None:
        stored = uow.events.get(envelope.event_id)
        if stored is not None:
            prior = (stored.body_hash, stored.offset)
    if prior is not None:
        if prior[0] == body_hash:
            return IngestResult(envelope.event_id, "duplicate", prior[1])
        return IngestResult(envelope.event_id, "conflict", prior[1], Problem(
            "conflict", "event_id already used with another body", "event_id",
            f"event {envelope.event_id} was accepted before with a different body; "
            "the stored event is unchanged"))
    offset = uow.events.append(NewEvent(
        envelope.event_id, envelope.type, envelope.store_id, envelope.register_id, envelope.seq,
        envelope.occurred_at.isoformat(), body, body_hash, now, source))
    seen[envelope.event_id] = (body_hash, offset)
    if envelope.register_id is not None and envelope.seq is not None:
        track_sequence(uow, envelope.store_id, envelope.register_id, envelope.seq,
                       envelope.event_id, now)
    return IngestResult(envelope.event_id, "accepted", offset)


def track_sequence(uow: UnitOfWork, store_id: str, register_id: str, seq: int, event_id: str,
                   now: str) -> None:
    """Registers number their events 1, 2, 3, ...: a jump opens a ``sequence_gap``; the
    missing events, when they arrive, close it."""
    high = uow.events.high_seq(register_id) or 0
    if seq == high + 1:
        uow.events.set_high_seq(register_id, store_id, seq)
        return
    if seq > high + 1:
        exception_id = uow.exceptions.add(ExceptionRecord(
            0, "sequence_gap", "open", store_id, register_id, event_id, None,
            {"missing_from": high + 1, "missing_to": seq - 1, "missing": seq - 1 - high,
             "detected_by": event_id}, now))
        uow.events.add_gap(SequenceGap(register_id, high + 1, seq - 1, exception_id))
        uow.events.set_high_seq(register_id, store_id, seq)
        return
    gaps = uow.events.gaps_containing(register_id, seq)
    if not gaps:
        uow.exceptions.add(ExceptionRecord(
            0, "sequence_duplicate", "open", store_id, register_id, event_id, None,
            {"seq": seq, "problem": "seq already used by another event of this register"}, now))
        return
    gap = gaps[0]
    uow.events.remove_gap(gap)
    if gap.low < seq:
        uow.events.add_gap(SequenceGap(register_id, gap.low, seq - 1, gap.exception_id))
    if seq < gap.high:
        uow.events.add_gap(SequenceGap(register_id, seq + 1, gap.high, gap.exception_id))
    if uow.events.open_gaps(gap.exception_id) == 0:
        uow.exceptions.resolve(gap.exception_id, now, "system", "the missing events arrived")
