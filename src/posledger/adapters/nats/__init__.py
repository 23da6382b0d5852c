"""NATS JetStream as the transport between ingest nodes and posting workers.

The database log stays the source of truth (order and exactly-once, docs/decisions/0004); the
stream carries one small message per accepted event on ``posledger.events.<partition>``, with
``Nats-Msg-Id`` = the event's log offset and id (the offset is unique in the log; an
``event_id`` is unique only within its store) so that republishing is deduplicated, and wakes the worker that owns the
partition through its durable pull consumer.
"""

from posledger.adapters.nats.transport import STREAM, NatsRelay, PartitionConsumers, ensure_stream

__all__ = ["STREAM", "NatsRelay", "PartitionConsumers", "ensure_stream"]
