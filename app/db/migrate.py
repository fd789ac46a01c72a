"""Run Alembic migrations programmatically, safely when several processes start at once.

`cloudoptim db upgrade`, the UI entrypoint and the worker call `upgrade(engine)`; `downgrade` is
for rolling a release back. A file lock (SQLite) or an advisory lock (PostgreSQL) makes concurrent
starts take turns; running it twice is a no-op. On SQLite each migration run is one transaction
with foreign keys off, as SQLite's own ALTER TABLE recipe asks: batch migrations recreate tables,
and dropping a parent table with foreign keys on would fire its ON DELETE actions (deleting or
nulling the child rows).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy import exc as sa_exc

from app.db.engine import DatabaseError, sqlite_file, sqlite_lock

if TYPE_CHECKING:
    from alembic.config import Config

# Any constant works; it only has to be the same in every CloudOptim process.
_PG_LOCK_KEY = 0x0C10D0F7

# The newest revision in app/migrations/versions (tests/test_migrations.py keeps it equal to
# Alembic's head). Every process start checks the stored revision against it with one SELECT,
# so a UI or worker whose database is current never imports Alembic (0.2 s of a first page view).
HEAD_REVISION = "0008"


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("app") / "migrations"))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def stored_revision(engine: Engine) -> str | None:
    """The revision in alembic_version with one plain SELECT; None when there is none yet."""
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa_exc.DBAPIError:  # no alembic_version table: an empty database
        return None
    return rows[0] if len(rows) == 1 else None


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade the schema to `revision`; return the revision the DB is at afterwards."""

    def run(conn: Connection) -> None:
        from alembic import command

        command.upgrade(alembic_config(conn), revision)

    if revision == "head" and stored_revision(engine) == HEAD_REVISION:
        return HEAD_REVISION  # the common start-up case: no lock, no Alembic import
    return _locked(engine, lambda: _migrate(engine, run, revision))


def downgrade(engine: Engine, revision: str) -> str | None:
    """Downgrade the schema to `revision` (for rolling back a release); return where the DB is."""

    def run(conn: Connection) -> None:
        from alembic import command

        command.downgrade(alembic_config(conn), revision)

    return _locked(engine, lambda: _migrate(engine, run, revision))


def _locked(engine: Engine, fn: Callable[[], str | None]) -> str | None:
    if engine.dialect.name == "sqlite":
        db_file = sqlite_file(engine.url.render_as_string(hide_password=False))
        if db_file is not None:
            with sqlite_lock(db_file):
                return fn()
        return fn()
    with engine.connect() as lock_conn:
        lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        try:
            return fn()
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            lock_conn.commit()


def _migrate(engine: Engine, run: Callable[[Connection], None], revision: str) -> str | None:
    if revision == "head" and current_revision(engine) == head_revision():
        return head_revision()  # another process did it while we waited for the lock
    if engine.dialect.name == "sqlite":
        _migrate_sqlite(engine, run, revision)
    else:
        with engine.begin() as conn:
            run(conn)
    return current_revision(engine)


def _migrate_sqlite(engine: Engine, run: Callable[[Connection], None], revision: str) -> None:
    with engine.connect() as conn:
        # Both pragmas only take effect outside a transaction; pysqlite has not begun one yet.
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        try:
            # An explicit BEGIN makes the DDL transactional too (pysqlite would autocommit each
            # CREATE/DROP), so a failed run leaves the previous schema intact; IMMEDIATE takes the
            # write lock up front, which waits for the UI's writes instead of failing on them.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                # Only references this run breaks are fatal: older ones must not stop every start.
                before = set(conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall())
                run(conn)
                broken = sorted(set(conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()) - before)
                if broken:
                    sample = ", ".join(f"{row[0]} row {row[1]} -> {row[2]}" for row in broken[:5])
                    raise DatabaseError(f"migration to {revision} would leave dangling references: {sample}")
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            conn.commit()
