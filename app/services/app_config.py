"""Admin settings kept in the database: executor guardrails and the default office-hours schedule.

Each is one versioned `AppSetting` document ("guardrails", "schedules"). `load_guardrails` gives
the worker and the Apply review the process settings (`Settings.executor`, from the environment)
overlaid with what an admin saved, in one query; a stored document that no longer validates is
logged and ignored, so a bad row never stops the worker. `save_*` check the role, validate with
per-field errors, and refuse a save over a version the admin did not load (`ConfigConflict`
names who saved it and when; nothing is written, the form keeps its input).

Called by the Settings and users page (`app.ui.admin`); `load_guardrails` by the worker's
execution runner and the Apply / bulk-apply reviews, `load_schedule_defaults` by
`app.services.engine_settings` for the office-hours engine where a cluster stores no settings.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.tables_app import AppSetting
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.settings import ExecutorSettings, Settings
from engines.office_hours.settings import OfficeHoursSettings
from engines.schedule_calendar import check_holiday_code
from engines.schedule_syntax import parse_uptime, zone

log = logging.getLogger(__name__)
GUARDRAILS, SCHEDULES = "guardrails", "schedules"
# `key=value` of an annotation or label: a Kubernetes qualified name, then any value.
_MARK = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?=[^\s]{0,63}$")


def _check_marks(values: list[str]) -> list[str]:
    for i, value in enumerate(values):
        if not _MARK.match(value):
            raise ValueError(f"item {i + 1}: {value!r} is not key=value (for example team.io/no-touch=true)")
    return values


class Guardrails(ExecutorSettings):
    """The executor settings plus the extra opt-out marks an admin may add at run time."""

    opt_out_marks: list[str] = Field(
        default_factory=list,
        description="extra annotations or labels (key=value) that keep an object untouched, checked before "
        "every apply next to cloudoptim.io/opt-out and karpenter.sh/do-not-disrupt",
    )

    @field_validator("opt_out_marks")
    @classmethod
    def _marks(cls, value: list[str]) -> list[str]:
        return _check_marks([v.strip() for v in value if v.strip()])


# What the Guardrails tab edits; the rest of ExecutorSettings (timeouts) stays with the environment.
GUARDRAIL_FIELDS = ("protected_namespaces", "opt_out_marks", "max_nodes_drained_per_hour", "disruption_window",
                    "disruption_window_timezone", "dry_run", "dry_run_clusters")  # fmt: skip


class ScheduleDefaults(BaseModel):
    """The default office hours of the office-hours engine where a cluster stores no settings."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="IANA timezone of the office hours, e.g. Europe/Berlin")
    default_uptime: str = Field(
        "Mon-Fri 08:00-19:00", description="office hours when the history shows none: days and whole hours, "
        "e.g. Mon-Fri 08:00-19:00 (the timezone above applies)")  # fmt: skip
    holiday_country: str = Field("", description="ISO 3166 country whose public holidays stay off, e.g. DE; empty = none")
    holiday_subdivision: str = Field("", description="its subdivision, e.g. BY for Bavaria; empty = the whole country")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value.strip())
        return value.strip()

    @field_validator("default_uptime")
    @classmethod
    def _uptime(cls, value: str, info: ValidationInfo) -> str:
        parse_uptime(value, info.data.get("timezone", "UTC"))  # the engine's own words for a typo
        try:  # the office-hours engine also needs one period of whole hours
            OfficeHoursSettings(default_office_hours=value.strip())
        except ValidationError as exc:
            why = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
            raise ValueError(f"the office-hours engine needs one period of whole hours without a timezone "
                             f"(set the timezone above): {why}") from None
        return value.strip()

    @field_validator("holiday_country", "holiday_subdivision")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.strip().upper()

    @field_validator("holiday_country")
    @classmethod
    def _country(cls, value: str) -> str:
        if value:
            check_holiday_code(value)  # the calendar module's words: "country 'XX' is not a country ..."
        return value

    @field_validator("holiday_subdivision")
    @classmethod
    def _subdivision(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            return value
        country = info.data.get("holiday_country")
        if not country:
            raise ValueError("a subdivision needs its country" if country == "" else "fix the country first")
        check_holiday_code(f"{country}-{value}")
        return value

    @property
    def holiday_code(self) -> str | None:
        if not self.holiday_country:
            return None
        return f"{self.holiday_country}-{self.holiday_subdivision}" if self.holiday_subdivision else self.holiday_country

    def office_hours_overlay(self) -> dict[str, Any]:
        """The OfficeHoursSettings fields these defaults set (merge over the engine's defaults)."""
        return {"timezone": self.timezone, "default_office_hours": self.default_uptime,
                "holidays_country": self.holiday_code}  # fmt: skip


class ConfigError(ValueError):
    """Values that do not validate; `field_errors` maps each field to its messages."""

    def __init__(self, message: str, field_errors: dict[str, list[str]]) -> None:
        super().__init__(message)
        self.field_errors = field_errors


class ConfigConflict(ValueError):
    """Someone saved this document after the form loaded it; nothing was written."""

    def __init__(self, message: str, updated_by: str, updated_at: datetime) -> None:
        super().__init__(message)
        self.updated_by, self.updated_at = updated_by, updated_at


@dataclass(frozen=True)
class StoredDoc:
    """A document as the form loads it: the stored values (empty when none), who saved it last."""

    key: str
    values: dict[str, Any]
    version: int  # 0 = nothing stored yet; pass it back as expected_version
    updated_by: str
    updated_at: datetime | None


def stored_doc(db: Engine, key: str) -> StoredDoc:
    with Session(db) as session:
        row = session.exec(select(AppSetting).where(AppSetting.key == key)).first()
    if row is None:
        return StoredDoc(key, {}, 0, "", None)
    return StoredDoc(key, dict(row.value or {}), row.version, row.updated_by, row.updated_at)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], values: dict[str, Any], what: str) -> M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        per_field: dict[str, list[str]] = {}
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            per_field.setdefault(field, []).append(str(e["msg"]).removeprefix("Value error, "))
        text = "; ".join(f"{f}: {' '.join(m)}" for f, m in per_field.items())
        raise ConfigError(f"{what} are invalid: {text}", per_field) from None


