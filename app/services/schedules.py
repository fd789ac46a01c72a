"""Enforces the office-hours schedules that the schedule-scale action stored on workloads.

Called by the worker once a minute (background.schedule_enforcer). For every registered cluster
it lists the Deployments and StatefulSets carrying `cloudoptim.io/schedule-*` annotations, asks
engines.schedules.decide what each should run now, and scales those that differ through the
scale subresource (the only write besides the enforcer's own two bookkeeping annotations). Each
scale is an audit event; a cluster that cannot be reached is named in the result and skipped, a
workload whose write fails is reported and the others still run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster
from app.db.tables_recs import AuditEvent
from app.services.execution_clients import ClusterUnavailable, kubernetes_api_client
from app.settings import Settings
from engines import schedules
from executor import k8s_util as k
from executor.base import ExecContext, ExecutorError

log = logging.getLogger(__name__)
ACTOR = "schedule"  # the audit actor: the analyst who approved the schedule is on its execution
_PAGE = 500


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


def scheduled_workloads(ctx: ExecContext, timeout_s: float | None = None) -> list[tuple[str, k.Obj]]:
    """(kind, object) of every Deployment and StatefulSet with a schedule, in all namespaces.

    Annotations cannot be selected on by the API server, so every workload is listed (in pages)
    and filtered here, as kube-downscaler does.
    """
    found = []
    for kind, suffix in k.WORKLOAD_METHODS.items():
        method, token = getattr(ctx.apps, f"list_{suffix}_for_all_namespaces"), ""
        while True:
            page = k.call_json(
                method, limit=_PAGE, _request_timeout=timeout_s, **({"_continue": token} if token else {})
            )
            found += [(kind, obj) for obj in page.get("items") or [] if schedules.is_scheduled(_annotations(obj))]
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                break
    return found


def enforce_cluster(ctx: ExecContext, now: datetime, timeout_s: float | None = None) -> list[WorkloadResult]:
    """Decide and apply the schedule of every scheduled workload of one cluster at `now`.

    Listing errors propagate (the whole cluster is unreachable); a failed write is kept on the
    workload's result so the next workload still runs.
    """
    results = []
    for kind, obj in scheduled_workloads(ctx, timeout_s):
        meta, current = k.meta(obj), k.replicas_of(obj)
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        decision = schedules.decide(_annotations(obj), current, now)
        error = None
        try:
            _apply(ctx, kind, ns, name, decision)
        except ApiException as exc:
            error = str(k.api_error(f"annotate {kind} {ns}/{name}", exc))
        except ExecutorError as exc:  # the scale itself, already worded by the executor
            error = str(exc)
        results.append(WorkloadResult(ctx.cluster, kind, ns, name, decision.outcome, decision.reason, current,
                                      decision.replicas, error))  # fmt: skip
    return results


def _apply(ctx: ExecContext, kind: str, ns: str, name: str, decision: schedules.Decision) -> None:
    # What to restore goes on the object before the scale-down, the transition mark after it: a
    # crash in between leaves a retry that scales nothing twice and forgets nothing.
    if decision.replicas is None:
        _annotate(ctx, kind, ns, name, {**decision.before, **decision.after})
        return
    _annotate(ctx, kind, ns, name, decision.before)
    k.scale_workload(ctx, kind, ns, name, decision.replicas)
    _annotate(ctx, kind, ns, name, decision.after)


def _annotate(ctx: ExecContext, kind: str, ns: str, name: str, annotations: dict[str, str | None]) -> None:
    if annotations:  # a map patch: merge and strategic merge agree, and null removes a key
        k.workload_call(ctx, "patch", kind, name, ns, {"metadata": {"annotations": annotations}})


def _annotations(obj: k.Obj) -> dict[str, str]:
    return {str(key): str(value) for key, value in (k.meta(obj).get("annotations") or {}).items()}


def enforce_all(settings: Settings, db: Engine, now: datetime) -> EnforcementRun:
    """Enforce the schedules of every registered cluster at `now`; audit every scale."""
    with Session(db) as session:
        clusters = list(session.exec(select(Cluster).order_by(Cluster.name)))
    run = EnforcementRun()
    for cluster in clusters:
        try:
            run.workloads += _enforce_one(settings, cluster, now)
        except Exception as exc:  # unreachable, bad kubeconfig, RBAC, urllib3 errors: skip this cluster only
            text = _failure(exc)
            run.failed_clusters[cluster.name] = text
            log.warning("schedule enforcement skipped cluster %s: %s", cluster.name, text)
    _record(db, run.workloads)
    return run


def _failure(exc: Exception) -> str:
    if isinstance(exc, ClusterUnavailable):
        return str(exc)
    if isinstance(exc, ApiException):
        return f"listing workloads: {k.status_of(exc)} {k.message_of(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _enforce_one(settings: Settings, cluster: Cluster, now: datetime) -> list[WorkloadResult]:
    api = kubernetes_api_client(settings, cluster)
    try:
        ctx = ExecContext(cluster=cluster.name, region=cluster.region, apps=client.AppsV1Api(api))
        return enforce_cluster(ctx, now, settings.k8s.request_timeout_s)
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
