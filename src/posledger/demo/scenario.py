"""A simulated business day for the demo: every event type, and the awkward cases.

Pure data generation (seeded, so every run is the same): master data comes from
``master_data.json``; events are plain dicts exactly as a POS would send them.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from posledger.domain.money import apply_rate, divide_by_one_plus, parse_rate

DAY = "2026-11-27"  # Black Friday


def master_data() -> dict[str, Any]:
    text = resources.files("posledger.demo").joinpath("master_data.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def pos_tax(qty: int, unit_price: int, discount: int, rate: str, inclusive: bool) -> int:
    """The tax a correctly configured POS charges on one line (per-line half-up rounding)."""
    r = parse_rate(rate)
    if inclusive:
        amount = qty * unit_price - discount
        return amount - divide_by_one_plus(amount, r)
    return apply_rate(qty * unit_price - discount, r)


@dataclass
class Register:
    register_id: str
    store_id: str
    zone: ZoneInfo
    seq: int = 0
    receipts: int = 0

    def event(self, event_type: str, at: datetime, payload: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"event_id": f"{self.register_id}-{self.seq:06d}", "type": event_type,
                "store_id": self.store_id, "register_id": self.register_id, "seq": self.seq,
                "occurred_at": at.isoformat(), "payload": payload}

    def receipt_no(self) -> str:
        self.receipts += 1
        return f"{self.register_id}-{self.receipts:06d}"


@dataclass
class Scenario:
    """The day's events, in the order the stores send them, plus the awkward bits to show."""

    master: dict[str, Any]
    late_master: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    held_back: list[dict[str, Any]] = field(default_factory=list)  # sent late: closes a gap
    notes: list[str] = field(default_factory=list)


