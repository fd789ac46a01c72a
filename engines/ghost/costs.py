"""Monthly prices the ghost probe needs: an instance's compute and the EBS volumes attached to it.

Called by `engine.GhostProbeEngine`. Every number comes from the price book; a lookup that raises
`LookupError` propagates to the engine, which skips the instance with that message (a stop priced
from a guess would be worse than no recommendation). The price book holds Linux on-demand prices
only, so a Windows instance is refused here with that reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engines.contract import PriceBook
from engines.money import ZERO, quantize
from engines.snapshot_aws import Instance, Volume

# gp3 includes 3,000 IOPS and 125 MiB/s; io2 IOPS are billed in tiers (AWS EBS pricing page).
GP3_FREE_IOPS = 3000
GP3_FREE_MIBPS = 125
IO2_TIERS = ((32000, "provisioned_iops_tier1"), (64000, "provisioned_iops_tier2"), (None, "provisioned_iops_tier3"))
MIB_PER_GIB = Decimal(1024)


@dataclass(frozen=True)
class VolumeCost:
    volume: Volume
    monthly: Decimal
    parts: dict[str, str]

    def as_evidence(self) -> dict[str, Any]:
        v = self.volume
        return {
            "volume_id": v.volume_id,
            "type": v.volume_type,
            "size_gb": v.size_gb,
            "iops": v.iops,
            "throughput_mibps": v.throughput,
            "monthly_usd": str(self.monthly),
            "price_parts": self.parts,
        }


def instance_hourly(prices: PriceBook, instance: Instance) -> Decimal:
    """On-demand $/hour of the instance; raises LookupError for what the price book cannot price."""
    if instance.platform.lower() != "linux":
        raise LookupError(
            f"no {instance.platform} on-demand price for {instance.instance_type} in the price book "
            "(it holds Linux prices only)"
        )
    return prices.on_demand_hourly(instance.region, instance.instance_type)


def _iops_cost(prices: PriceBook, v: Volume) -> tuple[Decimal, dict[str, str]]:
    iops = v.iops or 0
    if v.volume_type == "gp3" and iops > GP3_FREE_IOPS:
        price = prices.ebs_dimension_price(v.region, "gp3", "provisioned_iops")
        return price * (iops - GP3_FREE_IOPS), {"provisioned_iops": f"{iops - GP3_FREE_IOPS} x {price}"}
    if v.volume_type == "io1" and iops:
        price = prices.ebs_dimension_price(v.region, "io1", "provisioned_iops")
        return price * iops, {"provisioned_iops": f"{iops} x {price}"}
    if v.volume_type == "io2" and iops:
        total, parts, floor = ZERO, {}, 0
        for ceiling, dimension in IO2_TIERS:
            units = (iops if ceiling is None else min(iops, ceiling)) - floor
            if units <= 0:
                break
            price = prices.ebs_dimension_price(v.region, "io2", dimension)
            total += price * units
            parts[dimension] = f"{units} x {price}"
            floor = ceiling or iops
        return total, parts
    return ZERO, {}


def volume_monthly(prices: PriceBook, v: Volume) -> VolumeCost:
    """$/month of one volume: GB-month storage plus provisioned IOPS and throughput above what is included."""
    gb_price = prices.ebs_gb_month(v.region, v.volume_type)
    total = gb_price * v.size_gb
    parts = {"storage": f"{v.size_gb} GB x {gb_price}"}
    iops_total, iops_parts = _iops_cost(prices, v)
    total += iops_total
    parts.update(iops_parts)
    if v.volume_type == "gp3" and (v.throughput or 0) > GP3_FREE_MIBPS:
        per_gibps = prices.ebs_dimension_price(v.region, "gp3", "provisioned_throughput")
        extra = (v.throughput or 0) - GP3_FREE_MIBPS
        total += per_gibps * extra / MIB_PER_GIB
        parts["provisioned_throughput"] = f"{extra} MiB/s x {per_gibps}/1024"
    if v.volume_type == "standard":
        parts["io_requests"] = "billed per I/O request, not included (usage-based)"
    return VolumeCost(v, quantize(total), parts)


def attached_volumes(volumes: tuple[Volume, ...], instance_id: str) -> list[Volume]:
    """Volumes attached to the instance, in id order (a stable evidence order)."""
    found = [v for v in volumes if any(a.instance_id == instance_id for a in v.attachments)]
    return sorted(found, key=lambda v: v.volume_id)


def storage_monthly(prices: PriceBook, volumes: list[Volume]) -> tuple[Decimal, list[VolumeCost]]:
    costs = [volume_monthly(prices, v) for v in volumes]
    return quantize(sum((c.monthly for c in costs), ZERO)), costs
