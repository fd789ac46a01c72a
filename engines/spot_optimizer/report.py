"""Evidence, rationale, risk and confidence of Spot optimizer recommendations.

Called by `engine.py`. Money in evidence is a string of the Decimal (as the bin-packing engine
writes it), probabilities are per hour; every type of the set is listed with its Spot price, price
source, Advisor bucket and saving, scored P(interruption per hour), the account's own history in
that pool and the expected $/hour, so the ranking can be recomputed by hand.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engines.contract import Risk
from engines.money import HOURS_PER_MONTH, quantize
from engines.snapshot_aws import SpotPoolHistory
from engines.spot.ranking import PodNeeds, RankedType, RejectedType
from engines.spot_optimizer.pods import DEFAULT_GRACE_S, NodePods
from engines.spot_optimizer.scoring import CandidateTable, Scored
from engines.spot_optimizer.settings import SpotOptimizerSettings

BUCKET_LABELS = ("<5 %", "5-10 %", "10-15 %", "15-20 %", ">20 %")
_SHOWN_REJECTIONS = 10


def type_rows(scored: Scored, table: CandidateTable) -> list[dict[str, Any]]:
    rows = []
    for r in scored.ranking.ranked:
        facts = table.facts[r.instance_type]
        seen = scored.observed.get(r.instance_type, (0, 0.0))
        rows.append({
            "instance_type": r.instance_type, "vcpu": r.vcpu, "memory_mib": r.memory_mib,
            "spot_hourly": str(r.spot_hourly), "spot_price_source": facts.price_source,
            "on_demand_hourly": str(facts.on_demand_hourly), "advisor_bucket": r.interruption_bucket,
            "advisor_interruption": BUCKET_LABELS[r.interruption_bucket],
            "advisor_savings_percent": facts.savings_percent, "p_interruption_hour": str(r.interruption_per_hour),
            "observed_interruptions": seen[0], "observed_instance_hours": seen[1],
            "interruption_cost_hourly": str(r.interruption_cost_hourly), "expected_hourly": str(r.expected_hourly),
        })  # fmt: skip
    return rows


def type_rows_one(r: RankedType, table: CandidateTable, seen: SpotPoolHistory | None) -> dict[str, Any]:
    """The pool a Spot node runs in now, in the same shape as a set row."""
    facts = table.facts[r.instance_type]
    return {
        "instance_type": r.instance_type, "spot_hourly": str(r.spot_hourly), "spot_price_source": facts.price_source,
        "advisor_bucket": r.interruption_bucket, "advisor_interruption": BUCKET_LABELS[r.interruption_bucket],
        "p_interruption_hour": str(r.interruption_per_hour),
        "observed_interruptions": seen.interruptions if seen else 0,
        "observed_instance_hours": seen.instance_hours if seen else 0.0,
        "interruption_cost_hourly": str(r.interruption_cost_hourly), "expected_hourly": str(r.expected_hourly),
    }  # fmt: skip


def over_cap(rejected: tuple[RejectedType, ...]) -> list[str]:
    """The types that fit the pods but were left out for risk (the first few): those the account's own
    history or the model scored too high first, then those whose Advisor bucket is above the preset."""
    risky = [r for r in rejected if "preset" in r.reason]
    risky.sort(key=lambda r: not r.reason.startswith("scored"))  # stable: price-book order within each kind
    return [f"{r.instance_type}: {r.reason}" for r in risky[:_SHOWN_REJECTIONS]]


def needs_facts(needs: PodNeeds) -> dict[str, Any]:
    return {"cpu_millicores": needs.cpu_millicores, "memory_mib": needs.memory_bytes // 2**20, "pods": needs.pods,
            "architecture": needs.architecture, "gpus": needs.gpus}  # fmt: skip


def drain_facts(pods: NodePods, s: SpotOptimizerSettings) -> dict[str, Any]:
    return {
        "estimate_s": pods.drain.seconds, "budget_s": s.notice_s - s.drain_margin_s, "notice_s": s.notice_s,
        "margin_s": s.drain_margin_s, "slowest": pods.drain.slowest,
        "grace_defaulted_pods": pods.drain.defaulted_grace, "grace_default_s": DEFAULT_GRACE_S,
        "rule": "per workload: ceil(pods / PDB disruptions allowed) x longest grace period; the node takes the slowest",
    }  # fmt: skip


def cost_formula(drain_s: int, s: SpotOptimizerSettings, on_demand: Decimal, pods: int, cost: Decimal) -> str:
    return (f"(drain {drain_s} s + reschedule {s.reschedule_s} s) / 3600 x ${on_demand}/h on-demand + "
            f"${s.lost_work_per_pod_usd} x {pods} pods = ${cost}")  # fmt: skip


def interruption_cost(drain_s: int, s: SpotOptimizerSettings, on_demand: Decimal, pods: int) -> Decimal:
    """What one interruption costs: the pods' capacity gap at the on-demand rate plus lost work."""
    gap = Decimal(drain_s + s.reschedule_s) / Decimal(3600) * on_demand
    return (gap + s.lost_work_per_pod_usd * pods).quantize(Decimal("0.0001"))


def monthly(hourly: Decimal) -> Decimal:
    return quantize(hourly * HOURS_PER_MONTH)


def risk_of(ranked: tuple[RankedType, ...], drain_s: int, budget_s: int) -> Risk:
    """High when the set reaches the 15-20 % bucket, medium from 5 % or when the drain uses more than
    half of what the notice leaves, low otherwise."""
    worst = max(r.interruption_bucket for r in ranked)
    if worst >= 3:
        return "high"
    if worst >= 1 or drain_s * 2 > budget_s:
        return "medium"
    return "low"


def confidence(pods: NodePods, first_source: str, scorer_note: str | None) -> float:
    """0.85 less what is assumed: unread grace periods, an Advisor-estimated price, a failed model."""
    value = 0.85
    if pods.drain.defaulted_grace:
        value -= 0.1
    if first_source != "spot-average":
        value -= 0.05
    if scorer_note:
        value -= 0.05
    return round(value, 2)


def move_rationale(node: str, itype: str, current: Decimal, projected: Decimal, pods: NodePods,
                   preset: str, types: tuple[str, ...], s: SpotOptimizerSettings) -> str:  # fmt: skip
    saving = current - projected
    percent = (saving / current * 100).quantize(Decimal(1)) if current else Decimal(0)
    classes = ", ".join(f"{n} {c}" for c, n in sorted(pods.classes.items()))
    return (
        f"Move node {node} ({itype} on-demand, ${current}/month) to Spot: its {len(pods.workload)} pods "
        f"({classes}) tolerate Spot and drain in about {pods.drain.seconds} s of the "
        f"{s.notice_s - s.drain_margin_s} s the {s.notice_s} s notice leaves. The set {', '.join(types)} stays "
        f"within the {preset} interruption preset; its first choice is expected to cost ${projected}/month "
        f"including the price of interruptions, a saving of ${saving}/month ({percent} %)."
    )


def safer_rationale(node: str, itype: str, bucket: int, best: RankedType, current: Decimal,
                    projected: Decimal) -> str:  # fmt: skip
    return (
        f"Spot node {node} runs {itype}, whose pool AWS interrupts {BUCKET_LABELS[bucket]} of the time a month. "
        f"Replace it with Spot {best.instance_type} ({BUCKET_LABELS[best.interruption_bucket]}): expected to cost "
        f"${projected}/month against ${current}/month now, interruptions priced in on both sides."
    )
