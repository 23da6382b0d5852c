from __future__ import annotations

from pathlib import Path

import pytest

from posledger.config import Settings


def test_settings_come_from_the_environment_over_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "posledger.toml"
    config.write_text('POSLEDGER_DATABASE_URL = "postgresql://file/db"\nPOSLEDGER_NATS_URL = "nats://file:4222"\n')
    settings = Settings.from_env({"POSLEDGER_CONFIG": str(config), "POSLEDGER_NATS_URL": "nats://env:4222"})
    assert settings.database_url == "postgresql://file/db"
    assert settings.nats_url == "nats://env:4222"


def test_an_env_style_config_file_works_too(tmp_path: Path) -> None:
    config = tmp_path / "env"
    config.write_text("# comment\nPOSLEDGER_PARTITIONS=32\nPOSLEDGER_EXTERNAL_WORKERS=1\n")
    settings = Settings.from_env({"POSLEDGER_CONFIG": str(config)})
    assert (settings.partitions, settings.external_workers) == (32, True)


def test_a_named_config_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        Settings.from_env({"POSLEDGER_CONFIG": str(tmp_path / "nope.toml")})


def test_without_anything_the_embedded_default_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert (settings.db_path, settings.database_url, settings.nats_url) == ("posledger.db", None, None)


def test_secrets_come_from_files_when_the_variable_is_unset(tmp_path: Path) -> None:
    token = tmp_path / "admin_token"
    token.write_text("s" * 40 + "\n")
    url = tmp_path / "database_url"
    url.write_text("postgresql://posledger:secret@db/posledger\n")
    settings = Settings.from_env({"POSLEDGER_ADMIN_TOKEN_FILE": str(token), "POSLEDGER_DATABASE_URL_FILE": str(url)})
    assert settings.admin_token == "s" * 40
    assert settings.database_url == "postgresql://posledger:secret@db/posledger"
    assert Settings.from_env({"POSLEDGER_ADMIN_TOKEN_FILE": str(token),
                              "POSLEDGER_ADMIN_TOKEN": "t" * 32}).admin_token == "t" * 32
    with pytest.raises(SystemExit, match="cannot be read"):
        Settings.from_env({"POSLEDGER_ADMIN_TOKEN_FILE": str(tmp_path / "missing")})


def test_every_setting_has_its_variable_and_config_show_hides_secrets() -> None:
    import dataclasses

    from posledger.config import VARIABLES, Settings, shown

    assert set(VARIABLES) == {f.name for f in dataclasses.fields(Settings)}
    values = shown(Settings(database_url="postgresql://app:pw@host/db", admin_token="x" * 40))
    assert values["POSLEDGER_DATABASE_URL"] == "postgresql://app:***@host/db"
    assert values["POSLEDGER_ADMIN_TOKEN"] == "(set, 40 characters)"
