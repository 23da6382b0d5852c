"""History is kept (CONTRACT section 15): every change of master data, tokens and the exception
workflow is in the audit log with the acting token's id, the time and before/after; a store's
currency, tax mode, timezone and cut-off cannot change once it has postings."""

from __future__ import annotations

import copy

from tests.e2e.conftest import Server
from tests.support.builders import MASTER, line, sale, tender


def test_the_audit_log_and_immutable_store_fields(server: Server) -> None:
    with server.client() as admin, server.client("device") as device:
        first = admin.get("/v1/audit-log").json()
        assert first["entries"], first  # the fixture's master data and tokens
        since = first["entries"][-1]["id"]

        item = dict(MASTER["items"][0], name="Silk scarf")
        assert admin.put("/v1/items/A", json=item).status_code == 200
        created = admin.post("/v1/tokens", json={"role": "finance", "name": "controller"}).json()
        assert admin.delete(f"/v1/tokens/{created['token_id']}").status_code == 200

        # A store with no postings may still change its currency; once it has postings, not.
        store = dict(MASTER["stores"][2], currency="EUR")  # S3, nothing posted there
        assert admin.put("/v1/stores/S3", json=store).status_code == 200
        event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no="AUD-1")
        assert device.post("/v1/events", json=event).status_code == 202
        assert server.wait_posted(event["event_id"])["status"] == "posted"
        for name, value in (("currency", "EUR"), ("prices_include_tax", True),
                            ("timezone", "Europe/Paris"), ("day_cutoff", "05:00")):
            changed = dict(MASTER["stores"][0], **{name: value})
            response = admin.put("/v1/stores/S1", json=changed)
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "immutable_field" and response.json()["field"] == name
            bulk = copy.deepcopy(MASTER)
            bulk["stores"][0][name] = value
            response = admin.post("/v1/master-data", json=bulk)
            assert response.status_code == 409 and response.json()["field"] == f"stores[0].{name}", response.text
        renamed = dict(MASTER["stores"][0], name="Flagship")  # other fields may change
        assert admin.put("/v1/stores/S1", json=renamed).status_code == 200

        entries = admin.get("/v1/audit-log", params={"since": since}).json()["entries"]
        actions = [(entry["action"], entry["subject"]) for entry in entries]
        assert ("master_data.upsert", "items/A") in actions
        assert ("token.create", created["token_id"]) in actions
        assert ("token.revoke", created["token_id"]) in actions
        assert ("master_data.upsert", "stores/S3") in actions and ("master_data.upsert", "stores/S1") in actions
        upsert = next(entry for entry in entries if entry["subject"] == "items/A")
        assert upsert["before"]["name"] == "Scarf" and upsert["after"]["name"] == "Silk scarf"
        assert upsert["actor"] == "bootstrap admin" and upsert["at"]
        assert created["token"] not in str(entries)
        assert all(later["id"] > since for later in entries)

        short = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1000)], receipt_no="AUD-2")  # tender_mismatch
        assert device.post("/v1/events", json=short).status_code == 202
        server.wait_posted(short["event_id"])
        exceptions = admin.get("/v1/exceptions", params={"type": "tender_mismatch"}).json()["items"]
        assert exceptions
        resolved = admin.post(f"/v1/exceptions/{exceptions[0]['id']}/resolve", json={"reason": "checked"})
        assert resolved.status_code == 200
        latest = admin.get("/v1/audit-log", params={"since": entries[-1]["id"]}).json()["entries"]
        assert latest[-1]["action"] == "exception.resolve" and latest[-1]["after"]["reason"] == "checked"
        assert latest[-1]["before"]["status"] == "open"
    with server.client("finance") as finance:
        assert finance.get("/v1/audit-log").status_code == 200
    with server.client("manager") as manager:
        assert manager.get("/v1/audit-log").status_code == 403
