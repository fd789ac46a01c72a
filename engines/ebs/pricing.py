"""Monthly price of one EBS volume, and of the gp3 volume that matches a gp2 volume's performance.

Called by `engines.ebs.engine`. Every figure comes from the price book (`ebs_gb_month`,
`ebs_dimension_price`); an unknown region, type or dimension raises `LookupError`, which the
engine turns into a skip. Billing rules (AWS "Amazon EBS pricing" page and EBS User Guide,
"Amazon EBS volume types"):

- storage is billed per provisioned GiB-month for every type;
- gp3 includes 3,000 IOPS and 125 MiB/s; only IOPS and throughput above those are billed;
- io1 bills every provisioned IOPS; io2 bills IOPS in tiers: up to 32,000 at tier 1,
  32,001-64,000 at tier 2, above 64,000 at tier 3;
- gp3 throughput is quoted per GiBps-month in the price file (40.96 = $0.04 per MiB/s-month in
  us-east-1), so one MiB/s costs that price / 1024;
- gp2 has no IOPS charge: it gives a baseline of 3 IOPS per GiB (at least 100, at most 16,000)
  and at most 250 MiB/s for volumes above 170 GiB (128 MiB/s up to 170 GiB).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from engines.contract import PriceBook
from engines.money import ZERO, quantize
from engines.snapshot_aws import Volume

GP3_FREE_IOPS = 3000
GP3_FREE_THROUGHPUT_MIBPS = 125
IO2_TIERS = ((32_000, "provisioned_iops_tier1"), (64_000, "provisioned_iops_tier2"), (None, "provisioned_iops_tier3"))
GP2_MIN_IOPS, GP2_MAX_IOPS, GP2_IOPS_PER_GIB = 100, 16_000, 3
GP2_LARGE_GIB = 170  # above this size gp2 reaches its 250 MiB/s maximum
GP2_MAX_THROUGHPUT_MIBPS = 250
MIB_PER_GIB = Decimal(1024)


@dataclass(frozen=True)
class VolumePrice:
    """A volume's monthly cost, rounded to the cent, and how it was built (for the evidence)."""

    monthly: Decimal
    parts: dict[str, str]
    """component -> "$ amount (quantity x unit price)", e.g. storage, provisioned_iops"""
    iops: int | None = None
    throughput_mibps: int | None = None


def gp2_baseline_iops(size_gib: int) -> int:
    return min(max(GP2_MIN_IOPS, GP2_IOPS_PER_GIB * size_gib), GP2_MAX_IOPS)


def gp2_max_throughput(size_gib: int) -> int:
    """gp2's maximum throughput; 125 for small volumes, since gp3's included 125 MiB/s is the
    figure AWS's gp2-to-gp3 guidance matches against (gp2 peaks at 128 MiB/s up to 170 GiB)."""
    return GP2_MAX_THROUGHPUT_MIBPS if size_gib > GP2_LARGE_GIB else GP3_FREE_THROUGHPUT_MIBPS


def _part(quantity: int | Decimal, unit: Decimal, what: str) -> tuple[Decimal, str]:
    amount = Decimal(quantity) * unit
    return amount, f"${quantize(amount)} ({quantity} {what} x ${unit})"


def price_volume(
    prices: PriceBook, region: str, volume_type: str, size_gib: int, iops: int | None, throughput: int | None
) -> VolumePrice:
    """Monthly cost of a volume of this type, size and provisioned performance in `region`.

    gp3 without stated IOPS/throughput has AWS's defaults (3,000 / 125); io1/io2 without IOPS
    cannot be priced (LookupError), since provisioned IOPS are most of their bill.
    """
    if size_gib <= 0:
        raise LookupError(f"volume size {size_gib} GiB cannot be priced")
    parts: dict[str, str] = {}
    total, parts["storage"] = _part(size_gib, prices.ebs_gb_month(region, volume_type), "GiB-month")
    if volume_type == "gp3":
        iops = GP3_FREE_IOPS if iops is None else iops
        throughput = GP3_FREE_THROUGHPUT_MIBPS if throughput is None else throughput
        extra_iops = max(0, iops - GP3_FREE_IOPS)
        if extra_iops:
            amount, parts["provisioned_iops"] = _part(
                extra_iops, prices.ebs_dimension_price(region, "gp3", "provisioned_iops"), "IOPS above 3000"
            )
            total += amount
        extra_mibps = max(0, throughput - GP3_FREE_THROUGHPUT_MIBPS)
        if extra_mibps:
            per_mibps = prices.ebs_dimension_price(region, "gp3", "provisioned_throughput") / MIB_PER_GIB
            amount, parts["provisioned_throughput"] = _part(extra_mibps, per_mibps, "MiB/s above 125")
            total += amount
    elif volume_type in ("io1", "io2"):
        if iops is None:
            raise LookupError(f"{volume_type} volume without provisioned IOPS cannot be priced")
        if volume_type == "io1":
            amount, parts["provisioned_iops"] = _part(
                iops, prices.ebs_dimension_price(region, "io1", "provisioned_iops"), "IOPS"
            )
            total += amount
        else:
            total += _io2_iops(prices, region, iops, parts)
    elif volume_type == "gp2":
        iops = gp2_baseline_iops(size_gib) if iops is None else iops
    return VolumePrice(quantize(total), parts, iops, throughput)


def _io2_iops(prices: PriceBook, region: str, iops: int, parts: dict[str, str]) -> Decimal:
    total, floor = ZERO, 0
    for ceiling, dimension in IO2_TIERS:
        top = iops if ceiling is None else min(iops, ceiling)
        if top > floor:
            amount, parts[dimension] = _part(
                top - floor, prices.ebs_dimension_price(region, "io2", dimension), f"IOPS ({dimension})"
            )
            total += amount
        floor = ceiling or floor
    return total


def price_of(prices: PriceBook, volume: Volume) -> VolumePrice:
    return price_volume(prices, volume.region, volume.volume_type, volume.size_gb, volume.iops, volume.throughput)


def gp3_match(prices: PriceBook, volume: Volume) -> VolumePrice:
    """The gp3 volume of the same size giving at least the gp2 volume's baseline IOPS and maximum
    throughput (so a converted volume is never slower): only the excess over 3,000 / 125 is paid."""
    iops = max(GP3_FREE_IOPS, volume.iops or gp2_baseline_iops(volume.size_gb))
    throughput = max(GP3_FREE_THROUGHPUT_MIBPS, gp2_max_throughput(volume.size_gb))
    return price_volume(prices, volume.region, "gp3", volume.size_gb, iops, throughput)
