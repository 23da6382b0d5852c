"""Group commit: requests share a transaction, and one request's failure fails no other."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from posledger.app.ingest import IngestResult
from posledger.entrypoints.http.group_commit import GroupCommitIngester


class Poisoned(Exception):
    pass


def test_a_failing_request_fails_alone_and_the_rest_of_its_group_is_committed() -> None:
    calls: list[int] = []

    def ingest(documents: Sequence[Any]) -> list[IngestResult]:
        calls.append(len(documents))
        if "bad" in documents:
            raise Poisoned("cannot store this")
        return [IngestResult(str(document), "accepted", index + 1) for index, document in enumerate(documents)]

    async def scenario() -> list[Any]:
        ingester = GroupCommitIngester(ingest)
        requests = [ingester.submit(["a1", "a2"]), ingester.submit(["bad"]), ingester.submit(["c1"])]
        tasks = [asyncio.ensure_future(request) for request in requests]
        await asyncio.sleep(0.05)  # all three queued before the thread starts: one group
        ingester.start()
        try:
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            ingester.stop()

    first, second, third = asyncio.run(scenario())
    assert calls[0] == 4  # the group, tried once together
    assert [result.event_id for result in first] == ["a1", "a2"]
    assert isinstance(second, Poisoned)
    assert [result.event_id for result in third] == ["c1"]
    assert calls[1:] == [2, 1, 1]  # then each request alone


def test_a_lone_request_that_fails_gets_its_error() -> None:
    def ingest(documents: Sequence[Any]) -> list[IngestResult]:
        raise Poisoned("no")

    async def scenario() -> None:
        ingester = GroupCommitIngester(ingest)
        ingester.start()
        try:
            await ingester.submit(["x"])
        finally:
            ingester.stop()

    with pytest.raises(Poisoned):
        asyncio.run(scenario())
