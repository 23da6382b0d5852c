"""Uniform codes (CONTRACT section 7): an unknown store, register, location or SKU in a path or a
filter is 404 not_found, an unknown filter value or a bad query date is 422 invalid_request,
never an empty 200; every problem's type URL serves a page."""

from __future__ import annotations

from tests.e2e.conftest import Server
from tests.support.builders import line, receive, sale, tender


def _problem(response: object, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert (body["code"], body["field"]) == (code, field), body


def test_unknown_names_are_404_and_bad_values_are_422(server: Server) -> None:
    with server.client() as admin:
        _problem(admin.get("/v1/ledger/trial-balance", params={"store_id": "NOPE"}), 404, "not_found", "store_id")
        _problem(admin.get("/v1/ledger/entries", params={"store_id": "NOPE"}), 404, "not_found", "store_id")
        _problem(admin.get("/v1/ledger/entries", params={"register_id": "S1-R404"}), 404, "not_found", "register_id")
        _problem(admin.get("/v1/ledger/entries", params={"account": "9876"}), 422, "invalid_request", "account")
        _problem(admin.get("/v1/ledger/trial-balance", params={"from": "2026-13-01"}), 422, "invalid_request", "from")
        _problem(admin.get("/v1/ledger/entries", params={"business_day": "yesterday"}), 422, "invalid_request",
                 "business_day")
        _problem(admin.get("/v1/stock/NOPE"), 404, "not_found", "sku")
        _problem(admin.get("/v1/stock/A", params={"location_id": "NOWHERE"}), 404, "not_found", "location_id")
        _problem(admin.get("/v1/exceptions", params={"status": "bogus"}), 422, "invalid_request", "status")
        _problem(admin.get("/v1/exceptions", params={"type": "tax_mistake"}), 422, "invalid_request", "type")
        _problem(admin.get("/v1/exceptions", params={"store_id": "NOPE"}), 404, "not_found", "store_id")
        # Known names answer, empty or not: a SKU with no stock yet, a store's own location.
        assert admin.get("/v1/stock/A", params={"location_id": "S1"}).json()["on_hand"] == 0
        assert admin.get("/v1/exceptions", params={"status": "open", "type": "sequence_gap"}).status_code == 200


def test_entries_filter_by_register(server: Server) -> None:
    with server.client() as admin:
        admin.post("/v1/events", json=receive("A", 10, 600))
        first = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no="REG-1")
        second = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], register="S1-R2", receipt_no="REG-2")
        admin.post("/v1/events", json=[first, second])
        server.wait_posted(second["event_id"])
        lines = admin.get("/v1/ledger/entries", params={"register_id": "S1-R2"}).json()["items"]
        assert lines and {ln["register_id"] for ln in lines} == {"S1-R2"}
        assert {ln["event_id"] for ln in lines} == {second["event_id"]}


def test_every_problem_type_url_serves_its_page(server: Server) -> None:
    with server.client("device") as device:
        problem = device.post("/v1/events", json={"type": "sale.completed"}).json()
        page = device.get(problem["type"])
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "How to fix it" in page.text and "default-src 'self'" in page.headers["content-security-policy"]
        assert device.get("/problems/").status_code == 200
        _problem(device.get("/problems/no_such_code"), 404, "not_found", "code")


def test_every_response_has_a_request_id_and_every_request_a_json_log_line(server: Server) -> None:
    import json

    with server.client("device") as device:
        given = device.get("/v1/catalog", headers={"X-Request-Id": "till-3.req-000042"})
        assert given.headers["x-request-id"] == "till-3.req-000042"
        made = device.post("/v1/events", json={"type": "sale.completed"})
        request_id = made.headers["x-request-id"]
        assert len(request_id) == 32 and made.json()["request_id"] == request_id
        odd = device.get("/v1/catalog", headers={"X-Request-Id": "not a plain id"})
        assert odd.headers["x-request-id"] != "not a plain id"
        accepted = device.post("/v1/events", json=sale([line()], [tender("cash", 1299)], receipt_no="LOG-1"))
        assert accepted.status_code == 202
    import time

    wanted = {"till-3.req-000042", request_id, accepted.headers["x-request-id"]}
    deadline = time.monotonic() + 10
    while True:  # a request's line is written once its response has gone
        log = server.db.with_suffix(".log").read_text()
        lines = [json.loads(text) for text in log.splitlines() if text.startswith('{"time"')]
        by_id = {line["request_id"]: line for line in lines if "request_id" in line}
        if wanted <= set(by_id) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert by_id["till-3.req-000042"]["route"] == "/v1/catalog" and by_id["till-3.req-000042"]["status"] == 200
    assert by_id[request_id]["status"] == 422 and by_id[request_id]["method"] == "POST"
    posted = by_id[accepted.headers["x-request-id"]]
    assert posted["events_accepted"] == 1 and posted["token_id"].startswith("tok_")
    assert server.tokens["device"] not in log
