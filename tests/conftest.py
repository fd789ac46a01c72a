"""Shared fixtures: isolated settings/data dir, and a database URL for every DB test on SQLite and
on a throwaway PostgreSQL (the `db_url` fixture is parametrised over both backends)."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.bootstrap import open_database
from app.settings import Settings, load_settings
from tests.pg import PostgresUnavailable, create_database, throwaway_postgres

_db_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data dir; no test reads the developer's real settings or DB."""
    for key in list(os.environ):
        if key.startswith("CLOUDOPTIM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CLOUDOPTIM_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh database on the throwaway PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    server: str = request.getfixturevalue("postgres_server")
    return create_database(server, f"t{next(_db_counter)}")


@pytest.fixture
def settings(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("CLOUDOPTIM_DB__URL", db_url)
    return load_settings()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = open_database(settings)
    yield eng
    eng.dispose()
    ui_context = sys.modules.get("app.ui.context")  # only when the test ran the UI in-process
    if ui_context is not None:
        ui_context.close_engines()
