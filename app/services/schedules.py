"""Enforces the office-hours schedules stored on workloads and namespaces.

Called by the worker once a minute (background.schedule_enforcer). For every registered cluster
it lists the Deployments, StatefulSets and CronJobs carrying `cloudoptim.io/schedule-*`
annotations (their own, or their namespace's), asks engines.schedules.decide what each should run
now, and applies the difference: replicas through the scale subresource; an HPA targeting the
workload gets its minReplicas lowered and restored (else it would scale the workload straight
back up); a CronJob is suspended off-hours (spec.suspend) and resumed after. The only other
writes are the enforcer's bookkeeping annotations, kept on the workload so a worker restart
forgets nothing. kube-system, the protected namespaces and anything labelled
`cloudoptim.io/exclude=true` are never touched. Each change is an audit event; a cluster that
cannot be reached is named in the result and skipped, a failed write is kept on its workload.
The targets are listed by app.services.schedule_targets, which the Schedules page also reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes.client.exceptions import ApiException
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster
from app.db.tables_recs import AuditEvent
from app.services.execution_clients import ClusterUnavailable, kubernetes_api_client
from app.services.schedule_targets import ALWAYS_PROTECTED, Clients, Target, patch, scheduled_targets
from app.settings import Settings
from engines import schedules
from executor import k8s_util as k
from executor.base import ExecContext, ExecutorError

log = logging.getLogger(__name__)
ACTOR = "schedule"  # the audit actor: the analyst who approved the schedule is on its execution


@dataclass(frozen=True)
class WorkloadResult:
    """What the enforcer decided for one scheduled workload, and whether the write worked."""

    cluster: str
    kind: str
    namespace: str
    name: str
    outcome: schedules.Outcome
    reason: str
    from_replicas: int
    to_replicas: int | None = None
    error: str | None = None

    @property
    def target(self) -> str:
        return f"{self.kind.lower()} {self.namespace}/{self.name}"

    @property
    def scaled(self) -> bool:
        return self.to_replicas is not None and self.error is None


@dataclass
class EnforcementRun:
    workloads: list[WorkloadResult] = field(default_factory=list)
    failed_clusters: dict[str, str] = field(default_factory=dict)

    @property
    def scaled(self) -> int:
        return sum(1 for w in self.workloads if w.scaled)


def enforce_cluster(ctx: ExecContext, clients: Clients, now: datetime, protected: frozenset[str] = frozenset(),
                    timeout_s: float | None = None) -> list[WorkloadResult]:  # fmt: skip
    """Decide and apply the schedule of every scheduled workload of one cluster at `now`.

    Listing errors propagate (the whole cluster is unreachable); a failed write is kept on the
    workload's result so the next workload still runs.
    """
    results = []
    for t in scheduled_targets(clients, protected, timeout_s):
        if t.excluded:
            results.append(WorkloadResult(ctx.cluster, t.kind, t.namespace, t.name, schedules.Outcome.EXCLUDED,
                                          f"{t.excluded}: its schedule is ignored", t.current))  # fmt: skip
            continue
        decision = schedules.decide(t.annotations, t.current, now)
        error = None
        try:
            _apply(ctx, clients, t, decision)
        except ApiException as exc:
            error = str(k.api_error(f"patch {t.kind} {t.namespace}/{t.name}", exc))
        except ExecutorError as exc:  # the scale itself, already worded by the executor
            error = str(exc)
        reason = decision.reason
        if t.kind == "CronJob" and decision.replicas is not None:
            reason = f"{'suspended' if decision.replicas == 0 else 'resumed'}: {reason}"
        results.append(WorkloadResult(ctx.cluster, t.kind, t.namespace, t.name, decision.outcome, reason, t.current,
                                      decision.replicas, error))  # fmt: skip
    return results


def _apply(ctx: ExecContext, clients: Clients, t: Target, decision: schedules.Decision) -> None:
    # What to restore goes on the object before the scale-down, the transition mark after it: a
    # crash in between leaves a retry that scales nothing twice and forgets nothing.
    if decision.replicas is None:
        _annotate(clients, t, {**decision.before, **decision.after})
        return
    before, after = dict(decision.before), dict(decision.after)
    down = decision.outcome is schedules.Outcome.SCALE_DOWN
    restore_min = t.annotations.get(schedules.RESTORE_MIN_REPLICAS, "")
    if down and t.hpa is not None and schedules.RESTORE_MIN_REPLICAS not in t.annotations:
        before[schedules.RESTORE_MIN_REPLICAS] = str(k.spec(t.hpa).get("minReplicas") or 1)  # the API default
    _annotate(clients, t, before)
    if t.hpa is not None and down:  # HPA minReplicas cannot be 0; at 0 replicas the HPA stands still
        _patch_hpa(clients, t.hpa, max(1, decision.replicas))
    elif t.hpa is not None and restore_min.isdigit():  # before the scale-up, so the HPA does not undo it
        _patch_hpa(clients, t.hpa, int(restore_min))
        after[schedules.RESTORE_MIN_REPLICAS] = None
    if t.kind == "CronJob":
        _patch(clients, t, {"spec": {"suspend": decision.replicas == 0}})
    else:
        k.scale_workload(ctx, t.kind, t.namespace, t.name, decision.replicas)
    _annotate(clients, t, after)


def _patch_hpa(clients: Clients, hpa: k.Obj, min_replicas: int) -> None:
    meta = k.meta(hpa)
    clients.autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        meta.get("name"), meta.get("namespace"), {"spec": {"minReplicas": min_replicas}}, _preload_content=False
    )


def _patch(clients: Clients, t: Target, body: dict[str, Any]) -> None:
    patch(clients, t.kind, t.namespace, t.name, body)


def _annotate(clients: Clients, t: Target, annotations: Mapping[str, str | None]) -> None:
    if annotations:  # a map patch: merge and strategic merge agree, and null removes a key
        _patch(clients, t, {"metadata": {"annotations": dict(annotations)}})


def protected_namespaces(settings: Settings) -> frozenset[str]:
    return frozenset(settings.executor.protected_namespaces) | ALWAYS_PROTECTED


def enforce_all(settings: Settings, db: Engine, now: datetime) -> EnforcementRun:
    """Enforce the schedules of every registered cluster at `now`; audit every change."""
    with Session(db) as session:
        clusters = list(session.exec(select(Cluster).order_by(Cluster.name)))
    run = EnforcementRun()
    for cluster in clusters:
        try:
            run.workloads += _enforce_one(settings, cluster, now)
        except Exception as exc:  # unreachable, bad kubeconfig, RBAC, urllib3 errors: skip this cluster only
            text = failure_text(exc)
            run.failed_clusters[cluster.name] = text
            log.warning("schedule enforcement skipped cluster %s: %s", cluster.name, text)
    _record(db, run.workloads)
    return run


def failure_text(exc: Exception) -> str:
    if isinstance(exc, ClusterUnavailable):
        return str(exc)
    if isinstance(exc, ApiException):
        return f"listing workloads: {k.status_of(exc)} {k.message_of(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _enforce_one(settings: Settings, cluster: Cluster, now: datetime) -> list[WorkloadResult]:
    api = kubernetes_api_client(settings, cluster)
    try:
        clients = Clients.of(api)
        ctx = ExecContext(cluster=cluster.name, region=cluster.region, apps=clients.apps)
        return enforce_cluster(ctx, clients, now, protected_namespaces(settings), settings.k8s.request_timeout_s)
    finally:
        api.close()


def _record(db: Engine, results: list[WorkloadResult]) -> None:
    events = []
    for w in results:
        if w.error is not None:
            log.warning("schedule of %s in cluster %s not applied: %s (%s)", w.target, w.cluster, w.error, w.reason)
        elif w.outcome is schedules.Outcome.INVALID:
            log.warning("schedule of %s in cluster %s ignored: %s", w.target, w.cluster, w.reason)
        if w.scaled:
            log.info("schedule %s %s in cluster %s: %s", w.outcome, w.target, w.cluster, w.reason)
            details: dict[str, Any] = {"cluster": w.cluster, "from_replicas": w.from_replicas,
                                       "to_replicas": w.to_replicas, "reason": w.reason}  # fmt: skip
            events.append(AuditEvent(actor=ACTOR, action=f"schedule {w.outcome}", target=w.target[:500],
                                     details=details))  # fmt: skip
    if events:
        with session_scope(db) as session:
            session.add_all(events)
