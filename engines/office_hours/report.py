"""Words and evidence of an office-hours recommendation: the target, the rationale, the evidence dict.

Called by `engine.OfficeHoursEngine` for each planned workload. The rationale states the schedule,
the idle test with its numbers, the saving and how it was priced, and that the request-priced
saving is an upper bound on the bill unless whole nodes go at night (the node-level figure from
bin packing is the part that is sure to be billed less). The evidence holds every number the
rationale quotes, plus the hour-of-week CPU profile, so an analyst can check the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engines.money import HOURS_PER_MONTH
from engines.office_hours.costs import Plan, Pricer
from engines.office_hours.idle import HOURS_PER_WEEK, Judged, hour_profile
from engines.office_hours.settings import OfficeHoursSettings
from engines.snapshot import Workload

PRICING_NOTE = (
    "one replica = its pods' CPU requests x the per-vCPU price plus memory requests x the per-GiB price of the "
    "node each runs on (mean over its pods); a node's hourly price is split between its vCPUs and GiB in "
    "OpenCost's default ratio 0.031611 : 0.004237 $/hour, so cores and memory together cost the node's price; "
    "saving = replicas saved x hours off per month (hours off per week x 730 / 168) x that price"
)


@dataclass(frozen=True)
class NodeLevel:
    """Bin packing's monthly saving on the cluster as it is and with the scheduled pods gone, and
    the part of the difference earned during the hours off (whole nodes removed at night)."""

    day: Decimal
    night: Decimal
    saving: Decimal


def target(wl: Workload) -> str:
    return f"workload/{wl.namespace}/{wl.name}"


def _what(plan: Plan) -> str:
    wl = plan.wl
    if wl.kind == "CronJob":
        return f"suspend CronJob {wl.namespace}/{wl.name} outside office hours"
    if plan.hpa is not None:
        return (f"lower HPA {plan.hpa.name}'s minReplicas from {plan.hpa.min_replicas} to 1 outside office hours "
                f"for {wl.kind} {wl.namespace}/{wl.name}")  # fmt: skip
    return f"scale {wl.kind} {wl.namespace}/{wl.name} from {plan.replicas} to 0 replicas outside office hours"


def rationale(plan: Plan, judged: Judged, s: OfficeHoursSettings, node: NodeLevel) -> str:
    hours, v = judged.hours, judged.verdict
    uptime = hours.uptime(judged.tz_name)
    median = f"{s.idle_percent_of_in_hours:g} % of the in-hours median {v.in_hours_p50:.3f} cores"
    limit = (f"{s.idle_percent_of_requests:g} % of its {judged.cpu_requests:.2f} requested cores and {median}, "
             "whichever is lower" if judged.cpu_requests > 0 else f"{median}; its pods request no CPU")  # fmt: skip
    text = (
        f"Namespace {judged.namespace} is non-production ({judged.because}) and idle outside its office hours "
        f"{uptime} ({hours.source}): over {judged.profile.days:.1f} days of history its 95th percentile CPU off "
        f"hours is {v.off_hours_p95:.3f} cores, under the limit of {v.limit:.3f} cores ({limit}); "
        f"{v.off_hours_cpu_share:.0%} of its CPU is used off hours. Proposed: {_what(plan)}, "
        f"{hours.hours_off_per_week} hours a week. That frees ${plan.saving}/month of requested capacity "
        f"(${plan.replica.hourly:.4f}/hour per replica at its nodes' per-core and per-GiB prices)."
    )
    if plan.hpa is not None:
        text += (f" The HPA already sits at its minimum of {plan.hpa.min_replicas} when idle, so only the "
                 f"{plan.hpa.min_replicas - 1} replica(s) above 1 are counted.")  # fmt: skip
    text += (
        " The request value is an upper bound on what is billed: it is saved only if nodes go when the pods do. "
        f"With the namespace's scheduled pods gone at night, bin packing could remove nodes worth "
        f"${node.saving}/month more during the hours off."
    )
    return text


def evidence(plan: Plan, judged: Judged, s: OfficeHoursSettings, node: NodeLevel, pricer: Pricer) -> dict[str, Any]:
    hours, v, profile, wl = judged.hours, judged.verdict, judged.profile, plan.wl
    off_month = Decimal(hours.hours_off_per_week) * HOURS_PER_MONTH / HOURS_PER_WEEK
    replica_hours = plan.saved_replicas * off_month
    out: dict[str, Any] = {
        "namespace": wl.namespace,
        "workload_kind": wl.kind,
        "workload_name": wl.name,
        "non_production_because": judged.because,
        "timezone": judged.tz_name,
        "uptime": hours.uptime(judged.tz_name),
        "office_hours_source": hours.source,
        "holidays": s.holidays_country,
        "hours_off_per_week": hours.hours_off_per_week,
        "hours_off_per_month": str(round(off_month, 2)),
        "history_days": round(profile.days, 2),
        "history_coverage": round(profile.coverage, 4),
        "idle_test": (f"p95 off-hours CPU < {s.idle_percent_of_requests:g} % of CPU requests and < "
                      f"{s.idle_percent_of_in_hours:g} % of the in-hours p50"),  # fmt: skip
        "namespace_cpu_requests_cores": round(judged.cpu_requests, 3),
        "in_hours_p50_cores": round(v.in_hours_p50, 4),
        "off_hours_p95_cores": round(v.off_hours_p95, 4),
        "idle_limit_cores": round(v.limit, 4),
        "off_hours_cpu_share": round(v.off_hours_cpu_share, 4),
        "off_hours_time_share": round(hours.hours_off_per_week / HOURS_PER_WEEK, 4),
        "hour_of_week_p95_cores": hour_profile(profile),
        "replicas": plan.replicas,
        "replicas_off": plan.replicas_off,
        "replicas_saved": str(round(plan.saved_replicas, 4)),
        "replica_hours_saved_per_month": str(round(replica_hours, 2)),
        "replica_hourly_usd": str(round(plan.replica.hourly, 6)),
        "replica_cpu_request_cores": plan.replica.cpu,
        "replica_memory_request_bytes": plan.replica.memory,
        "priced_on_nodes": list(plan.replica.nodes),
        "node_price_sources": list(plan.replica.sources),
        "node_rates": {n: r for n, r in pricer.rate_evidence().items() if n in plan.replica.nodes},
        "pricing": PRICING_NOTE,
        "saving_is_upper_bound": "requests are billed only through nodes: the saving is real when nodes go at night",
        "node_level_saving_when_whole_nodes_can_go_at_night": str(node.saving),
        "binpack_monthly_saving_now": str(node.day),
        "binpack_monthly_saving_with_scheduled_pods_gone": str(node.night),
    }
    if plan.hpa is not None:
        out.update(hpa=plan.hpa.name, hpa_min_replicas=plan.hpa.min_replicas, hpa_min_replicas_off=1)
    if plan.job_pod_hours_per_week is not None:
        off_week, all_week = plan.job_pod_hours_per_week
        out.update(job_pod_hours_per_week_off_hours=round(off_week, 2), job_pod_hours_per_week=round(all_week, 2),
                   cronjob_suspended_off_hours=True)  # fmt: skip
    return out
