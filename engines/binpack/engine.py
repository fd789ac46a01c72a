"""The bin-packing engine: fewer and cheaper nodes, with every pod still schedulable.

`app.services.scans` (through the engine registry) calls `BinPackEngine().scan(snapshot, ctx)`.
It prices every node from the price book, rules out nodes that may not be drained (with reasons),
plans removals with `planner.plan` (never worse than first-fit decreasing, which it also runs),
proposes cheaper instance types for the kept candidates (sized for the pods they will hold) with
`replace.Replacer`, links recommendations that touch the same nodes (`links.py`), and returns one
recommendation per node plus the skipped nodes, pods and cluster-level notes (`pending.py` for
pending pods).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from engines.actions import DrainAndRemoveNode, ReplaceNodeType
from engines.binpack import pending, report
from engines.binpack.blockers import Disruption, assess, ineligible
from engines.binpack.links import link
from engines.binpack.model import ClusterModel, build_model
from engines.binpack.planner import Plan, plan, restarts_for
from engines.binpack.pricing import node_costs
from engines.binpack.replace import Replacer
from engines.binpack.settings import BinPackSettings
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.money import ZERO
from engines.snapshot_aws import Snapshot


class BinPackEngine(Engine[BinPackSettings]):
    """Consolidates nodes: removes empty and under-used nodes and replaces over-sized ones.

    Packs pod requests (CPU, memory, ephemeral storage, pod slots) with DaemonSet overhead kept on
    every node, and respects taints, node affinity, hostname anti-affinity, DoNotSchedule topology
    spread, volume zones, PodDisruptionBudgets and do-not-disrupt/opt-out annotations.
    """

    name = "binpack"
    title = "Bin packing and node consolidation"
    Settings = BinPackSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[BinPackSettings]) -> ScanResult:
        result = ScanResult()
        cluster = snapshot.cluster
        if cluster is None or not cluster.nodes:
            return result
        raw = ctx.settings
        # The registry builds our own Settings; a foreign model (e.g. from a stored form) is re-read.
        settings = raw if isinstance(raw, BinPackSettings) else BinPackSettings.model_validate(raw.model_dump())
        model = build_model(cluster)
        dis = assess(model, settings)
        workloads, daemons = report.pods_by_node(model)
        costs, sources = node_costs(model, ctx.prices)
        candidates: list[int] = []
        for n, node in enumerate(model.nodes):
            cost = costs[n]
            reason = sources[n] if cost is None else ineligible(model, dis, settings, n, workloads[n], cost)
            if reason is None:
                candidates.append(n)
            else:
                result.skip(f"node/{node.name}", reason)

        movable = np.array([b is None for b in dis.pod_block], dtype=bool).reshape(-1)
        value = np.array([float(c) if c is not None else 0.0 for c in costs])
        restarts = restarts_for(model.n_nodes, len(model.pods), settings.search_effort)
        the_plan = plan(model, movable, candidates, value, settings.headroom_percent, restarts)
        self._removals(result, model, dis, the_plan, costs, sources, workloads, daemons)
        if settings.allow_replace_node_type:
            replacer = Replacer(model, ctx.prices, settings)
            self._replacements(result, model, dis, the_plan, replacer, costs, sources, workloads, daemons)
        else:
            for n in sorted(the_plan.failed):
                result.skip(f"node/{model.nodes[n].name}", f"node {model.nodes[n].name} was kept: {the_plan.failed[n]}")
        kept_for = pending.planned_on(model, the_plan)
        for n in sorted(the_plan.pinned):
            if n in candidates:
                names = pending.shown(pending.pod_names(model, kept_for.get(n, [])))
                result.skip(
                    f"node/{model.nodes[n].name}",
                    f"node {model.nodes[n].name} was kept: pending pods need its free room ({names})",
                )
        pending.report_unplaced(result, model, the_plan)
        result.recommendations = link(result.recommendations)
        lost = model.flags["pods_on_unknown_nodes"]
        if lost:
            what = "1 pod is" if lost == 1 else f"{lost} pods are"
            result.skip(
                f"cluster/{cluster.name}",
                f"{what} bound to nodes missing from the snapshot and left out of the plan",
            )
        return result

    def _replacements(
        self,
        result: ScanResult,
        model: ClusterModel,
        dis: Disruption,
        the_plan: Plan,
        replacer: Replacer,
        costs: list[Decimal | None],
        sources: list[str],
        workloads: list[list[int]],
        daemons: list[int],
    ) -> None:
        """A cheaper type for every kept candidate, sized for its pods after the planned moves
        (a node that receives pods is sized for them too, so applying either order stays valid)."""
        received: dict[int, list[int]] = {}
        moved = np.flatnonzero((model.home >= 0) & (the_plan.loc >= 0) & (the_plan.loc != model.home))
        for p in moved.tolist():
            received.setdefault(int(the_plan.loc[p]), []).append(p)
        for n in sorted(the_plan.failed):
            cost = costs[n]
            assert cost is not None
            node = model.nodes[n]
            extra = received.get(n, [])
            pods = workloads[n] + extra
            used = model.used[n] + model.req[extra].sum(axis=0) if extra else model.used[n]
            found = replacer.best(n, node.region or model.cluster.region, cost, pods, used)
            if found is None:
                result.skip(f"node/{node.name}", f"node {node.name} was kept: {the_plan.failed[n]}")
                continue
            _covered, stateful, score = report.disruption(model, dis, pods)
            evidence = report.node_facts(model, dis, n, pods, sources[n])
            before = report.measured(model, n, cost, len(workloads[n]), daemons[n])
            after = report.state(
                found.to_type,
                found.capacity,
                found.monthly,
                found.allocatable,
                used,
                len(pods),
                daemons[n],
                estimated=True,
            )
            evidence.update(
                replacement_price_source=found.price_source,
                savings_monthly_usd=str(cost - found.monthly),
                received_pods=len(extra),
                received_from=sorted({model.nodes[int(model.home[p])].name for p in extra}),
                why_not_removed=the_plan.failed[n],
                plan_candidate=the_plan.origin,
                before=before,
                after=after,
            )
            action = ReplaceNodeType(
                node=node.name,
                instance_id=node.instance_id,
                from_type=node.instance_type or "",
                to_type=found.to_type,
                capacity_type=found.capacity,
            )
            result.recommendations.append(
                Recommendation(
                    engine=self.name,
                    cluster=model.cluster.name,
                    target=f"node/{node.name}",
                    action=action,
                    current_monthly_cost=cost,
                    projected_monthly_cost=found.monthly,
                    risk=report.risk_of(score, stateful),
                    confidence=report.confidence(model, pods, 0.85, int(moves_constrained(the_plan, pods))),
                    rationale=report.replacement_rationale(node, before, after, len(extra)),
                    evidence=evidence,
                )
            )

    def _removals(
        self,
        result: ScanResult,
        model: ClusterModel,
        dis: Disruption,
        the_plan: Plan,
        costs: list[Decimal | None],
        sources: list[str],
        workloads: list[list[int]],
        daemons: list[int],
    ) -> None:
        cluster = model.cluster
        projected = report.projection(model, the_plan.loc)
        for position, n in enumerate(the_plan.removed, start=1):
            node = model.nodes[n]
            cost = costs[n]
            assert cost is not None
            moves = sorted(((p, int(the_plan.loc[p])) for p in workloads[n]), key=lambda m: m[0])
            pods = [p for p, _ in moves]
            dests = [model.nodes[d].name for _, d in moves]
            _covered, stateful, score = report.disruption(model, dis, pods)
            evidence = report.node_facts(model, dis, n, pods, sources[n])
            waiting = the_plan.freed_for_pending.get(n, [])
            before = report.measured(model, n, cost, len(pods), daemons[n])
            after = report.removed_state(report.landing(model, dests, projected))
            evidence.update(
                savings_monthly_usd=str(cost),
                destinations=sorted(set(dests)),
                plan_position=position,
                plan_size=len(the_plan.removed),
                plan_candidate=the_plan.origin,
                pending_pods_on_freed_room=pending.pod_names(model, waiting),
                before=before,
                after=after,
            )
            rationale = report.removal_rationale(node, before, after, cost)
            if waiting:
                rationale += pending.freed_room_sentence(model, waiting)
            result.recommendations.append(
                Recommendation(
                    engine=self.name,
                    cluster=cluster.name,
                    target=f"node/{node.name}",
                    # Validated from plain dicts in one call: pydantic-core does it ~20x faster than
                    # building thousands of PodMove objects one by one on a 100,000-pod cluster.
                    action=DrainAndRemoveNode.model_validate(
                        {
                            "node": node.name,
                            "instance_id": node.instance_id,
                            "moves": [
                                {"namespace": model.pods[p].namespace, "pod": model.pods[p].name, "to_node": d}
                                for p, d in zip(pods, dests, strict=True)
                            ],
                        }
                    ),
                    current_monthly_cost=cost,
                    projected_monthly_cost=ZERO,
                    risk=report.risk_of(score, stateful),
                    confidence=report.confidence(model, pods, 0.95, int(moves_constrained(the_plan, pods))),
                    rationale=rationale,
                    evidence=evidence,
                )
            )


def moves_constrained(the_plan: Plan, pods: list[int]) -> bool:
    """Whether any moved pod carries anti-affinity or spread rules (the scheduler may pick differently)."""
    return bool(pods) and bool(the_plan.constrained[pods].any()) if len(the_plan.constrained) else False
