"""Rank Spot instance types for a set of pods by expected cost per hour, interruptions included.

Pure: plain data in, plain data out (no clients, no database, no clock), so the same inputs give
the same ranking. Called by the Spot interruption handler (`app.services.spot_replacement`) to
choose the replacement type set of an interrupted node, and meant for the Spot optimizer engine.

    expected $/hour = spot price + P(interruption in one hour) x cost of one interruption

P comes from the pool's Spot Advisor bucket (the share of instances AWS interrupted in the last
month), used as a prior: the bucket's monthly rate spread evenly over a month's hours. A type is
a candidate only if the pods fit (CPU, memory, pod slots, architecture, GPUs) and its pool (type,
zone) is not one the caller avoids (e.g. interrupted minutes ago). Every other type is returned
in `rejected` with the reason, so "why not m5.large?" always has an answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from engines.contract import InstanceSpec
from engines.money import HOURS_PER_MONTH

# The Spot Advisor buckets are ranges of the monthly interruption frequency (<5 %, 5-10 %,
# 10-15 %, 15-20 %, >20 %); the midpoint is the prior. The open-ended top bucket takes 25 %:
# pessimistic on purpose, it is the bucket to stay away from.
BUCKET_MONTHLY_RATE: dict[int, Decimal] = {
    0: Decimal("0.025"),
    1: Decimal("0.075"),
    2: Decimal("0.125"),
    3: Decimal("0.175"),
    4: Decimal("0.25"),
}
# Kubelet, system reservations and eviction thresholds take a share of every node; pods are
# packed against this fraction of the raw capacity (EKS reserves roughly 5-10 %).
DEFAULT_USABLE_FRACTION = Decimal("0.9")
# Node labels say amd64, the EC2 API says x86_64.
_ARCH_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}
# Accelerator families (GPU, Inferentia, Trainium, FPGA, video transcoding, Habana): cheap on Spot
# now and then, but capacity others need and a poor home for pods that use no accelerator.
_ACCELERATOR_FAMILY = re.compile(r"^(p|g|inf|trn|dl|f|vt)\d")
_PROBABILITY = Decimal("0.0000000001")
_MONEY = Decimal("0.000001")  # $/hour to the millionth of a dollar, as EC2 prices are quoted


def normalize_architecture(arch: str) -> str:
    """`amd64` (a node label) and `x86_64` (EC2) name the same architecture."""
    return _ARCH_ALIASES.get(arch.strip().lower(), arch.strip().lower())


@dataclass(frozen=True)
class PodNeeds:
    """What the pods to place ask for, summed: requests, pod count (DaemonSets included, they
    follow the node), the architecture of their images and GPUs."""

    cpu_millicores: int
    memory_bytes: int
    pods: int
    architecture: str = "x86_64"
    gpus: int = 0


@dataclass(frozen=True)
class Pool:
    """A Spot capacity pool: one instance type in one availability zone."""

    instance_type: str
    zone: str


@dataclass(frozen=True)
class SpotCandidate:
    """One instance type with its Spot price ($/hour) and Spot Advisor bucket (0-4) in the zone;
    None when the price book has no Spot price or no Advisor data for it."""

    spec: InstanceSpec
    spot_hourly: Decimal | None
    interruption_bucket: int | None


@dataclass(frozen=True)
class RankedType:
    instance_type: str
    spot_hourly: Decimal
    interruption_bucket: int
    interruption_per_hour: Decimal  # probability, from the bucket's monthly rate
    interruption_cost_hourly: Decimal  # interruption_per_hour x the cost of one interruption
    expected_hourly: Decimal  # spot_hourly + interruption_cost_hourly
    vcpu: int
    memory_mib: int


@dataclass(frozen=True)
class RejectedType:
    instance_type: str
    reason: str


@dataclass(frozen=True)
class Ranking:
    """`ranked`: the best `count` candidates, cheapest expected $/hour first; `rejected`: every
    type that could not be a candidate, with why, in input order; `eligible`: how many fit."""

    needs: PodNeeds
    zone: str
    interruption_cost: Decimal
    ranked: tuple[RankedType, ...]
    rejected: tuple[RejectedType, ...]
    eligible: int

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(r.instance_type for r in self.ranked)


def interruption_per_hour(bucket: int) -> Decimal:
    """P(one interruption in an hour) for a Spot Advisor bucket, its monthly rate spread evenly."""
    if bucket not in BUCKET_MONTHLY_RATE:
        raise ValueError(f"Spot Advisor bucket {bucket} is not one of 0-4")
    return (BUCKET_MONTHLY_RATE[bucket] / HOURS_PER_MONTH).quantize(_PROBABILITY, rounding=ROUND_HALF_UP)


def _misfit(
    needs: PodNeeds, spec: InstanceSpec, usable: Decimal, allow_burstable: bool, allow_previous: bool
) -> str | None:
    """Why the pods cannot run on `spec`, or None when they fit."""
    arch = normalize_architecture(needs.architecture)
    if arch not in {normalize_architecture(a) for a in spec.architectures}:
        return f"architecture {'/'.join(spec.architectures) or 'unknown'}; the pods need {arch}"
    if needs.gpus > spec.gpu_count:
        return f"{spec.gpu_count} GPUs; the pods need {needs.gpus}"
    if needs.gpus == 0 and _ACCELERATOR_FAMILY.match(spec.instance_type):
        return "accelerator type; the pods use no accelerator"
    if not spec.current_generation and not allow_previous:
        return "previous generation (Xen, no ENA: current EKS AMIs need ENA, and its pools are shrinking)"
    if spec.burstable and not allow_burstable:
        return "burstable (CPU credits run out under a steady load)"
    cpu_room = Decimal(spec.vcpu * 1000) * usable
    if Decimal(needs.cpu_millicores) > cpu_room:
        return f"{spec.vcpu} vCPU ({cpu_room:.0f}m usable); the pods request {needs.cpu_millicores}m"
    memory_room = Decimal(spec.memory_mib * 1024 * 1024) * usable
    if Decimal(needs.memory_bytes) > memory_room:
        return (
            f"{spec.memory_mib} MiB ({memory_room / (1024 * 1024):.0f} MiB usable); the pods request "
            f"{needs.memory_bytes // (1024 * 1024)} MiB"
        )
    if needs.pods > spec.max_pods:
        return f"{spec.max_pods} pod slots; {needs.pods} pods"
    return None


def rank_spot_types(
    needs: PodNeeds,
    candidates: Sequence[SpotCandidate],
    *,
    zone: str,
    interruption_cost: Decimal,
    count: int,
    avoid: Collection[Pool] = (),
    usable_fraction: Decimal = DEFAULT_USABLE_FRACTION,
    allow_burstable: bool = False,
    allow_previous_generation: bool = False,
) -> Ranking:
    """The `count` best Spot types in `zone` for `needs`, by expected $/hour.

    `interruption_cost` ($) is what one interruption of these pods costs (restarts, lost work,
    the overlap of old and new capacity); the caller prices it. `avoid`: pools that must not be
    used now. Ties break on Spot price, then bucket, then name, so the order is total.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    if interruption_cost < 0:
        raise ValueError("interruption_cost must not be negative")
    avoided = {p.instance_type for p in avoid if p.zone == zone}
    ranked: list[RankedType] = []
    rejected: list[RejectedType] = []
    seen: set[str] = set()
    for cand in candidates:
        name = cand.spec.instance_type
        if name in seen:  # the first entry of a type wins; a second would be a caller's mistake
            continue
        seen.add(name)
        reason = _misfit(needs, cand.spec, usable_fraction, allow_burstable, allow_previous_generation)
        if reason is None and name in avoided:
            reason = f"pool {name} in {zone} is avoided (recently interrupted)"
        if reason is None and cand.spot_hourly is None:
            reason = "no Spot price"
        if reason is None and cand.interruption_bucket is None:
            reason = "no Spot Advisor data (interruption risk unknown)"
        if reason is not None:
            rejected.append(RejectedType(name, reason))
            continue
        assert cand.spot_hourly is not None and cand.interruption_bucket is not None
        p = interruption_per_hour(cand.interruption_bucket)
        risk = (p * interruption_cost).quantize(_MONEY, rounding=ROUND_HALF_UP)
        ranked.append(RankedType(
            instance_type=name, spot_hourly=cand.spot_hourly, interruption_bucket=cand.interruption_bucket,
            interruption_per_hour=p, interruption_cost_hourly=risk,
            expected_hourly=(cand.spot_hourly + risk).quantize(_MONEY, rounding=ROUND_HALF_UP),
            vcpu=cand.spec.vcpu, memory_mib=cand.spec.memory_mib,
        ))  # fmt: skip
    ranked.sort(key=lambda r: (r.expected_hourly, r.spot_hourly, r.interruption_bucket, r.instance_type))
    return Ranking(
        needs=needs,
        zone=zone,
        interruption_cost=interruption_cost,
        ranked=tuple(ranked[:count]),
        rejected=tuple(rejected),
        eligible=len(ranked),
    )
