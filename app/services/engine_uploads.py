"""Uploaded engine modules: upload (admins), validation by the worker, enable/disable, and scans.

`upload_engine` checks the file itself and refuses, without storing anything, what is not an
engine module at all: empty, over `MAX_BYTES`, not a .py name, not UTF-8 text. A file that is text
but does not parse is stored FAILED at once with its report, so the admin sees the line. Anything
else is stored PENDING with its SHA-256; `validate_pending` (the worker's `background.upload_jobs`)
runs it in `app.services.upload_sandbox` on the latest stored snapshot (or the built-in sample)
and stores PASSED or FAILED with the report. `set_upload_enabled` enables only PASSED modules;
`run_uploaded_engines` runs the enabled ones for a scan, each sandboxed, output re-validated.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import EngineModule, StoredSnapshot
from app.db.states import UploadState
from app.db.tables_recs import AuditEvent
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.upload_reports import (
    ReportCheck,
    ValidationReport,
    build_report,
    check_output,
    failed_report,
    report_view,
    syntax_check,
)  # fmt: skip
from app.services.upload_sandbox import Limits, keep_paths, run_sandboxed
from engines.contract import PriceBook, ScanResult
from engines.registry import BUILTIN_ENGINES
from engines.snapshot_aws import Snapshot
from engines.uploaded.loader import static_name
from engines.uploaded.prices import dump_prices
from engines.uploaded.sample import sample_snapshot

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024


class UploadRefused(ValueError):
    """The upload (or the enable) is refused; the message says why, for the admin."""


@dataclass(frozen=True)
class UploadOutcome:
    name: str
    state: UploadState
    sha256: str
    message: str


@dataclass(frozen=True)
class UploadView:
    id: int
    name: str
    filename: str
    sha256: str
    size_bytes: int
    state: UploadState
    enabled: bool
    uploaded_by: str
    uploaded_at: datetime
    validated_at: datetime | None
    reason: str
    report: ValidationReport | None


@dataclass
class UploadedOutcome:
    """One enabled upload's scan, shaped like app.services.scans.EngineOutcome."""

    engine: str
    result: ScanResult
    seconds: float = 0.0
    error: str | None = None


def _builtin_names() -> set[str]:
    return {cls.name for cls in BUILTIN_ENGINES}


def _name_for(filename: str, source: str) -> str:
    """The literal `name = "..."` of the class when there is one, else the file name as kebab-case."""
    literal = static_name(source)
    if literal and len(literal) <= 100:
        return literal
    return re.sub(r"[^a-z0-9]+", "-", Path(filename).stem.lower()).strip("-")[:100] or "uploaded-engine"


def _refuse(db: Engine, who: str, filename: str, reason: str) -> UploadRefused:
    with session_scope(db) as session:
        session.add(AuditEvent(actor=who, action="engine upload refused", target=f"upload/{filename[:200]}",
                               details={"reason": reason}))  # fmt: skip
    return UploadRefused(reason)


def upload_engine(db: Engine, filename: str, data: bytes, *, actor: Actor) -> UploadOutcome:
    """Store an engine module for validation; raises UploadRefused (nothing stored) or AccessDenied."""
    who = require(actor, Permission.UPLOADS)
    filename = Path(filename or "").name
    if not filename.endswith(".py"):
        raise _refuse(db, who, filename, f"{filename or 'the file'} is not a Python module: upload a .py file")
    if not data.strip():
        raise _refuse(db, who, filename, f"{filename} is empty")
    if len(data) > MAX_BYTES:
        raise _refuse(db, who, filename, f"{filename} is {len(data) // 1024} KiB; the limit is {MAX_BYTES // 1024} KiB")
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(db, who, filename, f"{filename} is not UTF-8 text (byte {exc.start}): is it a Python source file?") from exc
    if "\x00" in source:
        raise _refuse(db, who, filename, f"{filename} contains NUL bytes: it is not Python source")
    sha = hashlib.sha256(data).hexdigest()
    name, syntax = _name_for(filename, source), syntax_check(source)
    state = UploadState.PENDING if syntax.passed else UploadState.FAILED
    with session_scope(db) as session:
        row = session.exec(select(EngineModule).where(EngineModule.name == name)).first()
        if row is not None and row.sha256 == sha:
            return UploadOutcome(name, UploadState(row.state), sha, f"{name} is already uploaded with this content")
        action = "engine module replaced" if row is not None else "engine module uploaded"
        row = row or EngineModule(name=name, sha256=sha, source=source)
        row.sha256, row.source, row.filename, row.size_bytes = sha, source, filename[:255], len(data)
        row.uploaded_by, row.uploaded_at, row.enabled, row.state = who, utcnow(), False, state
        row.validated_at = None if syntax.passed else utcnow()
        row.report = {} if syntax.passed else failed_report([syntax]).as_json()
        row.validation_error = None if syntax.passed else f"syntax: {syntax.message}"
        session.add(row)
        session.add(AuditEvent(actor=who, action=action, target=f"engine/{name}",
                               details={"sha256": sha, "filename": filename, "state": state.value}))  # fmt: skip
    message = (f"{name} stored (SHA-256 {sha[:12]}…); the worker validates it in a sandbox next"
               if syntax.passed else f"{name} does not parse: {syntax.message}")  # fmt: skip
    return UploadOutcome(name, state, sha, message)


