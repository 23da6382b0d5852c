"""The day summary and its Z-report (CONTRACT 2.1 section 11) against a day worked out by hand,
and a closed session's figures unchanged by a cash sale after its close."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import Server
from tests.support.builders import (
    cash_moved,
    closed,
    line,
    opened,
    receive,
    reset_sequences,
    return_,
    sale,
    tender,
)
from tests.support.openapi import assert_matches

DAY = "2026-11-22"  # the builders' events happen at 10:15 New York time on this day


def _post(client: httpx.Client, events: list[dict[str, Any]]) -> None:
    answer = client.post("/v1/events", json=events).json()
    assert answer["accepted"] == len(events), answer


def test_the_z_report_of_a_hand_computed_day_holds_after_a_late_cash_sale(server: Server) -> None:
    reset_sequences()
    # Store S1: prices exclude tax; STD is 8.875 %, RED 4 %. Each line's tax, by hand:
    # 2598 x 0.08875 = 230.57 -> 231; 1000 x 0.04 = 40; (2500 - 250) x 0.08875 = 199.69 -> 200.
    day = [
        receive("A", 10, 600), receive("B", 10, 400), receive("C", 5, 1000),
        opened(10_000),
        sale([line("A", 2, 1299, tax=231), line("B", 1, 1000, tax=40, tax_code="RED", line_no=2)],
             [tender("cash", 3869)], receipt_no="R-1"),
        sale([line("C", 1, 2500, discount=250, tax=200)], [tender("card", 2450)], receipt_no="R-2"),
        return_([line("B", 1, 1000, tax=40, tax_code="RED", line_no=2)], [tender("cash", 1040)],
                receipt_no="RT-1", original="R-1"),
        cash_moved("paid_out", 500), cash_moved("drop", 3000),
        closed(9_300),  # expected 10,000 + 3,869 - 1,040 - 500 - 3,000 = 9,329: short by 29
    ]
    session = {"session_id": "SES-1", "status": "closed", "opening_float": 10_000, "cash_sales": 3869,
               "cash_refunds": 1040, "float_adds": 0, "paid_out": 500, "drops": 3000, "expected": 9329,
               "counted": 9300, "over_short": -29, "approved_by": None,
               "opened_at": "2026-11-22T10:15:03-05:00", "closed_at": "2026-11-22T10:15:03-05:00"}
    with server.client() as admin:
        _post(admin, day)
        assert server.wait_posted(day[-1]["event_id"])["status"] == "posted"
        summary = admin.get(f"/v1/stores/S1/days/{DAY}").json()
        assert summary == {
            "store_id": "S1", "business_day": DAY, "currency": "USD", "status": "open",
            "net_sales": 2598 + 1000 + 2500 - 250, "tax": 231 + 40 + 200 - 40, "returns": 1000,
            "cogs": 2 * 600 + 400 + 1000 - 400,  # the restocked return takes its cost back
            "tenders": {"cash": 3869 - 1040, "card": 2450, "wallet": 0, "gift_card": 0, "on_account": 0},
            "over_short": -29, "exceptions_open": 0, "closed_by": None, "closed_at": None,
            "tax_by_rate": [{"tax_code": "RED", "rate": "0.04", "taxable": 0, "tax": 0},
                            {"tax_code": "STD", "rate": "0.08875", "taxable": 2598 + 2250, "tax": 431}],
            "registers": [{"register_id": "S1-R1", "sessions": [session]}],
            "late": [],
        }
        openapi = admin.get("/openapi.json").json()
        assert_matches(openapi, "DaySummary", summary)
        # Tenders take what the documents charged: net sales - returns + tax.
        assert sum(summary["tenders"].values()) == summary["net_sales"] - summary["returns"] + summary["tax"]

        late = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no="R-3")
        _post(admin, [late])
        assert server.wait_posted(late["event_id"])["status"] == "posted"  # posted, and an exception raised
        after = admin.get(f"/v1/stores/S1/days/{DAY}").json()
        assert after["registers"] == summary["registers"], "a closed session's figures never change"
        assert after["late"] == [{"event_id": late["event_id"], "register_id": "S1-R1", "cash": 1414,
                                  "exception_id": after["late"][0]["exception_id"],
                                  "exception_type": "no_open_session", "status": "open"}]
        assert after["net_sales"] == summary["net_sales"] + 1299 and after["tax"] == summary["tax"] + 115
        assert after["tenders"]["cash"] == summary["tenders"]["cash"] + 1414
        assert after["exceptions_open"] == 1
        # The GL holds the late cash in the register's drawer account, outside the session.
        lines = admin.get("/v1/ledger/entries", params={"account": "1000", "register_id": "S1-R1"}).json()
        assert sum(ln["debit"] - ln["credit"] for ln in lines["items"]) == 1414

        sessions = admin.get("/v1/registers/S1-R1/sessions", params={"business_day": DAY}).json()
        assert sessions == {"items": [{"register_id": "S1-R1", "store_id": "S1", "business_day": DAY, **session}],
                            "next_cursor": None}
        assert_matches(openapi, "SessionPage", sessions)
        assert_matches(openapi, "DaySummary", after)
        invoices = admin.get("/v1/invoices", params={"store_id": "S1", "business_day": DAY}).json()
        assert_matches(openapi, "DocumentPage", invoices)
        assert len(invoices["items"]) == 4  # and R-3's invoices, RT-1's credit note
        for document in invoices["items"]:
            assert_matches(openapi, "Document", admin.get(document["self"]).json())
        assert_matches(openapi, "EventStatus", admin.get(f"/v1/events/{late['event_id']}").json())
        assert_matches(openapi, "StockPosition", admin.get("/v1/stock/A").json())
        assert admin.get("/v1/registers/S1-R2/sessions").json() == {"items": [], "next_cursor": None}
        assert admin.get("/v1/registers/NOPE/sessions").status_code == 404
        assert admin.get("/v1/stores/NOPE/days/2026-11-22").status_code == 404
        assert admin.get("/v1/stores/S1/days/2026-13-01").json()["code"] == "invalid_request"
    with server.client("device_s2") as other:
        assert other.get(f"/v1/stores/S1/days/{DAY}").status_code == 403
    with server.client("manager_s2") as manager:
        assert manager.get(f"/v1/stores/S1/days/{DAY}").status_code == 403
        assert manager.get("/v1/registers/S1-R1/sessions").status_code == 404  # not its store's
        assert manager.get(f"/v1/stores/S2/days/{DAY}").json()["registers"] == []


def test_sessions_page_by_their_cursor(server: Server) -> None:
    reset_sequences()
    events = []
    for n in range(5):
        events += [opened(100, session=f"P-{n}", register="S1-R2"), closed(100, session=f"P-{n}", register="S1-R2")]
    with server.client() as admin:
        _post(admin, events)
        server.wait_posted(events[-1]["event_id"])
        seen: list[str] = []
        cursor = None
        while True:
            page = admin.get("/v1/registers/S1-R2/sessions",
                             params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [s["session_id"] for s in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"P-{n}" for n in range(5)]