def build(sales_per_register: int = 40, seed: int = 7) -> Scenario:
    rng = random.Random(seed)
    full = master_data()
    items = {item["sku"]: item for item in full["items"]}
    late_sku = "SKU-3001"
    master = {**full, "items": [i for i in full["items"] if i["sku"] != late_sku]}
    scenario = Scenario(master, {"items": [items[late_sku]]})
    stores = {s["store_id"]: s for s in full["stores"]}
    rates = {(t["tax_region"], t["tax_code"]): t["rate"] for t in full["tax_rules"]}
    registers = [Register(r["register_id"], r["store_id"], ZoneInfo(stores[r["store_id"]]["timezone"]))
                 for r in full["registers"]]
    day = datetime.fromisoformat(DAY)
    events = scenario.events

    def local(register_or_store: Register | str, hour: float) -> datetime:
        zone = register_or_store.zone if isinstance(register_or_store, Register) else \
            ZoneInfo(stores[register_or_store]["timezone"])
        return (day + timedelta(hours=hour)).replace(tzinfo=zone)

    def stock_event(event_id: str, event_type: str, store_id: str, hour: float,
                    payload: dict[str, Any]) -> dict[str, Any]:
        return {"event_id": event_id, "type": event_type, "store_id": store_id, "register_id": None,
                "occurred_at": local(store_id, hour).isoformat(), "payload": payload}

    # Morning: the warehouse receives, and ships to the stores.
    known = [sku for sku in items if sku != late_sku]
    events.append(stock_event("W001-PO-1001", "stock.received", "W001", 6, {
        "location_id": "W001", "reference": "PO-1001",
        "lines": [{"sku": sku, "qty": 500, "unit_cost": items[sku]["standard_cost"]} for sku in known]}))
    events.append(stock_event("W001-PO-1002", "stock.received", "W001", 6.5, {
        "location_id": "W001", "reference": "PO-1002",
        "lines": [{"sku": sku, "qty": 100, "unit_cost": items[sku]["standard_cost"] + 35} for sku in known]}))
    for store_id in ("S001", "S002", "S003"):
        events.append(stock_event(f"W001-TR-{store_id}", "stock.transferred", "W001", 7, {
            "from_location_id": "W001", "to_location_id": store_id, "reference": f"TR-{store_id}",
            "lines": [{"sku": sku, "qty": 150} for sku in known]}))
    events.append(stock_event("S001-TR-BACK", "stock.transferred", "S001", 7.5, {
        "from_location_id": "S001", "to_location_id": "S001-BACK", "reference": "TR-BACK",
        "lines": [{"sku": "SKU-1002", "qty": 10}]}))

    sales: dict[str, list[dict[str, Any]]] = {r.register_id: [] for r in registers}

    def sale(register: Register, hour: float, lines: list[tuple[str, int, int, str | None]],
             tenders: list[str], event_type: str = "sale.completed", **extra: Any) -> dict[str, Any]:
        store = stores[register.store_id]
        doc_lines = []
        for number, (sku, qty, discount, promo) in enumerate(lines, start=1):
            item = items[sku]
            tax = pos_tax(qty, item["price"], discount, rates[(store["tax_region"], item["tax_code"])],
                          store["prices_include_tax"])
            doc_lines.append({"line_no": number, "sku": sku, "qty": qty, "unit_price": item["price"],
                              "discount": discount, "promo_id": promo, "tax_code": item["tax_code"],
                              "tax": tax})
        if store["prices_include_tax"]:
            total = sum(ln["qty"] * ln["unit_price"] - ln["discount"] for ln in doc_lines)
        else:
            total = sum(ln["qty"] * ln["unit_price"] - ln["discount"] + ln["tax"] for ln in doc_lines)
        net = total - sum(ln["tax"] for ln in doc_lines)
        payload: dict[str, Any] = {
            "receipt_no": register.receipt_no(), "cashier_id": "C7", "customer_id": None,
            "currency": "USD", "channel": "store", "lines": doc_lines,
            "tenders": _split_tenders(total, tenders, register), "totals": {
                "net": net, "tax": total - net, "gross": total}, **extra}
        event = register.event(event_type, local(register, hour), payload)
        sales[register.register_id].append(event)
        return event

    for register in registers:
        events.append(register.event("register.opened", local(register, 8.5), {
            "session_id": f"{register.register_id}-{DAY}", "cashier_id": "C7", "opening_float": 20000}))

    for index in range(sales_per_register):
        for register in registers:
            hour = 9 + 11 * index / sales_per_register + rng.random() * 0.1
            picked = rng.sample(known, rng.randint(1, 3))
            lines = []
            for sku in picked:
                qty = rng.randint(1, 3)
                promo = "BF-10" if rng.random() < 0.3 else None
                discount = (qty * items[sku]["price"]) // 10 if promo else 0
                lines.append((sku, qty, discount, promo))
            kinds = rng.choice([["cash"], ["card"], ["card"], ["wallet"], ["cash", "card"]])
            events.append(sale(register, hour, lines, kinds))

    r1, r2, s2, s3 = registers
    # A duplicate: the POS resends a sale it had already sent (network blip).
    events.append(dict(events[-5]))
    scenario.notes.append(f"duplicate: {events[-1]['event_id']} is sent twice")
    # A gap: one sale leaves S002-R1 late (sent at the end of the day).
    late_sale = sale(s2, 14.2, [("SKU-1001", 1, 0, None)], ["card"])
    scenario.held_back.append(late_sale)
    scenario.notes.append(f"gap: {late_sale['event_id']} arrives last; sequence_gap opens, then resolves")
    # An unknown SKU: the gift box is sold before master data knows it.
    events.append(sale(r1, 15, [("SKU-3001", 2, 0, None), ("SKU-1001", 1, 0, None)], ["card"]))
    scenario.notes.append(f"unknown SKU: {events[-1]['event_id']} waits for SKU-3001, then posts")
    # Returns: with receipt (restock), without receipt (damaged); an exchange; a void.
    original = sales[r1.register_id][3]
    first = original["payload"]["lines"][0]
    events.append(r1.event("return.completed", local(r1, 16), {
        "receipt_no": r1.receipt_no(), "currency": "USD", "reason": "changed mind",
        "disposition": "restock",
        "original": {"store_id": "S001", "receipt_no": original["payload"]["receipt_no"]},
        "lines": [{**first, "qty": 1, "discount": first["discount"] // first["qty"],
                   "tax": pos_tax(1, first["unit_price"], first["discount"] // first["qty"],
                                  rates[("US-NY", first["tax_code"])], False)}],
        "tenders": []}))
    refund = sum(ln["qty"] * ln["unit_price"] - ln["discount"] + ln["tax"] for ln in events[-1]["payload"]["lines"])
    events[-1]["payload"]["tenders"] = [{"tender": "cash", "amount": refund}]
    events.append(s3.event("return.completed", local(s3, 16.5), {
        "receipt_no": s3.receipt_no(), "currency": "USD", "reason": "broken in box",
        "disposition": "damaged", "original": None,
        "lines": [{"line_no": 1, "sku": "SKU-1002", "qty": 1, "unit_price": 2499, "discount": 0,
                   "tax_code": "STD", "tax": pos_tax(1, 2499, 0, "0.0725", True)}],
        "tenders": [{"tender": "card", "amount": 2499}]}))
    swapped = sales[r2.register_id][2]
    back = swapped["payload"]["lines"][0]
    returned_total = back["qty"] * back["unit_price"] - back["discount"] + back["tax"]
    new_tax = pos_tax(1, items["SKU-1002"]["price"], 0, "0.08875", False)
    new_total = items["SKU-1002"]["price"] + new_tax
    events.append(r2.event("exchange.completed", local(r2, 17), {
        "receipt_no": r2.receipt_no(), "currency": "USD",
        "original": {"store_id": "S001", "receipt_no": swapped["payload"]["receipt_no"]},
        "return_lines": [{**back, "disposition": "restock", "reason": "wrong size"}],
        "sale_lines": [{"line_no": 1, "sku": "SKU-1002", "qty": 1, "unit_price": items["SKU-1002"]["price"],
                        "discount": 0, "tax_code": "STD", "tax": new_tax}],
        "tenders": [{"tender": "card", "amount": new_total - returned_total}]}))
    voided = sales[s2.register_id][5]
    events.append(s2.event("sale.voided", local(s2, 17.5), {
        "receipt_no": voided["payload"]["receipt_no"], "reason": "customer changed mind at till",
        "approved_by": "M1"}))
    # An online order picked up in store S002 (its reservation is consumed).
    events.append(sale(s2, 18, [("SKU-2001", 2, 0, None)], ["card"], "order.fulfilled",
                       order_id="WEB-5001"))
    events[-1]["payload"]["channel"] = "click_and_collect"
    # A tax misconfiguration at the POS: S003 charges the standard rate on coffee.
    bad = sale(s3, 18.5, [("SKU-2001", 1, 0, None)], ["card"])
    bad["payload"]["lines"][0]["tax"] = pos_tax(1, items["SKU-2001"]["price"], 0, "0.0725", True)
    bad["payload"]["totals"] = None
    events.append(bad)
    scenario.notes.append(f"tax misconfiguration: {bad['event_id']} raises tax_mismatch")
    # Cash moves, then the closes: S001-R2 comes up 20.00 short with no approval.
    events.append(r1.event("cash.moved", local(r1, 13), {
        "session_id": f"S001-R1-{DAY}", "kind": "drop", "amount": 10000, "reason": "midday drop"}))
    events.append(r1.event("cash.moved", local(r1, 13.5), {
        "session_id": f"S001-R1-{DAY}", "kind": "paid_out", "amount": 1250, "reason": "window cleaner"}))
    events.append(s3.event("cash.moved", local(s3, 12), {
        "session_id": f"S003-R1-{DAY}", "kind": "float_add", "amount": 5000, "reason": "coins"}))
    # Stock: a count in S001 finds two scarves missing; a damaged item written off in S002.
    events.append(stock_event("S001-CNT-1", "stock.counted", "S001", 20.5, {
        "location_id": "S001-BACK", "lines": [{"sku": "SKU-1002", "counted_qty": 8}]}))
    events.append(stock_event("S002-ADJ-1", "stock.adjusted", "S002", 20.6, {
        "location_id": "S002", "reason": "damaged in store", "lines": [{"sku": "SKU-1001", "qty_delta": -1}]}))
    scenario.notes.append("cash shortage: S001-R2 closes 20.00 short without approval (cash_variance)")
    return scenario


