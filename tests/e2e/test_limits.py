"""Floods and guesses (CONTRACT section 15): one token over its rate gets 429 with Retry-After
while another store's requests go through; a client guessing tokens is held off for a minute;
a register id nobody configured makes no metric series."""

from __future__ import annotations

import concurrent.futures
import contextlib
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN, start_server
from tests.support.builders import MASTER, line, sale, tender


def test_a_flooding_token_is_limited_and_another_store_is_not(tmp_path: Path) -> None:
    process, url = start_server(tmp_path / "db", extra_env={"POSLEDGER_RATE_LIMIT": "20", "POSLEDGER_RATE_BURST": "20"})
    clients = contextlib.ExitStack()
    try:
        admin = clients.enter_context(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"},
                                                   timeout=30))
        assert admin.post("/v1/master-data", json=MASTER).status_code == 200
        tokens = {store: admin.post("/v1/tokens", json={"role": "device", "store_id": store}).json()["token"]
                  for store in ("S1", "S2")}

        def flood(number: int) -> httpx.Response:
            event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], receipt_no=f"F-{number}",
                         event_id=f"S1-R1-F-{number:04d}", seq=number + 1)
            return httpx.post(f"{url}/v1/events", json=event, headers={"Authorization": f"Bearer {tokens['S1']}"},
                              timeout=30)

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            flooded = list(pool.map(flood, range(200)))
        limited = [response for response in flooded if response.status_code == 429]
        assert limited and any(response.status_code == 202 for response in flooded)
        assert limited[0].json()["code"] == "rate_limited"
        assert int(limited[0].headers["retry-after"]) >= 1

        other = clients.enter_context(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['S2']}"},
                                                   timeout=30))
        for number in range(10):
            event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], register="S2-R1",
                         receipt_no=f"O-{number}", event_id=f"S2-R1-O-{number:03d}", seq=number + 1)
            assert other.post("/v1/events", json=event).status_code == 202
        # The bootstrap admin token is not limited.
        assert all(admin.get("/health").status_code == 200 for _ in range(50))
        assert all(admin.get("/v1/catalog").status_code == 200 for _ in range(50))

        # Metric series only for registers master data knows.
        unknown = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], register="S1-R99", store="S1",
                       receipt_no="U-1", event_id="S1-R99-1", seq=1)
        assert admin.post("/v1/events", json=unknown).status_code == 202
        metrics = admin.get("/metrics").text
        assert 'register_id="S2-R1"' in metrics and "S1-R99" not in metrics
        # Guessing: 20 wrong tokens in a minute, then even a right one waits.
        for attempt in range(20):
            assert httpx.get(f"{url}/v1/catalog", headers={"Authorization": f"Bearer wrong-{attempt}"}).status_code == 401
        held = httpx.get(f"{url}/v1/catalog", headers={"Authorization": f"Bearer {tokens['S2']}"})
        assert held.status_code == 429 and int(held.headers["retry-after"]) >= 1
        assert admin.get("/v1/catalog").status_code == 429  # the address, whatever it sends

        log = (tmp_path / "db").with_suffix(".log").read_text()
        assert "authentication failed" in log and ADMIN not in log and tokens["S2"] not in log
    finally:
        clients.close()
        process.terminate()
        process.wait(10)
