"""The schedule enforcer against the local Kubernetes API, on SQLite and PostgreSQL: a schedule-scale
execution applied by the worker's runner, then `enforce_schedules` at chosen hours scales the
Deployment down and back exactly, keeps a change made by hand, audits each scale, survives a dead
cluster, and the execution's rollback removes every schedule annotation and restores the replicas."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster
from app.db.states import ExecutionState
from app.db.tables_recs import AuditEvent
from app.services import executions as svc
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from background.schedule_enforcer import enforce_schedules
from engines import schedules
from engines.actions import ScheduleScale
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import workload
from tests.test_executions_seed import add_cluster, add_rec

FP = "5c4ed01e5c4ed01e5c4ed01e"
SATURDAY_NOON = datetime(2026, 6, 6, 12, 0, tzinfo=UTC)
MONDAY_10 = datetime(2026, 6, 8, 10, 0, tzinfo=UTC)
MONDAY_NIGHT = datetime(2026, 6, 8, 22, 0, tzinfo=UTC)
TUESDAY_8 = datetime(2026, 6, 9, 8, 0, tzinfo=UTC)


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as cluster:
        cluster.put_many([workload("Deployment", "web", 3, namespace="shop"),
                          workload("StatefulSet", "db", 2, namespace="shop"),
                          workload("Deployment", "api", 2, namespace="shop")])  # fmt: skip
        yield cluster


@pytest.fixture
def runner(engine: Engine, settings: Settings, k8s: LocalKubernetes, tmp_path: Path) -> Iterator[ExecutionRunner]:
    add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", context="prod")))
    r = ExecutionRunner(settings, engine, owner="test-host:1", poll_interval_s=0.2)
    yield r
    assert r.stop(10)


def apply_schedule(engine: Engine, runner: ExecutionRunner, kind: str = "Deployment", name: str = "web",
                   fp: str = FP) -> svc.ExecutionView:  # fmt: skip
    spec = ScheduleScale(namespace="shop", workload_kind=kind, workload_name=name,
                         scale_down_cron="0 19 * * 1-5", scale_up_cron="0 7 * * 1-5")  # fmt: skip
    with Session(engine) as session:
        cluster_id = session.exec(select(Cluster.id).where(Cluster.name == "prod")).one()
    queued = svc.queue_execution(engine, add_rec(engine, fp, spec, cluster_id=cluster_id), requested_by="ana")
    (done,) = runner.run_pending()
    assert done.id == queued.execution.id and done.state is ExecutionState.SUCCEEDED, done.reason
    return done


def live(k8s: LocalKubernetes, kind: str = "Deployment", name: str = "web") -> tuple[int, dict[str, str]]:
    apps = kubernetes.client.AppsV1Api(k8s.api_client())
    read: Any = apps.read_namespaced_deployment if kind == "Deployment" else apps.read_namespaced_stateful_set
    obj: dict[str, Any] = json.loads(read(name, "shop", _preload_content=False).data)
    return int(obj["spec"]["replicas"]), obj["metadata"].get("annotations") or {}


def scale_by_hand(k8s: LocalKubernetes, replicas: int) -> None:
    apps = kubernetes.client.AppsV1Api(k8s.api_client())
    apps.patch_namespaced_deployment_scale("web", "shop", {"spec": {"replicas": replicas}})


def audit(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with Session(engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.actor == "schedule").order_by(col(AuditEvent.id)))
        return [(row.action, row.target, row.details) for row in rows]


def test_off_hours_scale_the_scheduled_deployment_down_and_office_hours_restore_it_exactly(
    engine: Engine, settings: Settings, runner: ExecutionRunner, k8s: LocalKubernetes
) -> None:
    apply_schedule(engine, runner)
    assert live(k8s)[0] == 3  # applying the schedule changes nothing by itself

    assert enforce_schedules(settings, engine, now=lambda: SATURDAY_NOON) == 1
    replicas, annotations = live(k8s)
    assert replicas == 0 and annotations[schedules.RESTORE_REPLICAS] == "3"
    assert live(k8s, name="api")[0] == 2  # no schedule: untouched
    assert enforce_schedules(settings, engine, now=lambda: SATURDAY_NOON) == 0  # the next minute: nothing to do

    assert enforce_schedules(settings, engine, now=lambda: MONDAY_10) == 1
    replicas, annotations = live(k8s)
    assert replicas == 3 and schedules.RESTORE_REPLICAS not in annotations
    assert [(action, target, details["from_replicas"], details["to_replicas"], details["cluster"])
            for action, target, details in audit(engine)] == [
        ("schedule scale-down", "deployment shop/web", 3, 0, "prod"),
        ("schedule scale-up", "deployment shop/web", 0, 3, "prod")]  # fmt: skip


def test_a_scale_up_by_hand_at_night_is_kept_until_the_morning_and_a_statefulset_is_scheduled_too(
    engine: Engine, settings: Settings, runner: ExecutionRunner, k8s: LocalKubernetes
) -> None:
    apply_schedule(engine, runner)
    apply_schedule(engine, runner, kind="StatefulSet", name="db", fp="d" * 24)
    assert enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT) == 2
    assert (live(k8s)[0], live(k8s, "StatefulSet", "db")[0]) == (0, 0)

    scale_by_hand(k8s, 1)  # an on-call engineer needs the shop tonight
    assert enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT.replace(hour=23)) == 0
    assert live(k8s)[0] == 1

    assert enforce_schedules(settings, engine, now=lambda: TUESDAY_8) == 2
    assert (live(k8s)[0], live(k8s, "StatefulSet", "db")[0]) == (3, 2)


def test_bad_annotations_and_an_unreachable_cluster_change_nothing_and_the_good_cluster_still_runs(
    engine: Engine,
    settings: Settings,
    runner: ExecutionRunner,
    k8s: LocalKubernetes,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = LocalKubernetes()
    with dead:
        kubeconfig = dead.write_kubeconfig(tmp_path / "dead-kubeconfig", context="dead")
    add_cluster(engine, "aaa-dead", kubeconfig=str(kubeconfig), context="dead")  # listed first, and stopped
    add_cluster(engine, "bbb-gone", kubeconfig=str(tmp_path / "missing"), context="gone")
    apply_schedule(engine, runner)
    k8s.put(
        workload(
            "Deployment",
            "api",
            2,
            namespace="shop",
            annotations={schedules.SCALE_DOWN: "0 19 * * 1-5", schedules.SCALE_UP: "at seven"},
        )
    )

    with caplog.at_level(logging.WARNING, logger="app.services.schedules"):
        assert enforce_schedules(settings, engine, now=lambda: SATURDAY_NOON) == 1
    assert live(k8s)[0] == 0 and live(k8s, name="api")[0] == 2
    warnings = [r.getMessage() for r in caplog.records]
    assert any(w.startswith("schedule enforcement skipped cluster aaa-dead: MaxRetryError") for w in warnings)
    gone = f"schedule enforcement skipped cluster bbb-gone: cluster bbb-gone: kubeconfig {tmp_path / 'missing'} "
    assert gone + "does not exist" in warnings
    assert ("schedule of deployment shop/api in cluster prod ignored: annotation cloudoptim.io/schedule-scale-up "
            "'at seven' is not a crontab expression: wrong number of fields; got 2, expected 5; replicas left at 2"
            in warnings)  # fmt: skip


def test_rolling_back_the_schedule_at_night_removes_every_schedule_annotation_and_restores_the_replicas(
    engine: Engine, settings: Settings, runner: ExecutionRunner, k8s: LocalKubernetes
) -> None:
    applied = apply_schedule(engine, runner)
    assert enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT) == 1
    assert live(k8s)[0] == 0

    svc.queue_rollback(engine, applied.id, requested_by="bob")
    (rolled,) = runner.run_pending()
    assert rolled.state is ExecutionState.SUCCEEDED, rolled.reason
    replicas, annotations = live(k8s)
    assert replicas == 3 and not any(key.startswith(schedules.PREFIX) for key in annotations)
    assert enforce_schedules(settings, engine, now=lambda: TUESDAY_8) == 0  # nothing scheduled any more


def test_a_rollback_in_office_hours_keeps_a_change_made_by_hand_after_the_schedule_restored_it(
    engine: Engine, settings: Settings, runner: ExecutionRunner, k8s: LocalKubernetes
) -> None:
    applied = apply_schedule(engine, runner)
    enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT)
    enforce_schedules(settings, engine, now=lambda: TUESDAY_8)
    scale_by_hand(k8s, 5)  # a busy Tuesday

    svc.queue_rollback(engine, applied.id, requested_by="bob")
    (rolled,) = runner.run_pending()
    assert rolled.state is ExecutionState.SUCCEEDED, rolled.reason
    replicas, annotations = live(k8s)
    assert replicas == 5 and not any(key.startswith(schedules.PREFIX) for key in annotations)
