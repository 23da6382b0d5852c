"""The simulated fleet: registers that sell, keep an outbox, and send it to the hub.

Each register numbers its events (seq 1, 2, ...), writes every event to the outbox before
anything is sent (the sale is complete at the till), and a sender per register posts its
outbox in batches, in seq order, retrying with exponential backoff and jitter while the hub
is slow or down. Nothing leaves the outbox until the hub answered ``accepted`` or
``duplicate``, so no sale is ever lost.

Chaos (``chaos=True``): resends of events already sent, reordering inside a batch, requests cut
off mid-flight (tiny timeouts), and one register that goes offline for a while, keeps selling,
and then replays its backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from posledger.simulator.outbox import Outbox

TAX_RATE_TEXT = "0.08"
TAX_PERCENT = 8


def store_id(number: int) -> str:
    return f"SIM{number:03d}"


def register_id(store_number: int, register_number: int, fleet: str) -> str:
    """Register ids carry the fleet's name: a new outbox is a new fleet, whose registers start
    at seq 1 without colliding with another fleet's event ids."""
    return f"{store_id(store_number)}-{fleet}-R{register_number}"


def master_data(stores: int, registers: int, fleet: str, skus: int = 200) -> dict[str, Any]:
    return {
        "stores": [{"store_id": store_id(s), "kind": "store", "name": f"Simulated store {s}",
                    "timezone": "UTC", "currency": "USD", "prices_include_tax": False,
                    "day_cutoff": "00:00", "tax_region": "SIM"} for s in range(1, stores + 1)],
        "registers": [{"register_id": register_id(s, r, fleet), "store_id": store_id(s)}
                      for s in range(1, stores + 1) for r in range(1, registers + 1)],
        "items": [{"sku": f"SIM-{i:04d}", "name": f"Item {i}", "category": "sim", "tax_code": "STD",
                   "price": 199 + 37 * i, "standard_cost": 90 + 15 * i} for i in range(1, skus + 1)],
        "tax_rules": [{"tax_region": "SIM", "tax_code": "STD", "rate": TAX_RATE_TEXT}],
    }


