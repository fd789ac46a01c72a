"""Read-only drain helpers: the pods on a node, the budgets that guard them, and whether a drain fits.

`drain_feasibility` is the pre-check of the Spot pipeline (a two-minute notice) and of the
node actions' plans: from the node's pods, their PodDisruptionBudgets (status.disruptionsAllowed)
and their terminationGracePeriodSeconds it estimates how long a drain takes and says whether it
fits a time budget, naming the pod and budget that would block it. `pods_on` and `pdb_reason`
are shared with executor.drain. Nothing here writes to the cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kubernetes.client.exceptions import ApiException

from executor import k8s_util as k
from executor.base import ExecContext

REPLACEMENT_S = 30.0  # assumed time for a replacement pod to become ready (a PDB then frees a slot)


@dataclass(frozen=True)
class DrainFeasibility:
    """Whether a drain of `node` fits `budget_s`; `blockers` say why not, `notes` what slows it."""

    node: str
    budget_s: float
    fits: bool
    estimated_s: float  # upper bound: the longest grace period per round of evictions; inf if blocked
    evictable: tuple[str, ...]  # "namespace/name" of the pods a drain evicts
    skipped: tuple[tuple[str, str], ...]  # (pod, why it stays)
    pdbs: tuple[str, ...]  # "namespace/name" of the budgets that guard evictable pods
    blockers: tuple[str, ...]
    notes: tuple[str, ...]


def pods_on(ctx: ExecContext, node_name: str) -> list[k.Obj]:
    """Every pod bound to the node (field selector spec.nodeName), all pages."""
    pods: list[k.Obj] = []
    token: str | None = None
    while True:
        try:
            page = k.call_json(ctx.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node_name}",
                               limit=500, _continue=token)
        except ApiException as exc:
            raise k.api_error(f"list pods on node {node_name}", exc) from exc
        pods.extend(page.get("items") or [])
        token = (page.get("metadata") or {}).get("continue")
        if not token:
            return pods


def list_pdbs(ctx: ExecContext, namespace: str | None = None) -> list[k.Obj]:
    if ctx.policy is None:
        return []
    try:
        if namespace is None:
            return list(k.call_json(ctx.policy.list_pod_disruption_budget_for_all_namespaces).get("items") or [])
        return list(k.call_json(ctx.policy.list_namespaced_pod_disruption_budget, namespace).get("items") or [])
    except ApiException as exc:
        raise k.api_error("list PodDisruptionBudgets", exc) from exc


def guarding(pdbs: list[k.Obj], pod: k.Obj) -> list[k.Obj]:
    """The budgets (of the pod's namespace) whose selector matches the pod."""
    ns, labels = k.meta(pod).get("namespace"), k.pod_labels(pod)
    return [b for b in pdbs if k.meta(b).get("namespace") == ns and k.selector_matches(k.spec(b).get("selector"), labels)]


def allowed(pdb: k.Obj) -> int:
    return int((pdb.get("status") or {}).get("disruptionsAllowed") or 0)


def pdb_reason(ctx: ExecContext, pod: k.Obj, message: str) -> str:
    """Why an eviction got 429, naming the budget ("PodDisruptionBudget shop/db allows 0 disruptions")."""
    try:
        budgets = guarding(list_pdbs(ctx, str(k.meta(pod).get("namespace"))), pod)
    except Exception:  # the explanation must never hide the refusal itself
        budgets = []
    if not budgets:
        return f"eviction refused (429): {message}"
    said = "; ".join(f"PodDisruptionBudget {k.key_of(b)} allows {k.plural(allowed(b), 'disruption')}"
                     for b in budgets)
    return f"{said} (429)"


def drain_feasibility(ctx: ExecContext, node_name: str, budget_s: float | None = None, *,
                      replacement_s: float = REPLACEMENT_S, pods: list[k.Obj] | None = None) -> DrainFeasibility:
    """Estimate a drain of `node_name` against `budget_s` (default: the context's drain timeout).

    Evictions run in parallel, so one round takes the longest grace period of its pods. A budget
    that allows `a` disruptions for `n` of the node's pods needs ceil(n / a) rounds, each waiting
    for replacements (`replacement_s`); a budget that allows none blocks the drain. `pods` saves
    the list call when the caller has just listed the node's pods.
    """
    budget = ctx.drain_timeout_s if budget_s is None else budget_s
    pods = pods_on(ctx, node_name) if pods is None else pods
    skipped = tuple((k.key_of(p), reason) for p in pods if (reason := k.skip_reason(p)))
    evictable = [p for p in pods if not k.skip_reason(p)]
    pdbs = list_pdbs(ctx) if evictable else []
    covered: dict[str, list[str]] = {}
    by_key = {k.key_of(b): b for b in pdbs}
    for pod in evictable:
        for pdb in guarding(pdbs, pod):
            covered.setdefault(k.key_of(pdb), []).append(k.key_of(pod))
    grace = max((k.grace_s(p) for p in evictable), default=0)
    blockers: list[str] = []
    notes: list[str] = []
    rounds = 1
    for key, members in sorted(covered.items()):
        slack = allowed(by_key[key])
        if slack <= 0:
            blockers.append(f"pod {members[0]}: PodDisruptionBudget {key} allows 0 disruptions now")
        elif slack < len(members):
            need = math.ceil(len(members) / slack)
            rounds = max(rounds, need)
            notes.append(f"PodDisruptionBudget {key} allows {k.plural(slack, 'disruption')} for "
                         f"{len(members)} pods on the node: {need} rounds, each waiting for replacements")
    for pod in evictable:
        if k.grace_s(pod) > budget:
            blockers.append(f"pod {k.key_of(pod)}: terminationGracePeriodSeconds {k.grace_s(pod)} "
                            f"exceeds the budget of {budget:.0f} s")
    estimated = math.inf if blockers else grace + (rounds - 1) * (replacement_s + grace)
    if not blockers and estimated > budget:
        blockers.append(f"estimated {estimated:.0f} s ({rounds} rounds) exceeds the budget of {budget:.0f} s")
    return DrainFeasibility(node_name, budget, not blockers, estimated, tuple(k.key_of(p) for p in evictable),
                            skipped, tuple(sorted(covered)), tuple(blockers), tuple(notes))
