"""The price book: on-demand and spot prices, instance specs, EBS and inter-AZ transfer prices.

Implements engines.contract.PriceBook over the real AWS data files (app/data, or refreshed copies).
Every lookup of an unknown region or instance type raises CatalogError naming it: a missing price
is never a silent zero. Built once per process by `load_price_book()` and passed to engines.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from app.pricing import files
from engines.contract import InstanceSpec, SpotAdvice
from engines.money import to_decimal


class CatalogError(LookupError):
    """An unknown region, instance type or volume type, or an unusable data file."""


class PriceCatalog:
    def __init__(self, data_dir: Path | None = None) -> None:
        """Load and validate the data files; `data_dir` holds refreshed copies, if any."""
        self.sources: dict[str, Path] = {}
        try:
            self._load(data_dir)
        except (files.DataFileError, OSError, KeyError, ValueError) as exc:
            raise CatalogError(f"price data unusable: {exc}") from exc

    def _read(self, name: str, data_dir: Path | None) -> str:
        path = files.locate(name, data_dir)
        self.sources[name] = path
        return path.read_text(encoding="utf-8")

    def _load(self, data_dir: Path | None) -> None:
        self._ondemand: dict[tuple[str, str], Decimal] = {}
        self._spot_avg: dict[tuple[str, str], Decimal] = {}
        self._region_types: dict[str, list[str]] = {}
        generation: dict[str, bool] = {}
        for row in files.read_csv(files.ONDEMAND, self._read(files.ONDEMAND, data_dir)):
            generation[row["instance_type"]] = row["generation"] == "current"
            key = (row["region"], row["instance_type"])
            self._ondemand[key] = to_decimal(row["price_per_hour_usd"])
            if row["spot_avg_price_per_hour_usd"]:
                self._spot_avg[key] = to_decimal(row["spot_avg_price_per_hour_usd"])
            self._region_types.setdefault(row["region"], []).append(row["instance_type"])
        self._specs: dict[str, InstanceSpec] = {}
        for row in files.read_csv(files.INSTANCE_TYPES, self._read(files.INSTANCE_TYPES, data_dir)):
            self._specs[row["instance_type"]] = InstanceSpec(
                instance_type=row["instance_type"],
                vcpu=int(row["vcpu"]),
                memory_mib=int(row["memory_mib"]),
                gpu_count=int(row["gpu_count"] or 0),
                architectures=tuple(a for a in row["architectures"].split(";") if a),
                max_enis=int(row["maximum_network_interfaces"]) if row["maximum_network_interfaces"] else None,
                ipv4_per_eni=int(row["ipv4_addresses_per_interface"]) if row["ipv4_addresses_per_interface"] else None,
                burstable=row["burstable"] == "true",
                # moto's DescribeInstanceTypes copy marks m5/c5/r5 as previous generation; the price
                # list (ec2instances.info) is AWS's own current/previous split, so it wins.
                current_generation=generation.get(row["instance_type"], row["current_generation"] == "true"),
            )
        self._ebs = {
            (r["region"], r["volume_type"]): to_decimal(r["price_per_gb_month_usd"])
            for r in files.read_csv(files.EBS, self._read(files.EBS, data_dir))
        }
        self._ebs_dims = {
            (r["region"], r["volume_type"], r["dimension"]): to_decimal(r["price_usd"])
            for r in files.read_csv(files.EBS_IOPS, self._read(files.EBS_IOPS, data_dir))
        }
        self._inter_az = {
            r["region"]: to_decimal(r["price_per_gb_usd"])
            for r in files.read_csv(files.INTER_AZ, self._read(files.INTER_AZ, data_dir))
        }
        self._advisor = files.read_spot_advisor(self._read(files.SPOT_ADVISOR, data_dir))

    # -- lookups -------------------------------------------------------------------------------

    def regions(self) -> list[str]:
        return sorted(self._region_types)

    def _check_region(self, region: str, table: str) -> None:
        if region not in self._region_types:
            raise CatalogError(f"unknown region {region!r} (no {table} prices)")

    def on_demand_hourly(self, region: str, instance_type: str) -> Decimal:
        self._check_region(region, "on-demand")
        try:
            return self._ondemand[(region, instance_type)]
        except KeyError:
            raise CatalogError(f"unknown instance type {instance_type!r} in {region} (no on-demand price)") from None

    def spot_avg_hourly(self, region: str, instance_type: str) -> Decimal | None:
        self.on_demand_hourly(region, instance_type)  # same errors for unknown names
        return self._spot_avg.get((region, instance_type))

    def spot_advice(self, region: str, instance_type: str, os: str = "Linux") -> SpotAdvice:
        regions = self._advisor["spot_advisor"]
        if region not in regions:
            raise CatalogError(f"unknown region {region!r} (not in the Spot Advisor feed)")
        entry = regions[region].get(os, {}).get(instance_type)
        if entry is None:
            raise CatalogError(f"no Spot Advisor data for {instance_type!r} ({os}) in {region}")
        bucket = int(entry["r"])
        label = str(self._advisor["ranges"][bucket]["label"])
        return SpotAdvice(interruption_bucket=bucket, interruption_label=label, savings_percent=int(entry["s"]))

    def instance_spec(self, instance_type: str) -> InstanceSpec:
        try:
            return self._specs[instance_type]
        except KeyError:
            raise CatalogError(f"unknown instance type {instance_type!r} (no specification)") from None

    def instance_types(self, region: str) -> list[str]:
        self._check_region(region, "on-demand")
        return sorted(self._region_types[region])

    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal:
        if not any(r == region for r, _ in self._ebs):
            raise CatalogError(f"unknown region {region!r} (no EBS prices)")
        try:
            return self._ebs[(region, volume_type)]
        except KeyError:
            raise CatalogError(f"unknown EBS volume type {volume_type!r} in {region}") from None

    def ebs_dimension_price(self, region: str, volume_type: str, dimension: str) -> Decimal:
        """Price of one unit of a provisioned EBS dimension (ebs-iops-throughput-prices.csv):
        `provisioned_iops` ($/IOPS-month, gp3 and io1), `provisioned_iops_tier1..3` (io2),
        `provisioned_throughput` ($/GiBps-month, gp3)."""
        self.ebs_gb_month(region, volume_type)  # same errors for an unknown region or type
        try:
            return self._ebs_dims[(region, volume_type, dimension)]
        except KeyError:
            raise CatalogError(f"no {dimension} price for EBS {volume_type} in {region}") from None

    def inter_az_per_gb(self, region: str) -> Decimal:
        """$/GB charged in EACH direction for traffic between AZs of one region."""
        try:
            return self._inter_az[region]
        except KeyError:
            raise CatalogError(f"unknown region {region!r} (no inter-AZ transfer price)") from None


@lru_cache(maxsize=4)
def load_price_book(data_dir: Path | None = None) -> PriceCatalog:
    """The process-wide catalog for `data_dir` (refreshed copies), cached: the files are read once."""
    return PriceCatalog(data_dir)
