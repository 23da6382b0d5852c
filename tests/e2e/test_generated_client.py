"""The OpenAPI document generates a typed client with openapi-python-client, without warnings
(CONTRACT 2.1 section 16), and that client posts an event and reads its status back from a live
server: the schema is what an integrator builds from."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ADMIN, Server
from tests.support.builders import line, sale, tender


@pytest.mark.slow
def test_a_generated_client_posts_an_event_and_reads_its_status(sqlite_server: Server, tmp_path: Path) -> None:
    server = sqlite_server  # the schema and the client are the same on every backend
    bin_dir = Path(sys.executable).parent
    generator = shutil.which("openapi-python-client", path=str(bin_dir))
    assert generator, "openapi-python-client is a dev dependency (pyproject.toml)"
    (tmp_path / "openapi.json").write_bytes(httpx.get(f"{server.url}/openapi.json").content)
    generated = subprocess.run(
        [generator, "generate", "--path", str(tmp_path / "openapi.json"), "--meta", "none",
         "--output-path", str(tmp_path / "posledger_client")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"})  # its ruff hook
    output = generated.stdout + generated.stderr
    assert generated.returncode == 0, output
    assert "warning" not in output.lower() and "error" not in output.lower(), output

    sys.path.insert(0, str(tmp_path))
    try:
        client_module = importlib.import_module("posledger_client")
        models = importlib.import_module("posledger_client.models")
        post_events = importlib.import_module("posledger_client.api.default.post_events")
        get_event = importlib.import_module("posledger_client.api.default.get_event")
        with client_module.AuthenticatedClient(base_url=server.url, token=ADMIN) as client:
            event = sale([line("A", 1, 1299, tax=115)], [tender("card", 1414)], receipt_no="GEN-1",
                         event_id="S1-R1-GEN-1", seq=1)
            typed = models.SaleCompleted.from_dict(event)
            assert typed.payload.lines[0].unit_price == 1299  # a typed model, not a dict
            answer = post_events.sync(client=client, body=typed)  # one event: its result
            assert isinstance(answer, models.EventResult), answer
            assert answer.status == models.EventResultStatus.ACCEPTED
            again = post_events.sync(client=client, body=[typed])  # an array: a result per event
            assert isinstance(again, models.IngestResponse), again
            assert again.duplicate == 1 and again.results[0].status == models.EventResultStatus.DUPLICATE
            server.wait_posted("S1-R1-GEN-1")
            status = get_event.sync("S1-R1-GEN-1", client=client)
            assert isinstance(status, models.EventStatus), status
            assert status.status == models.EventStatusStatus.POSTED and status.documents
            missing = get_event.sync("NO-SUCH-EVENT", client=client)
            assert isinstance(missing, models.Problem) and missing.code == "not_found"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.split(".")[0] == "posledger_client"]:
            del sys.modules[name]


def test_docs_and_redoc_work_offline(sqlite_server: Server) -> None:
    """/docs and /redoc load their scripts and styles from the server itself, not a CDN."""
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{sqlite_server.url}{page}").text
        assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html, page
        assets = [part.split('"')[0] for marker in ('src="', 'href="') for part in html.split(marker)[1:]]
        assets = [asset for asset in assets if asset.endswith((".js", ".css"))]
        assert assets, page
        for asset in assets:
            assert httpx.get(f"{sqlite_server.url}{asset}").status_code == 200, (page, asset)