def _split_tenders(total: int, kinds: list[str], register: Register) -> list[dict[str, Any]]:
    card = {"scheme": "visa", "last4": "4242", "auth_code": "A1B2C3",
            "terminal_id": f"T-{register.register_id}"}
    if kinds == ["cash", "card"]:
        cash = total // 2
        return [{"tender": "cash", "amount": cash, "tendered": cash, "change": 0},
                {"tender": "card", "amount": total - cash, "card": card}]
    kind = kinds[0]
    tender: dict[str, Any] = {"tender": kind, "amount": total}
    if kind == "card":
        tender["card"] = card
    if kind == "cash":
        paid = -(-total // 1000) * 1000
        tender.update(tendered=paid, change=paid - total)
    return [tender]


def closes(scenario: Scenario, expected_cash: dict[str, int], short_register: str = "S001-R2",
           short_by: int = 2000) -> list[dict[str, Any]]:
    """Register closes, counting what the hub expects (minus a shortage on one register).

    The counts come after the day's postings, as in a store: the cashier counts the drawer."""
    result = []
    for register_id, expected in sorted(expected_cash.items()):
        store_id = register_id.split("-")[0]
        seq = _last_seq(scenario, register_id) + 1
        counted = expected - (short_by if register_id == short_register else 0)
        result.append({"event_id": f"{register_id}-{seq:06d}", "type": "register.closed",
                       "store_id": store_id, "register_id": register_id, "seq": seq,
                       "occurred_at": f"{DAY}T21:00:00{_offset(store_id)}",
                       "payload": {"session_id": f"{register_id}-{DAY}", "counted": {"cash": counted},
                                   "approved_by": None}})
    return result


def _last_seq(scenario: Scenario, register_id: str) -> int:
    return max(int(e["seq"]) for e in scenario.events + scenario.held_back
               if e.get("register_id") == register_id)


def _offset(store_id: str) -> str:
    zone = ZoneInfo(next(s["timezone"] for s in master_data()["stores"] if s["store_id"] == store_id))
    offset = datetime.fromisoformat(DAY).replace(tzinfo=zone).utcoffset() or timedelta()
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


__all__ = ["build", "closes", "master_data", "pos_tax", "Scenario", "DAY", "timezone"]
