"""Settings of the cross-AZ network engine: every knob with its unit, default and why.

`CrossAzEngine.Settings` points here; the UI renders the field descriptions as the settings form,
and `engine.py`, `affinity.py` and `report.py` read the values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engines.validators import QualifiedName


class CrossAzSettings(BaseModel):
    """Which savings are worth a change, how Services route, and how chatty pairs are co-located."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    savings_floor_monthly_usd: Decimal = Field(
        Decimal("1"),
        ge=0,
        description=(
            "Smallest monthly saving, in USD per month, for which a Service gets a trafficDistribution "
            "recommendation; smaller ones are skipped with the figure. Default 1: the change is one "
            "field, but still an analyst's review."
        ),
    )
    chatty_pair_min_monthly_usd: Decimal = Field(
        Decimal("10"),
        ge=0,
        description=(
            "Smallest monthly saving, in USD per month, for which a client workload gets a preferred "
            "pod-affinity term towards a peer it talks to across zones (where trafficDistribution "
            "cannot help). Default 10: the term changes the pod template, so the workload rolls out."
        ),
    )
    traffic_distribution: Literal["PreferClose", "PreferSameZone"] = Field(
        "PreferClose",
        description=(
            "Value (text) written to Service spec.trafficDistribution. PreferClose works from "
            "Kubernetes 1.31 (beta) and 1.33 (GA); PreferSameZone is its 1.34 name with the same "
            "meaning. Default PreferClose."
        ),
    )
    overload_ratio: float = Field(
        2.0,
        ge=1.0,
        le=100.0,
        description=(
            "Ratio (x) of a zone's share of clients to its share of endpoints above which same-zone "
            "routing would load that zone's endpoints unevenly; such a Service's recommendation is "
            "medium risk. Default 2: the local endpoints would take twice their fair load."
        ),
    )
    affinity_weight: int = Field(
        50,
        ge=1,
        le=100,
        description=(
            "Weight (1-100) of the preferred pod-affinity term; the scheduler adds it to a node's "
            "score, so other preferences still count. Default 50."
        ),
    )
    top_pairs: int = Field(
        5,
        ge=1,
        le=50,
        description="Client-destination pairs (count) listed in each recommendation's evidence, largest first. Default 5.",
    )
    opt_out_annotation: QualifiedName = Field(
        "cloudoptim.io/opt-out",
        min_length=1,
        description=(
            'Annotation key (text) that, set to "true" on a Service, workload or namespace, keeps it '
            "out of every recommendation. Default cloudoptim.io/opt-out."
        ),
    )
