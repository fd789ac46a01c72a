"""The price book as plain data, for the sandboxed child of an uploaded engine.

The parent (`app.services.upload_sandbox`) calls `dump_prices` with the real price book
(`app.pricing.load_price_book()`) and the regions of the snapshot; the child rebuilds a
`DataPriceBook`, which answers the `engines.contract.PriceBook` protocol from those tables and
raises `LookupError` naming what is unknown, exactly as the catalog does. The child so needs no
file, network or database access to price its recommendations.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import asdict
from decimal import Decimal
from typing import Any

from engines.contract import InstanceSpec, PriceBook, SpotAdvice

EBS_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")
EBS_DIMENSIONS = ("provisioned_iops", "provisioned_iops_tier1", "provisioned_iops_tier2", "provisioned_iops_tier3",
                  "provisioned_throughput")  # fmt: skip


def dump_prices(book: PriceBook, regions: Iterable[str]) -> dict[str, Any]:
    """Every price the book has for `regions` (unknown regions are left out: lookups then fail
    in the child as they would in the parent), as JSON-ready strings."""
    out: dict[str, Any] = {"regions": {}, "specs": {}}
    for region in sorted(set(regions)):
        try:
            types_ = book.instance_types(region)
        except LookupError:
            continue
        entry: dict[str, Any] = {"on_demand": {}, "spot_avg": {}, "advice": {}, "ebs": {}, "ebs_dims": {}}
        for itype in types_:
            entry["on_demand"][itype] = str(book.on_demand_hourly(region, itype))
            spot = book.spot_avg_hourly(region, itype)
            if spot is not None:
                entry["spot_avg"][itype] = str(spot)
            with contextlib.suppress(LookupError):
                entry["advice"][itype] = asdict(book.spot_advice(region, itype))
            if itype not in out["specs"]:
                try:
                    spec = asdict(book.instance_spec(itype))
                    spec["architectures"] = list(spec["architectures"])
                    out["specs"][itype] = spec
                except LookupError:
                    pass
        for vtype in EBS_TYPES:
            try:
                entry["ebs"][vtype] = str(book.ebs_gb_month(region, vtype))
            except LookupError:
                continue
            for dim in EBS_DIMENSIONS:
                with contextlib.suppress(LookupError):
                    entry["ebs_dims"][f"{vtype}|{dim}"] = str(book.ebs_dimension_price(region, vtype, dim))
        with contextlib.suppress(LookupError):
            entry["inter_az"] = str(book.inter_az_per_gb(region))
        out["regions"][region] = entry
    return out


class DataPriceBook:
    """A PriceBook over the tables `dump_prices` wrote."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._regions: dict[str, dict[str, Any]] = data.get("regions", {})
        self._specs: dict[str, dict[str, Any]] = data.get("specs", {})

    def _region(self, region: str) -> dict[str, Any]:
        try:
            return self._regions[region]
        except KeyError:
            raise LookupError(f"unknown region {region!r} (no prices were given to the sandbox)") from None

    def on_demand_hourly(self, region: str, instance_type: str) -> Decimal:
        try:
            return Decimal(self._region(region)["on_demand"][instance_type])
        except KeyError:
            raise LookupError(f"unknown instance type {instance_type!r} in {region} (no on-demand price)") from None

    def spot_avg_hourly(self, region: str, instance_type: str) -> Decimal | None:
        self.on_demand_hourly(region, instance_type)
        value = self._region(region)["spot_avg"].get(instance_type)
        return None if value is None else Decimal(value)

    def spot_advice(self, region: str, instance_type: str, os: str = "Linux") -> SpotAdvice:
        entry = self._region(region)["advice"].get(instance_type) if os == "Linux" else None
        if entry is None:
            raise LookupError(f"no Spot Advisor data for {instance_type!r} ({os}) in {region}")
        return SpotAdvice(**entry)

    def instance_spec(self, instance_type: str) -> InstanceSpec:
        try:
            spec = dict(self._specs[instance_type])
        except KeyError:
            raise LookupError(f"unknown instance type {instance_type!r} (no specification)") from None
        spec["architectures"] = tuple(spec.get("architectures", ()))
        return InstanceSpec(**spec)

    def instance_types(self, region: str) -> list[str]:
        return sorted(self._region(region)["on_demand"])

    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal:
        try:
            return Decimal(self._region(region)["ebs"][volume_type])
        except KeyError:
            raise LookupError(f"unknown EBS volume type {volume_type!r} in {region}") from None

    def ebs_dimension_price(self, region: str, volume_type: str, dimension: str) -> Decimal:
        self.ebs_gb_month(region, volume_type)
        try:
            return Decimal(self._region(region)["ebs_dims"][f"{volume_type}|{dimension}"])
        except KeyError:
            raise LookupError(f"no {dimension} price for EBS {volume_type} in {region}") from None

    def inter_az_per_gb(self, region: str) -> Decimal:
        try:
            return Decimal(self._region(region)["inter_az"])
        except KeyError:
            raise LookupError(f"unknown region {region!r} (no inter-AZ transfer price)") from None
