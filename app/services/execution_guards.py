"""Guardrails from `Settings.executor` the worker checks before it lets an action change anything.

Called by `background.execution_runner`: `namespace_refusals` before the action's own validate
(no live state needed), `budget_refusal` after the plan (it knows how many nodes it disrupts).
Both return `Refusal` values, so a refused execution says which namespace, pod or budget stopped it.
The action's validate adds what only live state can tell (a stale target, a PDB, an opt-out).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Engine

from app.services.execution_views import ExecutionView
from app.services.execution_worker import node_disruptions_since, nodes_of
from app.settings import ExecutorSettings
from engines.windows import parse_window
from executor.base import Plan, Refusal
from executor.k8s_util import plural

# Action kinds that cordon and drain a node (its pods restart elsewhere): the disruption budget.
NODE_DISRUPTING = frozenset({"drain-and-remove-node", "replace-node-type", "move-to-spot"})
BUDGET_WINDOW = timedelta(hours=1)


def namespace_refusals(spec: BaseModel, protected: Collection[str]) -> list[Refusal]:
    """The spec's namespace, or a pod it plans to move, in a protected namespace."""
    protected = set(protected)
    refusals = []
    namespace = getattr(spec, "namespace", None)
    if isinstance(namespace, str) and namespace in protected:
        refusals.append(Refusal("protected-namespace", f"namespace {namespace} is protected "
                                "(CLOUDOPTIM_EXECUTOR__PROTECTED_NAMESPACES or Settings and users → Guardrails); nothing there is changed"))  # fmt: skip
    for move in getattr(spec, "moves", ()) or ():
        if move.namespace in protected:
            refusals.append(Refusal("protected-namespace", f"pod {move.namespace}/{move.pod} would be evicted and "
                                    f"namespace {move.namespace} is protected (CLOUDOPTIM_EXECUTOR__PROTECTED_NAMESPACES or Settings and users → Guardrails)"))  # fmt: skip
    return refusals


def budget_refusal(db: Engine, execution: ExecutionView, plan: Plan, per_hour: int, now: datetime) -> Refusal | None:
    """Refuse when the nodes this plan disrupts, added to those disrupted in the last hour, exceed `per_hour`.

    The budget counts nodes, not executions: a plan that drains three nodes uses three. Past
    disruptions come from the executions table (running, succeeded, failed or rolled back, not dry
    runs), so the budget survives a worker restart.
    """
    nodes = nodes_of(execution.action_kind, {"disrupts_nodes": plan.disrupts_nodes}, NODE_DISRUPTING)
    if nodes == 0:
        return None
    used = node_disruptions_since(db, execution.cluster_id, execution.cluster, NODE_DISRUPTING, now - BUDGET_WINDOW,
                                  exclude_id=execution.id)  # fmt: skip
    if used.nodes + nodes <= per_hour:
        return None
    by = f" by {plural(used.executions, 'execution')}" if used.executions else ""
    return Refusal("disruption-budget", f"cluster {execution.cluster} had {plural(used.nodes, 'node')} disrupted in "
                   f"the last hour{by} and this plan would disrupt {nodes} more ({used.nodes + nodes} in all); the "
                   f"budget is {plural(per_hour, 'node')} per hour (CLOUDOPTIM_EXECUTOR__MAX_NODES_DRAINED_PER_HOUR or Settings and users → Guardrails): "
                   "try again later")  # fmt: skip


# Actions that take capacity away while they run: what a maintenance window is for.
DISRUPTIVE = NODE_DISRUPTING | {"stop-instance", "terminate-instance"}


def window_refusal(settings: ExecutorSettings, action_kind: str, now: datetime) -> Refusal | None:
    """A refusal when a disruptive action is applied outside `CLOUDOPTIM_EXECUTOR__DISRUPTION_WINDOW`."""
    if not settings.disruption_window or action_kind not in DISRUPTIVE:
        return None
    window = parse_window(settings.disruption_window, settings.disruption_window_timezone)
    if window.contains(now):
        return None
    opens = window.next_opening(now)
    return Refusal("disruption-window", f"{action_kind} runs only inside the disruption window {window.describe()} "
                   f"(CLOUDOPTIM_EXECUTOR__DISRUPTION_WINDOW or Settings and users → Guardrails); it next opens {opens:%a %Y-%m-%d %H:%M}: "
                   "apply it again then")  # fmt: skip


def dry_run_reason(settings: ExecutorSettings, execution: ExecutionView) -> str | None:
    """Why this execution only plans (its own flag, the global switch or its cluster), or None."""
    if settings.dry_run:
        return "dry run is on (CLOUDOPTIM_EXECUTOR__DRY_RUN or Settings and users → Guardrails)"
    if execution.cluster in settings.dry_run_clusters:
        return f"cluster {execution.cluster} is in CLOUDOPTIM_EXECUTOR__DRY_RUN_CLUSTERS (or Settings and users → Guardrails)"
    if execution.dry_run:
        return "it was queued as a dry run"
    return None
