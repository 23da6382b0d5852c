"""Card data never lands (CONTRACT sections 8 and 15), probed as an auditor would: every form of
a card number, and every card-security key, sent through every input `posledger serve` stores,
logs or echoes; each is refused with `pan_detected` (or, for a query, the same), and afterwards
the database (SQLite's files and WAL, or every PostgreSQL row) and the server's log are
searched for the digits."""

from __future__ import annotations

import copy
import json
import urllib.parse
from typing import Any

import psycopg

from tests.e2e.conftest import Server
from tests.support.builders import MASTER, line, sale, tender

DIGITS = "4111000001346236"  # Luhn-valid
FORMS = [
    DIGITS,
    "4111 0000 0134 6236",
    "4111.0000.0134.6236",
    "4111/0000/0134/6236",
    "4111_0000_0134_6236",
    "4111-0000-0134-6236",
    "4111\t0000\t0134\t6236",
    "4111\u00a00000\u00a00134\u00a06236",
    "４１１１０００００１３４６２３６",
    "٤١١١٠٠٠٠٠١٣٤٦٢٣٦",
]
NUMBERS = [4111000001346236, 4111000001346236.0, 4.111000001346236e15]
CARD_KEYS = ["cvc_code", "card_cvv", "cvv_number", "pin", "track2", "expiry", "PinBlock"]


def _sale_with(path: list[Any], value: Any, number: int) -> dict[str, Any]:
    event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"PAN-{number}",
                 event_id=f"S1-R1-PAN-{number}", seq=1000 + number)
    holder: Any = event
    for step in path[:-1]:
        holder = holder.setdefault(step, {}) if isinstance(holder, dict) else holder[step]
    holder[path[-1]] = value
    return event


def _events() -> list[dict[str, Any]]:
    events = []
    places: list[list[Any]] = [["payload", "customer_id"], ["payload", "cashier_id"], ["payload", "receipt_no"],
                               ["payload", "ext", "note"], ["payload", "lines", 0, "ext", "memo"],
                               ["payload", "tenders", 0, "ext", "ref"], ["ext", "loyalty"]]
    for form in FORMS:
        for place in places:
            events.append(_sale_with(place, form, len(events)))
    for number in NUMBERS:
        events.append(_sale_with(["payload", "ext", "n"], number, len(events)))
    for key in CARD_KEYS:
        events.append(_sale_with(["payload", "tenders", 0, "ext", key], "123", len(events)))
        events.append(_sale_with(["payload", "tenders", 0, key], "123", len(events)))
    return events


def test_card_data_is_refused_everywhere_and_rests_nowhere(server: Server) -> None:
    with server.client() as admin, server.client("device") as device:
        # Events, one by one and in a batch.
        events = _events()
        for event in events:
            response = device.post("/v1/events", json=event)
            assert response.status_code == 422, (event, response.text)
            problem = response.json()
            assert problem["code"] == "pan_detected", (event, problem)
            assert DIGITS not in response.text
        batch = device.post("/v1/events", json=events[:50])
        assert batch.status_code == 202, batch.text[:500]
        assert all(result["status"] == "rejected" and result["problem"]["code"] == "pan_detected"
                   for result in batch.json()["results"])

        # Master data: an item named with a card number (served to every device), a store, a key.
        for form in FORMS[:4]:
            master = copy.deepcopy(MASTER)
            master["items"][0]["name"] = f"gift {form}"
            response = admin.post("/v1/master-data", json=master)
            assert response.status_code == 422 and response.json()["code"] == "pan_detected", response.text
            item = dict(MASTER["items"][1], name=form)
            response = admin.put(f"/v1/items/{item['sku']}", json=item)
            assert response.status_code == 422 and response.json()["code"] == "pan_detected", response.text

        # A reservation's order id, a resolve reason, a token name.
        for form in FORMS[:4]:
            response = device.post("/v1/reservations", json={"order_id": form, "sku": "A", "location_id": "S1",
                                                              "qty": 1})
            assert response.status_code == 422 and response.json()["code"] == "pan_detected", response.text
            response = admin.post("/v1/tokens", json={"role": "device", "store_id": "S1", "name": form})
            assert response.status_code == 422 and response.json()["code"] == "pan_detected", response.text
        exceptions = admin.get("/v1/exceptions").json()["items"]
        if exceptions:
            response = admin.post(f"/v1/exceptions/{exceptions[0]['id']}/resolve", json={"reason": FORMS[1]})
            assert response.status_code == 422 and response.json()["code"] == "pan_detected", response.text

        # Path segments and query parameters: refused, never echoed.
        for form in FORMS:
            quoted = urllib.parse.quote(form)
            for url in (f"/v1/events/{quoted}", f"/v1/invoices/{quoted}", f"/v1/stock/A?location_id={quoted}",
                        f"/v1/ledger/entries?event_id={quoted}"):
                response = admin.get(url)
                assert response.status_code == 422, (url, response.text)
                assert response.json()["code"] == "pan_detected"
                assert DIGITS not in response.text and form not in response.text
            response = device.delete(f"/v1/reservations/{quoted}")
            assert response.status_code == 422, response.text
        response = admin.get("/v1/exceptions?cvv=123")
        assert response.status_code == 422 and response.json()["code"] == "pan_detected"
        # A long run of digits that is no card number is not echoed either.
        response = admin.get("/v1/events/S1-4111000001346237")
        assert response.status_code == 404 and "4111000001346237" not in response.text

        # A GTIN is a barcode where a SKU goes.
        ean = "4006381333924"
        item = dict(MASTER["items"][0], sku=ean, name="Barcoded")
        assert admin.put(f"/v1/items/{ean}", json=item).status_code == 200
        assert admin.get(f"/v1/stock/{ean}").status_code == 200

    server.process.terminate()
    server.process.wait(15)
    _assert_nowhere(server)


def _needles() -> list[bytes]:
    needles = {DIGITS.encode()}
    for form in FORMS:
        needles.add(form.encode())
        needles.add(json.dumps(form).encode())  # as JSON escapes it
    return sorted(needles)


def _assert_nowhere(server: Server) -> None:
    needles = _needles()
    files = [server.db.with_suffix(".log")]
    if server.database_url is None:
        files += [path for path in server.db.parent.iterdir() if path.name.startswith(server.db.name)]
        assert any(path.name.endswith("-wal") or path.name == server.db.name for path in files)
    for path in files:
        if not path.exists():
            continue
        content = path.read_bytes()
        found = [needle for needle in needles if needle in content]
        assert not found, f"{path.name} holds {found}"
    if server.database_url is not None:
        _assert_nowhere_in_postgres(server.database_url, needles)


def _assert_nowhere_in_postgres(url: str, needles: list[bytes]) -> None:
    with psycopg.connect(url) as connection:
        tables = [row[0] for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")]
        assert tables
        for table in tables:
            for (text,) in connection.execute(f'SELECT t::text FROM "{table}" t'):
                found = [needle for needle in needles if needle.decode() in text]
                assert not found, f"table {table} holds {found}"
