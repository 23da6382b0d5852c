"""Property (CONTRACT section 2, bounds; section 15): any event the codec accepts posts without
an exception in the posting step. Events are drawn from the codec's own JSON Schema, extremes
included (amounts of 10^12, quantities of 10^6, any printable text, ext objects), then pointed
at the test master data's store, register, items and locations so that the rules run."""

from __future__ import annotations

import itertools
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.domain.codec import event_json_schema, parse_event
from posledger.domain.errors import InvalidInput
from tests.support.builders import MASTER
from tests.support.harness import make_hub
from tests.support.schema_strategies import from_schema

UNION, COMPONENTS = event_json_schema()
OFFSETS = st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=OFFSETS).map(
    lambda moment: moment.isoformat())
EVENTS = from_schema(UNION, COMPONENTS, {
    "occurred_at": MOMENTS, "currency": st.just("USD"), "sku": st.sampled_from(["A", "B", "C"]),
    "tax_code": st.sampled_from(["STD", "RED"]), "location_id": st.sampled_from(["S1", "S1-BACK"]),
    "from_location_id": st.just("S1"), "to_location_id": st.just("S1-BACK"),
    "store_id": st.just("S1"), "register_id": st.sampled_from(["S1-R1", "S1-R2"]),
})
_ids = itertools.count(1)


def _magnitude(document: Any) -> int:
    """The sum of every integer in the documents, and of every qty times the amounts beside it."""
    if isinstance(document, dict):
        own = sum(abs(value) for value in document.values() if type(value) is int)
        qty = abs(document.get("qty", document.get("qty_delta", document.get("counted_qty", 1))) or 1)
        return own * qty + sum(_magnitude(value) for value in document.values() if isinstance(value, (dict, list)))
    if isinstance(document, list):
        return sum(_magnitude(value) for value in document)
    return 0


def _placed(event: dict[str, Any]) -> dict[str, Any]:
    event["event_id"] = f"P-{next(_ids)}"
    if event.get("type", "").startswith("stock."):
        event["register_id"] = None
        event.pop("seq", None)
    original = event.get("payload", {}).get("original")
    if isinstance(original, dict):
        original["store_id"] = "S1"
    return event


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(stream=st.lists(EVENTS, min_size=1, max_size=8))
def test_every_event_the_codec_accepts_posts_without_an_exception(stream: list[dict[str, Any]]) -> None:
    accepted = []
    for event in stream:
        event = _placed(event)
        try:
            parse_event(event)
        except InvalidInput:  # a rule across fields the schema cannot say (a discount over the line...)
            continue
        accepted.append(event)
    assume(accepted)
    # One event's size is bounded (section 2); a stream's sum is not: streams whose amounts could
    # add up past a 64-bit balance are another property (tests/e2e/test_poison_event.py).
    assume(_magnitude(accepted) < 2**62)
    with tempfile.TemporaryDirectory() as directory:
        uow = SqliteUnitOfWork(Path(directory) / "p.db")
        try:
            hub = make_hub(uow)
            hub.load(MASTER)
            results = hub.send(*accepted)
            assert all(result.status == "accepted" for result in results), results
            hub.post()
            with uow() as unit:
                failed = unit.exceptions.list(type="posting_failed")
                counts = unit.events.counts()
            assert not failed, [record.detail for record in failed]
            assert counts.get("accepted", 0) == 0
            assert hub.invariants().ok
        finally:
            uow.close()
