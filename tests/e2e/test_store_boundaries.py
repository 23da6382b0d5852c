"""A token acts only inside its store, in every reference it makes (CONTRACT section 15): the
auditor's probes of issue 13, each refused with 403 naming the field, and nothing of the other
store's books, sequences or reservations changed."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import Server
from tests.support.builders import line, receive, sale, stock_event, tender


def _stock_of(server: Server, sku: str, location: str) -> int:
    with server.client() as admin:
        return int(admin.get(f"/v1/stock/{sku}", params={"location_id": location}).json()["on_hand"])


def _refused(response: Any, field: str) -> None:
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["code"] == "forbidden" and problem["field"] == field, problem


def test_a_device_cannot_reach_into_another_stores_books(server: Server) -> None:
    with server.client() as admin, server.client("device") as device, server.client("device_s2") as device_s2:
        stocked = receive("A", 98, 600, location="S2", store="S2")
        assert admin.post("/v1/events", json=stocked).status_code == 202
        server.wait_posted(stocked["event_id"])
        assert _stock_of(server, "A", "S2") == 98

        adjusted = stock_event("stock.adjusted", {"location_id": "S2", "reason": "shrink",
                                                  "lines": [{"sku": "A", "qty_delta": -98}]})
        _refused(device.post("/v1/events", json=adjusted), "payload.location_id")
        counted = stock_event("stock.counted", {"location_id": "S2", "lines": [{"sku": "A", "counted_qty": 0}]})
        _refused(device.post("/v1/events", json=counted), "payload.location_id")
        transfer = stock_event("stock.transferred", {"from_location_id": "S2", "to_location_id": "S1",
                                                     "reference": "T-1", "lines": [{"sku": "A", "qty": 98}]})
        _refused(device.post("/v1/events", json=transfer), "payload.from_location_id")
        outbound = stock_event("stock.transferred", {"from_location_id": "S1", "to_location_id": "S2",
                                                     "reference": "T-2", "lines": [{"sku": "A", "qty": 1}]})
        _refused(device.post("/v1/events", json=outbound), "payload.to_location_id")
        # Another store's register, in a batch: the whole request is refused, naming the event.
        foreign = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], register="S2-R1", store="S1",
                       seq=1000)
        own = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], register="S1-R1", receipt_no="OWN-1")
        _refused(device.post("/v1/events", json=[own, foreign]), "[1].register_id")
        assert _stock_of(server, "A", "S2") == 98

        # Its own store's references pass; an unknown location waits for master data.
        back = stock_event("stock.adjusted", {"location_id": "S1-BACK", "reason": "found",
                                              "lines": [{"sku": "A", "qty_delta": 1}]})
        assert device.post("/v1/events", json=back).status_code == 202
        assert device.post("/v1/events", json=own).status_code == 202
        unknown = stock_event("stock.adjusted", {"location_id": "NOWHERE", "reason": "x",
                                                 "lines": [{"sku": "A", "qty_delta": 1}]})
        assert device.post("/v1/events", json=unknown).status_code == 202
        assert server.wait_posted(unknown["event_id"])["status"] == "exception"

        # Reservations: another store's location, and another store's order.
        assert device_s2.post("/v1/reservations", json={"order_id": "WEB-9", "sku": "A", "location_id": "S2",
                                                        "qty": 2}).status_code == 201
        _refused(device.post("/v1/reservations", json={"order_id": "WEB-8", "sku": "A", "location_id": "S2",
                                                       "qty": 1}), "location_id")
        _refused(device.delete("/v1/reservations/WEB-9"), "order_id")
        fulfilled = sale([line("A", 2, 1299, tax=231)], [tender("card", 2829)], event_type="order.fulfilled",
                         receipt_no="WEB-9-R", payload={"order_id": "WEB-9"})
        _refused(device.post("/v1/events", json=fulfilled), "payload.order_id")
        assert admin.get("/v1/stock/A", params={"location_id": "S2"}).json()["reserved"] == 2
        # An order id is its store's own: S2's WEB-9 does not block S1's, and each store's
        # release touches only its own.
        assert device.post("/v1/reservations", json={"order_id": "WEB-9", "sku": "A", "location_id": "S1-BACK",
                                                     "qty": 1}).status_code == 201
        assert device.delete("/v1/reservations/WEB-9").json()["released"] == 1
        assert admin.get("/v1/stock/A", params={"location_id": "S2"}).json()["reserved"] == 2
        assert device_s2.delete("/v1/reservations/WEB-9").json()["released"] == 1


def test_an_imported_stock_event_at_another_stores_location_waits_rather_than_post_there(server: Server) -> None:
    """The same rule in posting, for every source: an event's books are its own store's."""
    with server.client() as admin:
        stocked = receive("A", 10, 600, location="S2", store="S2")
        admin.post("/v1/events", json=stocked)
        server.wait_posted(stocked["event_id"])
        misplaced = stock_event("stock.adjusted", {"location_id": "S2", "reason": "shrink",
                                                   "lines": [{"sku": "A", "qty_delta": -10}]}, store="S1")
        assert admin.post("/v1/events", json=misplaced).status_code == 202
        status = server.wait_posted(misplaced["event_id"])
        assert status["status"] == "exception"
        assert _stock_of(server, "A", "S2") == 10


def test_an_order_fulfilled_consumes_only_its_own_stores_reservations(server: Server) -> None:
    """The helper's probe: the order waits for master data while another store reserves the
    same order id; once it posts, the other store's reservation stands."""
    with server.client() as admin, server.client("device") as device, server.client("device_s2") as device_s2:
        stocked = receive("A", 10, 600, location="S2", store="S2")
        admin.post("/v1/events", json=stocked)
        server.wait_posted(stocked["event_id"])
        fulfilled = sale([line("ZZZ", 1, 1299, tax=115)], [tender("card", 1414)], event_type="order.fulfilled",
                         receipt_no="ORD-T1-R", payload={"order_id": "ORD-T1"})
        assert device.post("/v1/events", json=fulfilled).status_code == 202
        assert server.wait_posted(fulfilled["event_id"])["status"] == "exception"  # waits for item ZZZ
        assert device_s2.post("/v1/reservations", json={"order_id": "ORD-T1", "sku": "A", "location_id": "S2",
                                                        "qty": 3}).status_code == 201
        item = {"sku": "ZZZ", "name": "late", "tax_code": "STD", "price": 1299, "standard_cost": 500}
        assert admin.put("/v1/items/ZZZ", json=item).status_code == 200
        assert server.wait_posted(fulfilled["event_id"], until=("posted",))["status"] == "posted"
        assert admin.get("/v1/stock/A", params={"location_id": "S2"}).json()["reserved"] == 3


