"""The integrator's reference (docs/reference/) is what the hub accepts: its master data loads,
each of its event examples is accepted and posts, in the order written, with no exception."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Server

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


def json_blocks(page: Path) -> list[Any]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", page.read_text(), re.S)]


def test_every_event_example_of_the_reference_posts_cleanly(sqlite_server: Server) -> None:
    (master,) = json_blocks(REFERENCE / "master-data.md")
    events = json_blocks(REFERENCE / "events.md")
    documented = set(re.findall(r"^### `([a-z_.]+)`", (REFERENCE / "events.md").read_text(), re.M))
    assert {event["type"] for event in events} == documented
    with sqlite_server.client() as admin:
        assert admin.post("/v1/master-data", json=master).status_code == 200
        for event in events:  # one at a time, as written: each is a complete request body
            answer = admin.post("/v1/events", json=event)
            assert answer.status_code == 202 and answer.json()["status"] == "accepted", answer.text
        for event in events:
            status = sqlite_server.wait_posted(event["event_id"], store_id="S001")
            assert status["status"] == "posted", status
            assert status["exceptions"] == [], (event["event_id"], status["exceptions"])
        day = admin.get("/v1/stores/S001/days/2026-11-27").json()
        (session,) = day["registers"][0]["sessions"]
        assert session["expected"] == session["counted"] == 10032 and session["over_short"] == 0
        assert day["exceptions_open"] == 0 and day["late"] == []
