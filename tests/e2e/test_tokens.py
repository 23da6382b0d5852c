"""Tokens have a lifecycle (CONTRACT section 15): an id, a name, an expiry, a listing without
secrets, revocation that holds from the next request on; the bootstrap token must be long."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.e2e.conftest import Server


def test_create_list_use_revoke_and_expire(server: Server) -> None:
    with server.client() as admin:
        created = admin.post("/v1/tokens", json={"role": "device", "store_id": "S1", "name": "till 7"})
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["token_id"].startswith("tok_") and body["token"].startswith("plg_dev_")
        assert body["name"] == "till 7" and body["expires_at"] is None
        device = {"Authorization": f"Bearer {body['token']}"}
        assert httpx.get(f"{server.url}/v1/catalog", headers=device).status_code == 200

        listed = admin.get("/v1/tokens")
        assert listed.status_code == 200
        assert body["token"] not in listed.text  # never the secret
        mine = next(record for record in listed.json()["items"] if record["token_id"] == body["token_id"])
        assert mine["role"] == "device" and mine["store_id"] == "S1" and mine["last_used_at"] is not None
        assert not mine["revoked"]

        assert admin.delete(f"/v1/tokens/{body['token_id']}").json() == {"token_id": body["token_id"],
                                                                          "revoked": True}
        assert httpx.get(f"{server.url}/v1/catalog", headers=device).status_code == 401  # the next request
        assert admin.delete("/v1/tokens/tok_nope").status_code == 404

        soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
        brief = admin.post("/v1/tokens", json={"role": "finance", "name": "auditor", "expires_at": soon}).json()
        auditor = {"Authorization": f"Bearer {brief['token']}"}
        assert httpx.get(f"{server.url}/v1/exceptions", headers=auditor).status_code == 200
        time.sleep(1.7)
        assert httpx.get(f"{server.url}/v1/exceptions", headers=auditor).status_code == 401

        for document, field in (({"role": "device", "store_id": "NOPE"}, "store_id"),
                                ({"role": "finance", "expires_at": "2020-01-01T00:00:00+00:00"}, "expires_at"),
                                ({"role": "finance", "expires_at": "tomorrow"}, "expires_at"),
                                ({"role": "root"}, "role")):
            refused = admin.post("/v1/tokens", json=document)
            assert refused.status_code == 422 and refused.json()["field"] == field, refused.text
        # The listing pages with a cursor.
        first = admin.get("/v1/tokens", params={"limit": 2}).json()
        assert len(first["items"]) == 2 and first["next_cursor"] == first["items"][-1]["token_id"]
        rest = admin.get("/v1/tokens", params={"cursor": first["next_cursor"], "limit": 1000}).json()
        ids = [record["token_id"] for record in first["items"] + rest["items"]]
        assert ids == sorted(ids) and len(ids) == len(set(ids)) and rest["next_cursor"] is None
        assert set(ids) == {record["token_id"] for record in admin.get("/v1/tokens?limit=1000").json()["items"]}
    with server.client("device") as device_client:
        assert device_client.get("/v1/tokens").status_code == 403


def test_a_short_bootstrap_token_keeps_the_server_from_starting(tmp_path: Path) -> None:
    env = {**os.environ, "POSLEDGER_DB": str(tmp_path / "db"), "POSLEDGER_ADMIN_TOKEN": "change-me"}
    env.pop("POSLEDGER_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-m", "posledger.entrypoints.cli", "serve", "--port", "1"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "at least 32 characters" in result.stderr
    assert not (tmp_path / "db").exists()  # refused before anything opened


def test_token_commands(tmp_path: Path) -> None:
    env = {**os.environ, "POSLEDGER_DB": str(tmp_path / "db")}
    env.pop("POSLEDGER_DATABASE_URL", None)
    cli = [sys.executable, "-m", "posledger.entrypoints.cli"]
    created = subprocess.run([*cli, "token", "create", "--role", "finance", "--name", "controller",
                              "--expires", "2099-01-01T00:00:00+00:00"], env=env, capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    token_id = created.stderr.split("token_id ")[1].split()[0]
    listed = subprocess.run([*cli, "token", "list", "--json"], env=env, capture_output=True, text=True)
    assert token_id in listed.stdout and created.stdout.strip() not in listed.stdout
    revoked = subprocess.run([*cli, "token", "revoke", token_id], env=env, capture_output=True, text=True)
    assert revoked.returncode == 0, revoked.stderr
    again = subprocess.run([*cli, "token", "list", "--json"], env=env, capture_output=True, text=True)
    assert '"revoked": true' in again.stdout
    missing = subprocess.run([*cli, "token", "revoke", "tok_nope"], env=env, capture_output=True, text=True)
    assert missing.returncode != 0
