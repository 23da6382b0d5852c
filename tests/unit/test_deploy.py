"""The deployment examples keep their promises: only `migrate` changes the schema, everything
else waits for it, and every long-running process is restarted with a back-off when it exits."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def test_systemd_units_restart_with_a_back_off_and_never_give_up() -> None:
    for name in ("posledger-serve@.service", "posledger-worker@.service"):
        unit = _unit(name)
        service = unit["Service"]
        assert service["Restart"] == "always", name
        assert float(service["RestartSec"]) > 0 and int(service["RestartSteps"]) > 0, name
        assert service["RestartMaxDelaySec"] == "60", name
        assert unit["Unit"]["StartLimitIntervalSec"] == "0", name
        assert "db upgrade" not in service["ExecStart"], name


def test_the_systemd_migration_unit_is_a_one_shot_db_upgrade() -> None:
    service = _unit("posledger-migrate.service")["Service"]
    assert service["Type"] == "oneshot"
    assert service["ExecStart"].endswith("posledger db upgrade")


def test_compose_runs_migrate_first_and_restarts_the_rest() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["posledger", "db", "upgrade"]
    posledger = {name: svc for name, svc in services.items()
                 if svc.get("command", [None])[0] == "posledger" and name != "migrate"}
    assert {"ingest-1", "ingest-2", "worker-1", "worker-2"} <= set(posledger)
    for name, service in posledger.items():
        assert service["restart"] == "always", name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert "db" not in service["command"], name


def test_compose_publishes_only_tls_and_keeps_secrets_in_files() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"} and services["proxy"]["ports"] == ["443:8443"]
    text = (DEPLOY / "compose.yaml").read_text()
    assert "POSTGRES_PASSWORD:" not in text and "posledger:posledger@" not in text
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    for name in ("ingest-1", "ingest-2", "worker-1", "worker-2", "migrate"):
        environment = services[name]["environment"]
        assert "POSLEDGER_DATABASE_URL" not in environment and "POSLEDGER_ADMIN_TOKEN" not in environment, name
        assert environment["POSLEDGER_DATABASE_URL_FILE"].startswith("/run/secrets/"), name
    assert set(compose["secrets"]) >= {"pg_password", "database_url", "admin_token", "tls_cert", "tls_key"}
    proxy = (DEPLOY / "nginx" / "posledger.conf").read_text()
    for directive in ("listen 8443 ssl", "ssl_certificate ", "client_header_timeout", "client_body_timeout",
                      "server_tokens off", "X-Forwarded-For"):
        assert directive in proxy, directive
