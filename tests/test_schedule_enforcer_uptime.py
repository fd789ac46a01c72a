"""The schedule enforcer against the local Kubernetes API for `uptime` schedules, on SQLite and
PostgreSQL: an uptime schedule with German holidays applied by the worker's runner, an HPA whose
minReplicas is lowered and restored, CronJobs suspended and resumed, a namespace-wide schedule,
and the exclusions that are never touched. Each ends with the replicas restored exactly."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster
from app.db.states import ExecutionState
from app.services import executions as svc
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from background.schedule_enforcer import enforce_schedules
from engines import schedules
from engines.actions import ScheduleScale
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import workload
from tests.test_executions_seed import add_cluster, add_rec

UPTIME = {schedules.UPTIME: "Mon-Fri 07:30-20:30", schedules.TIMEZONE: "Europe/Berlin"}
MONDAY_NIGHT = datetime(2026, 6, 8, 20, 0, tzinfo=UTC)  # 22:00 CEST
TUESDAY_MORNING = datetime(2026, 6, 9, 5, 31, tzinfo=UTC)  # 07:31 CEST
CHRISTMAS = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday
MONDAY_AFTER = datetime(2026, 12, 28, 6, 31, tzinfo=UTC)  # 07:31 CET


def hpa(name: str, target: str, min_replicas: int, namespace: str = "shop") -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                     "minReplicas": min_replicas, "maxReplicas": 10}}  # fmt: skip


def cronjob(name: str, *, suspend: bool = False, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations or {}},
            "spec": {"schedule": "*/10 * * * *", "suspend": suspend, "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}}}}  # fmt: skip


@pytest.fixture
def k8s() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as cluster:
        cluster.put_many([workload("Deployment", "web", 3, namespace="shop"),
                          workload("Deployment", "api", 4, namespace="shop", annotations=UPTIME),
                          hpa("api", "api", 2)])  # fmt: skip
        yield cluster


@pytest.fixture
def registered(engine: Engine, k8s: LocalKubernetes, tmp_path: Path) -> None:
    add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", context="prod")))


def read(k8s: LocalKubernetes, kind: str, name: str, namespace: str = "shop") -> dict[str, Any]:
    api = k8s.api_client()
    method: Any = {
        "Deployment": kubernetes.client.AppsV1Api(api).read_namespaced_deployment,
        "CronJob": kubernetes.client.BatchV1Api(api).read_namespaced_cron_job,
        "HorizontalPodAutoscaler": kubernetes.client.AutoscalingV2Api(api).read_namespaced_horizontal_pod_autoscaler,
    }[kind]
    obj: dict[str, Any] = json.loads(method(name, namespace, _preload_content=False).data)
    return obj


def replicas(k8s: LocalKubernetes, name: str, namespace: str = "shop") -> int:
    return int(read(k8s, "Deployment", name, namespace)["spec"]["replicas"])


def notes(k8s: LocalKubernetes, kind: str, name: str) -> dict[str, str]:
    return read(k8s, kind, name)["metadata"].get("annotations") or {}


def run_one(engine: Engine, settings: Settings, queue: Callable[[], object]) -> svc.ExecutionView:
    queue()
    runner = ExecutionRunner(settings, engine, owner="test-host:1", poll_interval_s=0.2)
    try:
        (done,) = runner.run_pending()
    finally:
        assert runner.stop(10)
    return done


def apply(engine: Engine, settings: Settings, spec: ScheduleScale, fp: str) -> svc.ExecutionView:
    with Session(engine) as session:
        cluster_id = session.exec(select(Cluster.id).where(Cluster.name == "prod")).one()
    return run_one(engine, settings, lambda: svc.queue_execution(engine, add_rec(engine, fp, spec, cluster_id=cluster_id),
                                                                 requested_by="ana"))  # fmt: skip


def test_an_uptime_schedule_with_german_holidays_applied_by_the_runner_is_off_on_christmas_and_restores_exactly(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    spec = ScheduleScale(namespace="shop", workload_kind="Deployment", workload_name="web",
                         uptime="Mon-Fri 07:30-20:30", timezone="Europe/Berlin", holidays="DE")  # fmt: skip
    done = apply(engine, settings, spec, "c" * 24)
    assert done.state is ExecutionState.SUCCEEDED, done.reason
    assert notes(k8s, "Deployment", "web")[schedules.HOLIDAYS] == "DE" and replicas(k8s, "web") == 3

    assert enforce_schedules(settings, engine, now=lambda: CHRISTMAS) == 1
    assert replicas(k8s, "api") == 4  # the same hours without a holiday calendar: a Friday like any other
    assert replicas(k8s, "web") == 0 and notes(k8s, "Deployment", "web")[schedules.RESTORE_REPLICAS] == "3"
    assert enforce_schedules(settings, engine, now=lambda: CHRISTMAS.replace(hour=11)) == 0  # the next hour: nothing
    assert enforce_schedules(settings, engine, now=lambda: MONDAY_AFTER) == 1
    assert (replicas(k8s, "web"), replicas(k8s, "api")) == (3, 4)
    assert schedules.RESTORE_REPLICAS not in notes(k8s, "Deployment", "web")


def test_an_hpa_managed_workload_gets_its_min_replicas_lowered_at_night_and_restored_in_the_morning(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    assert enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT) == 1
    assert replicas(k8s, "api") == 0
    assert read(k8s, "HorizontalPodAutoscaler", "api")["spec"]["minReplicas"] == 1  # the API's lowest
    assert notes(k8s, "Deployment", "api")[schedules.RESTORE_MIN_REPLICAS] == "2"

    assert enforce_schedules(settings, engine, now=lambda: TUESDAY_MORNING) == 1
    assert replicas(k8s, "api") == 4
    assert read(k8s, "HorizontalPodAutoscaler", "api")["spec"]["minReplicas"] == 2
    assert schedules.RESTORE_MIN_REPLICAS not in notes(k8s, "Deployment", "api")
    assert replicas(k8s, "web") == 3  # no schedule: untouched


def test_cronjobs_are_suspended_off_hours_and_resumed_and_one_suspended_before_stays_suspended(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    k8s.put_many([cronjob("report", annotations={**UPTIME, schedules.REPLICAS_OFF: "3"}),
                  cronjob("paused", suspend=True, annotations=UPTIME)])  # fmt: skip
    enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT)
    assert read(k8s, "CronJob", "report")["spec"]["suspend"] is True  # off means suspended, whatever replicas-off says
    assert notes(k8s, "CronJob", "report")[schedules.RESTORE_REPLICAS] == "1"
    enforce_schedules(settings, engine, now=lambda: TUESDAY_MORNING)
    assert read(k8s, "CronJob", "report")["spec"]["suspend"] is False
    assert read(k8s, "CronJob", "paused")["spec"]["suspend"] is True  # suspended by someone: still suspended
    assert schedules.RESTORE_REPLICAS not in notes(k8s, "CronJob", "report")


def test_a_namespace_schedule_covers_its_workloads_except_excluded_ones_and_protected_namespaces_are_never_touched(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    excluded = workload("Deployment", "ledger", 2, namespace="staging")
    excluded["metadata"]["labels"] = {schedules.EXCLUDE: "true"}
    k8s.put_many([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "staging", "annotations": UPTIME}},
                  workload("Deployment", "shop", 2, namespace="staging"), excluded,
                  workload("Deployment", "dns", 2, namespace="kube-system", annotations=UPTIME)])  # fmt: skip
    enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT)
    assert (replicas(k8s, "shop", "staging"), replicas(k8s, "ledger", "staging")) == (0, 2)
    assert replicas(k8s, "dns", "kube-system") == 2
    enforce_schedules(settings, engine, now=lambda: TUESDAY_MORNING)
    assert replicas(k8s, "shop", "staging") == 2


def test_an_uptime_typo_is_refused_by_the_action_with_the_bad_part_and_nothing_is_annotated(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    spec = ScheduleScale(
        namespace="shop", workload_kind="Deployment", workload_name="web", uptime="Mon-Fry 07:30-20:30"
    )
    done = apply(engine, settings, spec, "e" * 24)
    assert done.state is ExecutionState.REFUSED
    assert 'day "Fry" is not one of Mon..Sun (at character 5)' in (done.reason or "")
    assert not any(key.startswith(schedules.PREFIX) for key in notes(k8s, "Deployment", "web"))


def test_rolling_back_an_uptime_schedule_at_night_restores_the_replicas_and_the_hpa_min_replicas(
    engine: Engine, settings: Settings, registered: None, k8s: LocalKubernetes
) -> None:
    k8s.put_many([workload("Deployment", "api", 4, namespace="shop")])  # no schedule yet: the action adds it
    spec = ScheduleScale(namespace="shop", workload_kind="Deployment", workload_name="api",
                         uptime="Mon-Fri 07:30-20:30", timezone="Europe/Berlin", exception_dates=("2026-06-10",))  # fmt: skip
    applied = apply(engine, settings, spec, "f" * 24)
    assert notes(k8s, "Deployment", "api")[schedules.EXCEPTIONS] == "2026-06-10"
    enforce_schedules(settings, engine, now=lambda: MONDAY_NIGHT)
    assert (replicas(k8s, "api"), read(k8s, "HorizontalPodAutoscaler", "api")["spec"]["minReplicas"]) == (0, 1)

    rolled = run_one(engine, settings, lambda: svc.queue_rollback(engine, applied.id, requested_by="bob"))
    assert rolled.state is ExecutionState.SUCCEEDED, rolled.reason
    assert (replicas(k8s, "api"), read(k8s, "HorizontalPodAutoscaler", "api")["spec"]["minReplicas"]) == (4, 2)
    assert not any(key.startswith(schedules.PREFIX) for key in notes(k8s, "Deployment", "api"))
