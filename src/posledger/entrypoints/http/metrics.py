"""Prometheus metrics: events by type and result, posting lag, open exceptions by type,
request latency by route, and when each register was last heard from."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class OpenExceptionsCollector(Collector):
    """Read at scrape time, so the figure is the database's, not this process's memory."""

    def __init__(self, count_open: Callable[[], dict[str, int]]) -> None:
        self._count_open = count_open

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("posledger_open_exceptions", "Open exceptions by type", labels=["type"])
        for exception_type, count in sorted(self._count_open().items()):
            family.add_metric([exception_type], count)
        yield family


class Metrics:
    def __init__(self, count_open: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("posledger_events", "Events received, by type and result",
                              ["type", "result"], registry=self.registry)
        self.posting_lag = Histogram(
            "posledger_posting_lag_seconds", "From accepted to posted",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300), registry=self.registry)
        self.request_latency = Histogram(
            "posledger_request_seconds", "HTTP request latency by route and method",
            ["route", "method"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry)
        self.register_last_seen = Gauge("posledger_register_last_seen_timestamp_seconds",
                                        "When each register's last event was accepted", ["register_id"],
                                        registry=self.registry)
        self.registry.register(OpenExceptionsCollector(count_open))
