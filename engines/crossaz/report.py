"""Prices, evidence and words of the cross-AZ engine: what a pair costs and why a change saves.

Called by `engines.crossaz.engine` and `engines.crossaz.affinity`. Money is Decimal from the price
book's inter-AZ price (app/data/data-transfer-inter-az.csv, $/GB charged in EACH direction, so a GB
that crosses zones costs twice that); byte counts stay floats until they are priced.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from engines.crossaz.matrix import Destination, Key, Matrix
from engines.money import HOURS_PER_MONTH, quantize, to_decimal

GIB = 2**30  # AWS meters data transfer in GB of 2^30 bytes
DAYS_PER_MONTH = HOURS_PER_MONTH / 24  # the one month of engines.money: 730 h = 30.42 days
PRICE_FILE = "app/data/data-transfer-inter-az.csv (see app/data/README.md, section 6)"


@dataclass(frozen=True)
class Pair:
    """One client workload's traffic to one destination, with its zones and expected crossing."""

    source: Key
    bytes_per_day: float
    clients: Counter[str]
    share: float

    @property
    def cross_bytes_per_day(self) -> float:
        return self.bytes_per_day * self.share


@dataclass(frozen=True)
class Group:
    """One destination's pairs: flow rows of the matrix, largest crossing first (ties by client name)."""

    matrix: Matrix
    dest: Destination
    rows: np.ndarray
    share: np.ndarray  # of every flow of the matrix, today's routing

    def pair(self, row: int) -> Pair:
        m = self.matrix
        src = int(m.flow_src[row])
        return Pair(m.sources[src], float(m.flow_bytes[row]), m.clients_of(src), float(self.share[row]))

    def pairs(self, limit: int) -> list[Pair]:
        return [self.pair(int(r)) for r in self.rows[:limit]]

    @property
    def bytes_per_day(self) -> float:
        return float(self.matrix.flow_bytes[self.rows].sum())

    @property
    def cross_bytes_per_day(self) -> float:
        return float((self.matrix.flow_bytes[self.rows] * self.share[self.rows]).sum())

    def client_pods(self) -> dict[str, int]:
        m = self.matrix
        counts = m.source_pods[m.flow_src[self.rows]].sum(axis=0)
        return {z: int(n) for z, n in zip(m.zones, counts, strict=True) if n}

    def client_load(self) -> dict[str, float]:
        """Bytes per day sent from each zone (a client's bytes split over its pods' zones)."""
        m = self.matrix
        pods = m.source_pods[m.flow_src[self.rows]]
        frac = pods / pods.sum(axis=1, keepdims=True)
        load = (frac * m.flow_bytes[self.rows][:, None]).sum(axis=0)
        return {z: float(b) for z, b in zip(m.zones, load, strict=True) if b}


def usd_per_byte_day(price_per_gb: Decimal) -> float:
    """Monthly USD of one byte a day crossing zones, as a float: only to pre-filter many pairs."""
    return float(DAYS_PER_MONTH * price_per_gb * 2) / GIB


def monthly_cost(cross_bytes_per_day: float, price_per_gb: Decimal) -> Decimal:
    """Monthly USD of bytes crossing zones every day: out of one AZ and into the other."""
    gb_month = to_decimal(round(cross_bytes_per_day, 3)) * DAYS_PER_MONTH / GIB
    return quantize(gb_month * price_per_gb * 2)


def gib(value: float) -> float:
    return round(value / GIB, 3)


def zones_text(zones: dict[str, int] | Counter[str]) -> str:
    return ", ".join(f"{z} {n}" for z, n in sorted(zones.items())) or "none"


def zones_phrase(zones: list[str]) -> str:
    """'zone us-east-1c has' / 'zones us-east-1b, us-east-1c have'."""
    return f"zone {zones[0]} has" if len(zones) == 1 else f"zones {', '.join(zones)} have"


