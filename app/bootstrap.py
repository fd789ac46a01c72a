"""Process start-up shared by the CLI, the UI entrypoint and the worker: settings, logging, database.

`open_database(settings)` connects, upgrades the schema if needed (safe when several processes
start at once) and returns the engine; errors come back as one readable line.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from app.db import make_engine, upgrade
from app.settings import Settings


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Per-request and per-job chatter from libraries drowns the product's own messages.
    for noisy in ("botocore", "boto3", "urllib3", "apscheduler.executors", "kubernetes", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))


def open_database(settings: Settings, *, migrate: bool = True) -> Engine:
    engine = make_engine(
        settings.database_url, busy_timeout_ms=settings.db.busy_timeout_ms, echo=settings.db.echo
    )
    if migrate:
        upgrade(engine)
    return engine