def _view(row: EngineModule) -> UploadView:
    assert row.id is not None
    report = report_view(row.report)
    reason = row.validation_error or (report.reason if report else "")
    return UploadView(row.id, row.name, row.filename, row.sha256, row.size_bytes, UploadState(row.state), row.enabled,
                      row.uploaded_by, row.uploaded_at, row.validated_at, reason, report)  # fmt: skip


def list_uploads(db: Engine) -> list[UploadView]:
    with Session(db) as session:
        rows = session.exec(select(EngineModule).order_by(col(EngineModule.uploaded_at).desc())).all()
        return [_view(r) for r in rows]


def set_upload_enabled(db: Engine, name: str, enabled: bool, *, actor: Actor) -> UploadView:
    """Enable (only when PASSED) or disable an uploaded engine; audited."""
    who = require(actor, Permission.UPLOADS)
    with session_scope(db) as session:
        row = session.exec(select(EngineModule).where(EngineModule.name == name)).first()
        if row is None:
            raise UploadRefused(f"no uploaded engine named {name!r}")
        if enabled and row.state != UploadState.PASSED:
            raise UploadRefused(f"{name} is {row.state}: only a module that passed validation can be enabled")
        if row.enabled != enabled:
            row.enabled = enabled
            session.add(row)
            session.add(AuditEvent(actor=who, action="engine module enabled" if enabled else "engine module disabled",
                                   target=f"engine/{name}", details={"sha256": row.sha256}))  # fmt: skip
        return _view(row)


def _regions(snapshot: Snapshot) -> set[str]:
    regions = {r for r in (snapshot.cluster.region if snapshot.cluster else None,
                           snapshot.account.region if snapshot.account else None) if r}  # fmt: skip
    regions |= {n.region for n in (snapshot.cluster.nodes if snapshot.cluster else ()) if n.region}
    return regions or {"us-east-1"}


def _hide_for(db: Engine) -> list[str]:
    """The SQLite database's directory, covered in the sandbox unless the Python install lives under it."""
    if db.url.get_backend_name() != "sqlite" or not db.url.database or db.url.database == ":memory:":
        return []
    folder = Path(db.url.database).resolve().parent
    return [] if any(Path(p).is_relative_to(folder) for p in keep_paths()) else [str(folder)]


def latest_snapshot(db: Engine) -> tuple[Snapshot, str]:
    """The most recently collected stored snapshot of any cluster, or the built-in sample."""
    with Session(db) as session:
        stored = session.exec(select(StoredSnapshot).order_by(col(StoredSnapshot.collected_at).desc())).first()
    if stored is not None:
        try:
            return Snapshot.model_validate(stored.data), f"the latest stored snapshot (cluster id {stored.cluster_id})"
        except ValueError:
            log.warning("stored snapshot %s does not load; validating on the sample estate", stored.id)
    return sample_snapshot(), "the built-in sample estate (no cluster collected yet)"


