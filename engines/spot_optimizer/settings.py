"""Settings of the Spot optimizer engine: every knob with its unit, default and why.

`SpotOptimizerEngine.Settings` points here; the Engines page renders the field descriptions as the
form, and `engine.py`, `pods.py` and `scoring.py` read the values.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engines.validators import QualifiedName


class SpotOptimizerSettings(BaseModel):
    """Which on-demand nodes may move to Spot, how wide the type set is and how risk is priced."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_types: int = Field(
        4,
        ge=2,
        le=20,
        description=(
            "Fewest distinct instance types (count) a recommended Spot set must hold; a node whose pods "
            "fit fewer qualifying types keeps on-demand, with the reason. Default 4: one type is one pool, "
            "and a single capacity event would take every node of the group at once."
        ),
    )
    max_types: int = Field(
        8,
        ge=2,
        le=20,
        description=(
            "Most instance types (count) a set lists, best expected $/hour first; the launch falls back "
            "through them on InsufficientInstanceCapacity. Default 8."
        ),
    )
    notice_s: int = Field(
        120,
        ge=30,
        le=600,
        description="Interruption notice, in seconds, AWS gives before it takes a Spot instance. Default 120 (AWS's).",
    )
    drain_margin_s: int = Field(
        30,
        ge=0,
        le=300,
        description=(
            "Seconds of the notice kept back for cordoning and the replacement launch call; the pods of a "
            "node must drain in the rest (notice minus margin) or the node keeps on-demand. Default 30."
        ),
    )
    reschedule_s: int = Field(
        180,
        ge=0,
        le=3600,
        description=(
            "Seconds the evicted pods wait for new capacity after an interruption (an EKS node joins in "
            "60-120 s, then images pull and pods start). Priced at the node's on-demand rate in the "
            "interruption cost. Default 180."
        ),
    )
    lost_work_per_pod_usd: Decimal = Field(
        Decimal("1"),
        ge=0,
        description=(
            "Value of the work lost when one pod is interrupted, in USD per pod (restarts, retried "
            "requests, a batch step done again). Default 1, as the interruption handler prices it; raise "
            "it for long batch steps without checkpoints."
        ),
    )
    web_max_bucket: int = Field(
        0,
        ge=0,
        le=4,
        description=(
            "Highest Spot Advisor interruption bucket (0 = <5 %, 1 = 5-10 %, 2 = 10-15 %, 3 = 15-20 %, "
            "4 = >20 % a month) allowed for nodes running stateless web pods (class web, the default of "
            "Deployments). Default 0 (<5 %)."
        ),
    )
    batch_max_bucket: int = Field(
        3,
        ge=0,
        le=4,
        description=(
            "Highest Spot Advisor interruption bucket allowed for nodes whose pods are all batch work "
            "(class batch, the default of Jobs and CronJobs). Default 3 (15-20 %)."
        ),
    )
    high_risk_bucket: int = Field(
        3,
        ge=1,
        le=4,
        description=(
            "Spot Advisor bucket from which an existing Spot node is in a high-risk pool and a safer Spot "
            "type is proposed when it costs no more once interruptions are priced. Default 3 (15-20 % and up)."
        ),
    )
    savings_floor_monthly_usd: Decimal = Field(
        Decimal("10"),
        ge=0,
        description=(
            "Smallest expected monthly saving, in USD per month per node, for which a move to Spot is "
            "proposed. Default 10: below that a relaunch is not worth the analyst's review."
        ),
    )
    class_annotation: QualifiedName = Field(
        "cloudoptim.io/workload-class",
        min_length=1,
        description=(
            "Annotation or label key (text) on a pod or its workload naming its class: web, batch or "
            "stateful (stateful keeps on-demand). Without it Jobs and CronJobs are batch, StatefulSets "
            "stateful and everything else web. Default cloudoptim.io/workload-class."
        ),
    )
    spot_opt_out_annotation: QualifiedName = Field(
        "cloudoptim.io/spot",
        min_length=1,
        description=(
            'Annotation key (text) that, set to "never" on a pod, workload, node or namespace, keeps that '
            "node on-demand. Default cloudoptim.io/spot."
        ),
    )
    opt_out_annotation: QualifiedName = Field(
        "cloudoptim.io/opt-out",
        min_length=1,
        description=(
            'Annotation key (text) that, set to "true" on a pod, node or namespace, keeps that node out of '
            "every recommendation (the executor refuses it too). Default cloudoptim.io/opt-out."
        ),
    )
    keep_node_size: bool = Field(
        True,
        description=(
            "Whether every type of a set must offer at least the current type's vCPUs and memory (on/off): "
            "a like-for-like Spot set, as ec2-instance-selector builds one, so the group keeps its headroom "
            "and the saving is the Spot discount alone. Off: any type the pods fit (right-sizing is the "
            "bin-packing engine's job). Default on."
        ),
    )
    allow_burstable_types: bool = Field(
        False,
        description="Whether burstable types (t3, t4g…) may be in a set (on/off). Default off: CPU credits run out.",
    )

    @model_validator(mode="after")
    def _sizes_agree(self) -> SpotOptimizerSettings:
        if self.max_types < self.min_types:
            raise ValueError(f"max_types ({self.max_types}) must be at least min_types ({self.min_types})")
        if self.drain_margin_s >= self.notice_s:
            raise ValueError(f"drain_margin_s ({self.drain_margin_s}) must be below notice_s ({self.notice_s})")
        return self
