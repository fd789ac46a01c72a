"""Drain a node the way Karpenter does: cordon, evict through the Eviction API, wait, or give it back.

`drain_node` cordons the node, then evicts every pod on it but DaemonSet, mirror and finished
pods (ordinary pods first, system-critical ones once those are gone). A 429 means a
PodDisruptionBudget allows no disruption right now: that pod is retried with backoff until the
deadline while the others proceed. A 404 means the pod is already gone. Each evicted pod is
waited for until it disappears (by uid: a StatefulSet recreates the same name at once). On any
failure, the deadline or a stopping worker, the node is uncordoned (only if we cordoned it) and
an executor error names the pod that blocked and why. `drain_feasibility` (executor.drain_plan)
answers beforehand whether a drain fits a time budget. Called by executor.node_actions and
executor.node_replace; every step is recorded through `ExecContext.step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kubernetes.client import V1DeleteOptions, V1Eviction, V1ObjectMeta, V1Preconditions
from kubernetes.client.exceptions import ApiException

from executor import k8s_util as k
from executor.base import ExecContext, ExecutorError, PermanentError, StepStatus, TemporaryError
from executor.drain_plan import DrainFeasibility, drain_feasibility, pdb_reason, pods_on

__all__ = [
    "DrainFeasibility", "DrainResult", "DrainTimeout", "EvictedPod", "EvictionOutcome", "SkippedPod",
    "cordon_node", "drain_feasibility", "drain_node", "uncordon_node",
]

MAX_BACKOFF_FACTOR = 8  # a pod refused by its PDB is retried at most every 8 poll intervals


class EvictionOutcome(StrEnum):
    EVICTED = "evicted"  # the Eviction API accepted it and the pod is gone
    ALREADY_GONE = "already gone"  # 404 (or a uid precondition 409): nothing left to evict
    TERMINATING = "terminating"  # it was already being deleted; we only waited


@dataclass(frozen=True)
class EvictedPod:
    namespace: str
    name: str
    outcome: EvictionOutcome
    attempts: int  # eviction calls, 429s included
    waited_s: float  # from the accepted eviction until the pod was gone
    controller: dict[str, str] | None = None  # kind, name, uid of the pod's controller


@dataclass(frozen=True)
class SkippedPod:
    namespace: str
    name: str
    reason: str  # "DaemonSet pod", "mirror pod", "finished"


@dataclass(frozen=True)
class DrainResult:
    node: str
    was_cordoned: bool  # the node was unschedulable before the drain (then it is never uncordoned)
    evicted: tuple[EvictedPod, ...]
    skipped: tuple[SkippedPod, ...]
    elapsed_s: float


class DrainTimeout(TemporaryError):
    """The deadline passed with a pod still on the node; `pod` and `reason` say which and why."""

    def __init__(self, message: str, *, pod: str, reason: str) -> None:
        super().__init__(message)
        self.pod, self.reason = pod, reason


def cordon_node(ctx: ExecContext, node_name: str) -> bool:
    """Mark the node unschedulable; returns whether it already was. A missing node is permanent."""
    try:
        node = k.call_json(ctx.core.read_node, node_name)
    except ApiException as exc:
        if k.status_of(exc) == 404:
            raise PermanentError(f"node {node_name} not found") from exc
        raise k.api_error(f"read node {node_name}", exc) from exc
    if k.spec(node).get("unschedulable"):
        ctx.step("cordon", StepStatus.SKIPPED, f"node {node_name} was already cordoned")
        return True
    try:
        k.call_json(ctx.core.patch_node, node_name, {"spec": {"unschedulable": True}})
    except ApiException as exc:
        raise k.api_error(f"cordon node {node_name}", exc) from exc
    ctx.step("cordon", StepStatus.SUCCEEDED, f"node {node_name} marked unschedulable")
    return False


def uncordon_node(ctx: ExecContext, node_name: str) -> None:
    """Make the node schedulable again (null, as kubectl uncordon sends); a missing node is fine."""
    try:
        k.call_json(ctx.core.patch_node, node_name, {"spec": {"unschedulable": None}})
    except ApiException as exc:
        if k.status_of(exc) == 404:
            ctx.step("uncordon", StepStatus.SKIPPED, f"node {node_name} is gone")
            return
        ctx.step("uncordon", StepStatus.FAILED, k.message_of(exc), code=k.status_of(exc))
        raise k.api_error(f"uncordon node {node_name}", exc) from exc
    ctx.step("uncordon", StepStatus.SUCCEEDED, f"node {node_name} schedulable again")


def drain_node(ctx: ExecContext, node_name: str, *, deadline: float | None = None) -> DrainResult:
    """Drain `node_name`; `deadline` is a `ctx.monotonic()` time (default: now + drain_timeout_s)."""
    started = ctx.monotonic()
    deadline = started + ctx.drain_timeout_s if deadline is None else deadline
    was_cordoned = cordon_node(ctx, node_name)
    drainer = _Drainer(ctx, node_name, started, deadline)
    try:
        drainer.run()
    except Exception as exc:
        error = exc if isinstance(exc, ExecutorError) else TemporaryError(f"drain of node {node_name}: {exc}")
        if not was_cordoned:  # a node someone else cordoned stays as they left it
            try:
                uncordon_node(ctx, node_name)
                error.args = (f"{error}; node {node_name} uncordoned",)
            except ExecutorError as undo:
                error.args = (f"{error}; and the node could not be uncordoned: {undo}",)
        if error is exc:
            raise
        raise error from exc
    return DrainResult(node_name, was_cordoned, tuple(drainer.done), tuple(drainer.skipped.values()),
                       ctx.monotonic() - started)


@dataclass
class _Waiting:
    pod: k.Obj
    since: float
    attempts: int
    outcome: EvictionOutcome


@dataclass
class _Drainer:
    ctx: ExecContext
    node: str
    started: float
    deadline: float
    done: list[EvictedPod] = field(default_factory=list)
    skipped: dict[str, SkippedPod] = field(default_factory=dict)
    waiting: dict[str, _Waiting] = field(default_factory=dict)  # by uid: evicted, not gone yet
    attempts: dict[str, int] = field(default_factory=dict)
    next_try: dict[str, float] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)  # uid -> why the last eviction was refused

    def run(self) -> None:
        while True:
            pods = pods_on(self.ctx, self.node)
            self._collect_gone({str(k.meta(p).get("uid")) for p in pods})
            todo = self._classify(pods)
            if not todo and not self.waiting:
                return
            now = self.ctx.monotonic()
            if self.ctx.should_stop():
                raise TemporaryError(f"drain of node {self.node} stopped: the worker is shutting down")
            if now >= self.deadline:
                raise self._timeout(todo)
            # Karpenter's order: critical pods (DNS, CNI helpers) leave only after the others.
            ordinary = [p for p in todo if not k.is_critical(p)]
            waiting_ordinary = any(not k.is_critical(w.pod) for w in self.waiting.values())
            group = ordinary if ordinary or waiting_ordinary else todo
            due = [p for p in group if self.next_try.get(str(k.meta(p)["uid"]), now) <= now]
            progressed = sum(self._evict(p, now) for p in due)
            if not progressed:
                upcoming = [t for t in self.next_try.values() if t > now]
                pause = min([self.ctx.poll_interval_s, *(t - now for t in upcoming)])
                self.ctx.sleep(max(0.0, min(pause, self.deadline - now)))

    def _classify(self, pods: list[k.Obj]) -> list[k.Obj]:
        todo = []
        for pod in pods:
            m, uid = k.meta(pod), str(k.meta(pod).get("uid"))
            reason = k.skip_reason(pod)
            if reason:
                self.skipped[k.key_of(pod)] = SkippedPod(str(m.get("namespace")), str(m.get("name")), reason)
            elif uid in self.waiting:
                continue
            elif k.is_terminating(pod):  # someone else deletes it: wait, do not evict
                self.waiting[uid] = _Waiting(pod, self.ctx.monotonic(), 0, EvictionOutcome.TERMINATING)
            else:
                todo.append(pod)
        return todo

    def _collect_gone(self, present: set[str]) -> None:
        for uid, item in list(self.waiting.items()):
            if uid in present:
                continue
            del self.waiting[uid]
            waited = self.ctx.monotonic() - item.since
            self._finish(item.pod, item.outcome, item.attempts, waited)
            self.ctx.step(f"wait {k.key_of(item.pod)}", StepStatus.SUCCEEDED, f"gone {waited:.1f} s after eviction")

    def _finish(self, pod: k.Obj, outcome: EvictionOutcome, attempts: int, waited: float) -> None:
        m, owner = k.meta(pod), k.controller_of(pod)
        controller = {key: str(owner.get(key)) for key in ("kind", "name", "uid")} if owner else None
        self.done.append(EvictedPod(str(m.get("namespace")), str(m.get("name")), outcome, attempts,
                                    round(waited, 3), controller))

    def _evict(self, pod: k.Obj, now: float) -> bool:
        """One eviction call; True when the pod is evicted or already gone."""
        m = k.meta(pod)
        ns, name, uid, key = str(m["namespace"]), str(m["name"]), str(m["uid"]), k.key_of(pod)
        attempts = self.attempts[uid] = self.attempts.get(uid, 0) + 1
        # The uid precondition: never evict a same-named successor (a StatefulSet's db-0).
        body = V1Eviction(metadata=V1ObjectMeta(name=name, namespace=ns),
                          delete_options=V1DeleteOptions(preconditions=V1Preconditions(uid=uid)))
        try:
            resp = k.call_json(self.ctx.core.create_namespaced_pod_eviction, name, ns, body)
        except ApiException as exc:
            return self._refused(pod, exc, attempts, now)
        self.ctx.step(f"evict {key}", StepStatus.SUCCEEDED, f"eviction accepted after {k.plural(attempts, 'attempt')}",
                      code=resp.get("code", 201), api_status=resp.get("status", "Success"), attempts=attempts)
        self.waiting[uid] = _Waiting(pod, self.ctx.monotonic(), attempts, EvictionOutcome.EVICTED)
        return True

    def _refused(self, pod: k.Obj, exc: ApiException, attempts: int, now: float) -> bool:
        uid, key, code = str(k.meta(pod)["uid"]), k.key_of(pod), k.status_of(exc)
        if code in (404, 409):  # 409 here = the uid precondition failed: our pod is gone
            self.ctx.step(f"evict {key}", StepStatus.SUCCEEDED, f"{code}: already gone", code=code)
            self._finish(pod, EvictionOutcome.ALREADY_GONE, attempts, 0.0)
            return True
        if code == 429:
            reason = pdb_reason(self.ctx, pod, k.message_of(exc))
            if self.blocked.get(uid) != reason:  # one record per distinct refusal, not per retry
                self.ctx.step(f"evict {key}", StepStatus.RETRYING, reason, code=429, attempts=attempts)
            self.blocked[uid] = reason
            factor = min(2 ** (attempts - 1), MAX_BACKOFF_FACTOR)
            self.next_try[uid] = now + self.ctx.poll_interval_s * factor
            return False
        self.ctx.step(f"evict {key}", StepStatus.FAILED, k.message_of(exc), code=code)
        if code == 500 and "more than one" in k.message_of(exc).lower():
            raise PermanentError(f"pod {key}: {k.message_of(exc)} (500); the API cannot evict it until one goes")
        raise k.api_error(f"evict pod {key}", exc) from exc

    def _timeout(self, todo: list[k.Obj]) -> DrainTimeout:
        budget = f"the deadline of {self.deadline - self.started:.0f} s"
        # A pod its PDB refused explains more than one that waits for its turn (critical pods).
        for pod in sorted(todo, key=lambda p: str(k.meta(p)["uid"]) not in self.blocked):
            uid, key = str(k.meta(pod)["uid"]), k.key_of(pod)
            reason = self.blocked.get(uid, "not evicted yet")
            self.ctx.step(f"evict {key}", StepStatus.FAILED, f"{reason} until {budget}")
            return DrainTimeout(f"pod {key}: {reason} until {budget}", pod=key, reason=reason)
        item = next(iter(self.waiting.values()))
        key, grace = k.key_of(item.pod), k.grace_s(item.pod)
        reason = (f"still terminating {self.ctx.monotonic() - item.since:.0f} s after its eviction "
                  f"(terminationGracePeriodSeconds {grace})")
        self.ctx.step(f"wait {key}", StepStatus.FAILED, f"{reason} at {budget}")
        return DrainTimeout(f"pod {key}: {reason} at {budget}", pod=key, reason=reason)
