"""Crash recovery of one execution a dead worker left running, at the next worker's start-up.

Called by `background.execution_runner.ExecutionRunner.recover` for each of
`execution_worker.interrupted`. The execution always ends `failed` with a reason naming the step
the worker stopped in. One half-done change is undone first: a node action (drain, replace, move
to Spot) whose steps show the node cordoned, with no uncordon and no removal after it, leaves
capacity unschedulable, so the node is uncordoned with `executor.drain.uncordon_node` (the drain's
own undo: a missing node is fine). A node that was already cordoned before the execution (its
pre-image says so, and the drain then records its cordon as skipped) is left as it was. The
uncordon steps are recorded before the execution is failed, so a crash during recovery is
recovered again at the next start. A replacement instance a dead replace/move-to-Spot launched
is named in the reason (a retry adopts it rather than launching another).
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from app.db.states import ExecutionState
from app.services.execution_clients import cluster_row, exec_context
from app.services.execution_guards import NODE_DISRUPTING
from app.services.execution_views import ExecutionView
from app.services.execution_worker import finish, record_step
from app.settings import Settings
from executor.base import StepRecord, StepStatus
from executor.drain import uncordon_node

log = logging.getLogger(__name__)
# Step names (executor.node_actions, executor.node_replace) after which the node is gone.
_REMOVAL_WORDS = ("terminate", "delete node", "delete-node", "remove-node")


def node_left_cordoned(execution: ExecutionView) -> str | None:
    """The node the steps show cordoned and not yet uncordoned or removed, if any."""
    if execution.action_kind not in NODE_DISRUPTING or execution.pre_image.get("unschedulable") is True:
        return None
    node = execution.action.get("node")
    cordoned = False
    for step in execution.steps:
        if step.status != StepStatus.SUCCEEDED:
            continue
        if step.name.startswith("uncordon") or any(w in step.name for w in _REMOVAL_WORDS):
            cordoned = False
        elif step.name.startswith("cordon"):
            cordoned = True
    return str(node) if cordoned and node else None


def recover_one(db: Engine, settings: Settings, execution: ExecutionView) -> ExecutionView:
    """Undo a cordon the dead worker left (see the module docstring), then fail the execution."""
    step = execution.last_step
    where = f"during step {step.name}" if step else "before its first step"
    reason = f"the worker stopped {where}"
    node = node_left_cordoned(execution)
    if node is None:
        reason += "; check the target's current state before applying again"
    else:
        steps: list[StepRecord] = []

        def record(done: StepRecord) -> None:
            steps.append(done)
            record_step(db, execution.id, done)

        try:
            cluster = cluster_row(db, execution.cluster_id, execution.cluster)
            with exec_context(settings, cluster, record=record) as ctx:
                uncordon_node(ctx, node)
            gone = bool(steps) and steps[-1].status == StepStatus.SKIPPED
            reason += f"; node {node} no longer exists" if gone else f"; node {node} was left cordoned and is uncordoned"
        except Exception as exc:
            log.exception("could not uncordon node %s of execution %s", node, execution.id)
            detail = f"{type(exc).__name__}: {exc}"
            if not steps:  # the cluster could not even be reached: say so in the steps too
                record_step(db, execution.id, StepRecord("uncordon", StepStatus.FAILED, detail))
            reason += f"; node {node} may still be cordoned: uncordon it by hand (kubectl uncordon {node}): {detail}"
    launched = [s.detail for s in execution.steps if s.name.startswith("RunInstances") and s.status == StepStatus.SUCCEEDED]
    if launched and not any(s.name.startswith("terminate") for s in execution.steps):
        # executor.node_launch adopts an instance an earlier attempt launched: a retry costs nothing.
        reason += f"; a replacement was launched ({', '.join(launched)}): applying again adopts it"
    log.warning("execution %s: %s", execution.id, reason)
    return finish(db, execution.id, ExecutionState.FAILED, reason=reason)
