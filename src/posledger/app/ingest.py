"""Ingest: validate events and append them durably to the log, exactly once per event.

An event's identity is its store and its id, ``(store_id, event_id)`` (CONTRACT section 1): two
stores may use the same ``event_id`` and never block each other.
"Accepted" means committed to disk. The same identity with the same body is a
``duplicate`` (nothing changes); with another body it is a ``conflict`` and the stored event is
untouched. Per-register ``seq`` is tracked here, in the same transaction as the append, so a
``sequence_gap`` exception is raised at once and resolves itself when the missing events arrive.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from posledger.app.clock import Clock
from posledger.app.collector import collector_paused
from posledger.app.event_cache import EventCache
from posledger.app.partitions import DEFAULT_PARTITIONS, partition_of
from posledger.app.ports import (
    EventKey,
    ExceptionRecord,
    NewEvent,
    Rejection,
    SequenceGap,
    UnitOfWork,
    UnitOfWorkFactory,
)
from posledger.domain.codec import parse_event
from posledger.domain.errors import InvalidInput, PanDetected
from posledger.domain.events import Event
from posledger.domain.every_error import every_error
from posledger.domain.pan import has_long_digit_run

__all__ = ["FieldError", "Problem", "IngestResult", "ingest", "ingest_checked", "check", "append", "Checked", "Appended", "canonical_json",
           "SequenceTracker", "Undecodable"]


class FieldError(msgspec.Struct, frozen=True, gc=False):
    field: str
    code: str
    detail: str


class Problem(msgspec.Struct, frozen=True, gc=False):
    """An RFC 9457-shaped problem: a stable ``type``, the ``field`` at fault, a ``detail``, and
    ``errors``, every field error at once when there are several (the first is ``field``)."""

    type: str
    title: str
    field: str | None
    detail: str
    errors: tuple[FieldError, ...] = ()


class IngestResult(msgspec.Struct, frozen=True, gc=False):
    event_id: str | None
    status: str  # accepted | duplicate | conflict | rejected
    offset: int | None = None
    problem: Problem | None = None


def canonical_json(document: Any) -> str:
    """Keys sorted at every level, no spaces, UTF-8 as is: two bodies that differ only in key
    order or spacing are the same body."""
    return _CANONICAL.encode(document).decode()


_CANONICAL = msgspec.json.Encoder(order="sorted")


def _safe_event_id(document: Any) -> str | None:
    """The event_id worth keeping with a rejection: a short, printable, valid Unicode string
    without a run of 13 or more digits (never echoed in an error: CONTRACT section 8)."""
    if isinstance(document, dict):
        value = document.get("event_id")
        if (isinstance(value, str) and 0 < len(value) <= 64 and value.isprintable() and _storable(value) == value
                and not has_long_digit_run(value)):
            return value
    return None


def _safe_store_id(document: Any) -> str | None:
    """The store a refused document named, kept with its rejection so that only that store
    (and finance) reads it back: an id-shaped string, else nothing."""
    if isinstance(document, dict):
        value = document.get("store_id")
        if (isinstance(value, str) and 0 < len(value) <= 64 and _ID_SHAPED.fullmatch(value)
                and not has_long_digit_run(value)):
            return value
    return None


_ID_SHAPED = re.compile(r"[A-Za-z0-9._:-]+")


def _storable(text: str) -> str:
    """Text every backend can store: lone surrogates (JSON allows ``\ud800``, UTF-8 does not)
    and NUL (PostgreSQL text cannot hold it) written out as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _storable_errors(problem: Problem) -> str | None:
    """Every field error of a refused document, as the rejection keeps them (JSON text)."""
    if not problem.errors:
        return None
    return json.dumps([{"field": _storable(e.field), "code": e.code, "detail": _storable(e.detail)}
                       for e in problem.errors])


def ingest(uow_factory: UnitOfWorkFactory, documents: Sequence[Any], *, clock: Clock,
           source: str = "api", cache: EventCache | None = None,
           partitions: int = DEFAULT_PARTITIONS) -> list[IngestResult]:
    """Validate and append ``documents`` (decoded JSON) in one transaction; a result each.

    Validation happens before the transaction; inside it, one query finds the event_ids already
    stored, one statement appends the new events, and sequence tracking runs on a local copy
    of the registers' high-water marks that is written back once.

    Each event is decoded into its typed values from its *canonical* body, the very text that
    is stored and hashed and that the card-data check read: a JSON object with a key twice
    cannot be validated one way and stored another. A document that could not even be decoded
    is passed as ``Undecodable`` and rejected on its own, not with its batch.
    """
    with collector_paused():
        checked = check(documents, clock.now(), source)
    return ingest_checked(uow_factory, checked, cache=cache, partitions=partitions)


