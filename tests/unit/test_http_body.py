"""What POST /v1/events makes of bodies that are not plain JSON events: a clear 4xx, never a
500, and one bad event of a batch rejected alone."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette's TestClient warns about its httpx transport on import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from posledger.bootstrap import bootstrap
from posledger.config import Settings
from posledger.entrypoints.http import create_app
from tests.support.builders import MASTER, line, reset_sequences, sale, tender

TOKEN = "t" * 32
ADMIN = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    application = bootstrap(Settings(db_path=str(tmp_path / "body.db"), posting_process=False))
    with TestClient(create_app(application, admin_token=TOKEN)) as test_client:
        assert test_client.post("/v1/master-data", json=MASTER, headers=ADMIN).status_code == 200
        yield test_client
    application.close()


def good(n: int) -> dict[str, object]:
    return sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"B-{n}", event_id=f"S1-R1-B{n}")


@pytest.mark.parametrize("body", [
    b'{"event_id": "\xff"}',  # not UTF-8
    b"[" * 2000 + b"]" * 2000,  # nested deeper than any event
    b"\xef\xbb\xbf{}",  # a byte-order mark
    b"", b"   ", b"null]",
])
def test_a_body_that_is_not_json_is_a_400_not_a_500(client: TestClient, body: bytes) -> None:
    response = client.post("/v1/events", content=body, headers=ADMIN)
    assert response.status_code in (400, 413, 422), response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_one_undecodable_event_in_a_batch_is_rejected_alone(client: TestClient) -> None:
    reset_sequences()
    first, second = json.dumps(good(1)).encode(), json.dumps(good(2)).encode()
    broken = b'{"event_id": "S1-R1-BAD", "amount": 1e400}'
    response = client.post("/v1/events", content=b"[" + first + b"," + broken + b"," + second + b"]", headers=ADMIN)
    assert response.status_code == 202, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted", "rejected", "accepted"]


def test_a_key_sent_twice_is_validated_as_it_is_stored_and_a_card_number_in_it_goes_nowhere(
        client: TestClient) -> None:
    reset_sequences()
    body = json.dumps(good(3)).encode().replace(b'"tender": "cash"', b'"tender": "4111 1111 1111 1111", "tender": "cash"')
    response = client.post("/v1/events", content=body, headers=ADMIN)
    assert "4111" not in response.text
    assert response.status_code == 202 and response.json()["status"] == "accepted"
    stored = client.get("/v1/events/S1-R1-B3", headers=ADMIN)
    assert "4111" not in stored.text
