"""Settings of the bin-packing engine: every knob with its unit, default and why.

`BinPackEngine.Settings` points here; the UI renders the field descriptions as the settings form,
and `engine.py`, `blockers.py`, `planner.py` and `replace.py` read the values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engines.validators import NamespaceName, ObjectName, QualifiedName


class BinPackSettings(BaseModel):
    """How aggressively to consolidate: savings floor, disruption price, and what never moves.

    A replacement keeps the node's capacity type: moving on-demand capacity to Spot is the Spot
    optimizer's decision alone (it has the interruption data), so there is no Spot setting here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_retired(cls, values: Any) -> Any:
        # Settings stored before the Spot switch moved to the Spot optimizer still carry
        # consider_spot; it is ignored rather than refused, so those rows keep loading.
        if isinstance(values, dict) and "consider_spot" in values:
            values = {k: v for k, v in values.items() if k != "consider_spot"}
        return values

    savings_floor_monthly_usd: Decimal = Field(
        Decimal("20"),
        ge=0,
        description=(
            "Smallest monthly saving, in USD per month, for which a node removal or replacement is "
            "proposed. Default 20: below that the analyst's review costs more than it saves."
        ),
    )
    disruption_cost_per_pod_usd: Decimal = Field(
        Decimal("1"),
        ge=0,
        description=(
            "Monthly saving, in USD per month per evicted pod, that each pod a change evicts must pay "
            "for. A removal that moves 40 pods must save at least 40 x this amount. Default 1."
        ),
    )
    max_pods_moved_per_node: int = Field(
        50,
        ge=0,
        description=(
            "Most pods (count) one node removal or replacement may evict; busier nodes are skipped "
            "with a reason. Default 50."
        ),
    )
    headroom_percent: float = Field(
        0.0,
        ge=0.0,
        lt=100.0,
        description=(
            "Share of each destination node's allocatable CPU, memory and ephemeral storage, in "
            "percent, kept free when placing moved pods (requests, not usage). Default 0, like the "
            "Kubernetes scheduler and Karpenter, which pack up to 100 % of requests."
        ),
    )
    opt_out_annotation: QualifiedName = Field(
        "cloudoptim.io/opt-out",
        min_length=1,
        description=(
            'Annotation key (text) that, set to "true" on a pod, node or namespace, keeps that pod '
            "or node out of every plan. Default cloudoptim.io/opt-out."
        ),
    )
    protected_namespaces: list[NamespaceName] = Field(
        default_factory=lambda: ["kube-system"],
        description=(
            "Namespaces (names) whose non-DaemonSet pods block the removal of their node unless a "
            "PodDisruptionBudget covers them, as the Cluster Autoscaler does. Default [kube-system]."
        ),
    )
    critical_priority_classes: list[ObjectName] = Field(
        default_factory=lambda: ["system-cluster-critical", "system-node-critical"],
        description=(
            "Priority class names (text) marking critical pods; in a protected namespace such a pod "
            "blocks its node even when a PodDisruptionBudget covers it. Default the two system classes."
        ),
    )
    allow_replace_node_type: bool = Field(
        True,
        description=(
            "Whether to propose replacing a node that cannot be removed by a cheaper instance type "
            "(on/off) that still fits all its pods and DaemonSets. Default on."
        ),
    )
    allow_burstable_types: bool = Field(
        False,
        description=(
            "Whether burstable instance types (t2, t3, t4g…) may be proposed as replacements "
            "(on/off). Default off: their CPU credits make requests-based packing unsafe."
        ),
    )
    allow_previous_generation: bool = Field(
        False,
        description=(
            "Whether previous-generation instance types may be proposed as replacements (on/off). Default off."
        ),
    )
    min_replacement_savings_percent: float = Field(
        10.0,
        ge=0.0,
        le=100.0,
        description=(
            "Smallest saving, in percent of the node's current price, for a node-type replacement to "
            "be proposed (a relaunch for a 2 % saving is rarely worth it). Default 10."
        ),
    )
    search_effort: int = Field(
        4,
        ge=1,
        le=16,
        description=(
            "Search effort (count, 1-16): on clusters of up to 200 nodes the planner tries between "
            "this many and 8x this many candidate orders (fewer on clusters with many pods) and keeps "
            "the plan that saves most; larger clusters use one order. Default 4."
        ),
    )