def test_an_event_id_is_unique_within_its_store_only(server: Server) -> None:
    """Issue 13's squatting probe: S1's device takes the id S2's register will use; S2's own
    event with that id is still accepted and posts, each store reads back its own, and finance
    must say which store it means."""
    squatted = "S2-R1-3"
    with (server.client("device") as device, server.client("device_s2") as device_s2,
          server.client("finance") as finance, server.client("manager_s2") as manager_s2):
        ours = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no="SQ-1", event_id=squatted)
        theirs = sale([line("A", 2, 1299, tax=230)], [tender("card", 2828)], register="S2-R1",
                      receipt_no="SQ-2", event_id=squatted)
        assert device.post("/v1/events", json=ours).json()["status"] == "accepted"
        assert device_s2.post("/v1/events", json=theirs).json()["status"] == "accepted"
        # Each store's id is its own idempotency key: a resend is a duplicate, another body a conflict.
        assert device_s2.post("/v1/events", json=theirs).json()["status"] == "duplicate"
        changed = {**theirs, "occurred_at": "2026-11-21T10:15:04-05:00"}
        assert device_s2.post("/v1/events", json=changed).status_code == 409
        for store in ("S1", "S2"):
            assert server.wait_posted(squatted, store_id=store)["status"] == "posted"

        mine, other = device.get(f"/v1/events/{squatted}").json(), device_s2.get(f"/v1/events/{squatted}").json()
        assert (mine["store_id"], other["store_id"]) == ("S1", "S2")
        assert len(mine["journal_lines"]) and mine["journal_lines"] != other["journal_lines"]
        assert {ln["store_id"] for ln in other["journal_lines"]} == {"S2"}
        assert manager_s2.get(f"/v1/events/{squatted}").json()["store_id"] == "S2"
        refused = device.get(f"/v1/events/{squatted}", params={"store_id": "S2"})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"

        ambiguous = finance.get(f"/v1/events/{squatted}")
        assert ambiguous.status_code == 409, ambiguous.text
        assert ambiguous.json()["code"] == "ambiguous_event_id" and ambiguous.json()["stores"] == ["S1", "S2"]
        chosen = finance.get(f"/v1/events/{squatted}", params={"store_id": "S2"}).json()
        assert chosen["store_id"] == "S2" and chosen["links"]["self"].endswith("store_id=S2")
        entries = finance.get(chosen["links"]["journal_entries"]).json()["items"]
        assert entries and {(ln["event_id"], ln["store_id"]) for ln in entries} == {(squatted, "S2")}
        assert finance.get("/v1/ledger/entries", params={"event_id": squatted}).status_code == 409
        assert finance.get(f"/v1/events/{squatted}", params={"store_id": "S3"}).status_code == 404


def test_a_rejected_event_is_read_back_by_its_own_store_only(server: Server) -> None:
    with server.client("device") as device, server.client("device_s2") as device_s2:
        bad = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no="RJ-1", event_id="RJ-1")
        bad["seq"] = -1
        assert device.post("/v1/events", json=bad).status_code == 422
        live = device.post("/v1/events", json=bad).json()
        status = device.get("/v1/events/RJ-1").json()
        assert status["status"] == "rejected" and status["problem"]["field"] == "seq"
        # Read back, the problem has the shape it had when it was answered.
        assert {k: status["problem"][k] for k in ("type", "title", "status", "code", "field", "detail")} == {
            k: live[k] for k in ("type", "title", "status", "code", "field", "detail")}
        assert device_s2.get("/v1/events/RJ-1").status_code == 404