def _tax(net: int) -> int:
    return (net * TAX_PERCENT * 2 + 100) // 200  # ROUND_HALF_UP of net * 0.08


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Register:
    register_id: str
    store_id: str
    skus: int
    rng: random.Random
    seq: int = 0
    session_open: bool = False
    cash_expected: int = 0
    receipts: list[tuple[str, list[dict[str, Any]], int]] = field(default_factory=list)  # receipt, lines, cash
    voided: set[str] = field(default_factory=set)

    def _event(self, event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        return {"event_id": f"{self.register_id}-{self.seq:08d}", "type": event_type, "store_id": self.store_id,
                "register_id": self.register_id, "seq": self.seq, "occurred_at": _now(), "payload": payload}

    def next_event(self) -> dict[str, Any]:
        """What the cashier does next: open, sell (mostly), return, void, move cash."""
        if not self.session_open:
            self.session_open = True
            self.cash_expected += 20000
            return self._event("register.opened", {"session_id": f"{self.register_id}-S", "cashier_id": "C1",
                                                   "opening_float": 20000})
        roll = self.rng.random()
        if roll < 0.04 and self.receipts:
            return self._return()
        if roll < 0.06 and self.receipts:
            receipt, _lines, cash = self.receipts.pop()
            self.voided.add(receipt)
            self.cash_expected -= cash
            return self._event("sale.voided", {"receipt_no": receipt, "reason": "simulated", "approved_by": "M1"})
        if roll < 0.08 and self.cash_expected > 5000:
            self.cash_expected -= 2000
            return self._event("cash.moved", {"session_id": f"{self.register_id}-S", "kind": "drop",
                                              "amount": 2000, "reason": "simulated drop"})
        return self._sale()

    def _lines(self) -> list[dict[str, Any]]:
        lines = []
        for number, sku in enumerate(self.rng.sample(range(1, self.skus + 1), self.rng.randint(1, 3)), start=1):
            qty = self.rng.randint(1, 3)
            price = 199 + 37 * sku
            discount = (qty * price) // 20 if self.rng.random() < 0.2 else 0
            lines.append({"line_no": number, "sku": f"SIM-{sku:04d}", "qty": qty, "unit_price": price,
                          "discount": discount, "promo_id": None, "tax_code": "STD",
                          "tax": _tax(qty * price - discount)})
        return lines

    def _sale(self) -> dict[str, Any]:
        lines = self._lines()
        total = sum(ln["qty"] * ln["unit_price"] - ln["discount"] + ln["tax"] for ln in lines)
        cash = total if self.rng.random() < 0.3 else 0
        tenders: list[dict[str, Any]] = [{"tender": "cash", "amount": cash}] if cash else [
            {"tender": "card", "amount": total, "card": {"scheme": "visa", "last4": "4242", "auth_code": "OK",
                                                        "terminal_id": f"T-{self.register_id}"}}]
        receipt = f"{self.register_id}-{self.seq + 1:08d}"
        self.receipts.append((receipt, lines, cash))
        self.receipts = self.receipts[-50:]
        self.cash_expected += cash
        return self._event("sale.completed", {
            "receipt_no": receipt, "cashier_id": "C1", "customer_id": None, "currency": "USD", "channel": "store",
            "lines": lines, "tenders": tenders,
            "totals": {"net": total - sum(ln["tax"] for ln in lines), "tax": sum(ln["tax"] for ln in lines),
                       "gross": total}})

    def _return(self) -> dict[str, Any]:
        receipt, lines, _cash = self.rng.choice(self.receipts)
        line = dict(lines[0])
        line.update(qty=1, discount=line["discount"] // line["qty"])
        line["tax"] = _tax(line["unit_price"] - line["discount"])
        refund = line["unit_price"] - line["discount"] + line["tax"]
        return self._event("return.completed", {
            "receipt_no": f"RT-{self.register_id}-{self.seq + 1}", "currency": "USD", "reason": "simulated",
            "disposition": "restock", "original": {"store_id": self.store_id, "receipt_no": receipt},
            "lines": [line], "tenders": [{"tender": "card", "amount": refund}]})

    def close(self) -> dict[str, Any]:
        self.session_open = False
        counted, self.cash_expected = self.cash_expected, 0
        return self._event("register.closed", {"session_id": f"{self.register_id}-S", "counted": {"cash": counted},
                                               "approved_by": None})


@dataclass
class Stats:
    started: float = field(default_factory=time.monotonic)
    generated: int = 0
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def percentile(self, fraction: float) -> float:
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms[-50_000:])
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.started
        return {"seconds": round(elapsed, 1), "generated": self.generated, "accepted": self.accepted,
                "duplicate": self.duplicate, "rejected": self.rejected, "requests": self.requests,
                "retries": self.retries, "accepted_per_second": round(self.accepted / elapsed, 1) if elapsed else 0,
                "latency_ms": {"p50": round(self.percentile(0.5), 1), "p95": round(self.percentile(0.95), 1),
                               "p99": round(self.percentile(0.99), 1)}}


@dataclass
class FleetConfig:
    url: str
    token: str
    stores: int = 3
    registers: int = 2
    rate: float = 50.0
    duration: float = 30.0
    batch: int = 100
    chaos: bool = False
    setup: bool = True
    seed: int = 1
    drain_timeout: float = 300.0
    opening_stock: int = 1000  # units of every SKU in every store before the day starts


class Fleet:
    def __init__(self, config: FleetConfig, outbox: Outbox) -> None:
        self.config = config
        self.outbox = outbox
        self.stats = Stats()
        self.rng = random.Random(config.seed)
        skus = 200
        self.registers = [Register(register_id(s, r, outbox.fleet_name), store_id(s), skus,
                                   random.Random(config.seed * 1000 + s * 10 + r))
                          for s in range(1, config.stores + 1) for r in range(1, config.registers + 1)]
        for register in self.registers:
            register.seq = outbox.last_seq(register.register_id)  # a restarted fleet keeps numbering
        self._wake = {r.register_id: asyncio.Event() for r in self.registers}
        self._generating = True
        self._offline_until = 0.0

    async def run(self) -> dict[str, Any]:
        limits = httpx.Limits(max_connections=max(4, len(self.registers)), max_keepalive_connections=len(self.registers))
        async with httpx.AsyncClient(base_url=self.config.url, limits=limits, timeout=10,
                                     headers={"Authorization": f"Bearer {self.config.token}"}) as client:
            if self.config.setup:
                await self._setup(client)
            senders = [asyncio.create_task(self._send_loop(client, register)) for register in self.registers]
            await self._generate()
            deadline = time.monotonic() + self.config.drain_timeout
            while self.outbox.backlog() and time.monotonic() < deadline:
                for event in self._wake.values():
                    event.set()
                await asyncio.sleep(0.1)
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)
        summary = self.stats.summary()
        summary["backlog"] = self.outbox.backlog()
        return summary

    async def _setup(self, client: httpx.AsyncClient) -> None:
        document = master_data(self.config.stores, self.config.registers, self.outbox.fleet_name)
        await self._post_until_accepted(client, "/v1/master-data", document)
        receipts = [{"event_id": f"SIM-{self.outbox.fleet_name}-OPENING-STOCK-{store['store_id']}", "type": "stock.received",
                     "store_id": store["store_id"], "register_id": None, "occurred_at": _now(),
                     "payload": {"location_id": store["store_id"], "reference": "opening stock",
                                 "lines": [{"sku": item["sku"], "qty": self.config.opening_stock,
                                            "unit_cost": item["standard_cost"]}
                                           for item in document["items"]]}} for store in document["stores"]]
        await self._post_until_accepted(client, "/v1/events", receipts)

    async def _post_until_accepted(self, client: httpx.AsyncClient, path: str, body: Any) -> None:
        for attempt in range(60):
            try:
                response = await client.post(path, json=body)
                if response.status_code < 300:
                    return
                if response.status_code < 500:
                    raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
            except httpx.TransportError:
                pass
            await asyncio.sleep(min(2.0, 0.1 * 2 ** attempt))
        raise RuntimeError(f"{path}: the hub did not answer")

    async def _generate(self) -> None:
        config = self.config
        started = time.monotonic()
        owed = 0.0
        tick = 0.02
        offline_from, offline_to = config.duration * 0.2, config.duration * 0.5
        last = started
        while (elapsed := (now := time.monotonic()) - started) < config.duration:
            if config.chaos:
                self._offline_until = started + offline_to if offline_from <= elapsed < offline_to else 0.0
            owed += config.rate * (now - last)  # by the clock, not by ticks: a busy loop must not slow sales
            last = now
            count = int(owed)
            owed -= count
            if count:
                events = []
                touched = set()
                for _ in range(count):
                    register = self.rng.choice(self.registers)
                    events.append(register.next_event())
                    touched.add(register.register_id)
                self.outbox.add(events, time.time())  # the sale is complete: it is on disk
                self.stats.generated += len(events)
                for register_id in touched:
                    self._wake[register_id].set()
            await asyncio.sleep(tick)
        closes = [register.close() for register in self.registers if register.session_open]
        if closes:
            self.outbox.add(closes, time.time())
            self.stats.generated += len(closes)
        self._offline_until = 0.0
        for event in self._wake.values():
            event.set()

    async def _send_loop(self, client: httpx.AsyncClient, register: Register) -> None:
        config = self.config
        failures = 0
        offline_register = self.registers[0].register_id
        while True:
            if config.chaos and register.register_id == offline_register and time.monotonic() < self._offline_until:
                await asyncio.sleep(0.1)
                continue
            batch = self.outbox.pending(register.register_id, config.batch)
            if not batch:
                self._wake[register.register_id].clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake[register.register_id].wait(), 0.5)
                continue
            texts = [text for _, text in batch]
            if config.chaos:
                if self.rng.random() < 0.2:
                    texts += [text for _, text in self.outbox.sent(register.register_id, 3)]
                if self.rng.random() < 0.2:
                    self.rng.shuffle(texts)
            content = texts[0] if config.batch == 1 and len(texts) == 1 else "[" + ",".join(texts) + "]"
            timeout = 0.002 if config.chaos and self.rng.random() < 0.03 else 10.0
            started = time.perf_counter()
            try:
                response = await client.post("/v1/events", content=content, timeout=timeout,
                                             headers={"content-type": "application/json"})
            except httpx.TransportError:
                failures += 1
                self.stats.retries += 1
                await asyncio.sleep(min(5.0, 0.05 * 2 ** min(failures, 7)) * (0.5 + self.rng.random()))
                continue
            self.stats.requests += 1
            if response.status_code >= 500 or response.status_code == 429:
                failures += 1
                self.stats.retries += 1
                await asyncio.sleep(min(5.0, 0.05 * 2 ** min(failures, 7)) * (0.5 + self.rng.random()))
                continue
            failures = 0
            self.stats.latencies_ms.append((time.perf_counter() - started) * 1000)
            self._record(batch, response)

    def _record(self, batch: list[tuple[str, str]], response: httpx.Response) -> None:
        wanted = {event_id for event_id, _ in batch}
        payload = response.json()
        results: list[Any] = payload["results"] if isinstance(payload, dict) and "results" in payload else [payload]
        marks: dict[str, str] = {}
        if response.status_code == 202:
            for result in results:
                event_id = result.get("event_id")
                if event_id in wanted and event_id not in marks:
                    marks[event_id] = result.get("status", "rejected")
        else:  # a problem for a single event, or the whole request refused
            for event_id in wanted:
                marks[event_id] = "rejected" if response.status_code != 409 else "conflict"
        now = time.time()
        self.outbox.mark(list(marks.items()), now)
        for status in marks.values():
            if status == "accepted":
                self.stats.accepted += 1
            elif status == "duplicate":
                self.stats.duplicate += 1
            else:
                self.stats.rejected += 1
