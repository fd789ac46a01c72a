"""Engines switched on or off per cluster (the Engines page), and which ones a scan runs.

No row means on: every built-in engine runs until an admin turns it off for a cluster. An
explicit `--engine` list (CLI, requested scans) still wins over the switches, so an analyst can
run a switched-off engine once on purpose.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.tables_app import EngineToggle
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import Actor, Permission, require


def disabled_engines(db: Engine, cluster_id: int | None) -> set[str]:
    """Names switched off for `cluster_id` (none for an account-wide scan)."""
    if cluster_id is None:
        return set()
    with Session(db) as session:
        rows = session.exec(select(EngineToggle.engine).where(EngineToggle.cluster_id == cluster_id,
                                                              EngineToggle.enabled == False))  # noqa: E712
        return set(rows)


def engines_to_run(db: Engine, cluster_id: int | None, all_names: list[str], chosen: list[str] | None) -> list[str]:
    """The explicit choice when given, else every engine not switched off for the cluster."""
    if chosen:
        return list(chosen)
    off = disabled_engines(db, cluster_id)
    return [n for n in all_names if n not in off]


def set_engine_enabled(db: Engine, cluster_id: int, engine: str, enabled: bool, *, actor: Actor) -> None:
    """Switch `engine` on or off for one cluster (audited)."""
    who = require(actor, Permission.SETTINGS)
    with session_scope(db) as session:
        row = session.exec(select(EngineToggle).where(EngineToggle.cluster_id == cluster_id,
                                                      EngineToggle.engine == engine)).first()  # fmt: skip
        if row is None:
            row = EngineToggle(cluster_id=cluster_id, engine=engine)
        if row.id is not None and row.enabled == enabled:
            return
        row.enabled, row.updated_by, row.updated_at = enabled, who, utcnow()
        session.add(row)
        session.add(AuditEvent(actor=who, action="engine enabled" if enabled else "engine disabled",
                               target=f"engine/{engine}", details={"cluster_id": cluster_id}))  # fmt: skip
