"""Prices, words and evidence of the OOMKilled remediation engine's recommendations and skips.

Called by `engine.OomRemediationEngine`. Memory is priced per GiB-month from the node each replica
runs on: the node's hourly price (`engines.costs.node_hourly`) split between its vCPUs and its GiB
of RAM with a CPU:RAM cost ratio, the per-resource split Kubecost-style allocation uses. The cost
basis is the container's memory limit (the memory it may hold, at least its request), so a raise
projects more than today and its savings are negative. The evidence holds every fact used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engines.contract import PriceBook, Risk
from engines.costs import node_hourly
from engines.money import HOURS_PER_MONTH, ZERO, quantize
from engines.oom.settings import OomRemediationSettings
from engines.oom.triage import MIB, Triage
from engines.snapshot import ClusterState, Container

if TYPE_CHECKING:
    from engines.oom.engine import Case, Sizing

GIB = Decimal(2**30)
WHY = {
    "limit-too-low": "its per-day memory peaks sit at the limit: the limit is too low for its steady working set",
    "spike": "its memory is normally well under the limit and was killed during a short burst",
    "leak": "its memory grows in straight lines between restarts, the shape of a leak",
    "crash-loop": "it is killed right after start, before any 5-minute usage sample: start-up needs more than the limit",
    "no-usage": "no usage was recorded for it, so it is sized from the limit the kill proves it reached",
}


def _mib(value: int | float | None) -> float | None:
    return None if value is None else round(value / MIB, 1)


@dataclass(frozen=True)
class MemoryPrice:
    """$ per GiB-month for each replica of the owner, by the node it runs on."""

    per_pod: tuple[tuple[str, str | None, Decimal], ...]  # pod, node, $/GiB-month
    sources: dict[str, str]
    ratio: float

    def monthly(self, limit_bytes: int) -> Decimal:
        gib = Decimal(limit_bytes) / GIB
        return quantize(sum((price * gib for _, _, price in self.per_pod), ZERO))


def memory_price(case: Case, cluster: ClusterState, prices: PriceBook, ratio: float) -> MemoryPrice | str:
    nodes = {n.name: n for n in cluster.nodes}
    pods = sorted((p for p in cluster.pods if (p.namespace, p.owner_kind, p.owner_name) == (case.namespace, case.kind, case.name)
                   and p.phase not in ("Succeeded", "Failed") and any(c.name == case.container for c in p.containers)),
                  key=lambda p: p.name)  # fmt: skip
    if not pods:
        return "it has no running pod now, so the cost of a raise cannot be priced"
    priced: dict[str, Decimal] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for name in sorted({p.node_name for p in pods if p.node_name}):
        node = nodes.get(name)
        if node is None or not node.instance_type:
            problems.append(f"node {name} is unknown or has no instance type")
            continue
        try:
            hourly = node_hourly(prices, node.region or cluster.region, node)
            spec = prices.instance_spec(node.instance_type)
        except LookupError as exc:
            problems.append(str(exc.args[0]) if exc.args else type(exc).__name__)
            continue
        gib = Decimal(spec.memory_mib) / Decimal(1024)
        per_gib_hour = hourly.hourly / (Decimal(spec.vcpu) * Decimal(str(ratio)) + gib)
        priced[name] = per_gib_hour * HOURS_PER_MONTH
        sources[name] = f"{node.instance_type} {hourly.source} ${hourly.hourly}/h, {spec.vcpu} vCPU, {gib:g} GiB"
    if not priced:
        detail = "; ".join(problems) or "its pods are not scheduled on any node"
        return f"memory cannot be priced from the price book: {detail}"
    # A pending replica or one on an unpriced node is priced at the mean of the priced nodes.
    mean = sum(priced.values(), ZERO) / len(priced)
    rows = tuple((p.name, p.node_name, priced.get(p.node_name or "", mean)) for p in pods)
    return MemoryPrice(rows, sources, ratio)


def node_pressure_reason(case: Case) -> str:
    times = sorted(t.isoformat() for _, t, _ in case.evictions if t is not None)
    last = f", last at {times[-1]}" if times else ""
    return (f"evicted {len(case.evictions)} time(s) for node memory pressure{last} and never OOM-killed: the node "
            "ran short of memory, not this container's limit, so raising the limit would not help (it would make "
            "the pressure worse); set requests that cover real usage or give the node pool more memory")


def leak_reason(triage: Triage, limit: int) -> str:
    fastest = max(triage.growing, key=lambda st: st.slope_bytes_per_hour)
    rate = fastest.slope_bytes_per_hour / MIB
    return (f"likely memory leak: {len(triage.growing)} of {len(triage.stretches)} stretches between restarts grow "
            f"in a straight line (up to {rate:.1f} MiB/hour, R2 {fastest.r2:.2f}, {fastest.rise_bytes / MIB:.0f} MiB "
            f"gained in {fastest.hours:.0f} hours) until the {limit // MIB} MiB limit kills it; a bigger limit only "
            "delays the next kill, so none is recommended: fix the leak (or turn on recommend_for_leaks for a "
            "high-risk stopgap)")


def risk(triage: Triage, sizing: Sizing) -> Risk:
    if triage.kind == "leak":
        return "high"
    return "medium" if sizing.capped_by or triage.kind in ("spike", "crash-loop", "no-usage") else "low"


def confidence(triage: Triage, sizing: Sizing) -> float:
    base = {"limit-too-low": 0.85, "spike": 0.65, "crash-loop": 0.55, "no-usage": 0.5, "leak": 0.3}[triage.kind]
    return round(base * (0.8 if sizing.capped_by else 1.0), 2)


def _kill_times(case: Case) -> list[str]:
    return sorted({t.isoformat() for _, t in case.kills if t is not None})


def rationale(case: Case, triage: Triage, sizing: Sizing, spec: Container, request: int | None, price: MemoryPrice,
              current: Decimal, projected: Decimal, kills: int, s: OomRemediationSettings) -> str:
    times = _kill_times(case)
    last = f", last at {times[-1]}" if times else ""
    text = (f"Container {case.container} of {case.kind} {case.namespace}/{case.name} was OOM-killed {kills} time(s) "
            f"in {s.lookback_days} days{last} (restart count now {case.restarts()}). Class {triage.kind}: {WHY[triage.kind]}. "
            f"New memory limit {sizing.new_limit // MIB} MiB (was {(spec.memory_limit or 0) // MIB} MiB) by "
            f"{sizing.formula} = {sizing.wanted / MIB:.1f} MiB")
    text += f", capped by {', '.join(sizing.capped_by)}." if sizing.capped_by else "."
    if request is None:
        text += " The request is not set, so Kubernetes defaults it to the new limit."
    elif request != spec.memory_request:
        text += f" The request rises to {request // MIB} MiB, the median per-day peak, so the scheduler reserves it."
    text += (f" This is a reliability change: memory for {len(price.per_pod)} replica(s) goes from ${current} to "
             f"${projected} a month, ${projected - current} more.")
    if triage.kind == "leak":
        text += " The memory grows like a leak: this only buys time until the leak is fixed."
    return text


def evidence(case: Case, triage: Triage, sizing: Sizing, spec: Container, request: int | None, price: MemoryPrice,
             kills: int, s: OomRemediationSettings, now: datetime) -> dict[str, Any]:
    times = _kill_times(case)
    return {
        "owner": {"namespace": case.namespace, "kind": case.kind, "name": case.name, "container": case.container},
        "oom_kills": kills,
        "oom_kill_times": times,
        "last_oom_at": times[-1] if times else None,
        "kernel_oom_events": case.kill_events,
        "evictions": len(case.evictions),
        "restarts": case.restarts(),
        "pods_killed": sorted({p for p, _ in case.kills}),
        "lookback_days": s.lookback_days,
        "scan_time": now.isoformat(),
        "triage": triage.as_evidence(),
        "current": {"memory_limit_mib": _mib(spec.memory_limit), "memory_request_mib": _mib(spec.memory_request),
                    "cpu_request": spec.cpu_request, "cpu_limit": spec.cpu_limit},
        "new": {"memory_limit_mib": _mib(sizing.new_limit), "memory_request_mib": _mib(request),
                "request_note": "not set: Kubernetes defaults it to the limit" if request is None else
                "kept unless steady peaks show more; never above the limit"},
        "sizing": {"formula": sizing.formula, "factor": sizing.factor, "reached_mib": _mib(sizing.reached),
                   "wanted_mib": _mib(sizing.wanted), "capped_by": list(sizing.capped_by),
                   "max_increase_factor": s.max_increase_factor, "max_limit_gib": s.max_limit_gib},
        "cost": {"basis": "memory limit x $ per GiB-month of the replica's node, summed over replicas",
                 "split": f"node $/h / (vCPUs x {price.ratio:g} + GiB) per GiB-hour (Kubecost-style CPU:RAM split)",
                 "replicas": [{"pod": p, "node": n, "usd_per_gib_month": str(quantize(v))} for p, n, v in price.per_pod],
                 "nodes": dict(sorted(price.sources.items())), "hours_per_month": int(HOURS_PER_MONTH)},
    }  # fmt: skip
