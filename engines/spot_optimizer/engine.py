"""The Spot optimizer engine: on-demand node groups to diversified Spot sets, risky Spot pools to safer ones.

`app.services.scans` (through the engine registry) calls `SpotOptimizerEngine().scan(snapshot, ctx)`.
Per node it checks what may block a move (`pods.py`), groups on-demand nodes (`groups.py`), ranks
the types that fit the group's busiest node by expected $/hour with the scorer in
`ctx.models["spot-risk"]` (default: the Advisor prior updated by `snapshot.spot_history`) under the
workload class preset (`scoring.py`), and writes one recommendation per node (`report.py`).
Public Spot Advisor data and the price book only; never Spot Placement Scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engines.actions import MoveToSpot, ReplaceNodeType
from engines.contract import Engine, InstanceSpec, Recommendation, ScanContext, ScanResult
from engines.money import monthly_from_hourly
from engines.snapshot import ClusterState, Node
from engines.snapshot_aws import Snapshot
from engines.spot.ranking import PodNeeds
from engines.spot.scorer import SPOT_RISK_MODEL, AdvisorPriorScorer, SpotRiskScorer
from engines.spot_optimizer import report
from engines.spot_optimizer.groups import ASG_TAG, GroupKey, at_least_node, group_key, merge, node_needs, rotated
from engines.spot_optimizer.pods import NodePods, PodIndex, assess_node
from engines.spot_optimizer.scoring import CandidateTable, pool_expected, score
from engines.spot_optimizer.settings import SpotOptimizerSettings

ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True)
class _Seen:
    """A node that passed the node-level checks, with everything the decision needs."""

    node: Node
    region: str
    zone: str
    spec: InstanceSpec
    on_demand: Decimal
    pods: NodePods
    needs: PodNeeds


class SpotOptimizerEngine(Engine[SpotOptimizerSettings]):
    """Moves on-demand node groups whose pods tolerate interruption to a diversified Spot type set,
    ranked by expected cost: Spot price + P(interruption per hour) x the cost of one interruption.

    P starts from the public Spot Advisor bucket and is updated by the account's own interruption
    history per pool (or comes from an analyst's model). Web pods take <5 % pools only, batch pods up
    to 15-20 %; stateful pods, pods requiring on-demand and pods that cannot drain inside the 120 s
    notice keep their node on-demand, and the skip says why. Existing Spot nodes in a high-risk pool
    get a safer type when it costs no more once interruptions are priced.
    """

    name = "spot-optimizer"
    title = "Spot optimizer"
    Settings = SpotOptimizerSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[SpotOptimizerSettings]) -> ScanResult:
        result = ScanResult()
        cluster = snapshot.cluster
        if cluster is None:
            result.skip("snapshot", "the snapshot holds no cluster: there are no nodes to move to Spot")
            return result
        if not cluster.nodes:
            result.skip(f"cluster/{cluster.name}", f"cluster {cluster.name} has no nodes")
            return result
        raw = ctx.settings
        s = raw if isinstance(raw, SpotOptimizerSettings) else SpotOptimizerSettings.model_validate(raw.model_dump())
        _Scan(self.name, snapshot, cluster, ctx, s).run(result)
        return result


class _Scan:
    """The state of one scan (settings, scorer, history, candidate tables), so the engine object
    itself holds none and may be shared between threads."""

    def __init__(self, engine: str, snapshot: Snapshot, cluster: ClusterState,
                 ctx: ScanContext[SpotOptimizerSettings], s: SpotOptimizerSettings) -> None:  # fmt: skip
        self.name, self.snapshot, self.cluster, self.ctx, self.s = engine, snapshot, cluster, ctx, s
        self.scorer: SpotRiskScorer = ctx.models.get(SPOT_RISK_MODEL) or AdvisorPriorScorer()
        self.history = {(h.instance_type, h.zone): h for h in snapshot.spot_history}
        self.tables: dict[str, CandidateTable] = {}

    def run(self, result: ScanResult) -> None:
        account = self.snapshot.account
        asg = {i.instance_id: i.tags[ASG_TAG] for i in account.instances if ASG_TAG in i.tags} if account else {}
        index = PodIndex(self.cluster)
        groups: dict[GroupKey, list[_Seen]] = {}
        for node in sorted(self.cluster.nodes, key=lambda n: n.name):
            seen = self._seen(result, node, index, asg)
            if seen is None:
                continue
            if node.capacity_type == "spot":
                self._spot_node(result, seen)
            else:
                groups.setdefault(group_key(node), []).append(seen)
        for key in sorted(groups, key=lambda k: (k.group, k.instance_type)):
            self._group(result, key, groups[key])

    def table(self, region: str) -> CandidateTable:
        if region not in self.tables:
            self.tables[region] = CandidateTable(self.ctx.prices, region)
        return self.tables[region]

    def _seen(self, result: ScanResult, node: Node, index: PodIndex, asg: dict[str, str]) -> _Seen | None:
        """Node-level checks (ordered, narrow, each with its own reason): data, opt-outs, state, ASG."""
        target, s = f"node/{node.name}", self.s
        region = node.region or self.cluster.region
        zone = node.zone or node.labels.get(ZONE_LABEL)
        reason = None
        if not node.instance_type:
            reason = f"node {node.name} has no instance type label"
        elif not zone:
            reason = f"node {node.name} has no zone: the Spot pool (type and zone) is unknown"
        elif self.table(region).error:
            reason = f"node {node.name}: {self.table(region).error}"
        elif node.annotations.get(s.opt_out_annotation) == "true":
            reason = f"node {node.name} opted out ({s.opt_out_annotation}: true)"
        elif node.annotations.get(s.spot_opt_out_annotation, "").lower() == "never":
            reason = f"node {node.name} must not run on Spot ({s.spot_opt_out_annotation}: never)"
        elif node.unschedulable or not node.ready:
            reason = f"node {node.name} is cordoned or not Ready: another change is under way"
        elif node.instance_id in asg:
            reason = (f"node {node.name} belongs to Auto Scaling group {asg[node.instance_id]}, which would launch "
                      "its own type again: give the group a mixed-instances policy with Spot instead")  # fmt: skip
        if reason is not None:
            result.skip(target, reason)
            return None
        assert node.instance_type and zone
        try:
            spec = self.ctx.prices.instance_spec(node.instance_type)
            on_demand = self.ctx.prices.on_demand_hourly(region, node.instance_type)
        except LookupError as exc:
            result.skip(target, f"node {node.name} is not priced: {exc}")
            return None
        pods = assess_node(node, index, s)
        needs = node_needs(node, [*pods.workload, *pods.daemons], spec)
        return _Seen(node, region, zone, spec, on_demand, pods, needs)

    def _group(self, result: ScanResult, key: GroupKey, members: list[_Seen]) -> None:
        """One type set per zone of the group; any blocked pod keeps the whole group on-demand, since
        the group's pods move between its nodes."""
        s = self.s
        budget = s.notice_s - s.drain_margin_s
        problems = [(m.node.name, b) for m in members for b in m.pods.blockers]
        slow = [m for m in members if m.pods.drain.seconds > budget]
        if not problems and slow:
            m = max(slow, key=lambda x: x.pods.drain.seconds)
            problems = [(m.node.name, f"pods of {m.pods.drain.slowest} need about {m.pods.drain.seconds} s to drain, "
                                      f"over the {budget} s the {s.notice_s} s notice leaves after the "
                                      f"{s.drain_margin_s} s margin")]  # fmt: skip
        for m in members:
            target = f"node/{m.node.name}"
            if problems:
                where, why = problems[0]
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                prefix = "" if where == m.node.name else f"group {key.label()} keeps on-demand: on node {where}, "
                result.skip(target, f"{prefix}{why}{more}; it keeps on-demand")
            elif not m.pods.workload:
                result.skip(target, f"node {m.node.name} runs only DaemonSet pods: removing it (bin packing) saves "
                                    "more than moving it to Spot")  # fmt: skip
        if problems:
            return
        live = [m for m in members if m.pods.workload]
        if not live:
            return
        needs = merge([m.needs for m in live])
        if s.keep_node_size:
            needs = at_least_node(needs, live[0].spec)
        cap = min(m.pods.max_bucket for m in live)
        drain_s = max(m.pods.drain.seconds for m in live)
        pods = max(len(m.pods.workload) for m in live)
        on_demand = live[0].on_demand
        cost = report.interruption_cost(drain_s, s, on_demand, pods)
        zones = sorted({m.zone for m in live})
        sets = {z: score(needs, self.table(live[0].region), zone=z, interruption_cost=cost, max_bucket=cap,
                         count=s.max_types, scorer=self.scorer, history=self.history,
                         allow_burstable=s.allow_burstable_types) for z in zones}  # fmt: skip
        pools = [f"{t}@{z}" for z in zones for t in sets[z].ranking.types]
        position: dict[str, int] = {}
        for m in live:
            scored = sets[m.zone]
            ranked = scored.ranking.ranked
            if len(ranked) < s.min_types:
                result.skip(f"node/{m.node.name}", self._too_few(m, scored.ranking.types, cap))
                continue
            i = position[m.zone] = position.get(m.zone, -1) + 1
            types = rotated(scored.ranking.types, i)
            first = next(r for r in ranked if r.instance_type == types[0])
            current = monthly_from_hourly(on_demand)
            projected = report.monthly(first.expected_hourly)
            saving = current - projected
            if saving < s.savings_floor_monthly_usd:
                result.skip(f"node/{m.node.name}", f"node {m.node.name}: moving to Spot saves ${saving}/month, below "
                                                   f"the ${s.savings_floor_monthly_usd} floor")  # fmt: skip
                continue
            table = self.table(m.region)
            preset = report.BUCKET_LABELS[cap]
            evidence = {
                "group": key.label(), "group_nodes": sorted(x.node.name for x in members), "group_zones": zones,
                "region": m.region, "zone": m.zone, "instance_type": m.node.instance_type,
                "on_demand_hourly": str(on_demand), "current_type_advisor": self._advice(m),
                "workload_pods": len(m.pods.workload), "daemonset_pods": len(m.pods.daemons), "classes": m.pods.classes,
                "preset_max_bucket": cap, "preset": f"Advisor bucket {preset} or safer",
                "drain": report.drain_facts(m.pods, s), "needs": report.needs_facts(needs),
                "sized_for": "the current type's vCPUs and memory" if s.keep_node_size else "the pods' requests",
                "interruption_cost_usd": str(cost),
                "interruption_cost_formula": report.cost_formula(drain_s, s, on_demand, pods, cost),
                "scorer": scored.scorer, "scorer_note": scored.note, "set": report.type_rows(scored, table),
                "first_choice": types[0], "set_position": i, "pools": pools,
                "eligible_types": scored.ranking.eligible,
                "left_out_for_risk": report.over_cap(scored.ranking.rejected),
                "spot_price_monthly_usd": str(report.monthly(first.spot_hourly)),
                "expected_monthly_usd": str(projected), "savings_monthly_usd": str(saving),
                "weighting": "the node's first choice (node i of a zone prefers type i of the set), expected $/hour "
                             "x 730; the launch falls back through the set in order",
            }  # fmt: skip
            result.recommendations.append(Recommendation(
                engine=self.name, cluster=self.cluster.name, target=f"node/{m.node.name}",
                action=MoveToSpot(node=m.node.name, instance_id=m.node.instance_id,
                                  from_type=m.node.instance_type or "", to_types=types),
                current_monthly_cost=current, projected_monthly_cost=projected,
                risk=report.risk_of(ranked, drain_s, s.notice_s - s.drain_margin_s),
                confidence=report.confidence(m.pods, table.facts[types[0]].price_source, scored.note),
                rationale=report.move_rationale(m.node.name, m.node.instance_type or "", current, projected, m.pods,
                                                preset, types, s),
                evidence=evidence,
            ))  # fmt: skip

    def _too_few(self, m: _Seen, types: tuple[str, ...], cap: int) -> str:
        found = ", ".join(types) if types else "none"
        return (f"node {m.node.name}: only {len(types)} Spot type(s) fit its group's pods within the "
                f"{report.BUCKET_LABELS[cap]} preset in {m.zone} ({found}); a diversified set needs "
                f"{self.s.min_types}, so it keeps on-demand")  # fmt: skip

    def _advice(self, m: _Seen) -> dict[str, object] | None:
        try:
            advice = self.ctx.prices.spot_advice(m.region, m.node.instance_type or "")
        except LookupError:
            return None
        return {"bucket": advice.interruption_bucket, "label": advice.interruption_label,
                "savings_percent": advice.savings_percent}  # fmt: skip

    def _spot_node(self, result: ScanResult, m: _Seen) -> None:
        """A Spot node in a high-risk pool: the cheapest safer type by expected cost, if it costs no more."""
        s, target, itype = self.s, f"node/{m.node.name}", m.node.instance_type or ""
        advice = self._advice(m)
        if advice is None:
            result.skip(target, f"Spot node {m.node.name}: no Spot Advisor data for {itype} in {m.region}")
            return
        bucket = int(str(advice["bucket"]))
        if bucket < s.high_risk_bucket:
            result.skip(target, f"Spot node {m.node.name} runs in a {report.BUCKET_LABELS[bucket]} pool, below "
                                f"the high-risk bucket {report.BUCKET_LABELS[s.high_risk_bucket]}: kept")  # fmt: skip
            return
        if m.pods.evict_blockers:
            result.skip(
                target,
                f"Spot node {m.node.name} is in a {report.BUCKET_LABELS[bucket]} pool but {m.pods.evict_blockers[0]}",
            )
            return
        cost = report.interruption_cost(m.pods.drain.seconds, s, m.on_demand, len(m.pods.workload))
        table = self.table(m.region)
        cap = min(m.pods.max_bucket, bucket - 1)
        needs = at_least_node(m.needs, m.spec) if s.keep_node_size else m.needs
        scored = score(needs, table, zone=m.zone, interruption_cost=cost, max_bucket=cap, count=s.max_types,
                       scorer=self.scorer, history=self.history, allow_burstable=s.allow_burstable_types)  # fmt: skip
        now = pool_expected(table, itype, zone=m.zone, interruption_cost=cost, scorer=self.scorer, history=self.history)
        if len(scored.ranking.ranked) < s.min_types or now is None:
            result.skip(target, self._too_few(m, scored.ranking.types, cap))
            return
        best = scored.ranking.ranked[0]
        current, projected = report.monthly(now.expected_hourly), report.monthly(best.expected_hourly)
        if projected > current:
            result.skip(target, f"Spot node {m.node.name} is in a {report.BUCKET_LABELS[bucket]} pool, but the "
                                f"cheapest safer type {best.instance_type} is expected to cost ${projected}/month against ${current} now "
                                f"(interruptions priced at ${cost} each)")  # fmt: skip
            return
        evidence = {
            "region": m.region, "zone": m.zone, "instance_type": itype, "current_type_advisor": advice,
            "current_pool": report.type_rows_one(now, table, self.history.get((itype, m.zone))),
            "preset_max_bucket": cap, "interruption_cost_usd": str(cost),
            "interruption_cost_formula": report.cost_formula(m.pods.drain.seconds, s, m.on_demand,
                                                             len(m.pods.workload), cost),
            "scorer": scored.scorer, "scorer_note": scored.note, "set": report.type_rows(scored, table),
            "needs": report.needs_facts(needs), "drain": report.drain_facts(m.pods, s),
            "sized_for": "the current type's vCPUs and memory" if s.keep_node_size else "the pods' requests",
            "costs": "expected $/hour x 730 on both sides: Spot price + P(interruption per hour) x interruption cost",
            "savings_monthly_usd": str(current - projected),
        }  # fmt: skip
        result.recommendations.append(Recommendation(
            engine=self.name, cluster=self.cluster.name, target=target,
            action=ReplaceNodeType(node=m.node.name, instance_id=m.node.instance_id, from_type=itype,
                                   to_type=best.instance_type, capacity_type="spot"),
            current_monthly_cost=current, projected_monthly_cost=projected,
            risk=report.risk_of((best,), m.pods.drain.seconds, s.notice_s - s.drain_margin_s),
            confidence=report.confidence(m.pods, table.facts[best.instance_type].price_source, scored.note),
            rationale=report.safer_rationale(m.node.name, itype, bucket, best, current, projected),
            evidence=evidence,
        ))  # fmt: skip
