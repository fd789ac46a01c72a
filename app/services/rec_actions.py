"""What an analyst can do with one recommendation from the Recommendations page: review an apply
(the plan in words from the action spec, and the guardrail checks the worker will make), dismiss
it with a reason, snooze it until a date (or unsnooze it), and bulk-apply low-risk rows.

Called by `app.ui.rec_actions`. The review is a preview, not the decision: the worker re-reads
the live state and checks the same guardrails again before it changes anything, so a check that
passes here can still refuse there (and the execution then says why). Queueing the apply is
`app.services.executions.queue_execution`; a dismissal is recorded as an audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.states import RecStatus, ScanStatus
from app.db.tables_recs import AuditEvent, Recommendation, ScanRun
from app.db.types import utcnow
from app.services.access import Actor, Permission, require
from app.services.execution_guards import DISRUPTIVE, NODE_DISRUPTING, namespace_refusals, window_refusal
from app.services.execution_worker import node_disruptions_since
from app.services.recommendations import RecView
from app.settings import ExecutorSettings
from engines.actions import ActionSpec

_SPECS: TypeAdapter[ActionSpec] = TypeAdapter(ActionSpec)
BUDGET_WINDOW = timedelta(hours=1)


class RecActionError(ValueError):
    """The recommendation cannot be dismissed as asked (unknown, or not open)."""


@dataclass(frozen=True)
class Check:
    """One guardrail as the confirmation shows it; `blocking` checks stop the apply here."""

    name: str
    passed: bool
    detail: str
    blocking: bool = True


@dataclass(frozen=True)
class ApplyReview:
    plan: list[str]
    checks: list[Check]

    @property
    def can_apply(self) -> bool:
        return all(c.passed for c in self.checks if c.blocking)

    @property
    def refusals(self) -> list[str]:
        return [c.detail for c in self.checks if c.blocking and not c.passed]


def _pods(moves: list[dict[str, Any]]) -> str:
    names = [f"{m.get('namespace')}/{m.get('pod')}" for m in moves]
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"{len(names)} pod(s) ({shown})" if names else "no pods"


def spec_plan(kind: str, spec: dict[str, Any]) -> list[str]:
    """The plan in words from the stored action spec alone (the worker's plan adds live state)."""
    s = spec
    workload = f"{s.get('workload_kind')} {s.get('namespace')}/{s.get('workload_name')}"
    node, instance = s.get("node"), s.get("instance_id") or "its EC2 instance"
    drain = [f"cordon node {node}", "evict its pods through the Eviction API (PDBs respected; DaemonSet and "
             "mirror pods stay)", f"terminate {instance}", f"delete Node {node}"]  # fmt: skip
    if kind == "drain-and-remove-node":
        moves = list(s.get("moves") or [])
        return [drain[0], f"evict {_pods(moves)} through the Eviction API; they restart on the remaining nodes "
                "(PDBs respected; DaemonSet and mirror pods stay)", *drain[2:]]  # fmt: skip
    if kind == "replace-node-type":
        return [f"launch a {s.get('capacity_type', 'on-demand')} {s.get('to_type')} node like {node} (same subnet, "
                "security groups, profile, tags) and wait until it is Ready", *drain]  # fmt: skip
    if kind == "move-to-spot":
        types = ", ".join(s.get("to_types") or []) or "the types in the spec"
        return [f"launch a Spot node from {types} (first with capacity) and wait until it is Ready", *drain]
    if kind == "set-requests-limits":
        parts = [f"{k.replace('_', ' ')} {v}" for k in ("cpu_request", "memory_request", "cpu_limit", "memory_limit")
                 if (v := s.get(k)) is not None]  # fmt: skip
        return [f"set {', '.join(parts) or 'nothing'} on container {s.get('container')} of {workload} (pods roll)"]
    if kind == "scale-replicas":
        return [f"scale {workload} from {s.get('from_replicas')} to {s.get('to_replicas')} replicas"]
    if kind == "schedule-scale" and s.get("uptime"):
        off = [f"off on {s['holidays']} public holidays"] if s.get("holidays") else []
        off += [f"off on {', '.join(s['exception_dates'])}"] if s.get("exception_dates") else []
        return [f"scale {workload} to {s.get('replicas_off', 0)} replicas outside '{s['uptime']}' "
                f"({s.get('timezone', 'UTC')}){''.join(', ' + o for o in off)}; the worker wakes it up to the "
                "stored replicas"]  # fmt: skip
    if kind == "schedule-scale":
        return [f"scale {workload} to {s.get('replicas_off', 0)} replicas at '{s.get('scale_down_cron')}' and back "
                f"at '{s.get('scale_up_cron')}' ({s.get('timezone', 'UTC')})"]  # fmt: skip
    if kind == "stop-instance":
        return [f"stop EC2 instance {s.get('instance_id')} (reversible: it can be started again)"]
    if kind == "terminate-instance":
        return [f"terminate EC2 instance {s.get('instance_id')} (not reversible)"]
    if kind == "snapshot-and-delete-volume":
        return [f"snapshot volume {s.get('volume_id')} and wait until the snapshot completes",
                f"delete volume {s.get('volume_id')} (only after a completed snapshot)"]  # fmt: skip
    if kind == "modify-volume-type":
        return [f"change volume {s.get('volume_id')} from {s.get('from_type')} to {s.get('to_type')}"]
    if kind == "set-traffic-distribution":
        return [f"set trafficDistribution {s.get('value')} on Service {s.get('namespace')}/{s.get('service')}"]
    return [f"{kind} on {spec}"]


def _stale(session: Session, row: Recommendation) -> str | None:
    """Why a later scan makes this recommendation stale: its engine ran again and did not propose it."""
    if row.scan_run_id is None:
        return None
    later = session.exec(
        select(ScanRun).where(ScanRun.cluster_id == row.cluster_id, col(ScanRun.id) > row.scan_run_id,
                              col(ScanRun.status).in_([ScanStatus.SUCCEEDED, ScanStatus.PARTIAL]))
        .order_by(col(ScanRun.id).desc())
    ).all()  # fmt: skip
    for run in later:
        counts = (run.counts or {}).get(row.engine)
        if isinstance(counts, dict) and counts.get("error") is None:
            return (f"stale: scan {run.id} ({run.started_at:%Y-%m-%d %H:%M} UTC) ran {row.engine} again and did "
                    "not propose it; wait for the next scan or apply a current recommendation")  # fmt: skip
    return None


def review_apply(db: Engine, rec: RecView, executor: ExecutorSettings) -> ApplyReview:
    """The plan and the checks for applying `rec` now, in the order the worker makes them."""
    checks: list[Check] = []
    open_ = rec.status is RecStatus.OPEN
    checks.append(Check("status", open_, "the recommendation is open" if open_ else
                        f"it is {rec.status.value}: only open recommendations can be applied"))  # fmt: skip
    with Session(db) as session:
        row = session.exec(select(Recommendation).where(Recommendation.fingerprint == rec.fingerprint)).first()
        stale = "it is no longer stored" if row is None else _stale(session, row)
        cluster_id = row.cluster_id if row is not None else None
    checks.append(Check("fresh", stale is None, stale or "the latest scan of its cluster still proposes it"))
    try:
        spec = _SPECS.validate_python(rec.action_spec)
    except ValidationError as exc:
        checks.append(Check("spec", False, f"the stored action spec is not valid: {exc.error_count()} error(s)"))
    else:
        refusals = namespace_refusals(spec, executor.protected_namespaces)
        protected = ", ".join(executor.protected_namespaces) or "none"
        checks.append(Check("protected namespaces", not refusals, "; ".join(r.message for r in refusals)
                            or f"nothing it changes is in a protected namespace ({protected})"))  # fmt: skip
    if rec.action in NODE_DISRUPTING:
        used = node_disruptions_since(db, cluster_id, rec.cluster or "", NODE_DISRUPTING,
                                      utcnow() - BUDGET_WINDOW).nodes  # fmt: skip
        per_hour = executor.max_nodes_drained_per_hour
        fits = used + 1 <= per_hour
        checks.append(Check("disruption budget", fits, f"{used} of {per_hour} node disruption(s) used on "
                            f"{rec.cluster} in the last hour" + ("" if fits else ": the worker would refuse it now")))  # fmt: skip
    if executor.disruption_window and rec.action in DISRUPTIVE:
        outside = window_refusal(executor, rec.action, utcnow())
        checks.append(Check("disruption window", outside is None, outside.message if outside else
                            f"inside the disruption window {executor.disruption_window} "
                            f"({executor.disruption_window_timezone})"))  # fmt: skip
    dry_cluster = rec.cluster in executor.dry_run_clusters
    checks.append(Check("dry-run setting", True, "CLOUDOPTIM_EXECUTOR__DRY_RUN is on: the worker plans and changes "
                        "nothing" if executor.dry_run else f"cluster {rec.cluster} is in "
                        "CLOUDOPTIM_EXECUTOR__DRY_RUN_CLUSTERS: the worker plans and changes nothing" if dry_cluster
                        else "off: the worker applies the plan", blocking=False))  # fmt: skip
    return ApplyReview(plan=spec_plan(rec.action, rec.action_spec), checks=checks)


def dismiss_recommendation(db: Engine, fingerprint: str, *, reason: str, actor: Actor) -> None:
    """Mark an open recommendation dismissed and record who did it and why (an audit event).

    A dismissed recommendation stays dismissed through later scans (they update it, never reopen it).
    """
    actor = require(actor, Permission.DISMISS)
    reason = reason.strip()
    if not reason:
        raise RecActionError("say why it is dismissed (the reason is kept in the audit log)")
    with session_scope(db) as session:
        rec = session.exec(select(Recommendation).where(Recommendation.fingerprint == fingerprint)).first()
        if rec is None:
            raise RecActionError(f"no recommendation has fingerprint {fingerprint!r}")
        if rec.status != RecStatus.OPEN:
            raise RecActionError(f"it is {rec.status}: only an open recommendation can be dismissed")
        rec.status, rec.updated_at = RecStatus.DISMISSED, utcnow()
        session.add(rec)
        session.add(AuditEvent(actor=actor[:100], action="recommendation dismissed", target=rec.target[:500],
                               details={"fingerprint": fingerprint, "engine": rec.engine, "reason": reason[:2000]}))  # fmt: skip


def snooze_recommendation(db: Engine, fingerprint: str, until: datetime | date | None, *, actor: Actor) -> None:
    """Hide an open recommendation from the open list until `until` (a date means its midnight UTC),
    or show it again now with `until=None` (unsnooze). Scans keep updating it meanwhile; the
    status stays open, so it comes back by itself on that date. Recorded as an audit event."""
    actor = require(actor, Permission.DISMISS)
    if isinstance(until, date) and not isinstance(until, datetime):
        until = datetime.combine(until, time.min, tzinfo=UTC)
    if until is not None and until.tzinfo is None:
        raise RecActionError("the snooze date needs a time zone (UTC)")
    if until is not None and until <= utcnow():
        raise RecActionError(f"snooze until a later date: {until:%Y-%m-%d} has passed")
    with session_scope(db) as session:
        rec = session.exec(select(Recommendation).where(Recommendation.fingerprint == fingerprint)).first()
        if rec is None:
            raise RecActionError(f"no recommendation has fingerprint {fingerprint!r}")
        if rec.status != RecStatus.OPEN:
            raise RecActionError(f"it is {rec.status}: only an open recommendation can be snoozed")
        if until is None and rec.snoozed_until is None:
            raise RecActionError("it is not snoozed")
        rec.snoozed_until, rec.updated_at = until, utcnow()
        session.add(rec)
        what = "recommendation snoozed" if until else "recommendation unsnoozed"
        details: dict[str, Any] = {"fingerprint": fingerprint, "engine": rec.engine}
        if until is not None:
            details["until"] = until.isoformat()
        session.add(AuditEvent(actor=actor[:100], action=what, target=rec.target[:500], details=details))


@dataclass(frozen=True)
class BulkOutcome:
    """What a bulk apply did: (fingerprint, execution id) queued, (fingerprint, reason) refused."""

    queued: list[tuple[str, int | None]]
    refused: list[tuple[str, str]]


def bulk_apply(db: Engine, recs: list[RecView], *, actor: Actor, executor: ExecutorSettings) -> BulkOutcome:
    """Queue an execution for each low-risk recommendation of `recs` whose guardrail checks pass;
    every other one is refused with the reason (a medium or high risk one is applied on its own,
    after its confirmation). Each execution carries the actor as its requester."""
    from app.services.executions import ExecutionError, queue_execution

    require(actor, Permission.APPLY)
    queued: list[tuple[str, int | None]] = []
    refused: list[tuple[str, str]] = []
    for rec in recs:
        if rec.risk != "low":
            refused.append((rec.fingerprint, f"{rec.target}: risk is {rec.risk}; bulk apply takes low-risk rows only "
                            "(apply it on its own after reading its checks)"))  # fmt: skip
            continue
        review = review_apply(db, rec, executor)
        if not review.can_apply:
            refused.append((rec.fingerprint, f"{rec.target}: " + "; ".join(review.refusals)))
            continue
        try:
            result = queue_execution(db, rec.fingerprint, requested_by=actor)
        except ExecutionError as exc:
            refused.append((rec.fingerprint, f"{rec.target}: {exc}"))
            continue
        queued.append((rec.fingerprint, result.execution.id))
    return BulkOutcome(queued, refused)
