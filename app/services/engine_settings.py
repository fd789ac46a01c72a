"""Per-cluster engine settings: stored as JSON in engine_settings, validated on save and on load.

Used by the scan service (to build each engine's ScanContext) and by the Settings page.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.tables_recs import EngineSetting
from app.db.types import utcnow
from engines.contract import Engine as DecisionEngine


class EngineSettingsError(ValueError):
    """Engine settings that do not validate; the message names the engine, cluster and field."""


def _validate(engine: DecisionEngine[Any], values: dict[str, Any], where: str) -> BaseModel:
    try:
        return engine.Settings.model_validate(values)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise EngineSettingsError(f"{engine.name} settings {where} are invalid: {fields}") from exc


def load_engine_settings(db: Engine, cluster_id: int | None, engine: DecisionEngine[Any]) -> BaseModel:
    """The stored settings for this cluster, or the engine's defaults when none are stored."""
    if cluster_id is None:
        return engine.Settings()
    with Session(db) as session:
        row = session.exec(
            select(EngineSetting).where(EngineSetting.cluster_id == cluster_id, EngineSetting.engine == engine.name)
        ).first()
    if row is None:
        return engine.Settings()
    return _validate(engine, row.values, f"stored for cluster #{cluster_id}")


def save_engine_settings(
    db: Engine, cluster_id: int, engine: DecisionEngine[Any], values: dict[str, Any]
) -> BaseModel:
    """Validate, then store; nothing is written when validation fails."""
    model = _validate(engine, values, "submitted")
    with session_scope(db) as session:
        row = session.exec(
            select(EngineSetting).where(EngineSetting.cluster_id == cluster_id, EngineSetting.engine == engine.name)
        ).first() or EngineSetting(cluster_id=cluster_id, engine=engine.name)
        row.values = model.model_dump(mode="json")
        row.updated_at = utcnow()
        session.add(row)
    return model
