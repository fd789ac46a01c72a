"""The container rightsizing engine: requests and limits per owner container from its usage history.

`app.services.scans` (through the engine registry) calls `RightsizingEngine().scan(snapshot, ctx)`.
It groups pods by owner (`history.owners`), resolves each owner's policy (`policy.resolve`: default,
namespace, annotations), pools the owner's `Snapshot.usage` samples per container name
(`history.gather`), sizes every container of a policy at once (`stats.size`, one matrix), draws its
risk curve (`stats.quantiles`, `stats.exceed_share`), values requests at node rates (`pricing.py`)
and prices the node-level saving with the bin-packing engine (`pricing.node_level`). Every container it does
not size is skipped with the reason.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from engines.actions import SetRequestsLimits
from engines.contract import Engine, Recommendation, ScanContext, ScanResult
from engines.rightsizing import curves, history, policy, report
from engines.rightsizing.pricing import Changes, NodeLevel, RateBook, Rates, node_level
from engines.rightsizing.settings import RightsizingSettings
from engines.snapshot import ClusterState, Container
from engines.snapshot_aws import Snapshot

NAME = "rightsizing"
MIB = 2**20


@dataclass
class Candidate:
    owner: history.Owner
    spec: Container
    resolved: policy.Resolved
    hist: history.History
    held: frozenset[str]
    rates: Rates
    target: str = ""
    notes: list[str] = field(default_factory=list)


class RightsizingEngine(Engine[RightsizingSettings]):
    """Sets CPU and memory requests (and limits per policy) of Deployment, StatefulSet and DaemonSet
    containers from the pooled usage of all their pods, showing the risk curve behind each choice."""

    name = NAME
    title = "Container rightsizing"
    Settings = RightsizingSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[RightsizingSettings]) -> ScanResult:
        result = ScanResult()
        raw = ctx.settings
        # The registry builds our own Settings; a foreign model (e.g. from a stored form) is re-read.
        settings = raw if isinstance(raw, RightsizingSettings) else RightsizingSettings.model_validate(raw.model_dump())
        cluster = snapshot.cluster
        if cluster is None:
            result.skip("cluster", "the snapshot has no Kubernetes cluster, so there are no containers to size")
            return result
        if not snapshot.usage:
            result.skip(f"cluster/{cluster.name}", "no container usage history in the snapshot (the usage source "
                                                   "returned nothing): nothing can be sized without it")
            return result
        book = RateBook(ctx.prices, cluster.region, cluster.nodes, settings.price_split_pair)
        if book.problem is not None:
            result.skip(f"cluster/{cluster.name}", book.problem)
            return result
        owners, loose = history.owners(cluster)
        for target, reason in loose:
            result.skip(target, reason)
        candidates = self._candidates(result, owners, cluster, snapshot, ctx, settings, book)
        drafts = curves.size_all(candidates_rows(candidates))
        changes: Changes = {}
        pending: list[tuple[Candidate, curves.Sized, curves.Plan]] = []
        for cand, sized in zip(candidates, drafts, strict=True):
            plan = curves.decide(cand, sized, settings)
            if isinstance(plan, str):
                result.skip(cand.target, plan)
                continue
            key = (cand.owner.key.namespace, cand.owner.key.kind, cand.owner.key.name, cand.spec.name)
            changes[key] = (plan.cpu_request, plan.memory_request, plan.cpu_limit, plan.memory_limit)
            pending.append((cand, sized, plan))
        level = node_level(snapshot, changes, ctx.prices, ctx.now, settings.node_level_search_effort) if pending else None
        for cand, sized, plan in pending:
            result.recommendations.append(self._recommend(cand, sized, plan, cluster, level))
        return result

    def _candidates(self, result: ScanResult, owners: list[history.Owner], cluster: ClusterState, snapshot: Snapshot,
                    ctx: ScanContext[RightsizingSettings], settings: RightsizingSettings, book: RateBook) -> list[Candidate]:
        usage, orphans = history.usage_by_owner(snapshot.usage, cluster)
        for target, reason in orphans:
            result.skip(target, reason)
        hpas: defaultdict[tuple[str, str, str], set[str]] = defaultdict(set)
        for hpa in cluster.hpas:
            hpas[(hpa.namespace, hpa.target_kind, hpa.target_name)].update(hpa.resources)
        out: list[Candidate] = []
        for owner in owners:
            key = owner.key
            resolved = policy.resolve(settings, key.namespace, owner.annotations())
            if resolved is None:
                result.skip(key.target, f"{key.kind} {key.namespace}/{key.name} opted out with {policy.OPT_OUT}: off")
                continue
            if isinstance(resolved, policy.Refusal):
                result.skip(key.target, f"{key.kind} {key.namespace}/{key.name}: {resolved.reason}; not sized")
                continue
            held = frozenset(hpas.get((key.namespace, key.kind, key.name), set()) & {"cpu", "memory"})
            if held and (settings.hpa_same_resource == "skip" or held == {"cpu", "memory"}):
                result.skip(key.target, f"{key.kind} {key.namespace}/{key.name} has a HorizontalPodAutoscaler scaling "
                                        f"on {' and '.join(sorted(held))}: changing those requests changes when it "
                                        "scales, so it is not sized")
                continue
            rates = book.for_nodes([p.node_name for p in owner.pods])
            if rates is None:
                result.skip(key.target, f"no node of cluster {cluster.name} could be priced, so requests cannot be valued")
                continue
            pol = resolved.policy
            for spec in owner.containers():
                target = f"{key.target}/{spec.name}"
                series = usage.get((key, spec.name), [])
                if not series:
                    result.skip(target, f"container {spec.name} of {key.kind} {key.namespace}/{key.name} has no usage history")
                    continue
                since = ctx.now - timedelta(days=pol.history_days)
                terms = sum(1 for t in cluster.terminations
                            if t.namespace == key.namespace and t.owner_kind == key.kind and t.owner_name == key.name
                            and t.container == spec.name and t.reason == "OOMKilled" and t.occurred_at >= since)
                h = history.gather(series, owner.pods, spec.name, ctx.now, pol.history_days, pol.memory_recent_days, terms)
                why = _too_little(h, pol.min_history_days, pol.min_coverage)
                if why is not None:
                    result.skip(target, f"container {spec.name} of {key.kind} {key.namespace}/{key.name}: {why}; "
                                        "not sized (no guess without data)")
                    continue
                out.append(Candidate(owner, spec, resolved, h, held, rates, target))
        return out

    def _recommend(self, cand: Candidate, sized: curves.Sized, plan: curves.Plan, cluster: ClusterState,
                   level: NodeLevel | None) -> Recommendation:
        key, spec, h = cand.owner.key, cand.spec, cand.hist
        replicas = len(cand.owner.pods)
        current = cand.rates.cpu_monthly(spec.cpu_request, replicas) + cand.rates.memory_monthly(spec.memory_request, replicas)
        projected = (cand.rates.cpu_monthly(plan.cpu_request, replicas)
                     + cand.rates.memory_monthly(plan.memory_request, replicas))
        cpu_curve, mem_curve = curves.curves(cand, sized, plan, replicas)
        node_saving: Decimal | None = None if level is None else level.saving
        notes = cand.notes + plan.notes
        evidence = report.evidence(
            container=spec.name, owner={"namespace": key.namespace, "kind": key.kind, "name": key.name},
            policy=cand.resolved.policy, policy_source=cand.resolved.source, h=h, cpu=cpu_curve, memory=mem_curve,
            current={"cpu_request": spec.cpu_request, "memory_request": spec.memory_request, "cpu_limit": spec.cpu_limit,
                     "memory_limit": spec.memory_limit, "requests_monthly": str(current)},
            proposed={"cpu_request": plan.cpu_request, "memory_request": plan.memory_request,
                      "cpu_limit": plan.cpu_limit, "memory_limit": plan.memory_limit, "requests_monthly": str(projected)},
            rates=cand.rates.evidence(), replicas=replicas, notes=notes)
        evidence["requests_value_monthly_saving"] = str(current - projected)
        evidence["node_level"] = None if level is None else level.evidence()
        evidence["node_level_monthly_saving"] = None if node_saving is None else str(node_saving)
        if key.kind == "DaemonSet":
            evidence["executor_note"] = "the executor applies requests to Deployments and StatefulSets; a DaemonSet is changed by hand"
        return Recommendation(
            engine=self.name, cluster=cluster.name, target=cand.target,
            action=SetRequestsLimits(namespace=key.namespace, workload_kind=key.kind, workload_name=key.name,
                                     container=spec.name, cpu_request=plan.cpu_request,
                                     memory_request=plan.memory_request, cpu_limit=plan.cpu_limit,
                                     memory_limit=plan.memory_limit),
            current_monthly_cost=current, projected_monthly_cost=projected,
            risk=report.risk(cpu_curve, mem_curve, h), confidence=report.confidence(h, cand.resolved.policy),
            # A raise (e.g. a request where there was none, or CPU above a p95 it is throttled at) is
            # for reliability; its negative saving stays out of the savings totals.
            purpose="reliability" if projected > current else "saving",
            rationale=report.rationale(spec.name, f"{key.kind} {key.namespace}/{key.name}", cpu_curve, mem_curve, h,
                                       spec.cpu_request, spec.memory_request, plan.cpu_request, plan.memory_request,
                                       (current, projected), node_saving, notes),
            evidence=evidence,
        )


def candidates_rows(cands: list[Candidate]) -> list[curves.Row]:
    return [curves.Row(c.hist, policy.to_rule(c.resolved.policy)) for c in cands]


def _too_little(h: history.History, min_days: float, min_coverage: float) -> str | None:
    if h.cpu.size == 0 or not (h.cpu == h.cpu).any() or not (h.memory_all == h.memory_all).any():
        return "every usage sample is missing, negative or not a number"
    if h.span_days < min_days:
        return f"only {h.span_days * 24:.1f} hours of usage history, {min_days:g} days needed"
    if h.coverage < min_coverage or math.isnan(h.coverage):
        return f"usage history is gappy: {h.coverage:.0%} of 5-minute slots sampled, {min_coverage:.0%} needed"
    if not (h.memory == h.memory).any():
        return "no valid memory sample in the recent memory window"
    return None


