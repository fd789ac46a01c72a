"""The worker's upload job: validate uploaded engine modules that wait for it, in the sandbox.

Scheduled by background.worker every few seconds (so the Engines page shows the report soon after
an upload); the work is app.services.engine_uploads.validate_pending. Like the other jobs it never
raises into the scheduler: a database outage or a broken price catalog is logged and the next run
tries again, and a hostile module only ever fails its own validation.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from app.db.states import UploadState
from app.pricing import load_price_book
from app.services.engine_uploads import validate_pending
from app.services.upload_sandbox import Limits
from app.settings import Settings

log = logging.getLogger(__name__)


def validate_uploads(settings: Settings, db: Engine, limits: Limits | None = None) -> dict[str, UploadState]:
    """Validate every pending upload; name -> state reached (empty when nothing waited or on error)."""
    try:
        done = validate_pending(db, load_price_book(settings.pricing_dir), limits=limits)
    except Exception:  # e.g. the database is unreachable: the next run tries again
        log.exception("validating uploaded engines failed")
        return {}
    for name, state in done.items():
        log.info("uploaded engine %s %s", name, state.value)
    return done
