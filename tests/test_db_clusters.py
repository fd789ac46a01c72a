"""Cluster registry: what removing a scanned cluster deletes and keeps (on SQLite and PostgreSQL),
and the registration checks (name reuse, region, kubeconfig, context)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import make_engine, upgrade
from app.db.models import Cluster, Node, StoredSnapshot
from app.db.states import ExecutionState, RecStatus, ScanStatus, ScanTrigger
from app.db.tables_recs import AuditEvent, CostSaving, Execution, Recommendation, ScanRun
from app.services.clusters import ClusterError, ClusterRemoval, register_cluster, remove_cluster


def write_kubeconfig(path: Path, *contexts: str) -> Path:
    """A kubeconfig with the given contexts; nothing connects to its server in these tests."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": contexts[0] if contexts else "",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": c, "context": {"cluster": "c", "user": "u"}} for c in contexts],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Engine]:
    """For the registration checks, which refuse before the database is touched."""
    engine = make_engine(f"sqlite:///{tmp_path / 'reg.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", "prod-east", "staging-east")


def add_scanned_history(db: Engine, cluster_id: int) -> None:
    """Two scan runs, three recommendations, one execution (with audit) and one savings row."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(db) as s:
        runs = [ScanRun(cluster_id=cluster_id, trigger=ScanTrigger.CLI, status=ScanStatus.SUCCEEDED) for _ in range(2)]
        s.add_all(runs)
        s.add(Node(cluster_id=cluster_id, name="ip-10-0-0-1"))
        s.add(StoredSnapshot(cluster_id=cluster_id, collected_at=now))
        s.flush()
        recs = [
            Recommendation(
                fingerprint=f"f{i}", engine="binpack", cluster_id=cluster_id, target=f"node/{i}",
                action_kind="drain-and-remove-node", current_monthly_cost=Decimal("70.08"),
                projected_monthly_cost=Decimal("0"), monthly_savings=Decimal("70.08"), scan_run_id=runs[0].id,
                status=RecStatus.APPLIED if i == 0 else RecStatus.OPEN,
            )
            for i in range(3)
        ]  # fmt: skip
        s.add_all(recs)
        s.flush()
        execution = Execution(recommendation_id=recs[0].id, cluster_id=cluster_id, action_kind="drain-and-remove-node",
                              state=ExecutionState.SUCCEEDED)  # fmt: skip
        s.add(execution)
        s.flush()
        s.add(AuditEvent(execution_id=execution.id, actor="ana", action="apply", target="node/0"))
        s.add(CostSaving(execution_id=execution.id, cluster_id=cluster_id, engine="binpack",
                         expected_monthly_savings=Decimal("70.08"), period_start=now))  # fmt: skip
        s.commit()


def test_removing_a_scanned_cluster_deletes_its_history_and_keeps_executions_and_savings(
    db: Engine, kubeconfig: Path
) -> None:
    prod = register_cluster(db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(kubeconfig))
    other = register_cluster(db, name="staging", context="staging-east", region="us-east-1", kubeconfig=str(kubeconfig))
    assert prod.id is not None and other.id is not None
    add_scanned_history(db, prod.id)
    with Session(db) as s:
        s.add(ScanRun(cluster_id=other.id))
        s.commit()

    removal = remove_cluster(db, "prod")

    assert removal == ClusterRemoval(name="prod", recommendations=3, scan_runs=2, nodes=1, executions_kept=1,
                                     savings_kept=1)  # fmt: skip
    assert removal.summary() == (
        "removed prod: 3 recommendations, 2 scan runs, 1 node deleted; 1 execution, 1 savings entry kept"
    )
    with Session(db) as s:
        assert [c.name for c in s.exec(select(Cluster))] == ["staging"]
        assert s.exec(select(Recommendation)).all() == []
        assert [r.cluster_id for r in s.exec(select(ScanRun))] == [other.id]
        assert s.exec(select(Node)).all() == [] and s.exec(select(StoredSnapshot)).all() == []
        execution = s.exec(select(Execution)).one()
        saving = s.exec(select(CostSaving)).one()
        audit = s.exec(select(AuditEvent)).one()
    assert (execution.cluster_id, execution.recommendation_id, execution.cluster_name) == (None, None, "prod")
    assert (saving.cluster_id, saving.execution_id, saving.cluster_name) == (None, execution.id, "prod")
    assert saving.expected_monthly_savings == Decimal("70.08")
    assert audit.execution_id == execution.id


def test_removing_a_cluster_never_scanned_says_nothing_was_deleted(db: Engine, kubeconfig: Path) -> None:
    register_cluster(db, name="fresh", context="prod-east", region="eu-west-1", kubeconfig=str(kubeconfig))
    assert (
        remove_cluster(db, "fresh").summary()
        == "removed fresh: 0 recommendations, 0 scan runs deleted; 0 executions kept"
    )


def test_removing_an_unknown_cluster_names_the_registered_ones(db: Engine, kubeconfig: Path) -> None:
    register_cluster(db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(kubeconfig))
    with pytest.raises(ClusterError, match=r"no cluster named 'prdo' \(registered: prod\)"):
        remove_cluster(db, "prdo")


def test_reusing_a_cluster_name_is_refused_and_the_first_context_kept(sqlite_db: Engine, kubeconfig: Path) -> None:
    register_cluster(sqlite_db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(kubeconfig))
    with pytest.raises(ClusterError, match=r"cluster prod already exists \(context prod-east\); pass --replace"):
        register_cluster(sqlite_db, name="prod", context="staging-east", region="us-east-1", kubeconfig=str(kubeconfig))
    with Session(sqlite_db) as s:
        assert s.exec(select(Cluster)).one().context == "prod-east"


def test_replace_updates_the_cluster_in_place_so_its_history_stays(db: Engine, kubeconfig: Path) -> None:
    first = register_cluster(db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(kubeconfig))
    again = register_cluster(db, name="prod", context="staging-east", region="us-west-2", kubeconfig=str(kubeconfig),
                             replace=True)  # fmt: skip
    assert again.id == first.id
    assert (again.context, again.region) == ("staging-east", "us-west-2")


def test_an_unknown_region_is_refused_with_close_matches(sqlite_db: Engine) -> None:
    with pytest.raises(ClusterError, match=r"unknown AWS region 'us-east-9'.*did you mean .*us-east-1"):
        register_cluster(sqlite_db, name="prod", context="prod-east", region="us-east-9")


def test_a_region_far_from_any_known_one_lists_the_known_regions(sqlite_db: Engine) -> None:
    with pytest.raises(ClusterError, match=r"unknown AWS region 'mars'.*known regions: af-south-1, .*us-west-2"):
        register_cluster(sqlite_db, name="prod", context="prod-east", region="mars")


def test_a_kubeconfig_that_does_not_exist_is_refused(sqlite_db: Engine, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "kubeconfig"
    with pytest.raises(ClusterError, match=f"kubeconfig {missing} does not exist"):
        register_cluster(sqlite_db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(missing))
    with pytest.raises(ClusterError, match="does not exist"):  # existence is checked even without contexts
        register_cluster(sqlite_db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(missing),
                         check_context=False)  # fmt: skip


def test_a_context_missing_from_the_kubeconfig_is_refused_with_the_available_ones(
    sqlite_db: Engine, kubeconfig: Path
) -> None:
    with pytest.raises(ClusterError, match=r"context 'prod-eats' not found in .*did you mean prod-east\? "
                                           r"available: prod-east, staging-east"):  # fmt: skip
        register_cluster(sqlite_db, name="prod", context="prod-eats", region="us-east-1", kubeconfig=str(kubeconfig))
    with Session(sqlite_db) as s:
        assert s.exec(select(Cluster)).all() == []


def test_check_context_false_accepts_a_context_the_kubeconfig_lacks(sqlite_db: Engine, kubeconfig: Path) -> None:
    cluster = register_cluster(sqlite_db, name="ghost", context="does-not-exist", region="us-east-1",
                               kubeconfig=str(kubeconfig), check_context=False)  # fmt: skip
    assert cluster.context == "does-not-exist"


def test_a_kubeconfig_that_is_not_a_kubeconfig_is_refused(sqlite_db: Engine, tmp_path: Path) -> None:
    junk = tmp_path / "kubeconfig"
    junk.write_text("just: [a, list]\n", encoding="utf-8")
    with pytest.raises(ClusterError, match=f"cannot read kubeconfig {junk}"):
        register_cluster(sqlite_db, name="prod", context="prod-east", region="us-east-1", kubeconfig=str(junk))


def test_without_a_kubeconfig_path_the_context_is_left_for_scan_time(sqlite_db: Engine) -> None:
    cluster = register_cluster(sqlite_db, name="prod", context="anything", region="us-east-1")
    assert (cluster.context, cluster.kubeconfig_path) == ("anything", "")
