"""Expected-cost scoring of Spot types: fit, risk from a scorer, the preset cap, then expected $/hour.

Pure (the price book is a read-only table). `engine.py` calls `score` for every node group and zone;
the Spot interruption pipeline may call `rank_replacements` in place of `engines.spot.rank_spot_types`
to rank replacements with the same scorer (the Advisor prior updated by the account's history, or an
analyst's model):

    expected $/hour = Spot price + P(interruption in one hour) x cost of one interruption

Fit (CPU, memory, pod slots, architecture, GPUs, burstable, previous generation) is the shared
`rank_spot_types`; P comes from the scorer; a type whose Advisor bucket or whose scored monthly rate
is above the preset's cap is rejected with the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from engines.contract import PriceBook
from engines.costs import type_hourly
from engines.money import HOURS_PER_MONTH
from engines.snapshot_aws import SpotPoolHistory
from engines.spot.ranking import PodNeeds, Pool, RankedType, Ranking, RejectedType, SpotCandidate, rank_spot_types
from engines.spot.scorer import AdvisorPriorScorer, PoolFeatures, SpotRiskScorer

# Upper edge of each Advisor bucket's monthly interruption rate: a preset "bucket <= 1" also caps the
# scored rate at 10 % a month, so a pool the account saw interrupted often is left out too.
BUCKET_CEILING: dict[int, Decimal] = {0: Decimal("0.05"), 1: Decimal("0.10"), 2: Decimal("0.15"),
                                      3: Decimal("0.20"), 4: Decimal(1)}  # fmt: skip
_P = Decimal("0.0000000001")
_MONEY = Decimal("0.000001")


@dataclass(frozen=True)
class TypeFacts:
    """What the price book says about one type in a region, for features and evidence."""

    on_demand_hourly: Decimal
    spot_hourly: Decimal
    price_source: str
    savings_percent: int
    gpus: int


class CandidateTable:
    """Spot candidates of one region from the price book, built once per scan and region."""

    def __init__(self, prices: PriceBook, region: str) -> None:
        self.region = region
        self.candidates: list[SpotCandidate] = []
        self.facts: dict[str, TypeFacts] = {}
        self.error: str | None = None
        try:
            names = prices.instance_types(region)
        except LookupError as exc:
            self.error = str(exc)
            return
        for name in names:
            try:
                spec = prices.instance_spec(name)
            except LookupError:
                continue
            try:
                price = type_hourly(prices, region, name, "spot")
            except LookupError:  # no Spot average and no Advisor entry to estimate one from
                self.candidates.append(SpotCandidate(spec, None, None))
                continue
            try:
                advice = prices.spot_advice(region, name)
            except LookupError:
                self.candidates.append(SpotCandidate(spec, price.hourly, None))
                continue
            on_demand = prices.on_demand_hourly(region, name)
            self.facts[name] = TypeFacts(on_demand, price.hourly, price.source, advice.savings_percent, spec.gpu_count)
            self.candidates.append(SpotCandidate(spec, price.hourly, advice.interruption_bucket))
        if not self.facts:
            self.error = f"region {region} has no Spot Advisor data for any instance type (not in the feed)"


@dataclass(frozen=True)
class Scored:
    """A ranking plus what the scorer saw: the scorer's name and each ranked pool's history."""

    ranking: Ranking
    scorer: str
    observed: Mapping[str, tuple[int, float]]  # type -> (interruptions, instance-hours) in this zone
    note: str | None = None


def _features(region: str, zone: str, ranked: Sequence[RankedType], table: CandidateTable,
              history: Mapping[tuple[str, str], SpotPoolHistory]) -> list[PoolFeatures]:  # fmt: skip
    out = []
    for r in ranked:
        facts = table.facts[r.instance_type]
        seen = history.get((r.instance_type, zone))
        out.append(PoolFeatures(
            region=region, instance_type=r.instance_type, zone=zone, advisor_bucket=r.interruption_bucket,
            advisor_savings_percent=facts.savings_percent, vcpu=r.vcpu, memory_gib=r.memory_mib / 1024,
            gpus=facts.gpus, spot_to_on_demand=float(facts.spot_hourly / facts.on_demand_hourly),
            observed_interruptions=seen.interruptions if seen else 0,
            observed_hours=seen.instance_hours if seen else 0.0,
        ))  # fmt: skip
    return out


def _probabilities(scorer: SpotRiskScorer, pools: list[PoolFeatures]) -> tuple[list[float], str, str | None]:
    """The scorer's P per pool; a model that fails or answers outside [0, 1] gives way to the prior."""
    try:
        ps = [float(p) for p in scorer.p_interruption_hour(pools)]
        if len(ps) == len(pools) and all(math.isfinite(p) and 0.0 <= p <= 1.0 for p in ps):
            return ps, scorer.name, None
        problem = "answered outside [0, 1] or with the wrong number of values"
    except Exception as exc:  # a user's model must not break the scan; its failure is reported
        problem = f"failed ({type(exc).__name__}: {exc})"
    fallback = AdvisorPriorScorer()
    note = f"scorer {getattr(scorer, 'name', '?')} {problem}; the Advisor prior was used"
    return fallback.p_interruption_hour(pools), fallback.name, note


