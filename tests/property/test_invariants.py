"""Property tests: random streams of every event type keep CONTRACT section 5's invariants.

After every chunk is ingested and posted: every entry and every store's trial balance
balances; GL 1300 per store equals the stock ledger's value; on-hand equals the sum of moves;
nothing is posted twice; invoice series are gapless. Resending the whole stream changes nothing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posledger.adapters.sqlite import SqliteUnitOfWork
from posledger.app.checks import rebuild_projections, run_check
from posledger.app.queries import trial_balance
from tests.contract.conftest import fresh_postgres_schema, postgres_or_skip
from tests.support.builders import MASTER
from tests.support.harness import make_hub

SKUS = ["A", "B", "C"]
REGISTERS = {"S1-R1": "S1", "S1-R2": "S1", "S2-R1": "S2", "S3-R1": "S3"}
LOCATIONS = ["S1", "S1-BACK", "S2", "S3", "W1"]
TIME = "2026-11-22T1{hour}:00:00-05:00"
RATES = {"STD": 0.08875, "RED": 0.04}
TAX_CODE = {"A": "STD", "B": "RED", "C": "STD"}


@st.composite
def sale_lines(draw: st.DrawFn, min_size: int = 1) -> list[dict[str, Any]]:
    lines = []
    for number in range(1, draw(st.integers(min_size, 3)) + 1):
        sku = draw(st.sampled_from(SKUS + ["UNKNOWN"] if draw(st.integers(0, 30)) == 0 else SKUS))
        qty = draw(st.integers(1, 4))
        price = draw(st.integers(0, 5000))
        discount = draw(st.integers(0, qty * price // 5))
        code = TAX_CODE.get(sku, "STD")
        honest = round((qty * price - discount) * RATES[code])
        tax = draw(st.sampled_from([honest, honest, honest, max(0, honest - 1), honest + 7]))
        lines.append({"line_no": number, "sku": sku, "qty": qty, "unit_price": price, "discount": discount,
                      "promo_id": draw(st.sampled_from([None, None, "P10", "NOPE"])),
                      "tax_code": code, "tax": tax})
    return lines


def total(lines: list[dict[str, Any]]) -> int:
    return sum(ln["qty"] * ln["unit_price"] - ln["discount"] + ln["tax"] for ln in lines)


@st.composite
def tenders(draw: st.DrawFn, amount: int, signed: bool = False) -> list[dict[str, Any]]:
    if amount == 0 and signed:
        return []
    off = draw(st.sampled_from([0, 0, 0, 0, 3, -2]))
    kinds = draw(st.lists(st.sampled_from(["cash", "card", "wallet", "gift_card", "on_account"]),
                          min_size=1, max_size=2))
    first = amount // 2 if len(kinds) == 2 else amount + off
    parts = [first, amount - first + off] if len(kinds) == 2 else [first]
    return [{"tender": k, "amount": p} for k, p in zip(kinds, parts, strict=True) if p != 0 and (signed or p > 0)]


@st.composite
def events(draw: st.DrawFn) -> list[dict[str, Any]]:
    stream: list[dict[str, Any]] = []
    seqs = dict.fromkeys(REGISTERS, 0)
    receipts: dict[str, list[str]] = {"S1": [], "S2": [], "S3": []}
    stock_id = 0
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["sale", "sale", "sale", "return", "exchange", "void", "open", "cash",
                                     "close", "receive", "receive", "transfer", "adjust", "count"]))
        hour = draw(st.integers(0, 9))
        if kind in ("receive", "transfer", "adjust", "count"):
            stock_id += 1
            location = draw(st.sampled_from(LOCATIONS))
            sku = draw(st.sampled_from(SKUS))
            payload: dict[str, Any]
            if kind == "receive":
                event_type = "stock.received"
                payload = {"location_id": location, "lines": [
                    {"sku": sku, "qty": draw(st.integers(1, 20)), "unit_cost": draw(st.integers(0, 3000))}]}
            elif kind == "transfer":
                event_type = "stock.transferred"
                target = draw(st.sampled_from([loc for loc in LOCATIONS if loc != location]))
                payload = {"from_location_id": location, "to_location_id": target,
                           "lines": [{"sku": sku, "qty": draw(st.integers(1, 10))}]}
            elif kind == "adjust":
                event_type = "stock.adjusted"
                delta = draw(st.integers(-5, 5).filter(bool))
                payload = {"location_id": location, "reason": "r", "lines": [{"sku": sku, "qty_delta": delta}]}
            else:
                event_type = "stock.counted"
                payload = {"location_id": location, "lines": [{"sku": sku, "counted_qty": draw(st.integers(0, 15))}]}
            stream.append({"event_id": f"STK-{stock_id}", "type": event_type, "store_id": "S1",
                           "register_id": None, "occurred_at": TIME.format(hour=hour), "payload": payload})
            continue
        register = draw(st.sampled_from(sorted(REGISTERS)))
        store = REGISTERS[register]
        seqs[register] += 1
        seq = seqs[register]
        receipt = f"{register}-{seq}"
        session = f"{register}-SES"
        if kind == "sale":
            lines = draw(sale_lines())
            event_type = "sale.completed"
            payload = {"receipt_no": receipt, "currency": "USD", "lines": lines,
                       "tenders": draw(tenders(total(lines)))}
            receipts[store].append(receipt)
        elif kind == "return":
            lines = draw(sale_lines())
            original = draw(st.sampled_from(receipts[store] + [None, "NOPE"]))
            event_type = "return.completed"
            payload = {"receipt_no": receipt, "currency": "USD", "lines": lines,
                       "disposition": draw(st.sampled_from(["restock", "damaged"])),
                       "original": {"store_id": store, "receipt_no": original} if original else None,
                       "tenders": draw(tenders(total(lines)))}
        elif kind == "exchange":
            back = draw(sale_lines())
            out = draw(sale_lines())
            event_type = "exchange.completed"
            payload = {"receipt_no": receipt, "currency": "USD", "return_lines": back, "sale_lines": out,
                       "disposition": "restock", "original": None,
                       "tenders": draw(tenders(total(out) - total(back), signed=True))}
        elif kind == "void":
            event_type = "sale.voided"
            payload = {"receipt_no": draw(st.sampled_from(receipts[store] + ["NOPE"])), "reason": "x",
                       "approved_by": None}
        elif kind == "open":
            event_type = "register.opened"
            payload = {"session_id": session, "opening_float": draw(st.integers(0, 20000))}
        elif kind == "cash":
            event_type = "cash.moved"
            payload = {"session_id": session, "kind": draw(st.sampled_from(["drop", "float_add", "paid_out"])),
                       "amount": draw(st.integers(1, 5000))}
        else:
            event_type = "register.closed"
            payload = {"session_id": session, "counted": {"cash": draw(st.integers(0, 30000))},
                       "approved_by": draw(st.sampled_from([None, "M1"]))}
        stream.append({"event_id": f"{register}-{seq}", "type": event_type, "store_id": store,
                       "register_id": register, "seq": seq, "occurred_at": TIME.format(hour=hour),
                       "payload": payload})
    # The network: reorder a little, resend some.
    if draw(st.booleans()) and len(stream) > 2:
        i = draw(st.integers(0, len(stream) - 2))
        stream[i], stream[i + 1] = stream[i + 1], stream[i]
    for index in draw(st.lists(st.integers(0, len(stream) - 1), max_size=3)):
        stream.append(stream[index])
    return stream


@contextmanager
def fresh_backend(name: str) -> Iterator[Any]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            uow: Any = SqliteUnitOfWork(Path(directory) / "p.db")
            try:
                yield uow
            finally:
                uow.close()
        return
    with fresh_postgres_schema() as uow:
        yield uow


@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
@settings(max_examples=40)
@given(stream=events(), chunk=st.integers(1, 12), batch=st.integers(1, 50), late_master=st.booleans())
def test_random_streams_keep_the_ledger_invariants(backend_name: str, stream: list[dict[str, Any]], chunk: int,
                                                   batch: int, late_master: bool) -> None:
    if backend_name == "postgres":
        postgres_or_skip()
    with fresh_backend(backend_name) as uow:
        hub = make_hub(uow, batch_size=batch)
        hub.load(MASTER)
        for start in range(0, len(stream), chunk):
            results = hub.send(*stream[start:start + chunk])
            assert all(r.status in ("accepted", "duplicate") for r in results), results
            hub.post()
            report = hub.invariants()  # full: the balances kept at posting equal the journal's sums
            assert report.ok, report
            incremental = run_check(uow, clock=hub.clock)  # from the last chunk's checkpoint
            assert incremental.ok, incremental
            _drawers_match_account_1000(hub)
        if late_master:
            hub.load({"items": [{"sku": "UNKNOWN", "name": "late", "tax_code": "STD", "price": 1}]})
            hub.post()
            assert hub.invariants().ok
        with uow() as unit:
            counts = unit.events.counts()
            before = trial_balance(unit)
        assert counts.get("accepted", 0) == 0  # every accepted event was posted or parked
        hub.send(*stream)
        assert hub.post().posted == 0
        with uow() as unit:
            assert trial_balance(unit) == before
        rebuild_projections(uow)  # balances rebuilt from the journal are the balances kept
        with uow() as unit:
            assert trial_balance(unit) == before
        assert run_check(uow, full=True, clock=hub.clock).ok


def _drawers_match_account_1000(hub: Any) -> None:
    """Each register's balance of account 1000 is the expected cash of its sessions still open
    plus the cash its events posted outside any session (each named by a late exception): a
    closed session holds nothing, and its figures never moved after its close."""
    with hub.uow() as uow:
        lines = uow.queries.entry_lines(account="1000", store_id=None, business_day=None, event_offset=None,
                                        after=(0, 0), limit=1_000_000)
        held: dict[str, int] = {}
        for session in uow.queries.sessions():
            if session.status == "open":
                held[session.register_id] = held.get(session.register_id, 0) + session.expected
            else:
                assert session.expected + session.over_short == session.counted, session
        for kind in ("no_open_session", "session_mismatch"):
            for record in uow.exceptions.list(type=kind, limit=1_000_000):
                if isinstance(record.detail.get("cash"), int):
                    register = record.detail["register_id"]
                    held[register] = held.get(register, 0) + record.detail["cash"]
    balance: dict[str, int] = {}
    for line in lines:
        balance[line.register_id] = balance.get(line.register_id, 0) + line.debit - line.credit
    for register_id in balance.keys() | held.keys():
        assert held.get(register_id, 0) == balance.get(register_id, 0), (register_id, held, balance)
