"""Alembic environment: migrations run on the connection handed over by app.db.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import app.db.models
import app.db.tables_app
import app.db.tables_cloud
import app.db.tables_recs

assert app.db.models  # keep the import for its side effect

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `cloudoptim db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
