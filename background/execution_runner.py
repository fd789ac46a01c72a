"""The worker's execution thread: applies approved recommendations one at a time, step by step.

Polls the database every second (an execution is picked up within two), claims the oldest queued
execution and runs its action from `executor.registry`: guardrails, then validate (refusals end
it `refused`, nothing changed), plan (stored with the pre-image), the disruption budget, then,
unless it is a dry run (the execution's own flag or CLOUDOPTIM_EXECUTOR__DRY_RUN), apply with
every step recorded and audited, and verify. Any exception fails that execution with a reason
naming the phase; the thread itself never dies. A rollback execution runs the action's
`rollback_spec` through the same phases, or its direct `rollback` when no spec can say it.

Start-up (`recover`, before the thread starts): executions a dead worker left running are failed
with "the worker stopped during step X"; for node actions whose steps show a cordon that neither
an uncordon nor a removal followed, the node is uncordoned first (and that is recorded as a step),
so a crash never leaves capacity cordoned. SIGTERM (`request_stop`): an action waiting in a loop
sees `should_stop` and parks; the execution fails with "the worker stopped during step X; safe to
retry". A step that never returns is left running and the next start recovers it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine

from app.db.states import ExecutionKind, ExecutionState
from app.db.types import utcnow
from app.services import execution_guards as guards
from app.services import executions as svc
from app.services.app_config import load_guardrails
from app.services.execution_clients import cluster_row, exec_context
from app.services.execution_phases import Parked, Phases
from app.services.execution_recovery import recover_one
from app.settings import Settings
from background.logs import log_context
from engines.actions import ActionSpec
from executor.base import ExecContext, ExecutorError
from executor.opt_out import opt_out_refusals

log = logging.getLogger(__name__)
SPECS: TypeAdapter[ActionSpec] = TypeAdapter(ActionSpec)
HEARTBEAT_EVERY_S = 10.0


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


class ExecutionRunner:
    def __init__(self, settings: Settings, db: Engine, *, owner: str | None = None, poll_interval_s: float = 1.0) -> None:
        self.settings = settings
        self.db = db
        self.owner = owner or worker_id()
        self.poll_interval_s = poll_interval_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="executions", daemon=True)
        self._unfinished: dict[int, dict[str, Any]] = {}  # finish() calls the database refused

    # -- lifecycle ------------------------------------------------------------------------------

    def recover(self) -> list[svc.ExecutionView]:
        """Fail the executions a dead worker left running (uncordoning what it left cordoned)."""
        done = []
        for execution in svc.interrupted(self.db, self.owner):
            try:
                done.append(recover_one(self.db, self.settings, execution))
            except Exception:  # the next start tries again; this one must not stop the worker
                log.exception("could not recover execution %s", execution.id)
        return done

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        """Stop claiming; an action in a long wait parks at its next `should_stop` check."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float) -> bool:
        """Stop and wait up to `timeout` for the current step; True when the thread has ended."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._retry_unfinished()
                self.run_pending()
            except Exception:  # e.g. the database is briefly unreachable: log, wait, try again
                log.exception("execution loop error; retrying in %.0f s", self.poll_interval_s)
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
        try:
            self._retry_unfinished()  # an ending known but not stored: one last try before exiting
        except Exception:
            log.warning("the end of execution(s) %s is not stored; the next start fails them",
                        ", ".join(map(str, self._unfinished)), exc_info=True)  # fmt: skip

    def run_pending(self) -> list[svc.ExecutionView]:
        """Claim and run queued executions, oldest first, until none is left or the worker stops."""
        done = []
        while not self._stop.is_set():
            execution = svc.claim_next(self.db, self.owner)
            if execution is None:
                break
            done.append(self.run_one(execution))
        return done

    # -- one execution --------------------------------------------------------------------------

    def run_one(self, execution: svc.ExecutionView) -> svc.ExecutionView:
        """Run a claimed execution to its end; never raises (a failure is the execution's state)."""
        # Every line logged while it runs (ours, the executor's, the clients') names it and its cluster.
        with log_context(execution_id=execution.id, cluster_id=execution.cluster_id, cluster=execution.cluster):
            log.info("execution %s started: %s on %s", execution.id, execution.action_kind, execution.target)
            done = self._run_one(execution)
            log.info("execution %s ended %s%s", execution.id, done.state, f": {done.reason}" if done.reason else "")
            return done

    def _run_one(self, execution: svc.ExecutionView) -> svc.ExecutionView:
        phases = Phases(self.db, execution, stopping=self._stop.is_set)
        phases.current = "connect"
        try:
            cluster = cluster_row(self.db, execution.cluster_id, execution.cluster)
            with exec_context(self.settings, cluster, record=phases.record,
                              should_stop=self._should_stop(execution.id, phases)) as ctx:  # fmt: skip
                return self._run(ctx, execution, phases)
        except Parked as parked:
            return self._finish(execution, ExecutionState.FAILED, reason=str(parked))
        except Exception as exc:
            if isinstance(exc, ExecutorError):  # an expected failure the action described: no traceback
                log.warning("execution %s failed: %s", execution.id, exc)
            else:
                log.exception("execution %s failed", execution.id)
            if self._stop.is_set():
                reason = f"the worker stopped during step {phases.stopped_at or phases.current}; safe to retry ({exc})"
            else:
                reason = f"{phases.current} failed: {exc}"
            return self._finish(execution, ExecutionState.FAILED, reason=reason, error=f"{type(exc).__name__}: {exc}")

    def _run(self, ctx: ExecContext, execution: svc.ExecutionView, phases: Phases) -> svc.ExecutionView:
        if execution.kind is ExecutionKind.ROLLBACK:
            original = svc.get_execution(self.db, execution.rollback_of or -1)
            if original is None:
                raise LookupError(f"the execution to roll back ({execution.rollback_of}) no longer exists")
            spec = phases.rollback_spec(original)
            if spec is None:  # no spec can say this undo: the action restores the pre-image itself
                result = phases.direct_rollback(ctx, original, dry_run=self._dry_run(execution))
                return self._finish(execution, ExecutionState.SUCCEEDED, result=result,
                                    dry_run=self._dry_run(execution))  # fmt: skip
        else:
            phases.current = "read the action spec"
            spec = SPECS.validate_python(execution.action)
        return self._apply(ctx, execution, spec, phases)

    def _apply(self, ctx: ExecContext, execution: svc.ExecutionView, spec: BaseModel, phases: Phases) -> svc.ExecutionView:
        # The environment's guardrails with the admin's stored ones on top, read per execution.
        g = load_guardrails(self.db, self.settings)
        refusals = guards.namespace_refusals(spec, g.protected_namespaces)
        # Outside the window nothing may disrupt; a dry run changes nothing, so it still shows its plan.
        outside = guards.window_refusal(g, execution.action_kind, utcnow())
        if outside is not None and not self._dry_run(execution):
            refusals.append(outside)
        refusals += phases.validate(ctx, spec)
        refusals += opt_out_refusals(ctx, spec, g.opt_out_marks)  # a mark set after the scan wins over the recommendation
        if refusals:
            return self._refuse(execution, refusals)
        plan = phases.plan(ctx, spec)
        budget = guards.budget_refusal(self.db, execution, plan, g.max_nodes_drained_per_hour,
                                       utcnow())  # fmt: skip
        if budget is not None:
            return self._refuse(execution, [budget])
        if self._dry_run(execution):
            reason = guards.dry_run_reason(g, execution)
            why = f" ({reason})" if reason and not reason.startswith("it was") else ""
            return self._finish(execution, ExecutionState.SUCCEEDED, dry_run=True,
                                result={"dry_run": True, "message": f"dry run: nothing applied{why}",
                                        "plan": plan.summary})  # fmt: skip
        result = phases.apply(ctx, spec, plan)
        problems = phases.verify(ctx, spec, plan)
        if problems:
            return self._finish(execution, ExecutionState.FAILED, result=result,
                                reason="applied, but verify found: " + "; ".join(problems))  # fmt: skip
        return self._finish(execution, ExecutionState.SUCCEEDED, result=result)

    def _dry_run(self, execution: svc.ExecutionView) -> bool:
        return guards.dry_run_reason(load_guardrails(self.db, self.settings), execution) is not None

    def _refuse(self, execution: svc.ExecutionView, refusals: list[Any]) -> svc.ExecutionView:
        return self._finish(execution, ExecutionState.REFUSED, reason="; ".join(r.message for r in refusals),
                            result={"refusals": [{"code": r.code, "message": r.message} for r in refusals]})  # fmt: skip

    def _should_stop(self, execution_id: int, phases: Phases) -> Callable[[], bool]:
        last = [time.monotonic()]

        def should_stop() -> bool:
            # Long waits call this every poll: a cheap place for the heartbeat the pages show.
            if time.monotonic() - last[0] > HEARTBEAT_EVERY_S:
                last[0] = time.monotonic()
                try:
                    svc.heartbeat(self.db, execution_id)
                except Exception:
                    log.warning("heartbeat of execution %s failed", execution_id, exc_info=True)
            if self._stop.is_set() and phases.stopped_at is None:
                phases.stopped_at = phases.current  # before the action's undo steps follow
            return self._stop.is_set()

        return should_stop

    def _finish(self, execution: svc.ExecutionView, state: ExecutionState, **kwargs: Any) -> svc.ExecutionView:
        try:
            return svc.finish(self.db, execution.id, state, **kwargs)
        except Exception:
            # The outcome is known but not stored: keep it and store it at the next poll, so the
            # execution never stays `running` under a live worker.
            log.exception("could not store the end of execution %s; retrying", execution.id)
            self._unfinished[execution.id] = {"state": state, **kwargs}
            return replace(execution, state=state, reason=kwargs.get("reason"))

    def _retry_unfinished(self) -> None:
        for execution_id, kwargs in list(self._unfinished.items()):
            svc.finish(self.db, execution_id, **kwargs)
            del self._unfinished[execution_id]
