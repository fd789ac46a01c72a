"""SQLAlchemy engine factory and session helper, tuned so the UI and the worker can share one DB.

SQLite (the embedded default) gets WAL journaling, a busy timeout and foreign keys, so a reader in
the UI never blocks the worker's writes; PostgreSQL gets pool pre-ping. Called at process edges
(CLI, UI entrypoint, worker) with the URL from Settings; read-only commands pass `read_only=True`
(or `create=False`) so that a mistyped path is reported instead of silently created.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from filelock import FileLock
from filelock import Timeout as LockTimeout
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.db.types import json_serializer

# SQLite stores NUMERIC as a number and SQLAlchemy converts back to Decimal at the column's scale
# (cents), which is exact for our money columns; the generic warning is noise for us.
warnings.filterwarnings("ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal")

log = logging.getLogger(__name__)

# How long a process waits for another one holding the file's lock (a migration can take a while).
_LOCK_TIMEOUT_S = 120.0


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says which one and why, without the password."""


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for PostgreSQL and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).expanduser()


def sqlite_lock(db_file: Path) -> FileLock:
    """The one inter-process lock per SQLite file, taken by migrations and the WAL switch."""
    return FileLock(str(db_file) + ".migrate.lock", timeout=_LOCK_TIMEOUT_S)


def make_engine(
    url: str, *, create: bool = True, read_only: bool = False, busy_timeout_ms: int = 15000, echo: bool = False
) -> Engine:
    """Create an engine and check that the database answers; raise DatabaseError if it does not.

    `create=False`: a SQLite file (and its directory) is never created; a missing one is an error.
    `read_only=True` implies it and also refuses writes (SQLite `mode=ro`, PostgreSQL read-only
    transactions), for commands that only look. (Reading a WAL file still makes SQLite add its
    -wal/-shm side files next to it if they are missing; the database itself is untouched.)
    """
    parsed = make_url(url)
    db_file = sqlite_file(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
        if db_file is not None and (create and not read_only):
            db_file.parent.mkdir(parents=True, exist_ok=True)
        elif db_file is not None:
            if not db_file.is_file():
                raise DatabaseError(f"database file {db_file} does not exist (run `cloudoptim db upgrade`)")
            # A URI with a mode makes SQLite itself refuse to create the file, even if it is removed
            # between the check above and the connect.
            uri = f"file:{quote(str(db_file.resolve()))}?mode={'ro' if read_only else 'rw'}"
            timeout = busy_timeout_ms / 1000
            kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["connect_args"] = {"connect_timeout": 10}
        if read_only:
            kwargs["connect_args"]["options"] = "-c default_transaction_read_only=on"
    kwargs["json_serializer"] = json_serializer  # RawJson passes through already serialized
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine, busy_timeout_ms)
    try:
        if db_file is not None and not read_only:
            _ensure_wal(engine, db_file, busy_timeout_ms / 1000)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except sa_exc.SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseError(f"cannot open database {safe_url(url)}: {reason} (check CLOUDOPTIM_DB__URL)") from exc
    except DatabaseError:
        engine.dispose()
        raise
    return engine


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    # Per-connection settings only; the journal mode belongs to the file (see _ensure_wal).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()


def _journal_mode(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()


def _ensure_wal(engine: Engine, db_file: Path, deadline_s: float) -> None:
    """Switch the file to WAL once; WAL is persistent, so later connections just find it set.

    Switching needs an exclusive lock that SQLite takes by upgrading a read lock, and it does not
    wait for that upgrade (busy_timeout does not apply: waiting could deadlock), so two processes
    switching a new file at once make one fail with "database is locked". CloudOptim processes
    therefore take turns under the file's lock, and a program outside CloudOptim that happens to
    read at that instant is outlasted by retrying until a deadline.
    """
    if _journal_mode(engine) == "wal":
        return
    try:
        with sqlite_lock(db_file):
            deadline = time.monotonic() + max(deadline_s, 1.0)
            pause = 0.02
            while _journal_mode(engine) != "wal":
                try:
                    with engine.connect() as conn:
                        mode = str(conn.exec_driver_sql("PRAGMA journal_mode = WAL").scalar()).lower()
                except sa_exc.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() + pause > deadline:
                        raise
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
                    continue
                if mode != "wal":
                    # A file system without shared memory (some network mounts) keeps the old
                    # mode without an error; rollback journaling still works, only slower.
                    log.warning("database file %s stays in journal mode %s (WAL unsupported here)", db_file, mode)
                    return
    except LockTimeout as exc:
        raise DatabaseError(f"database file {db_file} is locked by another CloudOptim process: {exc}") from exc


def _is_busy(exc: sa_exc.OperationalError) -> bool:
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message


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
