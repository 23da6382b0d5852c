"""Publishing accepted events to JetStream, and consuming them per partition."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import NotFoundError

from posledger.app.ports import UnitOfWorkFactory
from posledger.app.retry import RetryLog, RetryPolicy

log = logging.getLogger("posledger.nats")

STREAM = "POSLEDGER_EVENTS"
SUBJECTS = "posledger.events.*"
DUPLICATE_WINDOW_SECONDS = 600.0


# Publishing and fetching retry for ever (the log keeps the events); only the pace backs off.
NATS_BACKOFF = RetryPolicy(first_delay=0.1, max_delay=5.0)


def _nats_kind(error: BaseException) -> str:
    if isinstance(error, NatsTimeout | TimeoutError):
        return "nats_timeout"
    if isinstance(error, ConnectionError | OSError) or "connect" in type(error).__name__.lower():
        return "nats_connection"
    return "nats_" + type(error).__name__


def subject(partition: int) -> str:
    return f"posledger.events.{partition}"


async def connect(url: str) -> Any:
    """``url`` may list a cluster's servers, comma-separated."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    return await nats.connect(servers=servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2,
                              allow_reconnect=True, name="posledger")


async def ensure_stream(js: Any) -> None:
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(api.StreamConfig(name=STREAM, subjects=[SUBJECTS], storage=api.StorageType.FILE,
                                             duplicate_window=DUPLICATE_WINDOW_SECONDS,
                                             max_age=7 * 24 * 3600.0))


class NatsRelay:
    """Publishes every event the log holds as unpublished, then marks it published.

    Runs in its own thread with its own event loop. It is woken after each ingest commit and
    also sweeps every second, so an event committed while NATS was down is published once NATS
    is back. Several ingest nodes may publish the same event: JetStream keeps one (Nats-Msg-Id)."""

    def __init__(self, uow_factory: UnitOfWorkFactory, url: str, batch: int = 1000,
                 retries: RetryLog | None = None) -> None:
        self._uow_factory = uow_factory
        self._url = url
        self._batch = batch
        self._retries = retries
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="nats-relay", daemon=True)
        self.published = 0

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(10)

    async def _run(self) -> None:
        connection = None
        failures = 0
        while not self._stop.is_set():
            try:
                if connection is None or connection.is_closed:
                    connection = await connect(self._url)
                    await ensure_stream(connection.jetstream())
                await self._publish_pending(connection.jetstream())
                failures = 0
            except Exception as error:  # NATS down or slow, or the database: the events wait in the log
                failures += 1
                delay = NATS_BACKOFF.delay(failures)
                kind = _nats_kind(error)
                if self._retries is not None:
                    self._retries.record("relay: publish", kind, error, failures)
                log.warning("publishing to NATS failed (%s: %r); retrying in %.2f s", kind, error, delay)
                await asyncio.sleep(delay)
            await asyncio.to_thread(self._wake.wait, 1.0)
            self._wake.clear()
        if connection is not None:
            await connection.close()

    def _take(self) -> list[tuple[str, int, int]]:
        return self._uow_factory.run(lambda uow: uow.events.unpublished(self._batch), read_only=True,
                                     operation="relay: read unpublished")

    def _mark(self, offsets: list[int]) -> None:
        self._uow_factory.run(lambda uow: uow.events.mark_published(offsets), operation="relay: mark published",
                              idempotent=True)

    async def _publish_pending(self, js: Any) -> None:
        while True:
            pending = await asyncio.to_thread(self._take)
            if not pending:
                return
            acks = [js.publish(subject(partition), json.dumps({"event_id": event_id, "offset": offset}).encode(),
                               headers={"Nats-Msg-Id": f"{offset}:{event_id}"}, timeout=5)
                    for event_id, offset, partition in pending]
            await asyncio.gather(*acks)
            await asyncio.to_thread(self._mark, [offset for _, offset, _ in pending])
            self.published += len(pending)
            if len(pending) < self._batch:
                return


class PartitionConsumers:
    """A worker's durable pull consumers, one per owned partition (``posledger-p<n>``)."""

    def __init__(self, url: str, retries: RetryLog | None = None) -> None:
        self._url = url
        self._retries = retries
        self._failures = 0
        self._connection: Any = None
        self._subscriptions: dict[int, Any] = {}
        self._connecting = asyncio.Lock()

    async def _js(self) -> Any:
        async with self._connecting:  # the partitions fetch concurrently: connect once
            if self._connection is None or self._connection.is_closed:
                self._connection = await connect(self._url)
                self._subscriptions.clear()
                await ensure_stream(self._connection.jetstream())
        return self._connection.jetstream()

    async def fetch(self, partition: int, timeout: float) -> list[Any]:
        """Messages for ``partition`` (possibly none, after ``timeout``). Never raises for NATS
        trouble: the caller posts from the log anyway, so NATS only speeds things up."""
        try:
            js = await self._js()
            subscription = self._subscriptions.get(partition)
            if subscription is None:
                config = api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT, ack_wait=30.0,
                                            max_ack_pending=10_000)
                subscription = await js.pull_subscribe(subject(partition), durable=f"posledger-p{partition}",
                                                       stream=STREAM, config=config)
                self._subscriptions[partition] = subscription
            messages = list(await subscription.fetch(batch=500, timeout=timeout))
            self._failures = 0
            return messages
        except (NatsTimeout, TimeoutError):  # nothing arrived in time: the normal quiet case
            return []
        except Exception as error:
            self._failures += 1
            delay = max(timeout, NATS_BACKOFF.delay(self._failures))
            if self._retries is not None:
                self._retries.record(f"fetch partition {partition}", _nats_kind(error), repr(error), self._failures)
            log.warning("fetching partition %s from NATS failed (%r); retrying in %.2f s", partition, error, delay)
            self._subscriptions.pop(partition, None)
            await asyncio.sleep(delay)
            return []

    def release(self, partition: int) -> None:
        self._subscriptions.pop(partition, None)

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()