def _claim(db: Engine) -> list[int]:
    """PENDING modules, plus VALIDATING ones: only one worker validates at a time (max_instances=1
    and the worker lock), so a VALIDATING row at the start of a run was left by a crashed one."""
    with session_scope(db) as session:
        rows = session.exec(select(EngineModule).where(
            col(EngineModule.state).in_([UploadState.PENDING, UploadState.VALIDATING]))).all()  # fmt: skip
        for row in rows:
            row.state = UploadState.VALIDATING
            session.add(row)
        return [r.id for r in rows if r.id is not None]


def _validate_one(db: Engine, module_id: int, prices: PriceBook, limits: Limits | None) -> UploadState:
    with Session(db) as session:
        row = session.get_one(EngineModule, module_id)
        name, source = row.name, row.source
    syntax = syntax_check(source)
    if not syntax.passed:
        report = failed_report([syntax])
    else:
        snapshot, where = latest_snapshot(db)
        run = run_sandboxed(source, snapshot.model_dump_json(), module_name=f"upload_{name.replace('-', '_')}",
                            prices=dump_prices(prices, _regions(snapshot)), now=snapshot.collected_at.isoformat(),
                            mode="validate", limits=limits, hide=_hide_for(db))  # fmt: skip
        report = build_report(name, run, snapshot=where, builtin_names=_builtin_names(), syntax=syntax)
    state = UploadState.PASSED if report.passed else UploadState.FAILED
    _store(db, module_id, state, report)
    return state


def _store(db: Engine, module_id: int, state: UploadState, report: ValidationReport) -> None:
    with session_scope(db) as session:
        row = session.get_one(EngineModule, module_id)
        row.state, row.report, row.validated_at = state, report.as_json(), utcnow()
        row.validation_error = None if report.passed else report.reason[:2000]
        session.add(row)
        session.add(AuditEvent(actor="worker", action=f"engine module {state.value}", target=f"engine/{row.name}",
                               details={"sha256": row.sha256, "reason": row.validation_error}))  # fmt: skip


def validate_pending(db: Engine, prices: PriceBook, *, limits: Limits | None = None) -> dict[str, UploadState]:
    """Validate every pending module in the sandbox; name -> resulting state. A module whose
    validation itself breaks ends FAILED with that error; the others still run."""
    outcome: dict[str, UploadState] = {}
    for module_id in _claim(db):
        try:
            state = _validate_one(db, module_id, prices, limits)
        except Exception as exc:  # our bug or the DB, never the upload's doing: record it, go on
            log.exception("validating uploaded engine %s failed", module_id)
            state = UploadState.FAILED
            _store(db, module_id, state, failed_report([ReportCheck("validation", False,
                                                                    f"internal error: {type(exc).__name__}: {exc}")]))  # fmt: skip
        with Session(db) as session:
            outcome[session.get_one(EngineModule, module_id).name] = state
    return outcome


def run_uploaded_engines(
    db: Engine, snapshot: Snapshot, prices: PriceBook, now: datetime, *, limits: Limits | None = None
) -> list[UploadedOutcome]:
    """Run every enabled, passed upload on `snapshot`, each in the sandbox; output re-validated."""
    with Session(db) as session:
        rows = session.exec(select(EngineModule).where(EngineModule.enabled == True,  # noqa: E712
                                                       EngineModule.state == UploadState.PASSED)).all()  # fmt: skip
        modules = [(r.name, r.source) for r in rows]
    if not modules:
        return []
    snapshot_json, price_data = snapshot.model_dump_json(), dump_prices(prices, _regions(snapshot))
    outcomes = []
    for name, source in modules:
        started = time.perf_counter()
        run = run_sandboxed(source, snapshot_json, module_name=f"upload_{name.replace('-', '_')}", prices=price_data,
                            now=now.isoformat(), limits=limits, hide=_hide_for(db))  # fmt: skip
        outcome = UploadedOutcome(name, ScanResult())
        if run.error or run.result is None:
            outcome.error = f"uploaded engine: {run.error or 'no result'}"
        elif problems := check_output(run.result, name, run.limits):
            outcome.error = "uploaded engine output refused: " + "; ".join(problems)
        else:
            outcome.result = run.result
        outcome.seconds = round(time.perf_counter() - started, 3)
        outcomes.append(outcome)
    return outcomes