def ingest_checked(uow_factory: UnitOfWorkFactory, checked: Checked, *, cache: EventCache | None = None,
                   partitions: int = DEFAULT_PARTITIONS) -> list[IngestResult]:
    """``ingest`` of a batch ``check`` has already validated."""
    with collector_paused():
        # Idempotent: run again after a COMMIT that did go through, it finds the events stored and
        # answers "duplicate", which registers take as delivered.
        results, fresh = uow_factory.run(lambda uow: append(uow, checked, partitions=partitions),
                                         operation="ingest", idempotent=True)
        if cache is not None:  # parsed events for posting in this process: no second decode
            for appended in fresh:
                cache.put(appended.body_hash, appended.event)
        return results


@dataclass(frozen=True, slots=True)
class Checked:
    """A batch validated outside any transaction: a result for each document refused, and the
    valid ones (index, event, canonical body, its hash)."""

    now: str
    source: str
    results: list[IngestResult | None]
    valid: list[tuple[int, Event, str, str]]
    rejections: list[Rejection]

    def at(self, now: str) -> Checked:
        """This batch received ``now``: validated ahead of time (in another process), it is
        accepted, and its rejections recorded, when it is appended."""
        return Checked(now, self.source, self.results, self.valid,
                       [dataclasses.replace(rejection, received_at=now) for rejection in self.rejections])


class Appended(NamedTuple):
    """An event the transaction appended: its place in the batch and in the log."""

    batch_index: int
    event: Event
    body: str
    body_hash: str
    offset: int


def check(documents: Sequence[Any], now: str, source: str) -> Checked:
    """Validate every document (no IO): what ``append`` then stores."""
    results: list[IngestResult | None] = [None] * len(documents)
    valid: list[tuple[int, Event, str, str]] = []
    rejections: list[Rejection] = []
    for index, document in enumerate(documents):
        outcome = _validate(document)
        if isinstance(outcome, IngestResult):
            results[index] = outcome
            if outcome.problem is not None:
                rejections.append(Rejection(outcome.event_id, now, outcome.problem.type,
                                            _storable(outcome.problem.field or "(body)"),
                                            _storable(outcome.problem.detail), source,
                                            _safe_store_id(document), _storable_errors(outcome.problem)))
        else:
            valid.append((index, *outcome))
    return Checked(now, source, results, valid, rejections)


def append(uow: UnitOfWork, checked: Checked, *, partitions: int = DEFAULT_PARTITIONS,
           posted: bool = False) -> tuple[list[IngestResult], list[Appended]]:
    """The ingest transaction's work: a result per document, and what was appended. A retry
    after a transient failure starts again from ``checked``.

    ``posted``: the caller posts the appended events in this same transaction (the batch path),
    so they are stored as posted rather than stored and then updated; the caller sets the
    status of any that park."""
    now = checked.now
    outcome = list(checked.results)
    for rejection in checked.rejections:
        uow.events.reject(rejection)
    valid = checked.valid
    stored = uow.events.find_many(list({(event.envelope.store_id, event.envelope.event_id)
                                        for _, event, _, _ in valid}))
    fresh: list[tuple[int, Event, str, str]] = []
    repeated: list[tuple[int, EventKey]] = []  # a second copy inside this batch: index, identity
    for index, event, body, body_hash in valid:
        event_id = event.envelope.event_id
        key = (event.envelope.store_id, event_id)
        prior = stored.get(key)
        if prior is None:
            stored[key] = (body_hash, 0)
            fresh.append((index, event, body, body_hash))
        elif prior[0] != body_hash:
            outcome[index] = IngestResult(event_id, "conflict", prior[1] or None, Problem(
                "conflict", "event_id already used with another body", "event_id",
                f"event {event_id} of store {key[0]} was accepted before with a different body; "
                "the stored event is unchanged"))
        elif prior[1]:
            outcome[index] = IngestResult(event_id, "duplicate", prior[1])
        else:
            repeated.append((index, key))
    status, posted_at = ("posted", now) if posted else ("accepted", None)
    offsets = uow.events.append_many([_new_event(event, body, body_hash, now, checked.source, partitions,
                                                 status, posted_at)
                                      for _, event, body, body_hash in fresh])
    sequences = SequenceTracker(uow, now)
    sequences.prefetch([event.envelope.register_id for _, event, _, _ in fresh])
    accepted_at: dict[EventKey, int] = {}
    appended = []
    for (index, event, body, body_hash), offset in zip(fresh, offsets, strict=True):
        envelope = event.envelope
        outcome[index] = IngestResult(envelope.event_id, "accepted", offset)
        accepted_at[(envelope.store_id, envelope.event_id)] = offset
        sequences.track(event)
        appended.append(Appended(index, event, body, body_hash, offset))
    for index, key in repeated:
        outcome[index] = IngestResult(key[1], "duplicate", accepted_at[key])
    sequences.flush()
    return [r for r in outcome if r is not None], appended


@dataclass(frozen=True, slots=True)
class Undecodable:
    """One event of a batch that is not valid JSON (the rest of the batch is)."""

    detail: str


