"""One bad event stops nothing (CONTRACT section 15): an event that fails in posting is parked as
``posting_failed`` and every other event, of its store and of the others, posts around it."""

from __future__ import annotations

import time

from tests.e2e.conftest import Server
from tests.support.builders import line, sale, stock_event, tender

BIG = {"sku": "B", "qty": 1_000_000, "unit_cost": 10**12}  # within the bounds: 10^18 of value


def _receipt(number: int) -> dict[str, object]:
    return stock_event("stock.received", {"location_id": "S2", "reference": f"PO-{number}", "lines": [BIG]},
                       store="S2", event_id=f"S2-BIG-{number}")


def test_an_event_that_cannot_post_is_parked_and_the_rest_post(server: Server) -> None:
    with server.client() as admin:
        # Nine receipts hold 9 * 10^18 of stock value; the tenth would take the position (and the
        # GL balance) past what a 64-bit integer holds, so its posting fails wherever it runs.
        for number in range(9):
            assert admin.post("/v1/events", json=_receipt(number)).status_code == 202
        assert server.wait_posted("S2-BIG-8")["status"] == "posted"
        sales = [sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"P-{n}",
                      event_id=f"S1-R1-P-{n:04d}") for n in range(1000)]
        poison = _receipt(9)
        batches = [sales[start:start + 100] for start in range(0, 1000, 100)]
        batches[4] = batches[4][:50] + [poison] + batches[4][50:]
        for batch in batches:
            response = admin.post("/v1/events", json=batch)
            assert response.status_code == 202 and response.json()["accepted"] == len(batch), response.text

        assert server.wait_posted("S1-R1-P-0999", timeout=60)["status"] == "posted"
        failed = server.wait_posted("S2-BIG-9", timeout=30)
        assert failed["status"] == "exception", failed
        deadline = time.monotonic() + 30
        while True:
            posted = sum(1 for n in (0, 499, 500, 999)
                         if admin.get(f"/v1/events/S1-R1-P-{n:04d}").json()["status"] == "posted")
            if posted == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert posted == 4
        health = admin.get("/health")
        assert health.status_code == 200, health.text
        exceptions = admin.get("/v1/exceptions", params={"type": "posting_failed"}).json()["items"]
        assert [record["event_id"] for record in exceptions] == ["S2-BIG-9"], exceptions
        assert "Overflow" in str(exceptions[0]["detail"]) or "out of range" in str(exceptions[0]["detail"])
        # The books hold: the sales are all there; the other store's receipts stand as they were.
        stock = admin.get("/v1/stock/B", params={"location_id": "S2"}).json()
        assert stock["on_hand"] == 9_000_000


def test_a_lone_surrogate_is_refused_alone_and_fails_no_other_request(server: Server) -> None:
    import concurrent.futures
    import json

    good = [sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"G-{n}",
                 register="S2-R1", event_id=f"S2-R1-G-{n:03d}") for n in range(300)]
    bad = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no="BAD", event_id="S1-R1-BAD")
    bad_body = json.dumps(bad).replace('"C7"', '"\\udc00"').encode()
    assert b"\\udc00" in bad_body

    with server.client("device") as device, server.client("device_s2") as device_s2:
        def post_good(event: dict[str, object]) -> int:
            return device_s2.post("/v1/events", json=event).status_code

        def post_bad(_: int) -> int:
            return device.post("/v1/events", content=bad_body,
                               headers={"Content-Type": "application/json"}).status_code

        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # interleaved: they share commit groups
            bad_futures, good_futures = [], []
            for index, event in enumerate(good):
                good_futures.append(pool.submit(post_good, event))
                if index % 10 == 0:
                    bad_futures.append(pool.submit(post_bad, index))
            bad_statuses = [future.result() for future in bad_futures]
            good_statuses = [future.result() for future in good_futures]
        assert set(good_statuses) == {202}, good_statuses
        assert all(400 <= status < 500 for status in bad_statuses), bad_statuses
    assert server.wait_posted("S2-R1-G-299")["status"] == "posted"


def test_lone_surrogates_and_control_characters_anywhere_get_4xx_and_store_nothing(server: Server) -> None:
    surrogate = '"x\\ud800"'
    with server.client() as admin, server.client("device") as device:
        def send(client: object, method: str, path: str, body: str) -> int:
            response = client.request(method, path, content=body.encode(),  # type: ignore[attr-defined]
                                      headers={"Content-Type": "application/json"})
            return int(response.status_code)

        statuses = [
            send(device, "POST", "/v1/reservations", f'{{"order_id": "O1", "sku": {surrogate}, "location_id": "S1", "qty": 1}}'),
            send(admin, "POST", "/v1/tokens", f'{{"role": "device", "store_id": {surrogate}, "name": "t"}}'),
            send(admin, "PUT", "/v1/items/Q1", f'{{"sku": "Q1", "name": {surrogate}, "tax_code": "STD", "price": 1}}'),
            send(device, "POST", "/v1/reservations", '{"order_id": "O\\u0000", "sku": "A", "location_id": "S1", "qty": 1}'),
        ]
        assert all(400 <= status < 500 for status in statuses), statuses
        assert admin.get("/health").status_code == 200
