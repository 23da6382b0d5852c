"""Register sessions on every backend: a closed session's figures never change, whatever a POS
sends after it (CONTRACT 2.1 section 11), and every session keeps its own row, in one posting
batch or across several: account 1000 per register is the expected cash of the sessions still
open plus the cash posted outside any session."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.builders import cash_moved, closed, line, opened, sale, tender
from tests.support.harness import Hub


def _sessions(hub: Hub) -> list[Any]:
    with hub.uow() as uow:
        return list(uow.queries.sessions(register_id="S1-R1"))


def _drawer_account_is_explained(hub: Hub) -> None:
    with hub.uow() as uow:
        lines = uow.queries.entry_lines(account="1000", store_id=None, business_day=None, event_offset=None,
                                        after=(0, 0), limit=100_000, register_id="S1-R1")
        held = sum(s.expected for s in uow.queries.sessions(register_id="S1-R1") if s.status == "open")
        for kind in ("no_open_session", "session_mismatch"):
            held += sum(r.detail.get("cash", 0) for r in uow.exceptions.list(type=kind))
    assert held == sum(ln.debit - ln.credit for ln in lines)


def _cash_sale(receipt: str, amount: int) -> dict[str, Any]:
    return sale([line("A", 1, amount, tax=0, tax_code="ZERO")], [tender("cash", amount)], receipt_no=receipt)


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_reused_session_id_opens_another_session_and_the_closed_one_stays(hub: Hub, one_batch: bool) -> None:
    hub.load({"tax_rules": [{"tax_region": "NY", "tax_code": "ZERO", "rate": "0"}]})
    events = [opened(100, "A"), closed(100, "A"), opened(200, "B"), closed(200, "B"),
              opened(50, "A"), _cash_sale("R-1", 40), closed(90, "A")]
    if one_batch:
        hub.send_and_post(*events)
    else:
        for event in events:
            hub.send_and_post(event)
    sessions = _sessions(hub)
    assert [(s.session_id, s.status, s.opening_float, s.cash_sales, s.counted) for s in sessions] == [
        ("A", "closed", 100, 0, 100), ("A", "closed", 50, 40, 90), ("B", "closed", 200, 0, 200)]
    _drawer_account_is_explained(hub)


def test_a_session_opened_twice_keeps_both_floats_and_another_open_leaves_the_first_open(hub: Hub) -> None:
    hub.load({"tax_rules": [{"tax_region": "NY", "tax_code": "ZERO", "rate": "0"}]})
    hub.send_and_post(opened(100, "A"), _cash_sale("R-1", 50))
    hub.send_and_post(opened(10, "A"))  # the same session again, in a later batch: one session
    hub.send_and_post(opened(200, "B"), opened(300, "A"), cash_moved("drop", 20, "A"))
    sessions = _sessions(hub)
    assert sorted((s.session_id, s.status, s.opening_float, s.expected) for s in sessions) == [
        ("A", "open", 110, 160), ("A", "open", 300, 280), ("B", "open", 200, 200)]
    _drawer_account_is_explained(hub)
    hub.send_and_post(closed(280, "A"), _cash_sale("R-2", 7), closed(0, "B"))  # late cash and a stale close
    closed_a = [s for s in _sessions(hub) if s.status == "closed"]
    assert [(s.session_id, s.opening_float, s.counted, s.over_short) for s in closed_a] == [("A", 300, 280, 0)]
    _drawer_account_is_explained(hub)
