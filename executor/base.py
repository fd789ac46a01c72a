"""The executor's contract: an action per action spec, with declared permissions and four steps.

Every action in `executor.registry` implements `validate` (refusals as values, before anything
changes), `plan` (a readable diff plus the pre-image needed to roll back), `apply` (step by step,
each step reported through `ExecContext.record`) and `verify` (the world now looks as planned).
Actions receive ready clients in an `ExecContext` and never touch the database: the execution
service (app.services) owns the state machine, the audit rows and the crash recovery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from engines.actions import ActionSpec


class ExecutorError(Exception):
    """A step failed; `permanent` errors are not retried (404 of the target, a refusal, bad input)."""

    permanent: ClassVar[bool] = False


class TemporaryError(ExecutorError):
    """Throttling, a 409 conflict, a 429 from a PDB, a network blip: retry inside the deadline."""


class PermanentError(ExecutorError):
    permanent = True


@dataclass(frozen=True)
class K8sRule:
    """One RBAC rule an action needs: verbs on resources of an API group (\"\" = core)."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class Permissions:
    """What an action may call: IAM actions (`ec2:TerminateInstances`) and Kubernetes rules."""

    iam: tuple[str, ...] = ()
    k8s: tuple[K8sRule, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """Why an action must not run now, naming the exact object (a stale target, a guardrail)."""

    code: str
    message: str


@dataclass
class Plan:
    """What apply will do, in words an analyst reads, and the state needed to undo it."""

    summary: str
    steps: list[str] = field(default_factory=list)
    pre_image: dict[str, Any] = field(default_factory=dict)
    reversible: bool = False
    disrupts_nodes: int = 0


class StepStatus(StrEnum):
    """The status of one step record; a StrEnum so `StepRecord.status` stays a plain str."""

    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    RETRYING = "retrying"  # refused for now (a PDB's 429, a 409): tried again inside the deadline


@dataclass(frozen=True)
class StepRecord:
    name: str
    status: str  # a StepStatus value
    detail: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExecContext:
    """Clients and callbacks one execution uses; built by the worker for a cluster and region.

    `core` / `apps` are kubernetes.client CoreV1Api / AppsV1Api (Any: the client is untyped),
    `ec2` a boto3 EC2 client. `record` receives every step; `should_stop` lets the worker park
    a long wait at shutdown. `sleep` and `monotonic` are injectable so waits stay testable.
    """

    cluster: str
    region: str
    core: Any = None
    apps: Any = None
    policy: Any = None  # kubernetes.client.PolicyV1Api, for PodDisruptionBudgets
    ec2: Any = None
    record: Callable[[StepRecord], None] = lambda _step: None
    should_stop: Callable[[], bool] = lambda: False
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    drain_timeout_s: float = 110.0
    poll_interval_s: float = 1.0
    aws_wait_timeout_s: float = 0.0  # 0: the action's own default (executor.aws_calls.AWS_WAIT_TIMEOUT_S)
    node_join_timeout_s: float = 0.0  # 0: executor.node_replace.NODE_JOIN_TIMEOUT_S

    def step(self, name: str, status: str, detail: str = "", **response: Any) -> None:
        self.record(StepRecord(name=name, status=status, detail=detail, response=response))


SpecT = TypeVar("SpecT", bound=BaseModel)


class Action(Generic[SpecT]):
    """Base class: subclasses set `kind`, `spec_type`, `permissions` and implement the four steps."""

    kind: ClassVar[str]
    spec_type: ClassVar[type[BaseModel]]
    permissions: ClassVar[Permissions] = Permissions()

    def validate(self, ctx: ExecContext, spec: SpecT) -> list[Refusal]:
        """Re-read live state; a non-empty list means the action must not run."""
        return []

    def plan(self, ctx: ExecContext, spec: SpecT) -> Plan:
        raise NotImplementedError

    def apply(self, ctx: ExecContext, spec: SpecT, plan: Plan) -> dict[str, Any]:
        """Change the world step by step; return a summary of the result; raise ExecutorError."""
        raise NotImplementedError

    def verify(self, ctx: ExecContext, spec: SpecT, plan: Plan) -> list[str]:
        """Problems found after apply (empty = the world looks as planned)."""
        return []

    def rollback_spec(self, plan: Plan) -> ActionSpec | None:
        """The spec that restores the pre-image, for reversible actions; None otherwise."""
        return None

    def rollback(self, ctx: ExecContext, plan: Plan) -> dict[str, Any]:
        """Restore `plan.pre_image` directly, byte for byte, for undos no action spec can say
        (remove annotations, unset a field that was absent). Default: not supported."""
        raise PermanentError(f"{self.kind} has no direct rollback; use rollback_spec")
