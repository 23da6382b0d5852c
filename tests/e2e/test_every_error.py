"""A problem lists every field error at once (CONTRACT section 7), over HTTP: a sale with five
mistakes answers five errors; a master-data document with several, all of them; a typo in a
field name is refused rather than ignored (issue 14's silent typos)."""

from __future__ import annotations

from tests.e2e.conftest import Server
from tests.support.builders import MASTER, line, sale, tender


def _five_mistakes() -> dict[str, object]:
    event = sale([line("A", 0, 1299, tax=115), line("B", 1, 100)], [tender("cash", 1414)], receipt_no="FIVE-1")
    event["seq"] = 0
    event["payload"]["lines"][1]["discout"] = 200  # type: ignore[index]
    event["payload"]["orignal"] = None  # type: ignore[index]
    event["payload"]["currency"] = 5  # type: ignore[index]
    del event["occurred_at"]
    return event


def test_an_event_with_five_mistakes_answers_five_errors(server: Server) -> None:
    with server.client("device") as device:
        refused = _five_mistakes()
        response = device.post("/v1/events", json=refused)
        assert response.status_code == 422
        problem = response.json()
        fields = [error["field"] for error in problem["errors"]]
        assert problem["field"] == fields[0]
        assert sorted(fields) == ["occurred_at", "payload.currency", "payload.lines[0].qty",
                                  "payload.lines[1].discout", "payload.orignal", "seq"]
        assert {e["field"]: e["code"] for e in problem["errors"]}["payload.lines[1].discout"] == "unknown_field"
        # The rejection kept every error: the event's status reads them back in the live shape.
        stored = device.get(f"/v1/events/{refused['event_id']}").json()
        assert stored["status"] == "rejected" and stored["problem"]["errors"] == problem["errors"]
        # In a batch, each refused event's problem carries its errors.
        batch = device.post("/v1/events", json=[_five_mistakes(), sale([line()], [tender("cash", 1299)],
                                                                       receipt_no="FIVE-2")]).json()
        assert [r["status"] for r in batch["results"]] == ["rejected", "accepted"]
        assert len(batch["results"][0]["problem"]["errors"]) == 6
        # A problem with one error lists it too.
        one = device.post("/v1/events", json={**sale([line()], [tender("cash", 1299)], receipt_no="FIVE-3"),
                                              "seq": 0}).json()
        assert one["errors"] == [{"field": "seq", "code": "invalid_event", "detail": one["detail"]}]


def test_master_data_answers_every_mistake_and_refuses_a_misspelt_field(server: Server) -> None:
    with server.client() as admin:
        store = {**MASTER["stores"][0], "store_id": "S7", "prices_incl_tax": True, "currency": "usd"}
        response = admin.put("/v1/stores/S7", json=store)
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "unknown_field" and problem["field"] == "(body).prices_incl_tax"
        assert 'did you mean "prices_include_tax"' in problem["detail"]
        assert [e["field"] for e in problem["errors"]] == ["(body).prices_incl_tax", "(body).currency"]
        assert admin.get("/v1/catalog").status_code == 200
        bulk = admin.post("/v1/master-data", json={"items": [{"sku": "Q1", "tax_code": "STD", "price": -5},
                                                             {"sku": "Q2", "price": 5, "colour": "red"}]})
        assert bulk.status_code == 422
        assert [e["field"] for e in bulk.json()["errors"]] == ["items[0].price", "items[1].colour", "items[1].tax_code"]
