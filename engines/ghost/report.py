"""Words and evidence of the ghost probe's recommendations and skips.

Called by `engine.GhostProbeEngine`: the rationale an analyst reads (what was measured, what it
costs, what the action keeps billing, what could go wrong) and the evidence dict holding every
fact, threshold, signal and price used, so a recommendation can be checked without the engine.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from engines.contract import Risk
from engines.ghost.costs import VolumeCost
from engines.ghost.gates import passed
from engines.ghost.idle import Window
from engines.ghost.settings import GhostProbeSettings
from engines.ghost.signals import Fusion, age_days
from engines.snapshot_aws import Instance

STORAGE_NOTE = (
    "a stopped instance bills only its EBS volumes (and any Elastic IP, which is not in the snapshot); "
    "compute billing stops"
)
TERMINATE_NOTE = (
    "assumes the attached volumes are deleted with the instance (DeleteOnTermination, the default for "
    "root volumes); a volume that is kept keeps billing and shows up as an unattached volume"
)


def label(instance: Instance) -> str:
    name = instance.tags.get("Name")
    return f"{instance.instance_id} ({name})" if name else instance.instance_id


def stop_risk(instance: Instance) -> Risk:
    """High when a load balancer may send it traffic, medium when a stop loses its public IP."""
    if instance.target_groups:
        return "high"
    if instance.public_ip:
        return "medium"
    return "low"


def risk_reasons(instance: Instance) -> list[str]:
    out = []
    if instance.target_groups:
        out.append(
            f"it is registered in target group {', '.join(instance.target_groups)}: a load balancer may route to it"
        )
    if instance.public_ip:
        out.append(f"a stop releases its auto-assigned public IP {instance.public_ip} (an Elastic IP is kept)")
    return out


def identity(instance: Instance, now: Any) -> dict[str, Any]:
    age = age_days(instance, now)
    return {
        "instance_id": instance.instance_id,
        "name": instance.tags.get("Name"),
        "instance_type": instance.instance_type,
        "platform": instance.platform,
        "lifecycle": instance.lifecycle,
        "region": instance.region,
        "zone": instance.zone,
        "state": instance.state,
        "state_since": instance.state_since.isoformat() if instance.state_since else None,
        "launch_time": instance.launch_time.isoformat() if instance.launch_time else None,
        "age_days": None if age is None else round(age, 1),
        "tags": dict(sorted(instance.tags.items())),
        "target_groups": list(instance.target_groups),
        "network_interfaces": list(instance.network_interfaces),
        "public_ip": instance.public_ip,
        "gates": passed(instance),
    }


def money(
    compute: Decimal | None, hourly: Decimal | None, storage: Decimal, volumes: list[VolumeCost]
) -> dict[str, Any]:
    return {
        "on_demand_hourly_usd": None if hourly is None else str(hourly),
        "compute_monthly_usd": None if compute is None else str(compute),
        "storage_monthly_usd": str(storage),
        "volumes": [v.as_evidence() for v in volumes],
        "price_source": "price book (app/data: ec2-ondemand-prices.csv, ebs-prices.csv, ebs-iops-throughput-prices.csv)",
        "hours_per_month": 730,
    }


def stop_evidence(
    instance: Instance, now: Any, window: Window, fusion: Fusion, settings: GhostProbeSettings, prices: dict[str, Any]
) -> dict[str, Any]:
    return {
        **identity(instance, now),
        "window": window.as_evidence(settings),
        **fusion.as_evidence(),
        "costs": prices,
        "storage_while_stopped": STORAGE_NOTE,
        "risk_reasons": risk_reasons(instance),
    }


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def stop_rationale(
    instance: Instance, window: Window, fusion: Fusion, compute: Decimal, storage: Decimal, settings: GhostProbeSettings
) -> str:
    dropped = len(window.partial_days) + len(window.incomplete_days)
    data = f"{window.measured} of {window.window_days} days were measured"
    if window.no_data_days or dropped:
        data += f"; {_days(window.no_data_days)} without CloudWatch data and {_days(dropped)} only partly measured"
        data += " were not counted"
    text = (
        f"{label(instance)}, instance type {instance.instance_type}, outside every cluster, was idle on {window.low} "
        f"of {window.measured} measured days: average CPU <= {settings.cpu_threshold_percent:g} % and network "
        f"<= {settings.network_threshold_mb_per_day:g} MB per day ({data}). Stopping it saves its compute, "
        f"${compute}/month at the on-demand price; its EBS volumes keep billing ${storage}/month while stopped, "
        f"and it can be started again at any time. Confidence {fusion.confidence:.2f} from the signals in the evidence."
    )
    reasons = risk_reasons(instance)
    if reasons:
        text += " Check first: " + "; ".join(reasons) + "."
    return text


def terminate_evidence(
    instance: Instance,
    now: Any,
    stopped_days: float,
    fusion: Fusion,
    settings: GhostProbeSettings,
    prices: dict[str, Any],
) -> dict[str, Any]:
    return {
        **identity(instance, now),
        "stopped_days": round(stopped_days, 1),
        "stopped_days_before_terminate": settings.stopped_days_before_terminate,
        **fusion.as_evidence(),
        "costs": prices,
        "terminate_assumption": TERMINATE_NOTE,
        "ordering": "stop before terminate: only an instance already stopped this long is proposed for termination",
    }


def terminate_rationale(
    instance: Instance, stopped_days: float, storage: Decimal, fusion: Fusion, settings: GhostProbeSettings
) -> str:
    text = (
        f"{label(instance)} has been stopped for {stopped_days:.0f} days (more than "
        f"{settings.stopped_days_before_terminate}); stopped, it still bills its EBS volumes, ${storage}/month. "
        "Terminating it ends that charge but cannot be undone: take a snapshot or an AMI first if anything on "
        f"it may be needed. Confidence {fusion.confidence:.2f} from the signals in the evidence."
    )
    if instance.target_groups:
        text += f" It is still registered in target group {', '.join(instance.target_groups)}."
    return text
