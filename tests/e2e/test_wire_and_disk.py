"""On the wire and on disk (CONTRACT section 15): security headers, no version banner, API docs
that load nothing from a third party, database files readable by their owner only."""

from __future__ import annotations

import os
import re
import stat

from tests.e2e.conftest import Server


def test_headers_banner_docs_and_file_modes(server: Server) -> None:
    with server.client() as admin:
        for path in ("/v1/ledger/trial-balance", "/v1/exceptions", "/health"):
            response = admin.get(path)
            assert response.headers["cache-control"] == "no-store", path
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert "server" not in response.headers, response.headers.get("server")
        for page in ("/docs", "/redoc"):
            response = admin.get(page)
            assert response.status_code == 200
            policy = response.headers["content-security-policy"]
            assert "http" not in policy and "default-src 'self'" in policy
            sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
            assert sources and all(source.startswith("/") for source in sources), sources
            for source in sources:
                assert admin.get(source).status_code == 200, source
        assert "http" not in admin.get("/openapi.json").headers.get("content-security-policy", "")
    if server.database_url is None:
        for name in os.listdir(server.db.parent):
            if name.startswith(server.db.name):
                mode = stat.S_IMODE(os.stat(server.db.parent / name).st_mode)
                assert mode & 0o077 == 0, f"{name} is {oct(mode)}"
