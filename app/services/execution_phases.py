"""The phases of one execution (validate, plan, apply, verify, rollback), each recorded as steps.

Used by the worker's execution runner (`background.execution_runner`), which decides what follows
each phase; this module only calls the action of `executor.registry` and records what happened.
A phase records `started` and then `succeeded` or `failed` (with the exception text); the steps
an action reports itself during apply land in between. `current` names the step in progress, for
the reason of an execution that failed or was interrupted there. A step the database refuses to
store is kept and stored with the next one: the apply goes on rather than stop halfway.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from app.services.execution_views import ExecutionView
from app.services.execution_worker import record_step, save_plan
from executor.base import Action, ExecContext, Plan, Refusal, StepRecord, StepStatus
from executor.registry import action_for

log = logging.getLogger(__name__)


class Parked(Exception):
    """The worker is stopping and nothing has been changed yet: the message says it is safe to retry."""


def plan_from(doc: dict[str, Any]) -> Plan:
    """A stored plan (`dataclasses.asdict` of a Plan) back as a Plan; unknown keys are ignored."""
    known = {f.name for f in dataclasses.fields(Plan)}
    values = {k: v for k, v in doc.items() if k in known}
    return Plan(**{"summary": "", **values})


class Phases:
    def __init__(self, db: Engine, execution: ExecutionView, *, stopping: Callable[[], bool]) -> None:
        self.db = db
        self.execution = execution
        self.stopping = stopping
        self.current = "claim"
        self.stopped_at: str | None = None  # the step in progress when the worker began to stop
        self._pending: list[StepRecord] = []

    # -- recording ------------------------------------------------------------------------------

    def record(self, step: StepRecord) -> None:
        """ExecContext.record: store the step (and any the database refused before)."""
        self.current = step.name
        self._pending.append(step)
        try:
            while self._pending:
                record_step(self.db, self.execution.id, self._pending[0])
                self._pending.pop(0)
        except Exception:
            log.warning("could not store step %s of execution %s yet", step.name, self.execution.id, exc_info=True)

    def _step(self, name: str, status: str, detail: str = "", **response: Any) -> None:
        self.record(StepRecord(name=name, status=status, detail=detail, response=response))

    @contextmanager
    def _phase(self, name: str) -> Iterator[None]:
        self._step(name, StepStatus.STARTED)
        try:
            yield
        except Exception as exc:
            self._step(name, StepStatus.FAILED, f"{type(exc).__name__}: {exc}")
            self.current = name
            raise

    # -- phases ---------------------------------------------------------------------------------

    def action(self, spec: BaseModel) -> Action[Any]:
        return action_for(str(getattr(spec, "kind", self.execution.action_kind)))

    def validate(self, ctx: ExecContext, spec: BaseModel) -> list[Refusal]:
        with self._phase("validate"):
            refusals = self.action(spec).validate(ctx, spec)
        if refusals:
            self._step("validate", StepStatus.FAILED, "; ".join(r.message for r in refusals),
                       refusals=[{"code": r.code, "message": r.message} for r in refusals])  # fmt: skip
        else:
            self._step("validate", StepStatus.SUCCEEDED, "the live state still matches the recommendation")
        return refusals

    def plan(self, ctx: ExecContext, spec: BaseModel) -> Plan:
        with self._phase("plan"):
            plan = self.action(spec).plan(ctx, spec)
            save_plan(self.db, self.execution.id, dataclasses.asdict(plan), plan.pre_image)
        self._step("plan", StepStatus.SUCCEEDED, plan.summary, steps=plan.steps, reversible=plan.reversible,
                   disrupts_nodes=plan.disrupts_nodes)  # fmt: skip
        return plan

    def apply(self, ctx: ExecContext, spec: BaseModel, plan: Plan) -> dict[str, Any]:
        if self.stopping():
            raise Parked("the worker stopped before applying; nothing was changed, safe to retry")
        with self._phase("apply"):
            result = self.action(spec).apply(ctx, spec, plan)
        self._step("apply", StepStatus.SUCCEEDED, "", **{"result": result})
        return result

    def verify(self, ctx: ExecContext, spec: BaseModel, plan: Plan) -> list[str]:
        with self._phase("verify"):
            problems = self.action(spec).verify(ctx, spec, plan)
        status = StepStatus.FAILED if problems else StepStatus.SUCCEEDED
        self._step("verify", status, "; ".join(problems) or "the cluster looks as planned")
        return problems

    def rollback_spec(self, original: ExecutionView) -> BaseModel | None:
        """The spec undoing `original` (from its action and stored plan), or None: direct rollback."""
        spec = action_for(original.action_kind).rollback_spec(plan_from(original.plan))
        return spec if isinstance(spec, BaseModel) else None

    def direct_rollback(self, ctx: ExecContext, original: ExecutionView, *, dry_run: bool) -> dict[str, Any]:
        """Restore the pre-image of `original` with the action's own `rollback`."""
        plan = plan_from(original.plan)
        if dry_run:
            self._step("rollback", StepStatus.SKIPPED, "dry run: nothing rolled back", pre_image=plan.pre_image)
            return {"dry_run": True, "message": "dry run: nothing rolled back"}
        if self.stopping():
            raise Parked("the worker stopped before rolling back; nothing was changed, safe to retry")
        with self._phase("rollback"):
            result = action_for(original.action_kind).rollback(ctx, plan)
        self._step("rollback", StepStatus.SUCCEEDED, f"restored the pre-image of execution {original.id}",
                   result=result)  # fmt: skip
        return result
