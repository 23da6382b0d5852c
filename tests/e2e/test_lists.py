"""Everything that can be written can be listed (CONTRACT sections 7 and 16): events, invoices,
journal lines, exceptions, register sessions, items, stock positions and tokens page with limit
and an opaque cursor; 2,500 of each paged by 1,000 come back each exactly once, in order."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Server
from tests.support.builders import line, register_event, sale, tender


def _all(client: httpx.Client, path: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages, cursor = 0, None
    while True:
        response = client.get(path, params={**params, "limit": 1000, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages


def test_2500_events_invoices_entries_sessions_and_exceptions_page_by_1000_each_exactly_once(
        server: Server) -> None:
    # Each sale's tax is a cent off: 2,500 tax_mismatch exceptions as well as 2,500 invoices, and
    # 2,500 lines on account 4000; another register opens and closes 2,500 sessions.
    sales = [sale([line("A", 1, 1299, tax=116)], [tender("card", 1415)], receipt_no=f"L-{n}",
                  event_id=f"S1-R1-L{n:05d}", seq=n + 1) for n in range(2500)]
    sessions = [event for n in range(2500) for event in (
        register_event("register.opened", {"session_id": f"Z-{n:05d}", "cashier_id": None, "opening_float": 0},
                       register="S1-R2", seq=2 * n + 1, event_id=f"S1-R2-O{n:05d}"),
        register_event("register.closed", {"session_id": f"Z-{n:05d}", "counted": {"cash": 0},
                                           "approved_by": None},
                       register="S1-R2", seq=2 * n + 2, event_id=f"S1-R2-C{n:05d}"))]
    with server.client() as admin:
        for batch in (sales, sessions):
            for start in range(0, len(batch), 1000):
                assert admin.post("/v1/events", json=batch[start:start + 1000]).json()["accepted"] == len(
                    batch[start:start + 1000])
        server.wait_posted(sales[-1]["event_id"], timeout=60)
        server.wait_posted(sessions[-1]["event_id"], timeout=60)
        events, pages = _all(admin, "/v1/events", store_id="S1", status="posted", type="sale.completed")
        assert pages == 3 and [e["event_id"] for e in events] == [s["event_id"] for s in sales]
        lines, pages = _all(admin, "/v1/ledger/entries", store_id="S1", account="4000")
        assert pages == 3 and [ln["event_id"] for ln in lines] == [s["event_id"] for s in sales]
        opened, pages = _all(admin, "/v1/registers/S1-R2/sessions")
        assert pages == 3 and [s["session_id"] for s in opened] == [f"Z-{n:05d}" for n in range(2500)]
        invoices, _ = _all(admin, "/v1/invoices", store_id="S1")
        numbers = [i["number"] for i in invoices]
        assert len(numbers) == len(set(numbers)) == 2500 and numbers == sorted(numbers)
        exceptions, _ = _all(admin, "/v1/exceptions", type="tax_mismatch")
        ids = [e["id"] for e in exceptions]
        assert len(ids) == len(set(ids)) == 2500 and ids == sorted(ids)
        one = admin.get(f"/v1/exceptions/{ids[0]}").json()
        assert one["type"] == "tax_mismatch" and one["id"] == ids[0]
        assert admin.get("/v1/exceptions/999999").status_code == 404
        assert admin.get("/v1/events", params={"limit": 1001}).status_code == 422
        assert admin.get("/v1/events", params={"cursor": "not-a-cursor"}).json()["code"] == "invalid_request"
    with server.client("device_s2") as other:  # another store lists its own, none of S1's
        assert other.get("/v1/events").json()["items"] == []
        assert other.get("/v1/events", params={"store_id": "S1"}).status_code == 403


def test_master_data_reads_back_and_lists_with_a_store_token_seeing_its_own(server: Server) -> None:
    with server.client() as admin, server.client("device_s2") as device_s2:
        stores, _ = _all(admin, "/v1/stores")
        assert [s["store_id"] for s in stores] == sorted(s["store_id"] for s in stores) and len(stores) >= 3
        assert admin.get("/v1/items/A").json()["sku"] == "A"
        assert admin.get("/v1/tax-rules/NY/STD").json()["rate"] == "0.08875"
        assert admin.get("/v1/items/NOPE").status_code == 404
        assert [r["register_id"] for r in device_s2.get("/v1/registers").json()["items"]] == ["S2-R1"]
        assert [s["store_id"] for s in device_s2.get("/v1/stores").json()["items"]] == ["S2"]
        assert device_s2.get("/v1/stores/S1").status_code == 404
        # Paging: one a page, each once.
        first = admin.get("/v1/items", params={"limit": 1}).json()
        second = admin.get("/v1/items", params={"limit": 1, "cursor": first["next_cursor"]}).json()
        assert first["items"][0]["sku"] < second["items"][0]["sku"]
        # The old internal parameter is gone: ?kind= cannot turn an item PUT into a store.
        put = admin.put("/v1/items/S103", params={"kind": "stores"},
                        json={"sku": "S103", "tax_code": "STD", "price": 100})
        assert put.status_code == 200 and put.json()["kind"] == "items"
        assert admin.get("/v1/stores/S103").status_code == 404


def test_stock_lists_by_sku_and_location_and_a_store_token_sees_its_own(server: Server) -> None:
    from tests.support.builders import receive

    with server.client() as admin, server.client("device_s2") as device_s2:
        receipts = [receive("A", 5, 600), receive("B", 7, 300), receive("A", 3, 600, location="S1-BACK"),
                    receive("A", 9, 610, location="S2", store="S2")]
        admin.post("/v1/events", json=receipts)
        server.wait_posted(receipts[-1]["event_id"])
        everything, _ = _all(admin, "/v1/stock")
        assert [(r["sku"], r["location_id"]) for r in everything] == [
            ("A", "S1"), ("A", "S1-BACK"), ("A", "S2"), ("B", "S1")]
        paged = admin.get("/v1/stock", params={"limit": 2}).json()
        rest = admin.get("/v1/stock", params={"limit": 2, "cursor": paged["next_cursor"]}).json()
        assert [r["location_id"] for r in paged["items"] + rest["items"]] == ["S1", "S1-BACK", "S2", "S1"]
        assert [r["on_hand"] for r in admin.get("/v1/stock", params={"location_id": "S1-BACK"}).json()["items"]] == [3]
        assert [(r["sku"], r["store_id"]) for r in device_s2.get("/v1/stock").json()["items"]] == [("A", "S2")]
        assert device_s2.get("/v1/stock", params={"location_id": "S1"}).status_code == 403
        assert admin.get("/v1/stock", params={"cursor": "!!"}).status_code == 422


def test_2500_items_stock_positions_and_tokens_page_by_1000_each_exactly_once(server: Server) -> None:
    from tests.support.builders import receive

    skus = [f"P{n:05d}" for n in range(2500)]
    receipt = receive("A", 1, 100)
    receipt["payload"]["lines"] = [{"sku": sku, "qty": 1, "unit_cost": 100} for sku in skus]
    with server.client() as admin:
        loaded = admin.post("/v1/master-data", json={"items": [
            {"sku": sku, "name": sku, "tax_code": "STD", "price": 200, "standard_cost": 100} for sku in skus]})
        assert loaded.status_code == 200, loaded.text
        items, pages = _all(admin, "/v1/items")
        assert pages == 3 and [i["sku"] for i in items if i["sku"].startswith("P")] == skus
        assert admin.post("/v1/events", json=receipt).status_code == 202
        server.wait_posted(receipt["event_id"], timeout=60)
        positions, pages = _all(admin, "/v1/stock", location_id="S1")
        assert pages == 3 and [p["sku"] for p in positions] == skus
        if server.database_url is None:  # tokens are the same table on every backend: once is enough
            for n in range(2500 - len(admin.get("/v1/tokens", params={"limit": 1000}).json()["items"])):
                assert admin.post("/v1/tokens", json={"role": "monitor", "name": f"m-{n}"}).status_code == 201
            tokens, pages = _all(admin, "/v1/tokens")
            ids = [t["token_id"] for t in tokens]
            assert pages == 3 and len(ids) == len(set(ids)) == 2500 and ids == sorted(ids)
