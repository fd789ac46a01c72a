"""Co-location of chatty pairs that trafficDistribution cannot fix: a preferred pod-affinity term.

Called by `engines.crossaz.engine` for the pairs of a destination that has a zone with clients but
no endpoints, already routes same-zone, or is reached pod-to-pod without a Service. Projection
(documented in the evidence): with the term, the scheduler places the client's pods in the zones
of the destination's pods in proportion to them, so the client's zone mix becomes the endpoints'
one, and routing stays what it is today (same-zone if the Service has trafficDistribution).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from engines.actions import SetPreferredAffinity
from engines.contract import Recommendation
from engines.crossaz import report
from engines.crossaz.matrix import Destination, Key, cross_share
from engines.crossaz.settings import CrossAzSettings
from engines.snapshot import Workload

MOVABLE_KINDS = ("Deployment", "StatefulSet")  # what executor.k8s_affinity_actions patches


@dataclass
class Outcome:
    """The recommendations made for one destination's pairs, and why the others were not."""

    recommendations: list[Recommendation] = field(default_factory=list)
    below_count: int = 0
    below_best: tuple[Key, Decimal] | None = None
    refused: list[str] = field(default_factory=list)

    def below(self, source: Key, saving: Decimal) -> None:
        self.below_count += 1
        if self.below_best is None or saving > self.below_best[1]:
            self.below_best = (source, saving)

    def summary(self, floor: Decimal) -> str:
        parts = []
        if self.recommendations:
            parts.append(f"{len(self.recommendations)} client(s) get a preferred pod-affinity term instead")
        if self.below_count and self.below_best is not None:
            (ns, name), saving = self.below_best
            parts.append(f"{self.below_count} client(s) would save less than ${floor}/month by co-location "
                         f"(largest: {ns}/{name} ${saving})")
        parts += self.refused[:5] + ([f"{len(self.refused) - 5} more"] if len(self.refused) > 5 else [])
        return "; ".join(parts)


def opted_out(annotations: dict[str, str], key: str) -> bool:
    return annotations.get(key, "").strip().lower() == "true"


def co_locate(*, engine: str, cluster: str, group: report.Group, why: str, opted_out_namespaces: set[str],
              price: Decimal, facts: dict[str, object], settings: CrossAzSettings) -> Outcome:
    out, dest, m = Outcome(), group.dest, group.matrix
    if not dest.labels:
        out.refused.append(f"{dest.kind} {dest.namespace}/{dest.name} has no labels to select its pods by")
        return out
    # The client's zone mix after co-location = the destination's endpoint mix.
    projected_share = cross_share(Counter(dest.zones), dest, dest.prefers_same_zone)
    rows = group.rows[group.share[group.rows] > 0]
    # A float pre-filter (a cent of margin) keeps Decimal pricing to the few pairs that may qualify.
    saving = m.flow_bytes[rows] * (group.share[rows] - projected_share) * report.usd_per_byte_day(price)
    small = saving < float(settings.chatty_pair_min_monthly_usd) - 0.01
    if small.any():
        best = int(rows[small][int(np.argmax(saving[small]))])
        value = float(m.flow_bytes[best]) * (float(group.share[best]) - projected_share)
        out.below(m.sources[int(m.flow_src[best])], report.monthly_cost(value, price))
        out.below_count += int(small.sum()) - 1
    for row in rows[~small]:
        pair = group.pair(int(row))
        rec = _recommend(engine, cluster, pair, dest, why, projected_share, m.workloads.get(pair.source),
                         opted_out_namespaces, price, facts, settings, out)
        if rec is not None:
            out.recommendations.append(rec)
    return out


def _refusal(pair: report.Pair, dest: Destination, wl: Workload | None, opted_ns: set[str],
             settings: CrossAzSettings) -> str | None:
    name = f"{pair.source[0]}/{pair.source[1]}"
    if pair.source == (dest.namespace, dest.name):
        return f"{name} talks to itself: affinity to its own pods would stack it in one zone"
    if wl is None or wl.kind not in MOVABLE_KINDS:
        kind = wl.kind if wl else "bare pods"
        return f"{name} is {kind}, not a Deployment or StatefulSet: no template to add affinity to"
    if opted_out(wl.annotations, settings.opt_out_annotation) or pair.source[0] in opted_ns:
        return f"{name} is opted out ({settings.opt_out_annotation})"
    return None


def _recommend(engine: str, cluster: str, pair: report.Pair, dest: Destination, why: str, projected_share: float,
               wl: Workload | None, opted_ns: set[str], price: Decimal, facts: dict[str, object],
               settings: CrossAzSettings, out: Outcome) -> Recommendation | None:
    refusal = _refusal(pair, dest, wl, opted_ns, settings)
    if refusal is not None or wl is None:
        out.refused.append(refusal or "")
        return None
    current = report.monthly_cost(pair.cross_bytes_per_day, price)
    projected = report.monthly_cost(pair.bytes_per_day * projected_share, price)
    saving = current - projected
    if saving < settings.chatty_pair_min_monthly_usd or saving <= 0:
        out.below(pair.source, saving)
        return None
    evidence = {
        **facts,
        "pair": report.pair_facts(pair, price),
        "why_not_traffic_distribution": why,
        "projected_cross_zone_share": round(projected_share, 4),
        "projection": "client pods placed in the destination's zones in proportion to its pods",
        "chatty_pair_min_monthly_usd": str(settings.chatty_pair_min_monthly_usd),
        "savings_monthly_usd": str(saving),
    }
    action = SetPreferredAffinity(
        namespace=wl.namespace,
        workload_kind=wl.kind,
        workload_name=wl.name,
        peer_namespace=dest.namespace,
        peer_labels=dict(sorted(dest.labels.items())),
        weight=settings.affinity_weight,
    )
    return Recommendation(
        engine=engine,
        cluster=cluster,
        target=f"workload/{wl.namespace}/{wl.name}",
        action=action,
        current_monthly_cost=current,
        projected_monthly_cost=projected,
        risk="medium",
        confidence=0.6,
        rationale=report.affinity_rationale(pair, dest, why, saving, projected_share),
        evidence=evidence,
    )