def _save(db: Engine, key: str, values: dict[str, Any], who: str, expected_version: int | None) -> StoredDoc:
    with session_scope(db) as session:
        row = session.exec(select(AppSetting).where(AppSetting.key == key)).first()
        if row is None:
            row = AppSetting(key=key, version=0)
        if expected_version is not None and row.version != expected_version:
            by = row.updated_by or "someone"
            raise ConfigConflict(f"{by} saved the {key} at {row.updated_at:%Y-%m-%d %H:%M:%S} UTC after you opened "
                                 "them; nothing was saved. Your input is kept: load the latest values to compare, "
                                 "then save again", row.updated_by, row.updated_at)  # fmt: skip
        before = dict(row.value or {})
        row.value, row.version, row.updated_by, row.updated_at = values, row.version + 1, who, utcnow()
        session.add(row)
        changed = sorted(k for k in values if before.get(k) != values[k])
        session.add(AuditEvent(actor=who, action=f"{key} saved", target=f"settings/{key}",
                               details={"version": row.version, "changed": {k: values[k] for k in changed}}))  # fmt: skip
        session.flush()
        return StoredDoc(key, values, row.version, who, row.updated_at)


def load_guardrails(db: Engine, settings: Settings) -> Guardrails:
    """`settings.executor` overlaid with the stored guardrails, in one query.

    A stored field that no longer validates (a hand-edited row, a setting that got stricter) is
    logged and left at the environment's value; the other stored fields still apply, so a typo in
    one never silently drops, say, an admin's dry run.
    """
    base = settings.executor.model_dump()
    stored = _only(stored_doc(db, GUARDRAILS).values, GUARDRAIL_FIELDS)
    for _ in range(len(stored) + 1):
        try:
            return Guardrails.model_validate({**base, **stored})
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            log.error("stored guardrails %s are invalid and ignored: %s", ", ".join(sorted(bad)), exc)
            if not bad & set(stored):
                break
            stored = {k: v for k, v in stored.items() if k not in bad}
    return Guardrails.model_validate(base)


def _only(values: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k in fields}


def save_guardrails(db: Engine, values: dict[str, Any], *, actor: Actor, expected_version: int | None,
                    settings: Settings) -> StoredDoc:  # fmt: skip
    """Validate `values` (GUARDRAIL_FIELDS) over the environment's executor settings, then store them.

    Raises ConfigError (per field; nothing written), ConfigConflict, or AccessDenied.
    """
    who = require(actor, Permission.SETTINGS)
    unknown = sorted(set(values) - set(GUARDRAIL_FIELDS))
    if unknown:
        raise ConfigError(f"not guardrails: {', '.join(unknown)}", {k: ["not a guardrail"] for k in unknown})
    base = settings.executor.model_dump()
    model = _validated(Guardrails, {**base, **values}, "the guardrails")
    return _save(db, GUARDRAILS, _only(model.model_dump(mode="json"), GUARDRAIL_FIELDS), who, expected_version)


def load_schedule_defaults(db: Engine) -> ScheduleDefaults | None:
    """The stored default schedule, or None (nothing stored, or a stored doc that no longer validates)."""
    doc = stored_doc(db, SCHEDULES)
    if not doc.values:
        return None
    try:
        return ScheduleDefaults.model_validate(doc.values)
    except ValidationError as exc:
        log.error("the stored default schedule (version %s) is invalid and ignored: %s", doc.version, exc)
        return None


def save_schedule_defaults(db: Engine, values: dict[str, Any], *, actor: Actor,
                           expected_version: int | None) -> StoredDoc:  # fmt: skip
    """Validate the default schedule with the engines' own parsers, then store it (as save_guardrails)."""
    who = require(actor, Permission.SETTINGS)
    model = _validated(ScheduleDefaults, values, "the default schedule")
    return _save(db, SCHEDULES, model.model_dump(mode="json"), who, expected_version)
