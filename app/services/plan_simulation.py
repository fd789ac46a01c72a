"""What-if simulation of a plan: the chosen changes applied in order to a copy of the cluster's
stored snapshot, the engines re-run on it, and the estate priced before and after each step.

Called by `app.services.plan` (preview and apply of a plan); pure apart from the engines it runs.
The snapshot holds no usage history (it is not stored), so engines that need it (rightsizing,
OOM remediation, office hours) are not re-run: their chosen changes are applied as recommended.
Every other engine is re-run once, on the snapshot as the earlier steps left it, when its first
step comes, and a chosen recommendation holds only when the re-run recommends it again (same
fingerprint). The delta is the estate's monthly cost before minus after, never a sum of rows.
Appliers for each action kind live in `app.services.plan_actions`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from app.services.conflicts import physical_targets
from app.services.costing import account_cost, cluster_cost
from app.services.plan_actions import NOT_SIMULATED, apply_action, freed_requests
from engines.contract import PriceBook, Recommendation, ScanResult
from engines.ebs.pricing import price_of
from engines.money import ZERO
from engines.snapshot_aws import Snapshot

DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
# Engines whose input includes the usage history, which stored snapshots leave out.
NEEDS_USAGE = frozenset({"rightsizing", "oom-remediation", "office-hours"})

Rerun = Callable[[str, Snapshot], ScanResult | str]
"""Run engine `name` on a snapshot: its result, or why it could not run."""


class StepOutcome(StrEnum):
    SIMULATED = "simulated"  # applied to the snapshot and priced
    NO_LONGER_HOLDS = "no longer holds"  # the re-run on the changed snapshot does not recommend it
    NOT_SIMULATED = "not simulated"  # cannot be modelled on a snapshot; the engine's estimate is shown


@dataclass(frozen=True)
class EstateCost:
    """Monthly cost of what the snapshot holds: the cluster's nodes, the account's other running
    instances and its EBS volumes; unpriced items are listed, never counted as zero."""

    nodes: Decimal = ZERO
    instances: Decimal = ZERO
    volumes: Decimal = ZERO
    unpriced: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.nodes + self.instances + self.volumes


@dataclass(frozen=True)
class StepEffect:
    step: int
    fingerprint: str
    outcome: StepOutcome
    delta: Decimal
    """Monthly cost before this step minus after it (positive = saves)."""
    estimate: Decimal
    """The recommendation's own monthly saving (the re-run's when it was re-run)."""
    note: str


@dataclass(frozen=True)
class Simulation:
    before: EstateCost
    after: EstateCost
    steps: tuple[StepEffect, ...]
    naive_sum: Decimal
    notes: tuple[str, ...] = ()

    @property
    def delta(self) -> Decimal:
        return self.before.total - self.after.total

    @property
    def unsimulated(self) -> tuple[StepEffect, ...]:
        return tuple(s for s in self.steps if s.outcome is not StepOutcome.SIMULATED)

    @property
    def unsimulated_estimate(self) -> Decimal:
        return sum((s.estimate for s in self.steps if s.outcome is StepOutcome.NOT_SIMULATED), ZERO)


def estate_cost(prices: PriceBook, snapshot: Snapshot) -> EstateCost:
    nodes, instances, volumes, unpriced = ZERO, ZERO, ZERO, []
    node_ids: set[str] = set()
    if snapshot.cluster is not None:
        found = cluster_cost(prices, snapshot.cluster)
        nodes, unpriced = found.monthly, [*found.unpriced]
        node_ids = {n.instance_id for n in snapshot.cluster.nodes if n.instance_id}
    if snapshot.account is not None:
        # Nodes (of this or any connected cluster) are priced as nodes, never again as instances.
        skip = node_ids | set(snapshot.account.cluster_node_instances)
        others = snapshot.account.model_copy(update={"volumes": (), "instances": tuple(
            i for i in snapshot.account.instances if i.instance_id not in skip)})  # fmt: skip
        found = account_cost(prices, others)
        instances, unpriced = found.monthly, [*unpriced, *found.unpriced]
        for vol in snapshot.account.volumes:
            try:  # the EBS engine's own pricing: storage plus provisioned IOPS and throughput
                volumes += price_of(prices, vol).monthly
            except LookupError as exc:
                unpriced.append(f"volume/{vol.volume_id}: {exc}")
    return EstateCost(nodes, instances, volumes, tuple(unpriced))


class _Reruns:
    """Each engine re-run once, on the snapshot as it is when its first step comes.

    Nodes the engine's chosen steps do not touch are pinned for the re-run (Karpenter's
    do-not-disrupt, which every node engine honours), so the engine cannot prefer an alternative
    removal over a chosen one that still works; pinned nodes still take moved pods.
    """

    def __init__(self, rerun: Rerun, steps: Sequence[Recommendation]) -> None:
        self._rerun = rerun
        self._nodes: dict[str, set[str]] = {}
        for rec in steps:
            self._nodes.setdefault(rec.engine, set()).update(node_names(rec))
        self._done: dict[str, ScanResult | str] = {}
        self.first_seen: dict[str, Snapshot] = {}

    def result(self, engine: str, snapshot: Snapshot) -> ScanResult | str:
        if engine not in self._done:
            self.first_seen[engine] = snapshot
            self._done[engine] = self._rerun(engine, pinned(snapshot, self._nodes.get(engine, set())))
        return self._done[engine]

    def unpinned(self, engine: str) -> ScanResult | str | None:
        """The engine re-run without pins on the snapshot its steps first saw (for hints)."""
        seen = self.first_seen.get(engine)
        return None if seen is None else self._rerun(engine, seen)


def node_names(rec: Recommendation) -> set[str]:
    return {key[2] for key in physical_targets(rec) if key[0] == "node"}


def pinned(snapshot: Snapshot, keep_free: set[str]) -> Snapshot:
    """`snapshot` with every node but `keep_free` marked do-not-disrupt (unchanged when empty)."""
    cluster = snapshot.cluster
    if cluster is None or not keep_free:
        return snapshot
    nodes = tuple(n if n.name in keep_free else n.model_copy(update={"annotations": {**n.annotations,
                  DO_NOT_DISRUPT: "true"}}) for n in cluster.nodes)  # fmt: skip
    return snapshot.model_copy(update={"cluster": cluster.model_copy(update={"nodes": nodes})})


def same(a: Recommendation, b: Recommendation) -> bool:
    """The same recommendation (engine, target, what is changed), whatever cluster field it carries."""
    return (a.engine, a.target, a.action.key()) == (b.engine, b.target, b.action.key())


def _why_gone(rec: Recommendation, result: ScanResult) -> str:
    instead = [r for r in result.recommendations if r.target == rec.target]
    if instead:
        other = instead[0]
        return (f"on the changed snapshot {rec.engine} now recommends {other.action.kind} for {rec.target} "
                f"(saving ${other.monthly_savings:,.2f}/month) instead; add that after a new scan")  # fmt: skip
    reasons = [s.reason for s in result.skipped if s.target == rec.target]
    if reasons:
        return f"on the changed snapshot {rec.engine} no longer recommends it: {reasons[0]}"
    return f"on the changed snapshot {rec.engine} no longer recommends it"


def simulate(snapshot: Snapshot, steps: Sequence[Recommendation], prices: PriceBook, rerun: Rerun) -> Simulation:
    """Apply `steps` (already in plan order) one by one; see the module docstring."""
    reruns = _Reruns(rerun, steps)
    current = snapshot
    before = estate_cost(prices, snapshot)
    cost = before
    effects: list[StepEffect] = []
    touched: dict[str, int] = {}  # node name -> the step that removed or changed it
    for i, chosen in enumerate(steps):
        rec, problem = chosen, ""
        if chosen.engine not in NEEDS_USAGE:
            result = reruns.result(chosen.engine, current)
            if isinstance(result, str):
                problem = f"not re-checked ({result}); applied as recommended"
            else:
                again = next((r for r in result.recommendations if same(r, chosen)), None)
                if again is None:
                    effects.append(StepEffect(i, chosen.fingerprint, StepOutcome.NO_LONGER_HOLDS, ZERO,
                                              chosen.monthly_savings, _why_gone(chosen, result)))  # fmt: skip
                    continue
                rec = again
        applied = apply_action(current, rec, touched, i)
        if isinstance(applied, str):
            effects.append(StepEffect(i, chosen.fingerprint, StepOutcome.NOT_SIMULATED, ZERO, rec.monthly_savings,
                                      applied))  # fmt: skip
            continue
        current = applied.snapshot
        after = estate_cost(prices, current)
        note = "; ".join(n for n in (applied.note, problem) if n)
        effects.append(StepEffect(i, chosen.fingerprint, StepOutcome.SIMULATED, cost.total - after.total,
                                  rec.monthly_savings, note))  # fmt: skip
        cost = after
    notes = _notes(snapshot, current, steps, reruns)
    return Simulation(before, cost, tuple(effects), sum((s.monthly_savings for s in steps), ZERO), notes)


def _notes(start: Snapshot, end: Snapshot, steps: Sequence[Recommendation], reruns: _Reruns) -> tuple[str, ...]:
    """What the changed snapshot says beyond the chosen steps (freed requests, extra removals)."""
    out = []
    freed = freed_requests(start, end)
    if freed:
        out.append(freed)
    binpack = reruns.unpinned("binpack") if any(s.engine in NEEDS_USAGE for s in steps) else None
    if isinstance(binpack, ScanResult):
        removable = [r for r in binpack.recommendations if r.action.kind == "drain-and-remove-node"]
        planned = sum(1 for s in steps if s.engine == "binpack" and s.action.kind == "drain-and-remove-node")
        if len(removable) > planned:
            out.append(f"after the request changes, bin packing finds {len(removable)} removable node(s) where the "
                       f"plan removes {planned}; scan again to plan the rest")  # fmt: skip
    kinds = sorted({s.action.kind for s in steps if s.action.kind in NOT_SIMULATED})
    if kinds:
        out.append(f"not simulated on a snapshot: {', '.join(kinds)} (their engines' estimates are shown apart)")
    return tuple(out)

