"""The upload service: who may upload and enable, what is refused before anything is stored, and
the life of a valid module (pending, validated in the sandbox, enabled, run in scans)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster, EngineModule, StoredSnapshot
from app.db.states import UploadState
from app.db.tables_recs import AuditEvent
from app.pricing import load_price_book
from app.services.access import AccessDenied, Principal
from app.services.engine_uploads import (
    MAX_BYTES,
    UploadRefused,
    list_uploads,
    run_uploaded_engines,
    set_upload_enabled,
    upload_engine,
    validate_pending,
)
from app.settings import Settings
from background.upload_jobs import validate_uploads
from engines.uploaded.sample import sample_snapshot
from tests.uploads.conftest import ADMIN, ANALYST, FAST, VIEWER, module, validated

VALID = "modules/underused_nodes.py"


def _modules(db: Engine) -> int:
    with Session(db) as session:
        return int(session.exec(select(func.count()).select_from(EngineModule)).one())


@pytest.mark.parametrize("who", [VIEWER, ANALYST], ids=["viewer", "analyst"])
def test_a_viewer_or_an_analyst_cannot_upload_an_engine(engine: Engine, who: Principal) -> None:
    with pytest.raises(AccessDenied, match="needs the admin role"):
        upload_engine(engine, "underused_nodes.py", module(VALID), actor=who)
    assert _modules(engine) == 0


@pytest.mark.parametrize("who", [VIEWER, ANALYST], ids=["viewer", "analyst"])
def test_a_viewer_or_an_analyst_cannot_enable_an_uploaded_engine(engine: Engine, who: Principal) -> None:
    validated(engine, VALID)
    with pytest.raises(AccessDenied):
        set_upload_enabled(engine, "underused-nodes", True, actor=who)
    assert not list_uploads(engine)[0].enabled


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("empty.py", b"", "is empty"),
        ("blank.py", b"  \n\n", "is empty"),
        ("huge.py", b"# x\n" * (MAX_BYTES // 4 + 1), "the limit is 256 KiB"),
        ("engine.txt", b"print('hi')\n", "is not a Python module"),
        ("model.skops", b"PK\x03\x04", "is not a Python module"),
        ("latin.py", "name = 'caf\xe9'\n".encode("latin-1"), "is not UTF-8 text"),
        ("nul.py", b"x = 1\x00\n", "contains NUL bytes"),
    ],
    ids=["empty", "blank", "too-large", "not-py", "binary", "not-utf8", "nul"],
)
def test_bad_files_are_refused_with_a_reason_and_nothing_is_stored(
    engine: Engine, filename: str, data: bytes, reason: str
) -> None:
    with pytest.raises(UploadRefused, match=reason):
        upload_engine(engine, filename, data, actor=ADMIN)
    assert _modules(engine) == 0
    with Session(engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.action == "engine upload refused")).one()
    assert audit.actor == ADMIN.username and reason.split(maxsplit=1)[0] in audit.details["reason"]


def test_a_syntax_error_is_stored_failed_at_once_with_the_line(engine: Engine) -> None:
    outcome = upload_engine(engine, "broken.py", b"class Broken(:\n    pass\n", actor=ADMIN)
    assert outcome.state is UploadState.FAILED and "line 1" in outcome.message
    view = list_uploads(engine)[0]
    assert view.name == "broken" and view.state is UploadState.FAILED and view.reason.startswith("syntax: line 1")
    assert view.report is not None and view.report.checks[0].name == "syntax"
    assert validate_pending(engine, load_price_book(), limits=FAST) == {}  # nothing left for the worker
    with pytest.raises(UploadRefused, match="failed: only a module that passed"):
        set_upload_enabled(engine, "broken", True, actor=ADMIN)


def test_a_valid_module_is_stored_pending_with_its_sha256_and_uploader(engine: Engine) -> None:
    data = module(VALID)
    outcome = upload_engine(engine, "underused_nodes.py", data, actor=ADMIN)
    view = list_uploads(engine)[0]
    assert outcome.state is UploadState.PENDING and view.state is UploadState.PENDING
    assert view.sha256 == hashlib.sha256(data).hexdigest() == outcome.sha256
    assert (view.name, view.uploaded_by, view.size_bytes, view.enabled) == ("underused-nodes", "root-admin", len(data), False)
    with pytest.raises(UploadRefused, match="pending"):
        set_upload_enabled(engine, "underused-nodes", True, actor=ADMIN)


def test_a_valid_module_passes_can_be_enabled_and_its_recommendations_come_back_from_scans(engine: Engine) -> None:
    view = validated(engine, VALID)
    assert view.state is UploadState.PASSED, view.reason
    assert view.report is not None and view.report.passed and view.report.output_count == 4
    assert {c.name for c in view.report.checks} >= {"syntax", "settings", "docstring", "deterministic", "output",
                                                     "empty snapshot (no cluster)"}  # fmt: skip
    assert "built-in sample" in view.report.snapshot
    assert set_upload_enabled(engine, "underused-nodes", True, actor=ADMIN).enabled
    snapshot = sample_snapshot()
    outcomes = run_uploaded_engines(engine, snapshot, load_price_book(), snapshot.collected_at, limits=FAST)
    assert [o.engine for o in outcomes] == ["underused-nodes"] and outcomes[0].error is None
    recs = outcomes[0].result.recommendations
    assert len(recs) == 4 and all(r.engine == "underused-nodes" and r.monthly_savings > 0 for r in recs)
    hourly = load_price_book().on_demand_hourly("us-east-1", "m5.xlarge")
    assert recs[0].current_monthly_cost == hourly * 730  # real prices reached the child as data
    set_upload_enabled(engine, "underused-nodes", False, actor=ADMIN)
    assert run_uploaded_engines(engine, snapshot, load_price_book(), snapshot.collected_at, limits=FAST) == []
    with Session(engine) as session:
        actions = [a.action for a in session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]  # type: ignore[arg-type]
    assert actions == ["engine module uploaded", "engine module passed", "engine module enabled",
                       "engine module disabled"]  # fmt: skip


def test_validation_runs_on_the_latest_stored_snapshot_when_a_cluster_was_collected(engine: Engine) -> None:
    snapshot = sample_snapshot()
    with session_scope(engine) as session:
        cluster = Cluster(name="sample", region="us-east-1")
        session.add(cluster)
        session.flush()
        assert cluster.id is not None
        session.add(StoredSnapshot(cluster_id=cluster.id, collected_at=snapshot.collected_at,
                                   data=json.loads(snapshot.model_dump_json(exclude={"usage"}))))  # fmt: skip
    view = validated(engine, VALID)
    assert view.state is UploadState.PASSED and view.report is not None
    assert view.report.snapshot.startswith("the latest stored snapshot")


def test_uploading_the_same_content_again_changes_nothing_and_new_content_needs_validation_again(
    engine: Engine,
) -> None:
    validated(engine, VALID)
    set_upload_enabled(engine, "underused-nodes", True, actor=ADMIN)
    again = upload_engine(engine, "underused_nodes.py", module(VALID), actor=ADMIN)
    assert "already uploaded" in again.message and list_uploads(engine)[0].enabled
    changed = upload_engine(engine, "underused_nodes.py", module(VALID, **{"0.2": "0.3"}), actor=ADMIN)
    view = list_uploads(engine)[0]
    assert changed.state is UploadState.PENDING and view.state is UploadState.PENDING and not view.enabled
    assert view.sha256 == changed.sha256 != again.sha256 and _modules(engine) == 1


def test_a_module_whose_name_is_a_built_in_engine_fails(engine: Engine) -> None:
    view = validated(engine, VALID, FAST, **{'name = "underused-nodes"': 'name = "binpack"'})
    assert view.state is UploadState.FAILED and "is a built-in engine" in view.reason


def test_the_worker_job_validates_pending_uploads_and_survives_an_unreachable_database(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    upload_engine(engine, "underused_nodes.py", module(VALID), actor=ADMIN)
    assert validate_uploads(settings, engine, limits=FAST) == {"underused-nodes": UploadState.PASSED}
    from app.db import make_engine

    broken = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert validate_uploads(settings, broken, limits=FAST) == {}  # no tables: logged, not raised
    broken.dispose()


def test_a_module_left_validating_by_a_crashed_worker_is_validated_again(engine: Engine) -> None:
    upload_engine(engine, "underused_nodes.py", module(VALID), actor=ADMIN)
    with session_scope(engine) as session:
        row = session.exec(select(EngineModule)).one()
        row.state = UploadState.VALIDATING
        session.add(row)
    assert validate_pending(engine, load_price_book(), limits=FAST) == {"underused-nodes": UploadState.PASSED}
