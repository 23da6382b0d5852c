"""The HTTP API end to end against a real server process: every endpoint, every role, and
bad input answered with problem details that name the field."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server
from tests.support.builders import MASTER, line, receive, register_event, sale, tender
from tests.support.openapi import assert_matches


def a_sale(event_id: str, register: str = "S1-R1", seq: int = 1, receipt: str = "R-1") -> dict[str, Any]:
    return sale([line("A", 1, 1299, tax=115)], [tender("card", 1414)], event_id=event_id, register=register,
                seq=seq, receipt_no=receipt)


def test_an_event_is_accepted_then_posted_with_links(server: Server) -> None:
    with server.client("device") as device:
        response = device.post("/v1/events", json=receive("A", 10, 600) | {"event_id": "PO-1"})
        assert response.status_code == 202 and response.json()["status"] == "accepted"
        assert device.post("/v1/events", json=a_sale("S1-R1-1")).json()["status"] == "accepted"
    status = server.wait_posted("S1-R1-1")
    assert status["status"] == "posted"
    assert status["documents"] == ["S1-INV-00000001"]
    assert status["links"]["invoices"] == ["/v1/invoices/S1-INV-00000001"]  # type: ignore[index]
    with server.client("finance") as finance:
        invoice = finance.get("/v1/invoices/S1-INV-00000001").json()
        assert invoice["kind"] == "invoice" and invoice["totals"]["gross"] == 1414
        lines = finance.get("/v1/ledger/entries", params={"event_id": "S1-R1-1"}).json()["items"]
        assert sum(ln["debit"] for ln in lines) == sum(ln["credit"] for ln in lines) > 0
        balance = finance.get("/v1/ledger/trial-balance", params={"store_id": "S1"}).json()
        assert balance["totals"]["debit"] == balance["totals"]["credit"]
        stock = finance.get("/v1/stock/A", params={"location_id": "S1"}).json()
        assert (stock["on_hand"], stock["atp"], stock["unit_cost"], stock["value"]) == (9, 9, 600, 5400)


def test_a_batch_gets_a_result_per_event(server: Server) -> None:
    events = [a_sale(f"S1-R1-{n}", seq=n, receipt=f"R-{n}") for n in range(1, 4)]
    bad = a_sale("S1-R1-bad", seq=9)
    bad["payload"]["lines"][0]["qty"] = 0
    with server.client("device") as device:
        body = device.post("/v1/events", json=[*events, events[0], bad]).json()
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3 + ["duplicate", "rejected"]
    problem = body["results"][4]["problem"]
    assert problem["field"] == "payload.lines[0].qty" and problem["status"] == 422
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (3, 1, 1)


def test_a_reused_event_id_with_another_body_is_a_409_and_changes_nothing(server: Server) -> None:
    with server.client("device") as device:
        device.post("/v1/events", json=a_sale("S1-R1-1"))
        changed = a_sale("S1-R1-1", receipt="R-other")
        response = device.post("/v1/events", json=changed)
        assert response.status_code == 409
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "conflict"
    status = server.wait_posted("S1-R1-1")
    assert status["documents"] == ["S1-INV-00000001"]


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    (b"{not json", 400, "invalid_json", "(body)"),
    (json.dumps({"event_id": "x", "type": "sale.completed", "store_id": "S1"}).encode(), 422,
     "invalid_event", "register_id"),
    (json.dumps(a_sale("S1-R1-x") | {"seq": "3"}).encode(), 422, "invalid_event", "seq"),
    (json.dumps([a_sale(f"S1-R1-{n}", seq=n) for n in range(1001)]).encode(), 413, "batch_too_large", "(body)"),
    (b"[]", 422, "invalid_event", "(body)"),
])
def test_bad_input_gets_a_problem_naming_the_field(server: Server, body: bytes, status: int, code: str,
                                                   field: str) -> None:
    with server.client("device") as device:
        response = device.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["code"], problem["field"]) == (code, field)


def test_a_card_number_is_refused_and_not_echoed(server: Server) -> None:
    event = a_sale("S1-R1-pan")
    event["payload"]["tenders"][0]["card"] = {"scheme": "visa", "pan": "4111111111111111"}
    with server.client("device") as device:
        response = device.post("/v1/events", json=event)
    assert response.status_code == 422 and response.json()["code"] == "pan_detected"
    assert "4111111111111111" not in response.text
    if server.database_url is None:
        assert b"4111111111111111" not in server.db.read_bytes()
    else:
        import psycopg

        with psycopg.connect(server.database_url) as connection:
            dumped = connection.execute("SELECT string_agg(body, '') FROM events").fetchone()
        assert "4111111111111111" not in str(dumped)


def test_an_oversized_body_is_413(server: Server) -> None:
    with server.client("device") as device:
        response = device.post("/v1/events", content=b"[" + b" " * (9 * 2**20) + b"]",
                               headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_an_unknown_store_is_kept_and_posts_when_master_data_arrives(server: Server) -> None:
    event = register_event("register.opened", {"session_id": "X", "opening_float": 100}, register="S9-R1",
                           event_id="S9-open")
    with server.client("admin") as admin:
        assert admin.post("/v1/events", json=event).json()["status"] == "accepted"
        assert server.wait_posted("S9-open")["status"] == "exception"
        admin.put("/v1/stores/S9", json={"store_id": "S9", "timezone": "UTC", "currency": "USD",
                                         "tax_region": "NY"}).raise_for_status()
        admin.put("/v1/registers/S9-R1", json={"register_id": "S9-R1", "store_id": "S9"}).raise_for_status()
    assert server.wait_posted("S9-open", until=("posted",))["status"] == "posted"


def test_master_data_and_catalog(server: Server) -> None:
    with server.client("admin") as admin:
        version = admin.get("/v1/catalog").json()["version"]
        response = admin.put("/v1/items/D", json={"sku": "D", "name": "New", "tax_code": "STD", "price": 100})
        assert response.status_code == 200 and response.json()["version"] == version + 1
        mismatch = admin.put("/v1/items/E", json={"sku": "D", "name": "x", "tax_code": "STD", "price": 1})
        assert mismatch.status_code == 422
        bad = admin.put("/v1/tax-rules/NY/LUX", json={"tax_region": "NY", "tax_code": "LUX", "rate": 0.2})
        assert bad.status_code == 422 and bad.json()["field"] == "(body).rate"
    with server.client("device") as device:
        catalog = device.get("/v1/catalog", params={"since": version}).json()
    assert [item["sku"] for item in catalog["items"]] == ["D"]


def test_reservations_follow_available_to_promise(server: Server) -> None:
    with server.client("device") as device:
        device.post("/v1/events", json=receive("A", 5, 600) | {"event_id": "PO-R"})
        server.wait_posted("PO-R")
        ok = device.post("/v1/reservations", json={"order_id": "W1", "sku": "A", "location_id": "S1", "qty": 4})
        assert ok.status_code == 201 and ok.json()["atp"] == 1
        short = device.post("/v1/reservations", json={"order_id": "W2", "sku": "A", "location_id": "S1", "qty": 2})
        assert short.status_code == 409 and short.json()["code"] == "not_available"
        assert device.get("/v1/stock/A").json()["reserved"] == 4
        assert device.delete("/v1/reservations/W1").json()["released"] == 1
        assert device.get("/v1/stock/A").json()["atp"] == 5


def test_exceptions_are_listed_and_resolved_by_finance(server: Server) -> None:
    event = sale([line("A", 1, 1299, tax=1)], [tender("card", 1300)], event_id="S1-R1-tax")
    with server.client("device") as device:
        device.post("/v1/events", json=event)
    server.wait_posted("S1-R1-tax")
    with server.client("finance") as finance:
        (mismatch,) = finance.get("/v1/exceptions", params={"type": "tax_mismatch"}).json()["items"]
        resolved = finance.post(f"/v1/exceptions/{mismatch['id']}/resolve", json={"reason": "POS fixed"})
        assert resolved.status_code == 200
        assert (resolved.json()["status"], resolved.json()["resolved_by"]) == ("resolved", "finance")
        assert finance.post("/v1/exceptions/999999/resolve", json={"reason": "x"}).status_code == 404


def test_health_metrics_and_openapi(server: Server) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        health = anonymous.get("/health").json()
        assert health["live"] and health["ready"] and health["checks"]["database"]
        with server.client("device") as device:
            device.post("/v1/events", json=a_sale("S1-R1-1"))
        server.wait_posted("S1-R1-1")
        assert anonymous.get("/metrics").status_code == 401  # behind a token (CONTRACT section 15)
        with server.client("device") as device:
            assert device.get("/metrics").status_code == 403
        with server.client() as admin:
            created = admin.post("/v1/tokens", json={"role": "monitor", "name": "prometheus"}).json()
        monitor = {"Authorization": f"Bearer {created['token']}"}
        metrics = anonymous.get("/metrics", headers=monitor).text
        assert anonymous.get("/health", headers=monitor).status_code == 200
        assert anonymous.get("/v1/exceptions", headers=monitor).status_code == 403
        assert anonymous.get("/v1/catalog", headers=monitor).status_code == 403
        assert 'posledger_events_total{result="accepted",type="sale.completed"} 1.0' in metrics
        assert "posledger_posting_lag_seconds_count" in metrics
        assert 'posledger_register_last_seen_timestamp_seconds{register_id="S1-R1"}' in metrics
        assert "posledger_request_seconds_bucket" in metrics
        schema = anonymous.get("/openapi.json").json()
        assert "/v1/events" in schema["paths"] and "/v1/ledger/trial-balance" in schema["paths"]


# ---------------------------------------------------------------- the auth matrix

ROLES = [None, "device", "device_s2", "manager", "manager_s2", "finance", "admin"]
OK, NO, UNAUTH = "ok", 403, 401

MATRIX: list[tuple[str, str, str, Any, dict[str | None, Any]]] = [
    # name, method, path, body, expected per role (default: 403 for roles not listed, 401 for None).
    # Every operation of /openapi.json needs a row (test_every_route_has_a_row): a new route
    # cannot go untested for who may call it. S1's resources, so the *_s2 roles are the other store.
    ("post event for S1", "POST", "/v1/events", a_sale("S1-R1-m"), {"device": OK, "admin": OK}),
    # Another store's token looks in its own store, which has no such id (it cannot learn S1's).
    ("read event of S1", "GET", "/v1/events/PO-M", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK, "device_s2": 404, "manager_s2": 404}),
    ("read event of S1, naming S1", "GET", "/v1/events/PO-M?store_id=S1", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK}),
    ("put store", "PUT", "/v1/stores/S9", dict(MASTER["stores"][1], store_id="S9"), {"admin": OK}),
    ("put register", "PUT", "/v1/registers/S1-R9", {"register_id": "S1-R9", "store_id": "S1"}, {"admin": OK}),
    ("put location", "PUT", "/v1/locations/S1-L9", {"location_id": "S1-L9", "store_id": "S1"}, {"admin": OK}),
    ("put item", "PUT", "/v1/items/M", {"sku": "M", "tax_code": "STD", "price": 1}, {"admin": OK}),
    ("put promotion", "PUT", "/v1/promotions/P9", {"promo_id": "P9", "max_discount_pct": "5"}, {"admin": OK}),
    ("put tax rule", "PUT", "/v1/tax-rules/NY/ZERO", {"tax_region": "NY", "tax_code": "ZERO", "rate": "0"},
     {"admin": OK}),
    ("bulk master data", "POST", "/v1/master-data", {"items": []}, {"admin": OK}),
    # Master data reads: the catalog for every token; a store, its registers and locations for
    # its own store's tokens (another store's is as absent) and finance.
    *[(f"list {kind}", "GET", f"/v1/{kind}", None, {r: OK for r in ROLES if r})
      for kind in ("stores", "registers", "locations", "items", "tax-rules", "promotions")],
    ("store S1", "GET", "/v1/stores/S1", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK, "device_s2": 404, "manager_s2": 404}),
    ("register of S1", "GET", "/v1/registers/S1-R1", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK, "device_s2": 404, "manager_s2": 404}),
    ("location of S1", "GET", "/v1/locations/S1-BACK", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK, "device_s2": 404, "manager_s2": 404}),
    ("item", "GET", "/v1/items/A", None, {r: OK for r in ROLES if r}),
    ("tax rule", "GET", "/v1/tax-rules/NY/STD", None, {r: OK for r in ROLES if r}),
    ("promotion", "GET", "/v1/promotions/P10", None, {r: OK for r in ROLES if r}),
    ("catalog", "GET", "/v1/catalog", None,
     {r: OK for r in ROLES if r}),
    ("trial balance S1", "GET", "/v1/ledger/trial-balance?store_id=S1", None,
     {"manager": OK, "finance": OK, "admin": OK}),
    ("trial balance consolidated", "GET", "/v1/ledger/trial-balance", None, {"finance": OK, "admin": OK}),
    ("entries of S1", "GET", "/v1/ledger/entries?store_id=S1", None,
     {"manager": OK, "finance": OK, "admin": OK}),
    ("stock", "GET", "/v1/stock/A", None, {r: OK for r in ROLES if r}),
    ("reserve in S1", "POST", "/v1/reservations", {"order_id": "O", "sku": "A", "location_id": "S1", "qty": 1},
     {"device": OK, "manager": OK, "finance": OK, "admin": OK}),
    ("release in S1", "DELETE", "/v1/reservations/O-RELEASE", None,
     {r: OK for r in ROLES if r}),  # an order nobody reserved: nothing of another store's to refuse
    ("invoice of S1", "GET", "/v1/invoices/S1-INV-00000001", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK}),
    ("exceptions of S1", "GET", "/v1/exceptions?store_id=S1", None,
     {"manager": OK, "finance": OK, "admin": OK}),
    ("all exceptions", "GET", "/v1/exceptions", None,
     {"manager": OK, "manager_s2": OK, "finance": OK, "admin": OK}),  # a manager: its own store's
    ("an exception of S1", "GET", "/v1/exceptions/1", None,
     {"manager": OK, "finance": OK, "admin": OK, "manager_s2": 404}),  # another store's is as absent
    ("list events", "GET", "/v1/events", None, {r: OK for r in ROLES if r}),  # each token its own store's
    ("list events of S1", "GET", "/v1/events?store_id=S1", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK}),
    ("list stock", "GET", "/v1/stock", None, {r: OK for r in ROLES if r}),  # each token its own store's
    ("list stock of S1", "GET", "/v1/stock?store_id=S1", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK}),
    ("list invoices of S1", "GET", "/v1/invoices?store_id=S1", None,
     {"device": OK, "manager": OK, "finance": OK, "admin": OK}),
    ("day summary of S1", "GET", "/v1/stores/S1/days/2026-11-22", None,
     {"manager": OK, "finance": OK, "admin": OK}),
    ("sessions of an S1 register", "GET", "/v1/registers/S1-R1/sessions", None,
     {"manager": OK, "finance": OK, "admin": OK, "manager_s2": 404}),  # another store's is as absent
    ("resolve", "POST", "/v1/exceptions/1/resolve", {"reason": "x"}, {"finance": OK, "admin": OK}),
    ("create token", "POST", "/v1/tokens", {"role": "finance", "name": "x"}, {"admin": OK}),
    ("list tokens", "GET", "/v1/tokens", None, {"admin": OK}),
    ("revoke token", "DELETE", "/v1/tokens/tok_none", None, {"admin": 404}),
    ("audit log", "GET", "/v1/audit-log", None, {"finance": OK, "admin": OK}),
    ("health", "GET", "/health", None, {r: OK for r in ROLES}),
]


@pytest.fixture
def seeded(server: Server) -> Server:
    with server.client("admin") as admin:
        admin.post("/v1/events", json=[receive("A", 50, 600) | {"event_id": "PO-M"},
                                       sale([line("A", 1, 1299, tax=1)], [tender("card", 1300)],
                                            event_id="S1-R1-seed", seq=100)])
    server.wait_posted("S1-R1-seed")
    return server


def test_the_auth_matrix(seeded: Server) -> None:
    failures = []
    for name, method, path, body, allowed in MATRIX:
        for role in ROLES:
            expected = allowed.get(role, UNAUTH if role is None else NO)
            with seeded.client(role) as client:
                response = client.request(method, path, json=body) if body is not None else client.request(method, path)
            got = response.status_code
            passed = (200 <= got < 300) if expected == OK else got == expected
            if not passed:
                failures.append(f"{name} as {role}: expected {expected}, got {got} {response.text[:120]}")
            if got in (401, 403):
                assert response.headers["content-type"].startswith("application/problem+json")
    assert not failures, "\n".join(failures)


def test_every_route_has_a_row(server: Server) -> None:
    """The matrix covers every operation the server publishes."""
    schema = httpx.get(f"{server.url}/openapi.json").json()
    rows = [(method, path.split("?")[0]) for _, method, path, _, _ in MATRIX]
    missing = []
    for template, operations in schema["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$")
        for method in operations:
            if not any(row_method == method.upper() and pattern.match(path) for row_method, path in rows):
                missing.append(f"{method.upper()} {template}")
    assert not missing, f"routes without a row in MATRIX: {missing}"


def test_a_device_may_not_post_for_another_store(server: Server) -> None:
    with server.client("device_s2") as device:
        response = device.post("/v1/events", json=[a_sale("S2-R1-1", register="S2-R1"), a_sale("S1-R1-9")])
    assert response.status_code == 403
    with server.client("admin") as admin:
        assert admin.get("/v1/events/S2-R1-1").status_code == 404  # nothing of the batch was accepted


def test_an_unknown_token_is_401_with_a_challenge(server: Server) -> None:
    response = httpx.get(f"{server.url}/v1/catalog", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_an_invoice_renders_as_json_pdf_and_ubl_xml(server: Server) -> None:
    from xml.etree import ElementTree

    with server.client("device") as device:
        device.post("/v1/events", json=a_sale("S1-R1-doc"))
    server.wait_posted("S1-R1-doc")
    with server.client("finance") as finance:
        pdf = finance.get("/v1/invoices/S1-INV-00000001", headers={"Accept": "application/pdf"})
        xml = finance.get("/v1/invoices/S1-INV-00000001", headers={"Accept": "application/xml"})
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-1.4") and pdf.content.rstrip().endswith(b"%%EOF")
    assert b"INVOICE S1-INV-00000001" in pdf.content and b"14.14" in pdf.content
    root = ElementTree.fromstring(xml.content)
    cbc = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
    assert root.tag.endswith("Invoice") and root.find(f"{cbc}ID").text == "S1-INV-00000001"  # type: ignore[union-attr]
    payable = root.find(f".//{cbc}PayableAmount")
    assert payable is not None and (payable.text, payable.get("currencyID")) == ("14.14", "USD")


def test_ubl_xml_stays_well_formed_whatever_a_name_holds(server: Server) -> None:
    from xml.etree import ElementTree

    event = a_sale("S1-R1-xml", seq=7, receipt="R-XML")
    event["payload"]["customer_id"] = "C\ufffe\U0001f600"
    with server.client("device") as device:
        assert device.post("/v1/events", json=event).status_code == 202
    status = server.wait_posted("S1-R1-xml")
    number = status["documents"][0]
    with server.client("admin") as admin:
        xml = admin.get(f"/v1/invoices/{number}", headers={"Accept": "application/xml"})
    assert xml.status_code == 200
    ElementTree.fromstring(xml.content)  # raises on malformed XML


def test_a_voids_credit_note_carries_the_voided_lines_in_json_and_ubl(server: Server) -> None:
    from xml.etree import ElementTree

    from tests.support.builders import register_event

    sold = sale([line("A", 2, 1299, tax=231), line("B", 1, 500, tax=20, tax_code="RED", line_no=2)],
                [tender("cash", 3349)], event_id="S1-R1-vl-1", seq=20, receipt_no="R-VOIDED")
    void = register_event("sale.voided", {"receipt_no": "R-VOIDED", "reason": "customer changed mind",
                                          "approved_by": "M1"}, event_id="S1-R1-vl-2", seq=21)
    with server.client("device") as device:
        assert device.post("/v1/events", json=[sold, void]).json()["accepted"] == 2
    invoice_number = server.wait_posted("S1-R1-vl-1")["documents"][0]
    credit_number = server.wait_posted("S1-R1-vl-2")["documents"][0]
    with server.client("admin") as admin:
        invoice = admin.get(f"/v1/invoices/{invoice_number}").json()
        credit = admin.get(f"/v1/invoices/{credit_number}").json()
        assert credit["kind"] == "credit_note" and credit["original_number"] == invoice_number
        assert credit["lines"] == invoice["lines"] and len(credit["lines"]) == 2
        openapi = admin.get("/openapi.json").json()
        for document in (invoice, credit):  # as the OpenAPI document types them
            assert_matches(openapi, "Document", document)
        xml = admin.get(f"/v1/invoices/{credit_number}", headers={"Accept": "application/xml"})
        root = ElementTree.fromstring(xml.content)
        cac = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
        assert len(root.findall(f"{cac}CreditNoteLine")) == 2
        # Content negotiation: what is not served is 406, q-values and wildcards are honoured.
        refused = admin.get(f"/v1/invoices/{credit_number}", headers={"Accept": "text/csv"})
        assert refused.status_code == 406 and refused.json()["code"] == "not_acceptable"
        assert admin.get(f"/v1/invoices/{credit_number}", headers={"Accept": "*/*"}).headers[
            "content-type"].startswith("application/json")
        preferred = admin.get(f"/v1/invoices/{credit_number}",
                              headers={"Accept": "application/json;q=0.4, application/pdf"})
        assert preferred.headers["content-type"] == "application/pdf"
