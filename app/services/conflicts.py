"""Cross-engine consistency: which recommendations change the same physical thing, and savings
totals that count each such thing once.

`link_conflicts` is called by `app.services.scans.scan_and_store` over every engine's output of one
scan, before anything is stored; `overlap` and `SavingsTotal` by `app.services.overview`,
`app.services.recommendations` and `cloudoptim scan` for the headline totals. Pure functions over
plain values: no database, no clock.

Two recommendations of different engines that touch the same node (or its EC2 instance), volume,
workload or Service conflict: applying one makes the other moot (a drained node cannot also move to
Spot), so a total that adds both counts that target twice. Links stay inside one scan of one
cluster: a recommendation of another cluster's scan is never linked (out of scope, since a node,
workload or Service belongs to one cluster, and instance/volume recommendations of an account are
rescanned with each cluster that sees them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from engines.actions import (
    DrainAndRemoveNode,
    ModifyVolumeType,
    MoveToSpot,
    ReplaceNodeType,
    ScaleReplicas,
    ScheduleScale,
    SetPreferredAffinity,
    SetRequestsLimits,
    SetTrafficDistribution,
    SnapshotAndDeleteVolume,
    StopInstance,
    TerminateInstance,
)
from engines.contract import Recommendation
from engines.snapshot_aws import Snapshot

PhysicalTarget = tuple[str, ...]
ZERO = Decimal(0)


def node_instances(snapshot: Snapshot | None) -> dict[str, str]:
    """Node name -> EC2 instance id of the snapshot's cluster (from providerID), for linking a node
    action to an instance action on the same machine."""
    if snapshot is None or snapshot.cluster is None:
        return {}
    return {n.name: n.instance_id for n in snapshot.cluster.nodes if n.instance_id}


def physical_targets(rec: Recommendation, instances: Mapping[str, str] | None = None) -> frozenset[PhysicalTarget]:
    """What `rec` changes, as keys two recommendations share when they change the same thing.

    A node action names the node and, when known (the action's instance_id, else `instances`), its
    instance, so it meets an instance action on the same machine through the instance key.
    """
    cluster = rec.cluster or ""
    action = rec.action
    match action:
        case DrainAndRemoveNode() | ReplaceNodeType() | MoveToSpot():
            keys: set[PhysicalTarget] = {("node", cluster, action.node)}
            instance = action.instance_id or (instances or {}).get(action.node)
            if instance:
                keys.add(("instance", instance))
            return frozenset(keys)
        case StopInstance() | TerminateInstance():
            return frozenset({("instance", action.instance_id)})
        case SnapshotAndDeleteVolume() | ModifyVolumeType():
            return frozenset({("volume", action.volume_id)})
        case SetRequestsLimits() | ScaleReplicas() | ScheduleScale() | SetPreferredAffinity():
            return frozenset({("workload", cluster, action.namespace, action.workload_kind, action.workload_name)})
        case SetTrafficDistribution():
            return frozenset({("service", cluster, action.namespace, action.service)})
    # The action set is closed; should it grow, the recommendation's own target still identifies it.
    return frozenset({("target", cluster, rec.target)})  # pragma: no cover


def link_conflicts(recs: Sequence[Recommendation], instances: Mapping[str, str] | None = None) -> list[Recommendation]:
    """`recs` (all engines of one scan) with `conflicts_with` set: the fingerprints of the other
    engines' recommendations on a shared physical target, symmetric and sorted. Same-engine links
    are the engine's own business (`related`). Linear in the recommendations, plus the pairs."""
    by_target: dict[PhysicalTarget, list[int]] = defaultdict(list)
    for i, rec in enumerate(recs):
        for key in physical_targets(rec, instances):
            by_target[key].append(i)
    links: dict[int, set[str]] = defaultdict(set)
    for members in by_target.values():
        if len(members) < 2 or len({recs[i].engine for i in members}) < 2:
            continue
        for a in members:
            for b in members:
                if recs[a].engine != recs[b].engine:
                    links[a].add(recs[b].fingerprint)
    out = []
    for i, rec in enumerate(recs):
        wanted = sorted(links.get(i, ()))
        out.append(rec if rec.conflicts_with == wanted else rec.model_copy(update={"conflicts_with": wanted}))
    return out


@dataclass(frozen=True)
class SavingRow:
    """The three columns a total needs (what the services load for it)."""

    fingerprint: str
    monthly_savings: Decimal
    conflicts_with: Sequence[str] = ()
    purpose: str = "saving"
    """"reliability" rows (they prevent failures and may cost more) are left out of savings totals."""


@dataclass(frozen=True)
class Overlap:
    """How much of a plain sum is counted twice: `recommendations` rows in `groups` conflict groups,
    `excess` = their sum minus each group's largest saving."""

    recommendations: int = 0
    groups: int = 0
    excess: Decimal = ZERO

    def __add__(self, other: Overlap) -> Overlap:
        return Overlap(self.recommendations + other.recommendations, self.groups + other.groups,
                       self.excess + other.excess)  # fmt: skip


def overlap(rows: Iterable[SavingRow]) -> Overlap:
    """Conflict groups among `rows` only (connected components of conflicts_with; links to rows not
    being totalled, e.g. dismissed ones, are ignored), each to be counted once at its largest saving."""
    saving: dict[str, Decimal] = {}
    edges: list[tuple[str, str]] = []
    for row in rows:
        saving[row.fingerprint] = row.monthly_savings
        edges += [(row.fingerprint, other) for other in row.conflicts_with]
    parent = {fp: fp for fp in saving}

    def root(fp: str) -> str:
        while parent[fp] != fp:
            parent[fp] = parent[parent[fp]]  # path halving keeps the trees flat
            fp = parent[fp]
        return fp

    for a, b in edges:
        if b in parent:
            ra, rb = root(a), root(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)  # deterministic whatever the row order
    groups: dict[str, list[Decimal]] = defaultdict(list)
    for fp, value in saving.items():
        groups[root(fp)].append(value)
    shared = [g for g in groups.values() if len(g) > 1]
    excess = sum((sum(g, ZERO) - max(g) for g in shared), ZERO)
    return Overlap(sum(len(g) for g in shared), len(shared), excess)


def _money(value: Decimal) -> str:
    return f"${value:,.2f}"


@dataclass(frozen=True)
class SavingsTotal:
    """A savings total that counts each conflicting target once, and the sum it came from."""

    gross: Decimal = ZERO
    overlap: Overlap = Overlap()
    reliability: int = 0
    reliability_cost: Decimal = ZERO
    """Rows kept out of the total because they prevent failures, and what they add per month."""

    @property
    def counted(self) -> Decimal:
        return self.gross - self.overlap.excess

    @property
    def note(self) -> str | None:
        """Why the total is lower than the sum of the rows, for the page and the CLI; None if it is not."""
        o, parts = self.overlap, []
        if o.groups:
            parts.append(
                f"{o.recommendations} recommendations overlap on {o.groups} target{'' if o.groups == 1 else 's'}: "
                f"the total counts each target once, at its largest saving, so it is {_money(o.excess)} lower "
                "than the sum"
            )
        if self.reliability:
            n = self.reliability
            parts.append(
                f"{n} reliability change{'' if n == 1 else 's'} (preventing failures such as OOM kills) "
                f"{'costs' if n == 1 else 'cost'} {_money(self.reliability_cost)} per month and "
                f"{'is' if n == 1 else 'are'} not in the total"
            )
        return "; ".join(parts) or None

    def __add__(self, other: SavingsTotal) -> SavingsTotal:
        return SavingsTotal(self.gross + other.gross, self.overlap + other.overlap,
                            self.reliability + other.reliability, self.reliability_cost + other.reliability_cost)


def savings_total(rows: Iterable[SavingRow]) -> SavingsTotal:
    """Savings rows summed with each conflict group counted once; reliability rows counted apart."""
    every = list(rows)
    listed = [r for r in every if r.purpose == "saving"]
    kept_out = [r for r in every if r.purpose != "saving"]
    return SavingsTotal(sum((r.monthly_savings for r in listed), ZERO), overlap(listed), len(kept_out),
                        -sum((r.monthly_savings for r in kept_out), ZERO))  # fmt: skip
