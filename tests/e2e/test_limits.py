"""Floods and guesses (CONTRACT section 15): one token over its rate gets 429 with Retry-After
while another store's requests go through; a client guessing tokens is held off for a minute;
a register id nobody configured makes no metric series."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN, start_server
from tests.support.builders import MASTER, line, sale, tender

_FLOOD = """
import json, os, sys, threading, time
import httpx
os.nice(15)  # the flooder is another machine's load: on two shared cores it must not starve the server's
from tests.support.builders import line, sale, tender
url, token, seconds, interval, prefix = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
counts, lock, last = {}, threading.Lock(), {}
def flood(number):
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        sent, deadline = 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(max(0.0, interval - (time.monotonic() % interval)))  # 1 / interval a second a connection
            sent += 1
            event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)],
                         receipt_no=f"{prefix}-{number}-{sent}", event_id=f"S1-R1-{prefix}-{number}-{sent}",
                         seq=(number + (8 if prefix == "F" else 0)) * 1_000_000 + sent)
            response = client.post("/v1/events", json=event)
            with lock:
                counts[str(response.status_code)] = counts.get(str(response.status_code), 0) + 1
                if response.status_code == 429:
                    last.update(problem=response.json(), retry_after=response.headers["retry-after"])
threads = [threading.Thread(target=flood, args=(n,)) for n in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(json.dumps({"429": 0, "202": 0, **counts, **last}))
"""


def test_a_flooding_token_is_limited_and_another_store_is_not(tmp_path: Path) -> None:
    process, url = start_server(tmp_path / "db", extra_env={"POSLEDGER_RATE_LIMIT": "50", "POSLEDGER_RATE_BURST": "50"})
    clients = contextlib.ExitStack()
    try:
        admin = clients.enter_context(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"},
                                                   timeout=30))
        assert admin.post("/v1/master-data", json=MASTER).status_code == 200
        tokens = {store: admin.post("/v1/tokens", json={"role": "device", "store_id": store}).json()["token"]
                  for store in ("S1", "S2")}

        other = clients.enter_context(httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens['S2']}"},
                                                   timeout=30))
        sent = iter(range(1_000_000))

        def other_store(count: int) -> list[float]:
            """S2's request times, one sale a request."""
            took = []
            for _ in range(count):
                number = next(sent)
                event = sale([line("A", 1, 1299, tax=115)], [tender("cash", 1414)], register="S2-R1",
                             receipt_no=f"O-{number}", event_id=f"S2-R1-O-{number:04d}", seq=number + 1)
                started = time.perf_counter()
                assert other.post("/v1/events", json=event).status_code == 202
                took.append(time.perf_counter() - started)
                time.sleep(0.03)  # a busy till, well under its rate
            return took

        def p99(times: list[float]) -> float:
            return sorted(times)[int(len(times) * 0.99) - 1]

        other_store(10)  # warm
        idle = p99(other_store(60))

        def s1_sending(per_connection: float, prefix: str) -> tuple[list[float], dict[str, object]]:
            """S2's p99 in three windows (sorted) while S1's tills send from another process (8
            connections, as another store's tills would: threads of this one would make S2's own
            client wait for the interpreter)."""
            tills = subprocess.Popen([sys.executable, "-c", _FLOOD, url, tokens["S1"], "7",
                                      str(per_connection), prefix], stdout=subprocess.PIPE)
            time.sleep(1.0)
            # The middle window is what is judged, so that one window with a slow fsync of its
            # own (the machine's, not the flood's) does not decide.
            windows = sorted(p99(other_store(40)) for _ in range(3))
            out, _ = tills.communicate(timeout=60)
            return windows, json.loads(out)

        # S1 at its own rate (50 a second, all accepted and posted), then flooding at eight times
        # it: what S2 sees may grow with S1's accepted work on two shared cores, never with S1's
        # excess, which the rate gate refuses before any other work.
        at_rate, _ = s1_sending(0.16, "R")
        windows, statuses = s1_sending(0.02, "F")
        assert statuses["429"] and statuses["202"], statuses
        assert statuses["problem"]["code"] == "rate_limited" and int(statuses["retry_after"]) >= 1
        # Another store's p99 within twice its value without the flood (CONTRACT section 15):
        # idle, or with S1 at its rate when the machine's two shared cores make that the larger,
        # with 20 ms of allowance for scheduling noise at millisecond latencies.
        baseline = max(idle, at_rate[1])
        assert windows[1] <= max(2 * baseline, baseline + 0.020), (idle, at_rate, windows, statuses)
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
        # Refused requests are summed in the access log (a line a second), not a line each.
        summaries = [json.loads(text) for text in log.splitlines() if '"refused"' in text and text.startswith("{")]
        assert summaries and sum(line["refused"] for line in summaries) >= statuses["429"] * 0.5
        assert all(line["token_id"].startswith(("tok_", "address ")) for line in summaries)
        assert len(summaries) < statuses["429"] / 50
        assert "authentication failed" in log and ADMIN not in log and tokens["S2"] not in log
    finally:
        clients.close()
        process.terminate()
        process.wait(10)