def score(
    needs: PodNeeds,
    table: CandidateTable,
    *,
    zone: str,
    interruption_cost: Decimal,
    max_bucket: int,
    count: int,
    scorer: SpotRiskScorer,
    history: Mapping[tuple[str, str], SpotPoolHistory],
    avoid: Collection[Pool] = (),
    allow_burstable: bool = False,
) -> Scored:
    """The best `count` types in `zone` by expected $/hour under the bucket cap `max_bucket`."""
    every = max(len(table.candidates), 1)  # all that fit: the cap and the scorer reorder them next
    fit = rank_spot_types(needs, table.candidates, zone=zone, interruption_cost=interruption_cost,
                          count=every, avoid=avoid, allow_burstable=allow_burstable)  # fmt: skip
    pools = _features(table.region, zone, fit.ranked, table, history)
    ps, name, note = _probabilities(scorer, pools) if pools else ([], scorer.name, None)
    ceiling = BUCKET_CEILING[max_bucket]
    ranked: list[RankedType] = []
    rejected = list(fit.rejected)
    for r, p_float in zip(fit.ranked, ps, strict=True):
        p = Decimal(repr(p_float)).quantize(_P, rounding=ROUND_HALF_UP)
        monthly_rate = p * HOURS_PER_MONTH
        if r.interruption_bucket > max_bucket:
            rejected.append(RejectedType(r.instance_type, f"Advisor bucket {r.interruption_bucket} is above the "
                                                          f"preset's {max_bucket}"))  # fmt: skip
            continue
        if monthly_rate > ceiling:
            rejected.append(RejectedType(r.instance_type, f"scored interruption rate {monthly_rate:.1%} a month is "
                                                          f"above the preset's {ceiling:.0%}"))  # fmt: skip
            continue
        risk = (p * interruption_cost).quantize(_MONEY, rounding=ROUND_HALF_UP)
        expected = (r.spot_hourly + risk).quantize(_MONEY, rounding=ROUND_HALF_UP)
        ranked.append(replace(r, interruption_per_hour=p, interruption_cost_hourly=risk, expected_hourly=expected))
    ranked.sort(key=lambda r: (r.expected_hourly, r.spot_hourly, r.interruption_bucket, r.instance_type))
    observed = {f.instance_type: (f.observed_interruptions, f.observed_hours) for f in pools}
    ranking = Ranking(needs=needs, zone=zone, interruption_cost=interruption_cost, ranked=tuple(ranked[:count]),
                      rejected=tuple(rejected), eligible=len(ranked))  # fmt: skip
    return Scored(ranking, name, observed, note)


def rank_replacements(
    prices: PriceBook,
    region: str,
    needs: PodNeeds,
    *,
    zone: str,
    interruption_cost: Decimal,
    count: int,
    avoid: Collection[Pool] = (),
    scorer: SpotRiskScorer | None = None,
    history: Sequence[SpotPoolHistory] = (),
    table: CandidateTable | None = None,
) -> Ranking:
    """The interruption pipeline's ranking with the engine's scorer (no preset cap: a replacement
    is needed now, and the pipeline avoids recently interrupted pools itself)."""
    scored = score(needs, table or CandidateTable(prices, region), zone=zone, interruption_cost=interruption_cost,
                   max_bucket=4, count=count, scorer=scorer or AdvisorPriorScorer(),
                   history={(h.instance_type, h.zone): h for h in history}, avoid=avoid)  # fmt: skip
    return scored.ranking


def pool_expected(
    table: CandidateTable,
    instance_type: str,
    *,
    zone: str,
    interruption_cost: Decimal,
    scorer: SpotRiskScorer,
    history: Mapping[tuple[str, str], SpotPoolHistory],
) -> RankedType | None:
    """Expected $/hour of a pool a node runs in now (no fit or cap test); None without Spot data."""
    cand = next((c for c in table.candidates if c.spec.instance_type == instance_type), None)
    if cand is None or cand.spot_hourly is None or cand.interruption_bucket is None:
        return None
    base = RankedType(instance_type, cand.spot_hourly, cand.interruption_bucket, Decimal(0), Decimal(0),
                      cand.spot_hourly, cand.spec.vcpu, cand.spec.memory_mib)  # fmt: skip
    ps, _name, _note = _probabilities(scorer, _features(table.region, zone, [base], table, history))
    p = Decimal(repr(ps[0])).quantize(_P, rounding=ROUND_HALF_UP)
    risk = (p * interruption_cost).quantize(_MONEY, rounding=ROUND_HALF_UP)
    return replace(base, interruption_per_hour=p, interruption_cost_hourly=risk,
                   expected_hourly=(cand.spot_hourly + risk).quantize(_MONEY, rounding=ROUND_HALF_UP))  # fmt: skip
