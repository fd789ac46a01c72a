"""The audit log as the admin reads it: filters, paging and counts done in SQL, CSV and JSON export.

Called by the Audit log tab of the Settings and users page (`app.ui.audit`). Reading the log is an
admin's right (`Permission.USERS`): it names every user and what they did. Filters combine with
AND; the target filter is a case-insensitive substring; dates are UTC days, both ends included.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine, func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from app.db.tables_recs import AuditEvent
from app.services.access import Actor, Permission, require

PAGE_SIZE = 50
EXPORT_LIMIT = 100_000  # rows in one export; a larger log is exported in date ranges
COLUMNS = ("at", "actor", "action", "target", "execution_id", "details")


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # exact user name; empty = everyone
    action: str = ""  # exact action; empty = every action
    target: str = ""  # substring of the target, any case
    since: date | None = None
    until: date | None = None  # included


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    target: str
    execution_id: int | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int  # rows matching the filter, over all pages
    page: int  # 1-based, clamped to the last page
    pages: int


class AuditFilterError(ValueError):
    """A filter that cannot match anything as written (an end before the start)."""


def _day(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


def _where(f: AuditFilter) -> list[ColumnElement[bool]]:
    if f.since and f.until and f.until < f.since:
        raise AuditFilterError(f"the end date {f.until} is before the start date {f.since}")
    clauses: list[ColumnElement[bool]] = []
    if f.actor:
        clauses.append(col(AuditEvent.actor) == f.actor)
    if f.action:
        clauses.append(col(AuditEvent.action) == f.action)
    if f.target.strip():
        clauses.append(func.lower(col(AuditEvent.target)).contains(f.target.strip().lower(), autoescape=True))
    if f.since:
        clauses.append(col(AuditEvent.at) >= _day(f.since))
    if f.until:
        clauses.append(col(AuditEvent.at) < _day(f.until + timedelta(days=1)))
    return clauses


def _row(e: AuditEvent) -> AuditRow:
    return AuditRow(e.at, e.actor, e.action, e.target, e.execution_id, dict(e.details or {}))


def audit_page(db: Engine, f: AuditFilter, page: int = 1, *, actor: Actor, page_size: int = PAGE_SIZE) -> AuditPage:
    """One page of matching rows, newest first, and how many match in all."""
    require(actor, Permission.USERS)
    where = _where(f)
    with Session(db) as session:
        total = session.exec(select(func.count()).select_from(AuditEvent).where(*where)).one()
        pages = max(1, -(-total // page_size))
        page = min(max(1, page), pages)
        rows = session.exec(select(AuditEvent).where(*where).order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
                            .offset((page - 1) * page_size).limit(page_size))  # fmt: skip
        return AuditPage([_row(e) for e in rows], total, page, pages)


def audit_choices(db: Engine, *, actor: Actor) -> tuple[list[str], list[str]]:
    """The distinct actors and actions in the log, for the filter boxes."""
    require(actor, Permission.USERS)
    with Session(db) as session:
        actors = session.exec(select(AuditEvent.actor).distinct().order_by(col(AuditEvent.actor))).all()
        actions = session.exec(select(AuditEvent.action).distinct().order_by(col(AuditEvent.action))).all()
    return list(actors), list(actions)


def _export_rows(db: Engine, f: AuditFilter) -> list[AuditRow]:
    with Session(db) as session:
        rows = session.exec(select(AuditEvent).where(*_where(f)).order_by(col(AuditEvent.at).desc(),
                                                                           col(AuditEvent.id).desc()).limit(EXPORT_LIMIT))  # fmt: skip
        return [_row(e) for e in rows]


def _plain(row: AuditRow) -> dict[str, Any]:
    return {"at": row.at.isoformat(), "actor": row.actor, "action": row.action, "target": row.target,
            "execution_id": row.execution_id, "details": row.details}  # fmt: skip


def export_csv(db: Engine, f: AuditFilter, *, actor: Actor) -> str:
    """Every row the filter matches (up to EXPORT_LIMIT) as CSV; details as one JSON cell."""
    require(actor, Permission.USERS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for row in _export_rows(db, f):
        plain = _plain(row)
        plain["details"] = json.dumps(row.details, sort_keys=True, default=str)
        writer.writerow([_cell(plain[c]) for c in COLUMNS])
    return out.getvalue()


def _cell(value: Any) -> Any:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value


def export_json(db: Engine, f: AuditFilter, *, actor: Actor) -> str:
    """Every row the filter matches (up to EXPORT_LIMIT) as a JSON list."""
    require(actor, Permission.USERS)
    return json.dumps([_plain(r) for r in _export_rows(db, f)], indent=1, default=str)
