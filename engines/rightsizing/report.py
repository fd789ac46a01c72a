"""Words and numbers of a rightsizing recommendation: risk curve JSON, confidence, risk, rationale, evidence.

`engine.py` calls these once per sized container. The risk curve is plain JSON (floats, strings)
so the store keeps it as it is and `app/ui/risk_chart.py` can draw it without importing engines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engines.contract import Risk
from engines.rightsizing.history import History
from engines.rightsizing.settings import Policy

CURVE = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("max", 100.0))
MIB = 2**20


@dataclass(frozen=True)
class Point:
    label: str
    value: float  # cores or bytes
    exceed_share: float
    monthly_cost: Decimal

    def json(self, unit: str = "cores") -> dict[str, Any]:
        value: float | int = round(self.value) if unit == "bytes" else round(self.value, 6)
        return {"label": self.label, "value": value, "exceed_share": round(self.exceed_share, 6),
                "monthly_cost": str(self.monthly_cost)}


@dataclass(frozen=True)
class Curve:
    resource: str  # "cpu" or "memory"
    unit: str
    points: tuple[Point, ...]
    chosen: Point
    current: Point | None
    held: bool  # the resource is left as it is (HPA on it)

    def json(self) -> dict[str, Any]:
        risk = "throttling (samples above the request)" if self.resource == "cpu" else "OOM kill (samples above the limit)"
        return {"unit": self.unit, "risk": risk, "points": [p.json(self.unit) for p in self.points],
                "chosen": self.chosen.json(self.unit),
                "current": None if self.current is None else self.current.json(self.unit), "held": self.held}


def label(percentile: float, buffer: float) -> str:
    base = "max" if percentile >= 100 else f"p{percentile:g}"
    return base if buffer == 0 else f"{base} +{buffer * 100:g}%"


def confidence(h: History, policy: Policy) -> float:
    """From the history actually there: span against the policy's window (square root, like the VPA's
    confidence that grows with days of history), coverage, and restarts / OOM kills that cut samples short."""
    span = min(1.0, h.span_days / policy.history_days) ** 0.5
    restarts = 1.0 / (1.0 + 0.05 * min(h.restarts, 10))
    oom = 0.7 if h.oom_kills else 1.0
    return round(max(0.05, min(1.0, float(span) * min(1.0, h.coverage) * restarts * oom)), 2)


def risk(cpu: Curve, memory: Curve, h: History) -> Risk:
    if memory.chosen.exceed_share > 0.001 or h.oom_kills:
        return "high"
    if memory.chosen.exceed_share > 0 or cpu.chosen.exceed_share > 0.10 or h.restarts > 0:
        return "medium"
    return "low"


def cores(value: float | None) -> str:
    return "none" if value is None else f"{round(value * 1000):d}m"


def mib(value: float | None) -> str:
    return "none" if value is None else f"{value / MIB:.0f}Mi"


def rationale(container: str, target: str, cpu: Curve, memory: Curve, h: History, now_cpu: float | None,
              now_mem: int | None, new_cpu: float | None, new_mem: int | None, costs: tuple[Decimal, Decimal],
              node_saving: Decimal | None, notes: list[str]) -> str:
    current, projected = costs
    change = (f"${current - projected} less" if projected < current else
              f"${projected - current} more" if projected > current else "no change")
    parts = [
        f"Container {container} of {target}: {h.pods_seen} pod(s), {h.span_days:.1f} days of usage "
        f"({h.coverage:.0%} of slots sampled).",
        f"CPU request {cores(now_cpu)} -> {cores(new_cpu)} ({cpu.chosen.label}; "
        f"{cpu.chosen.exceed_share:.1%} of samples above it)" + (" [kept: the HPA scales on CPU]" if cpu.held else "") + ".",
        f"Memory request {mib(now_mem)} -> {mib(new_mem)} ({memory.chosen.label}; "
        f"{memory.chosen.exceed_share:.2%} of samples above the limit)" + (" [kept: the HPA scales on memory]" if memory.held else "") + ".",
        f"Requests value ${current} -> ${projected} a month ({change}; freed requests are money only when nodes go).",
    ]
    if node_saving is not None:
        parts.append(f"Node-level saving of applying every rightsizing of this scan, by bin packing: ${node_saving} a "
                     "month (cluster-wide figure).")
    parts.extend(notes)
    return " ".join(parts)


def evidence(*, container: str, owner: dict[str, Any], policy: Policy, policy_source: str, h: History,
             cpu: Curve, memory: Curve, current: dict[str, Any], proposed: dict[str, Any], rates: dict[str, object],
             replicas: int, notes: list[str]) -> dict[str, Any]:
    return {
        "container": container,
        "owner": owner,
        "replicas": replicas,
        "policy": {"source": policy_source, **policy.model_dump(mode="json")},
        "history": {"pods": h.pods_seen, "span_days": round(h.span_days, 3), "coverage": round(h.coverage, 4),
                    "cpu_samples": int((h.cpu == h.cpu).sum()), "memory_samples": int((h.memory == h.memory).sum()),
                    "restarts": h.restarts, "oom_kills": h.oom_kills},
        "current": current,
        "proposed": proposed,
        "risk_curve": {"cpu": cpu.json(), "memory": memory.json()},
        "rates": rates,
        "cost_basis": ("current/projected monthly cost are the requests value: replicas x requested cores and GiB "
                       "at the per-core and per-GiB rates of the nodes the pods run on; node_level holds the "
                       "bin-packing saving that freed requests actually buy"),
        "notes": notes,
    }