def _validate(document: Any) -> tuple[Event, str, str] | IngestResult:
    if isinstance(document, Undecodable):
        return IngestResult(None, "rejected", problem=Problem(
            "invalid_event", "Invalid event", "(body)", f"not valid JSON: {document.detail}"))
    try:
        body = canonical_json(document)
    except UnicodeEncodeError:
        return IngestResult(_safe_event_id(document), "rejected", problem=Problem(
            "invalid_event", "Invalid event", "(body)",
            "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode"))
    except (TypeError, ValueError, msgspec.EncodeError):
        return IngestResult(_safe_event_id(document), "rejected", problem=Problem(
            "invalid_event", "Invalid event", "(body)", "not a JSON document"))
    try:
        event = parse_event(document, json_text=body, raw=body)
    except PanDetected as error:
        # The body is neither stored nor echoed; the event_id only if it is not itself a PAN.
        kept_id = None if error.field == "event_id" else _safe_event_id(document)
        return IngestResult(kept_id, "rejected", problem=Problem(
            error.type, "Card data is not accepted", error.field, error.detail))
    except InvalidInput as error:
        # The decoder stopped at the first error; a second pass lists them all (refused events only).
        found = every_error(document, error)
        return IngestResult(_safe_event_id(document), "rejected", problem=Problem(
            error.type, "Invalid event", error.field, error.detail,
            tuple(FieldError(e.field, e.type, e.detail) for e in found) if len(found) > 1 else ()))
    return event, body, hashlib.sha256(body.encode()).hexdigest()


def _new_event(event: Event, body: str, body_hash: str, now: str, source: str, partitions: int,
               status: str, posted_at: str | None) -> NewEvent:
    envelope = event.envelope
    return NewEvent(envelope.event_id, envelope.type, envelope.store_id, envelope.register_id, envelope.seq,
                    envelope.occurred_at.isoformat(), body, body_hash, now, source,
                    partition_of(envelope.store_id, partitions), status, posted_at)


class SequenceTracker:
    """Registers number their events 1, 2, 3, ...: a jump opens a ``sequence_gap``; the
    missing events, when they arrive, close it. Works on a local copy of the high-water
    marks, written back by ``flush``."""

    def __init__(self, uow: UnitOfWork, now: str) -> None:
        self._uow = uow
        self._now = now
        self._highs: dict[str, int] = {}
        self._stores: dict[str, str] = {}
        self._loaded: set[str] = set()

    def prefetch(self, register_ids: list[str | None]) -> None:
        """The high-water marks of many registers in one query."""
        wanted = [r for r in dict.fromkeys(register_ids) if r is not None and r not in self._loaded]
        if wanted:
            self._highs.update(self._uow.events.high_seqs(wanted))
            self._loaded.update(wanted)

    def track(self, event: Event) -> None:
        envelope = event.envelope
        register_id, seq = envelope.register_id, envelope.seq
        if register_id is None or seq is None:
            return
        if register_id not in self._loaded:
            self._highs.update(self._uow.events.high_seqs([register_id]))
            self._loaded.add(register_id)
        high = self._highs.get(register_id, 0)
        if seq > high:
            if seq > high + 1:
                self._open_gap(envelope.store_id, register_id, high + 1, seq - 1, envelope.event_id)
            self._highs[register_id] = seq
            self._stores[register_id] = envelope.store_id
        else:
            self._fill(envelope.store_id, register_id, seq, envelope.event_id)

    def _open_gap(self, store_id: str, register_id: str, low: int, high: int, event_id: str) -> None:
        exception_id = self._uow.exceptions.add(ExceptionRecord(
            0, "sequence_gap", "open", store_id, register_id, event_id, None,
            {"missing_from": low, "missing_to": high, "missing": high - low + 1, "detected_by": event_id},
            self._now))
        self._uow.events.add_gap(SequenceGap(register_id, low, high, exception_id))

    def _fill(self, store_id: str, register_id: str, seq: int, event_id: str) -> None:
        events = self._uow.events
        gaps = events.gaps_containing(register_id, seq)
        if not gaps:
            self._uow.exceptions.add(ExceptionRecord(
                0, "sequence_duplicate", "open", store_id, register_id, event_id, None,
                {"seq": seq, "problem": "seq already used by another event of this register"}, self._now))
            return
        gap = gaps[0]
        events.remove_gap(gap)
        if gap.low < seq:
            events.add_gap(SequenceGap(register_id, gap.low, seq - 1, gap.exception_id))
        if seq < gap.high:
            events.add_gap(SequenceGap(register_id, seq + 1, gap.high, gap.exception_id))
        if events.open_gaps(gap.exception_id) == 0:
            self._uow.exceptions.resolve(gap.exception_id, self._now, "system", "the missing events arrived")

    def flush(self) -> None:
        self._uow.events.set_high_seqs([(register_id, self._stores[register_id], seq)
                                        for register_id, seq in self._highs.items()
                                        if register_id in self._stores])
