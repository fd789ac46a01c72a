"""The order a plan's steps are applied in, and the conflicts among the chosen steps.

Called by `app.services.plan`; pure functions over engine recommendations, no database.

Order (by action kind, so an uploaded engine's recommendation lands where its change belongs):
1. Requests: rightsizing and OOM remediation change container requests first, because bin
   packing packs by requests: smaller requests can free whole nodes, larger ones can make a
   planned removal impossible.
2. Consolidation: bin packing's node removals, then its node-type replacements (a replacement is
   sized for the pods the removals move onto it, `depends_on`).
3. Spot moves: only nodes that stay after consolidation move to Spot (moving a node that is then
   removed would be wasted disruption).
4. Account cleanup: idle or orphaned instances (ghost probe) and EBS volumes; they do not depend
   on the cluster's packing, and run after the node changes so a failure there cannot hold them up.
5. Traffic: cross-AZ Service and affinity changes, last among the cluster changes, because they
   depend on which nodes and zones remain.
Schedules (office hours) form a separate group after everything else: they change when a workload
runs, not what the cluster holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from app.services.conflicts import physical_targets
from engines.actions import DrainAndRemoveNode, ReplaceNodeType, SetRequestsLimits
from engines.contract import Recommendation


class PlanGroup(IntEnum):
    REQUESTS = 1
    CONSOLIDATION = 2
    SPOT = 3
    ACCOUNT = 4
    TRAFFIC = 5
    SCHEDULES = 6

    @property
    def title(self) -> str:
        return _TITLES[self]


_TITLES = {
    PlanGroup.REQUESTS: "Rightsizing", PlanGroup.CONSOLIDATION: "Consolidation", PlanGroup.SPOT: "Spot move",
    PlanGroup.ACCOUNT: "Account cleanup", PlanGroup.TRAFFIC: "Traffic", PlanGroup.SCHEDULES: "Schedule",
}  # fmt: skip
_BY_KIND = {
    "set-requests-limits": PlanGroup.REQUESTS, "scale-replicas": PlanGroup.REQUESTS,
    "drain-and-remove-node": PlanGroup.CONSOLIDATION, "move-to-spot": PlanGroup.SPOT,
    "stop-instance": PlanGroup.ACCOUNT, "terminate-instance": PlanGroup.ACCOUNT,
    "snapshot-and-delete-volume": PlanGroup.ACCOUNT, "modify-volume-type": PlanGroup.ACCOUNT,
    "set-traffic-distribution": PlanGroup.TRAFFIC, "set-preferred-affinity": PlanGroup.TRAFFIC,
    "schedule-scale": PlanGroup.SCHEDULES,
}  # fmt: skip


def group_of(rec: Recommendation) -> PlanGroup:
    action = rec.action
    if isinstance(action, ReplaceNodeType):
        return PlanGroup.SPOT if action.capacity_type == "spot" else PlanGroup.CONSOLIDATION
    return _BY_KIND.get(action.kind, PlanGroup.ACCOUNT)


def _within(rec: Recommendation) -> int:
    # Removals before replacements inside consolidation; otherwise no preference.
    return 1 if isinstance(rec.action, ReplaceNodeType) else 0


def order_steps(recs: Sequence[Recommendation]) -> list[Recommendation]:
    """`recs` in apply order: by group, then a chosen `depends_on` first, then removals before
    replacements, larger savings first, fingerprint to break ties (the same set, the same order)."""
    ranked = sorted(recs, key=lambda r: (group_of(r), _within(r), -r.monthly_savings, r.fingerprint))
    chosen = {r.fingerprint for r in ranked}
    out: list[Recommendation] = []
    placed: set[str] = set()
    by_fp = {r.fingerprint: r for r in ranked}

    def place(rec: Recommendation, trail: frozenset[str]) -> None:
        if rec.fingerprint in placed or rec.fingerprint in trail:
            return  # placed, or a dependency cycle (never produced by one scan): keep the ranked order
        for dep in rec.depends_on:
            if dep in chosen and group_of(by_fp[dep]) <= group_of(rec):
                place(by_fp[dep], trail | {rec.fingerprint})
        placed.add(rec.fingerprint)
        out.append(rec)

    for rec in ranked:
        place(rec, frozenset())
    return out


@dataclass(frozen=True)
class PlanConflict:
    first: str
    second: str
    reason: str


def _nodes_touched(rec: Recommendation) -> set[str]:
    """Nodes a change removes or replaces (not the ones pods merely move to)."""
    return {key[2] for key in physical_targets(rec) if key[0] == "node"}


def _destinations(rec: Recommendation) -> set[str]:
    if isinstance(rec.action, DrainAndRemoveNode):
        return {m.to_node for m in rec.action.moves if m.to_node}
    return set()


def _compatible(a: Recommendation, b: Recommendation) -> bool:
    """One engine's own combinations that are meant to go together."""
    if a.fingerprint in b.depends_on or b.fingerprint in a.depends_on:
        return True
    if a.engine == b.engine and isinstance(a.action, SetRequestsLimits) and isinstance(b.action, SetRequestsLimits):
        return a.action.container != b.action.container  # one recommendation per container of a workload
    return False


def _describe(key: tuple[str, ...]) -> str:
    if key[0] == "node":
        return f"node {key[2]}"
    if key[0] == "workload":
        return f"workload {key[2]}/{key[4]} ({key[3]})"
    return f"{key[0]} {key[-1]}"


def find_conflicts(steps: Sequence[Recommendation]) -> list[PlanConflict]:
    """Pairs of chosen steps that change one node or one workload (or instance, volume, Service).

    Also a removal whose pods are planned onto a node another step removes or replaces, and any
    pair the scan already linked (`conflicts_with`). Pairs declared to go together (depends_on,
    one engine's per-container requests) are not conflicts. Quadratic in the steps, a few dozen.
    """
    out: list[PlanConflict] = []
    keys = [physical_targets(r) for r in steps]
    for i, a in enumerate(steps):
        for j in range(i + 1, len(steps)):
            b = steps[j]
            if _compatible(a, b):
                continue
            shared = sorted(keys[i] & keys[j], key=lambda k: (k[0] != "node", k[0] != "workload", k))
            if shared:
                reason = f"both change {_describe(shared[0])}: {a.engine} {a.action.kind} and {b.engine} {b.action.kind}"
            elif lands := (_destinations(a) & _nodes_touched(b)) or (_destinations(b) & _nodes_touched(a)):
                node = sorted(lands)[0]
                reason = f"pods are planned to move onto node {node}, which the other step changes or removes"
            elif b.fingerprint in a.conflicts_with or a.fingerprint in b.conflicts_with:
                reason = "the scan found they change the same thing (applying one makes the other moot)"
            else:
                continue
            out.append(PlanConflict(a.fingerprint, b.fingerprint, reason))
    return out