def pair_facts(pair: Pair, price: Decimal) -> dict[str, Any]:
    return {
        "client": f"{pair.source[0]}/{pair.source[1]}",
        "bytes_per_day": round(pair.bytes_per_day),
        "gib_per_day": gib(pair.bytes_per_day),
        "client_pods_by_zone": dict(sorted(pair.clients.items())),
        "cross_zone_share": round(pair.share, 4),
        "cross_zone_gib_per_day": gib(pair.cross_bytes_per_day),
        "monthly_usd": str(monthly_cost(pair.cross_bytes_per_day, price)),
    }


def price_facts(region: str, price: Decimal) -> dict[str, Any]:
    return {
        "region": region,
        "inter_az_usd_per_gb_each_direction": str(price),
        "inter_az_usd_per_gb_crossing": str(price * 2),
        "price_source": PRICE_FILE,
        "gb": "2^30 bytes",
        "days_per_month": str(quantize(DAYS_PER_MONTH)),
        "model": (
            "a client pod in zone z reaches uniformly spread endpoints across zones with probability "
            "1 - endpoints in z / all endpoints; with trafficDistribution a client in a zone with "
            "endpoints stays local and one in a zone without endpoints always crosses"
        ),
    }


def destination_facts(group: Group, price: Decimal, top: int) -> dict[str, Any]:
    dest, total, crossing = group.dest, group.bytes_per_day, group.cross_bytes_per_day
    return {
        "destination": f"{dest.kind}/{dest.namespace}/{dest.name}",
        "endpoints_by_zone": dict(sorted(dest.zones.items())),
        "client_pods_by_zone": group.client_pods(),
        "client_workloads": len(group.rows),
        "bytes_per_day": round(total),
        "cross_zone_bytes_per_day": round(crossing),
        "cross_zone_share": round(crossing / total, 4) if total else 0.0,
        "traffic_distribution": dest.service.traffic_distribution if dest.service else None,
        "top_pairs": [pair_facts(p, price) for p in group.pairs(top)],
    }


def overloaded(group: Group, ratio: float) -> list[str]:
    """Zones whose share of the client bytes exceeds `ratio` x their share of the endpoints."""
    load, dest = group.client_load(), group.dest
    total_load, endpoints = sum(load.values()), dest.endpoints
    if total_load <= 0 or endpoints == 0:
        return []
    return sorted(z for z, b in load.items() if dest.zones.get(z) and
                  (b / total_load) > ratio * (dest.zones[z] / endpoints))


def distribution_rationale(group: Group, value: str, saving: Decimal, hot: list[str]) -> str:
    dest, crossing, total = group.dest, group.cross_bytes_per_day, group.bytes_per_day
    top = group.pair(int(group.rows[0]))
    text = (
        f"Service {dest.namespace}/{dest.name} receives {gib(total):g} GiB/day from {len(group.rows)} client "
        f"workload(s); with its endpoints spread over zones ({zones_text(dest.zones)}), about "
        f"{crossing / total:.0%} of it ({gib(crossing):g} GiB/day) crosses availability zones, billed in both "
        f"directions. Every zone with clients has endpoints, so trafficDistribution: {value} keeps that traffic "
        f"in-zone and saves about ${saving}/month. Largest client: {top.source[0]}/{top.source[1]} "
        f"({gib(top.bytes_per_day):g} GiB/day)."
    )
    if hot:
        text += (f" Clients in {', '.join(hot)} outnumber the endpoints there: those endpoints would take more "
                 "than their share of the load, so check their headroom first.")
    return text


def affinity_rationale(pair: Pair, dest: Destination, why: str, saving: Decimal, projected_share: float) -> str:
    return (
        f"{pair.source[0]}/{pair.source[1]} sends {gib(pair.bytes_per_day):g} GiB/day to {dest.kind} "
        f"{dest.namespace}/{dest.name}; {pair.share:.0%} of it crosses zones (clients: {zones_text(pair.clients)}; "
        f"endpoints: {zones_text(dest.zones)}). {why} A preferred pod-affinity term towards the destination's pods "
        f"(topology zone) lets the scheduler place the clients where their peer runs, cutting the crossing share to "
        f"about {projected_share:.0%} and saving about ${saving}/month. The workload rolls out to apply it; being "
        "preferred, it never blocks scheduling, but it concentrates the clients in fewer zones."
    )
