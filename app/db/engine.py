"""SQLAlchemy engine factory and session helper, tuned so the UI and the worker can share one DB.

SQLite (the embedded default) gets WAL journaling, a busy timeout and foreign keys, so a reader in
the UI never blocks the worker's writes; PostgreSQL gets pool pre-ping. Called at process edges
(CLI, UI entrypoint, worker) with the URL from Settings.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlmodel import Session

# SQLite stores NUMERIC as a number and SQLAlchemy converts back to Decimal at the column's scale
# (cents), which is exact for our money columns; the generic warning is noise for us.
warnings.filterwarnings("ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal")


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says which one and why, without the password."""


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str, *, busy_timeout_ms: int = 15000, echo: bool = False) -> Engine:
    """Create an engine and check that the database answers; raise DatabaseError if it does not."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 10}
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine, busy_timeout_ms)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except sa_exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseError(
            f"cannot open database {safe_url(url)}: {reason} (check CLOUDOPTIM_DB__URL)"
        ) from exc
    return engine


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
