"""Per-cluster engine settings: stored as JSON in engine_settings, validated on save and on load.

Used by the scan service (to build each engine's ScanContext) and by the Engines page (load,
save with per-field errors, reset to the defaults by deleting the stored row).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.tables_recs import AuditEvent, EngineSetting
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.app_config import load_schedule_defaults
from engines.contract import Engine as DecisionEngine


class EngineSettingsError(ValueError):
    """Engine settings that do not validate; the message names the engine, cluster and field.

    `field_errors` maps each failing top-level field to its messages (a list item's position is
    in the message), so the Engines page can show each one under its own widget.
    """

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.field_errors: dict[str, list[str]] = field_errors or {}


def _message(error: Any) -> str:
    # pydantic prefixes messages of custom validators with "Value error, "; analysts need the rest.
    msg = str(error["msg"]).removeprefix("Value error, ")
    position = [p for p in error["loc"][1:] if isinstance(p, int)]
    return f"item {position[0] + 1}: {msg}" if position else msg


def _validate(engine: DecisionEngine[Any], values: dict[str, Any], where: str) -> BaseModel:
    try:
        return engine.Settings.model_validate(values)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {_message(e)}" for e in exc.errors())
        per_field: dict[str, list[str]] = {}
        for e in exc.errors():
            per_field.setdefault(str(e["loc"][0]) if e["loc"] else "", []).append(_message(e))
        raise EngineSettingsError(f"{engine.name} settings {where} are invalid: {fields}", per_field) from exc


def _stored(session: Session, cluster_id: int, engine: DecisionEngine[Any]) -> EngineSetting | None:
    return session.exec(
        select(EngineSetting).where(EngineSetting.cluster_id == cluster_id, EngineSetting.engine == engine.name)
    ).first()


def load_engine_settings(db: Engine, cluster_id: int | None, engine: DecisionEngine[Any]) -> BaseModel:
    """The stored settings for this cluster, or the engine's defaults when none are stored."""
    if cluster_id is None:
        return _defaults(db, engine)
    with Session(db) as session:
        row = _stored(session, cluster_id, engine)
    if row is None:
        return _defaults(db, engine)
    return _validate(engine, row.values, f"stored for cluster #{cluster_id}")


def _defaults(db: Engine, engine: DecisionEngine[Any]) -> BaseModel:
    """The engine's defaults; for office-hours, with the admin's default schedule on top
    (Settings and users → Default schedule). Settings stored for a cluster win over both."""
    if engine.name == "office-hours":
        stored = load_schedule_defaults(db)
        if stored is not None:
            return engine.Settings.model_validate({**engine.Settings().model_dump(), **stored.office_hours_overlay()})
    return engine.Settings()


class SettingsConflict(EngineSettingsError):
    """Someone else saved these settings since they were loaded; nothing was written."""


def settings_version(db: Engine, cluster_id: int, engine: DecisionEngine[Any]) -> int:
    """The stored version (0 when nothing is stored): pass it back to `save_engine_settings`."""
    with Session(db) as session:
        row = _stored(session, cluster_id, engine)
    return row.version if row is not None else 0


def save_engine_settings(
    db: Engine, cluster_id: int, engine: DecisionEngine[Any], values: dict[str, Any], *,
    actor: Actor = "local", expected_version: int | None = None,
) -> BaseModel:  # fmt: skip
    """Validate, then store; nothing is written when validation fails.

    With `expected_version` (what the form loaded) a save over a newer version raises
    SettingsConflict naming who saved it, so the second of two admins loses nothing silently.
    """
    who = require(actor, Permission.SETTINGS)
    model = _validate(engine, values, "submitted")
    with session_scope(db) as session:
        row = _stored(session, cluster_id, engine) or EngineSetting(cluster_id=cluster_id, engine=engine.name, version=0)
        if expected_version is not None and row.version != expected_version:
            by = f" by {row.updated_by}" if row.updated_by else ""
            raise SettingsConflict(f"these settings were changed{by} at {row.updated_at:%Y-%m-%d %H:%M:%S} UTC "
                                   "after you opened them; reload to see their values, then apply your change again")  # fmt: skip
        row.values = model.model_dump(mode="json")
        row.updated_at, row.updated_by, row.version = utcnow(), who, row.version + 1
        session.add(row)
        session.add(AuditEvent(actor=who, action="engine settings saved", target=f"engine/{engine.name}",
                               details={"cluster_id": cluster_id, "version": row.version}))  # fmt: skip
    return model


def has_stored_settings(db: Engine, cluster_id: int, engine: DecisionEngine[Any]) -> bool:
    with Session(db) as session:
        return _stored(session, cluster_id, engine) is not None


def reset_engine_settings(db: Engine, cluster_id: int, engine: DecisionEngine[Any], *, actor: Actor = "local") -> bool:
    """Delete the stored values so the engine's defaults apply; False when none were stored."""
    who = require(actor, Permission.SETTINGS)
    with session_scope(db) as session:
        row = _stored(session, cluster_id, engine)
        if row is None:
            return False
        session.delete(row)
        session.add(AuditEvent(actor=who, action="engine settings reset", target=f"engine/{engine.name}",
                               details={"cluster_id": cluster_id}))  # fmt: skip
    return True
