"""Migration 0004 on SQLite and PostgreSQL: an estate written at 0003 survives the upgrade (no row
lost to the table copies of SQLite's batch mode), odd status values are mapped, the ledger learns
its cluster names, and the CHECK constraints list exactly the StrEnum members."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app.db import make_engine, upgrade
from app.db.migrate import current_revision, downgrade, head_revision
from app.db.models import Cluster
from app.db.states import ExecutionKind, ExecutionState, RecStatus, ScanStatus, ScanTrigger, SpotWarningStatus
from app.db.tables_recs import CostSaving, Execution, Recommendation, ScanRun
from app.services.clusters import remove_cluster

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CLUSTER_TABLES = ("nodes", "pod_events", "snapshots", "engine_settings", "spot_warnings")
ALL_TABLES = ("clusters", *CLUSTER_TABLES, "scan_runs", "recommendations", "executions", "audit_events", "cost_savings")


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def filled(table: sa.Table, /, **values: Any) -> dict[str, Any]:
    """A row for `table` as it was at 0003: every NOT NULL column without a default gets a plain
    value of its type, so each insert names only what the test is about."""
    row: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable or column.primary_key or column.server_default is not None:
            continue
        kind = type(column.type)
        if issubclass(kind, sa.DateTime):
            row[column.name] = NOW
        elif issubclass(kind, sa.Boolean):
            row[column.name] = False
        elif issubclass(kind, sa.Numeric):
            row[column.name] = Decimal("1.00")
        elif issubclass(kind, (sa.Integer, sa.Float)):
            row[column.name] = 0
        elif issubclass(kind, sa.JSON):
            row[column.name] = {}
        elif issubclass(kind, sa.LargeBinary):
            row[column.name] = b""
        else:
            row[column.name] = ""
    return row | values


def seed_0003(engine: Engine) -> None:
    """Two clusters with rows in every table that references clusters, as 0003 allowed them."""
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    with engine.begin() as conn:

        def put(name: str, /, **values: Any) -> None:
            conn.execute(t[name].insert(), [filled(t[name], **values)])

        put("clusters", id=1, name="prod", region="us-east-1")
        put("clusters", id=2, name="staging", region="us-east-1")
        for cid in (1, 2):
            put("nodes", cluster_id=cid, name=f"node-{cid}", memory_bytes=64 * 2**30)
            put("pod_events", cluster_id=cid, namespace="shop", pod="web", reason="OOMKilled")
            put("snapshots", cluster_id=cid, data={"nodes": [cid]})
            put("engine_settings", cluster_id=cid, engine="binpack", values={"max": cid})
            put("spot_warnings", cluster_id=cid, event_id=f"ev-{cid}", instance_id=f"i-{cid}")
        put("scan_runs", id=1, cluster_id=1, trigger="manual", status="succeeded")
        put("scan_runs", id=2, cluster_id=1, trigger="schedule", status="exploded")
        put("scan_runs", id=3, cluster_id=None, trigger="ui", status="running")
        for rid, status in ((1, "open"), (2, "rejected"), (3, "bogus")):
            put("recommendations", id=rid, fingerprint=f"f{rid}", cluster_id=1, scan_run_id=1, status=status,
                monthly_savings=Decimal("70.08"))  # fmt: skip
        put("recommendations", id=4, fingerprint="f4", cluster_id=2, scan_run_id=None, status="applied")
        for eid, state in ((1, "succeeded"), (2, "pending"), (3, "exploded")):
            put("executions", id=eid, recommendation_id=1, cluster_id=1, state=state, action={"node": "a"})
        put("audit_events", execution_id=1, actor="ana", action="apply")
        put("cost_savings", execution_id=1, cluster_id=1, engine="binpack", expected_monthly_savings=Decimal("70.08"))


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()) for name in ALL_TABLES}


def test_an_estate_written_at_0003_survives_the_upgrade_row_for_row(db: Engine) -> None:
    upgrade(db, "0003")
    seed_0003(db)
    before = counts(db)

    assert upgrade(db) == head_revision()

    assert counts(db) == before
    with Session(db) as s:
        runs = {r.id: r for r in s.exec(select(ScanRun))}
        recs = {r.id: r for r in s.exec(select(Recommendation))}
        execs = {e.id: e for e in s.exec(select(Execution))}
        saving = s.exec(select(CostSaving)).one()
    assert [(runs[i].trigger, runs[i].status) for i in (1, 2, 3)] == [("cli", "succeeded"), ("schedule", "failed"),
                                                                      ("ui", "running")]  # fmt: skip
    assert runs[2].error == "status was exploded before migration 0004"
    assert [recs[i].status for i in (1, 2, 3, 4)] == ["open", "dismissed", "open", "applied"]
    assert [recs[i].scan_run_id for i in (1, 2, 3, 4)] == [1, 1, 1, None]
    assert all(r.depends_on == [] and r.related == [] for r in recs.values())
    assert [execs[i].state for i in (1, 2, 3)] == ["succeeded", "queued", "failed"]
    assert execs[3].error == "state was exploded before migration 0004" and execs[2].error is None
    assert {(e.recommendation_id, e.cluster_id, e.cluster_name) for e in execs.values()} == {(1, 1, "prod")}
    assert (saving.cluster_id, saving.cluster_name, saving.execution_id) == (1, "prod", 1)


def test_after_the_upgrade_removing_a_cluster_takes_only_its_own_history(db: Engine) -> None:
    upgrade(db, "0003")
    seed_0003(db)
    upgrade(db)

    removal = remove_cluster(db, "prod")

    assert (removal.recommendations, removal.scan_runs, removal.executions_kept) == (3, 2, 3)
    after = counts(db)
    assert after == {"clusters": 1, "nodes": 1, "pod_events": 1, "snapshots": 1, "engine_settings": 1,
                     "spot_warnings": 2, "scan_runs": 1, "recommendations": 1, "executions": 3, "audit_events": 1,
                     "cost_savings": 1}  # fmt: skip
    with db.connect() as conn:
        warnings = conn.execute(sa.text("SELECT event_id, cluster_id FROM spot_warnings ORDER BY event_id")).all()
    assert [tuple(w) for w in warnings] == [("ev-1", None), ("ev-2", 2)]


def test_sqlite_enforces_foreign_keys_again_after_migrating(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    upgrade(engine, "0003")
    upgrade(engine)
    with engine.connect() as conn:  # the pooled connection the migration used
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    with Session(engine) as s, pytest.raises(IntegrityError, match="(?i)foreign key"):
        s.add(ScanRun(cluster_id=999))
        s.commit()


STATE_COLUMNS: list[tuple[str, str, type[StrEnum]]] = [
    ("recommendations", "ck_recommendations_status", RecStatus),
    ("executions", "ck_executions_state", ExecutionState),
    ("scan_runs", "ck_scan_runs_status", ScanStatus),
    ("scan_runs", "ck_scan_runs_trigger", ScanTrigger),
    ("executions", "ck_executions_kind", ExecutionKind),  # from migration 0005 on
    ("spot_warnings", "ck_spot_warnings_status", SpotWarningStatus),
]


def test_every_state_check_constraint_lists_exactly_the_enum_members(db: Engine) -> None:
    # Autogenerate does not compare CHECK constraints: this catches an enum member added in code
    # without a migration that widens the constraint.
    upgrade(db)
    inspector = sa.inspect(db)
    for table, name, enum in STATE_COLUMNS:
        found = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table)}
        assert name in found, f"{table} has no CHECK {name}"
        assert set(re.findall(r"'([^']+)'", found[name])) == {m.value for m in enum}, name


def test_the_database_refuses_a_status_outside_the_enum(db: Engine) -> None:
    upgrade(db)
    with Session(db) as s:
        s.add(Cluster(name="prod", region="us-east-1"))
        s.commit()
        s.add(ScanRun(status="done"))
        with pytest.raises(IntegrityError, match="ck_scan_runs_status|CHECK"):
            s.commit()


def test_new_rows_default_to_enum_members() -> None:
    assert (ScanRun().status, ScanRun().trigger) == (ScanStatus.RUNNING, ScanTrigger.CLI)
    assert Execution(action_kind="x").state == ExecutionState.QUEUED
    rec = Recommendation(fingerprint="f", engine="e", target="t", action_kind="x", current_monthly_cost=Decimal(0),
                         projected_monthly_cost=Decimal(0), monthly_savings=Decimal(0))  # fmt: skip
    assert (rec.status, rec.depends_on, rec.related) == (RecStatus.OPEN, [], [])


def test_0004_downgrades_to_0003_and_upgrades_again_keeping_the_rows(db: Engine) -> None:
    upgrade(db, "0003")
    seed_0003(db)
    upgrade(db)
    before = counts(db)
    assert downgrade(db, "0003") == "0003"
    assert counts(db) == before
    columns = {c["name"] for c in sa.inspect(db).get_columns("executions")}
    assert "cluster_name" not in columns
    assert upgrade(db) == head_revision() == current_revision(db)
    assert counts(db) == before


@pytest.mark.parametrize("start", [None, "0003"])
def test_a_migration_failing_halfway_leaves_sqlite_at_the_previous_revision(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, start: str | None
) -> None:
    # From an empty file the run starts with CREATE TABLE, which pysqlite would autocommit on its
    # own, leaving tables without a revision that the next start could not create again.
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'half.db'}")
    if start:
        upgrade(engine, start)
        seed_0003(engine)
    tables_before = set(sa.inspect(engine).get_table_names())
    real_upgrade = command.upgrade  # app.db.migrate imports alembic.command when it migrates

    def upgrade_then_crash(cfg: Any, revision: str) -> None:
        real_upgrade(cfg, revision)  # every table created, copied and altered ...
        raise RuntimeError("power cut")  # ... and then the process dies before the commit

    monkeypatch.setattr(command, "upgrade", upgrade_then_crash)
    with pytest.raises(RuntimeError, match="power cut"):
        upgrade(engine)
    monkeypatch.undo()
    engine.dispose()
    assert current_revision(engine) == start
    assert set(sa.inspect(engine).get_table_names()) == tables_before
    if start:
        assert "cluster_name" not in {c["name"] for c in sa.inspect(engine).get_columns("executions")}
        assert counts(engine)["executions"] == 3
    assert upgrade(engine) == head_revision()
