"""Per-token rate limits and failed-authentication throttling, on a fake clock."""

from __future__ import annotations

from posledger.entrypoints.http.limits import FailedAuthentications, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_gets_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=5, monotonic=clock)
    assert [buckets.take("tok_a") for _ in range(5)] == [0.0] * 5
    wait = buckets.take("tok_a")
    assert 0 < wait <= 0.1
    assert buckets.take("tok_b") == 0.0  # another token has its own bucket
    clock.now += 0.1
    assert buckets.take("tok_a") == 0.0
    assert buckets.take("tok_a") > 0
    clock.now += 10
    assert [buckets.take("tok_a") for _ in range(5)] == [0.0] * 5  # refilled to the burst, no more
    assert buckets.take("tok_a") > 0


def test_the_gate_reads_a_bucket_without_taking_from_it() -> None:
    """``waiting`` is what RateGate asks before any other work: it never takes a request's
    place, knows nothing of a token that has not authenticated, and agrees with ``take``."""
    clock = Clock()
    buckets = TokenBuckets(rate=10, burst=2, monotonic=clock)
    assert buckets.waiting("never-seen") == 0.0
    assert [buckets.take("tok") for _ in range(2)] == [0.0, 0.0]
    assert 0 < buckets.waiting("tok") <= 0.1
    assert buckets.waiting("tok") == buckets.waiting("tok")  # reading takes nothing
    clock.now += 0.1
    assert buckets.waiting("tok") == 0.0 and buckets.take("tok") == 0.0


def test_a_rate_of_zero_limits_nothing() -> None:
    buckets = TokenBuckets(rate=0, burst=1)
    assert all(buckets.take("t") == 0.0 for _ in range(1000))


def test_twenty_failures_in_a_minute_block_the_client_for_a_minute() -> None:
    clock = Clock()
    failures = FailedAuthentications(monotonic=clock)
    for _ in range(19):
        failures.failed("10.0.0.9")
        clock.now += 1
    assert failures.blocked("10.0.0.9") == 0.0
    failures.failed("10.0.0.9")
    assert 59 < failures.blocked("10.0.0.9") <= 60
    assert failures.blocked("10.0.0.8") == 0.0
    clock.now += 60.5
    assert failures.blocked("10.0.0.9") == 0.0


def test_failures_spread_over_more_than_a_minute_do_not_block() -> None:
    clock = Clock()
    failures = FailedAuthentications(monotonic=clock)
    for _ in range(40):
        failures.failed("10.0.0.9")
        clock.now += 4  # 15 a minute
    assert failures.blocked("10.0.0.9") == 0.0
