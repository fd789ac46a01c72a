"""Settings: environment overrides with the CLOUDOPTIM_ prefix and clear errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.db import DatabaseError, make_engine
from app.settings import SettingsError, load_settings


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'cloudoptim.db'}"


def test_nested_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_DB__URL", "postgresql+psycopg://u@db.example:5432/co")
    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__DRY_RUN", "true")
    monkeypatch.setenv("CLOUDOPTIM_AWS__REGIONS", '["eu-west-1","us-east-1"]')
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://u@db.example:5432/co"
    assert settings.executor.dry_run is True
    assert settings.aws.regions == ["eu-west-1", "us-east-1"]


@pytest.mark.parametrize(
    "url, fragment",
    [("mysql://u@h/db", "unsupported database"), ("not a url", "not a database URL"),
     ("postgresql+psycopg2://u@h/db", "psycopg 3")],
)  # fmt: skip
def test_a_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch, url: str, fragment: str) -> None:
    monkeypatch.setenv("CLOUDOPTIM_DB__URL", url)
    with pytest.raises(SettingsError, match="CLOUDOPTIM_DB__URL") as err:
        load_settings()
    assert fragment in str(err.value)


def test_a_bad_number_names_the_nested_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES", "soon")
    with pytest.raises(SettingsError, match="CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES"):
        load_settings()


def test_an_unreachable_database_gives_a_clear_error_without_the_password() -> None:
    with pytest.raises(DatabaseError) as err:
        make_engine("postgresql+psycopg://user:secret@127.0.0.1:9/co")
    assert "cannot open database" in str(err.value) and "secret" not in str(err.value)
    assert "CLOUDOPTIM_DB__URL" in str(err.value)
