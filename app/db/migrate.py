"""Run Alembic migrations programmatically, safely when several processes start at once.

`cloudoptim db upgrade`, the UI entrypoint and the worker call `upgrade(engine)`. A file lock
(SQLite) or an advisory lock (PostgreSQL) makes concurrent starts take turns; running it twice is a
no-op.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from filelock import FileLock
from sqlalchemy import Connection, Engine, text

# Any constant works; it only has to be the same in every CloudOptim process.
_PG_LOCK_KEY = 0x0C10D0F7


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("app") / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the schema to `revision`; return the revision the DB is at afterwards."""
    if engine.dialect.name == "sqlite":
        db_file = engine.url.database
        if db_file and db_file != ":memory:":
            with FileLock(str(Path(db_file).expanduser()) + ".migrate.lock", timeout=120):
                return _upgrade(engine, revision)
        return _upgrade(engine, revision)
    with engine.connect() as lock_conn:
        lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        try:
            return _upgrade(engine, revision)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            lock_conn.commit()


def _upgrade(engine: Engine, revision: str) -> str | None:
    if revision == "head" and current_revision(engine) == head_revision():
        return head_revision()
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    return current_revision(engine)
