"""What workload and AWS actions save now, measured from the latest snapshot (pure, as
`app.services.realized_measure` for nodes; picked by `app.services.realized_savings`).

- scale-replicas, set-requests-limits: before (the pre-image) against now (the snapshot's
  workload). A workload carries no price of its own, so the recommendation's expected saving is
  scaled by the share of the planned change still in place: 3 -> 1 replicas planned and 2 now is
  half of it. The note says so, and names an autoscaler that may move the count.
- stop-instance, terminate-instance: the instance is no longer running in the account's state:
  its on-demand price x 730 h (a stopped instance's volumes are still billed, said in the note).
- snapshot-and-delete-volume, modify-volume-type: the volume is gone, or has the new type: the
  EBS price difference for its size (snapshot storage is not in the price book, said so).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.services.realized_measure import Applied, Measure, Measured, find_instance, no_cluster_state
from engines.contract import PriceBook
from engines.costs import type_hourly
from engines.money import ZERO, monthly_from_hourly, quantize
from engines.quantity import QuantityError, parse_quantity
from engines.snapshot import ClusterState, Workload
from engines.snapshot_aws import Snapshot

STOPPED_STATES = ("stopping", "stopped", "shutting-down", "terminated")


def _workload(cluster: ClusterState, pre: Mapping[str, Any]) -> Workload | None:
    key = (pre.get("kind"), pre.get("namespace"), pre.get("name"))
    return next((w for w in cluster.workloads if (w.kind, w.namespace, w.name) == key), None)


def _autoscaled(cluster: ClusterState, w: Workload) -> str:
    hpa = next(
        (h for h in cluster.hpas if (h.namespace, h.target_kind, h.target_name) == (w.namespace, w.kind, w.name)), None
    )
    return f"; autoscaler {hpa.namespace}/{hpa.name} ({hpa.min_replicas}-{hpa.max_replicas}) may move it" if hpa else ""


def _share(applied: Applied, achieved: Decimal, what: str) -> Measured:
    achieved = min(max(achieved, ZERO), Decimal(1))
    realized = quantize(applied.expected * achieved)
    percent = (achieved * 100).quantize(Decimal(1))
    return Measured(realized, f"{what}: {percent}% of the planned change holds, priced at the recommendation's "
                              f"${applied.expected}/month: ${realized}/month")  # fmt: skip


def scaled_replicas(applied: Applied, snapshot: Snapshot, _prices: PriceBook) -> Measured:
    cluster = snapshot.cluster
    if cluster is None:
        return no_cluster_state()
    pre = applied.pre_image
    target = f"{pre.get('kind')} {pre.get('namespace')}/{pre.get('name')}"
    w = _workload(cluster, pre)
    if w is None:
        return Measured(None, f"not measured: {target} is not in the cluster any more")
    before, planned, now = int(pre.get("replicas") or 0), int(pre.get("target") or 0), w.replicas
    if now is None or before <= planned:
        return Measured(None, f"not measured: {target} has no replica count to compare ({before} -> {planned})")
    what = f"{target} runs {now} replicas (was {before}, planned {planned}){_autoscaled(cluster, w)}"
    return _share(applied, Decimal(before - now) / Decimal(before - planned), what)


def _request(resources: Mapping[str, Any], name: str) -> Decimal | None:
    value = (resources.get("requests") or {}).get(name)
    try:
        return parse_quantity(value) if value is not None else None
    except QuantityError:
        return None


def set_requests(applied: Applied, snapshot: Snapshot, _prices: PriceBook) -> Measured:
    cluster = snapshot.cluster
    if cluster is None:
        return no_cluster_state()
    pre, action = applied.pre_image, applied.action
    target = f"container {pre.get('container')} of {pre.get('kind')} {pre.get('namespace')}/{pre.get('name')}"
    w = _workload(cluster, pre)
    container = next((c for c in w.containers if c.name == pre.get("container")), None) if w else None
    if container is None:
        return Measured(None, f"not measured: {target} is not in the cluster any more")
    shares, parts = [], []
    for name, field, now in (("cpu", "cpu_request", container.cpu_request),
                             ("memory", "memory_request", container.memory_request)):  # fmt: skip
        before, planned = _request(pre.get("resources") or {}, name), action.get(field)
        if before is None or planned is None or Decimal(str(planned)) >= before:
            continue  # not a reduction this recommendation priced
        current = Decimal(str(now)) if now is not None else before
        shares.append((before - current) / (before - Decimal(str(planned))))
        parts.append(f"{name} request {before:g} -> {current:g} (planned {planned})")
    if not shares:
        return Measured(None, f"not measured: the recommendation lowers no request of {target}")
    return _share(applied, sum(shares, ZERO) / len(shares), f"{target}: {', '.join(parts)}")


def stopped_instance(applied: Applied, snapshot: Snapshot, prices: PriceBook) -> Measured:
    if snapshot.account is None:
        return Measured(None, "not measured: the scan has no EC2 state (see the cluster's source errors)")
    instance_id = str(applied.pre_image.get("instance_id") or applied.action.get("instance_id"))
    record = find_instance(snapshot.account, instance_id)
    if record is not None and record.state not in STOPPED_STATES:
        return Measured(ZERO, f"instance {instance_id} is {record.state} again: it is billed, nothing is saved")
    itype = applied.pre_image.get("instance_type") or (record.instance_type if record else None)
    if not itype:
        return Measured(None, f"not measured: the instance type of {instance_id} is not recorded")
    hourly = type_hourly(prices, applied.region, str(itype), "on-demand").hourly
    saved = monthly_from_hourly(hourly)
    state = record.state if record is not None else "gone"
    kept = "; its EBS volumes are still billed" if state in ("stopping", "stopped") else ""
    return Measured(saved, f"instance {instance_id} ({itype}, ${hourly}/h) is {state}{kept}: saves ${saved}/month")


def _volume_note(applied: Applied) -> tuple[str, str | None, int]:
    pre = applied.pre_image
    return (
        str(pre.get("volume_id") or applied.action.get("volume_id")),
        pre.get("volume_type"),
        int(pre.get("size_gib") or 0),
    )


def deleted_volume(applied: Applied, snapshot: Snapshot, prices: PriceBook) -> Measured:
    if snapshot.account is None:
        return Measured(None, "not measured: the scan has no EBS state (see the cluster's source errors)")
    volume_id, vtype, size = _volume_note(applied)
    if any(v.volume_id == volume_id for v in snapshot.account.volumes):
        return Measured(ZERO, f"volume {volume_id} still exists: nothing is saved")
    if not vtype or not size:
        return Measured(None, f"not measured: the type or size of volume {volume_id} is not recorded")
    saved = quantize(prices.ebs_gb_month(applied.region, vtype) * size)
    return Measured(saved, f"volume {volume_id} ({size} GiB {vtype}) is gone: saves ${saved}/month, less its "
                           "snapshot's storage (not in the price book)")  # fmt: skip


def retyped_volume(applied: Applied, snapshot: Snapshot, prices: PriceBook) -> Measured:
    if snapshot.account is None:
        return Measured(None, "not measured: the scan has no EBS state (see the cluster's source errors)")
    volume_id, old, size = _volume_note(applied)
    new = str(applied.action.get("to_type") or applied.pre_image.get("changed_to"))
    volume = next((v for v in snapshot.account.volumes if v.volume_id == volume_id), None)
    if volume is None:
        return Measured(None, f"not measured: volume {volume_id} is gone (deleted since?)")
    if volume.volume_type != new or not old:
        return Measured(ZERO, f"volume {volume_id} is {volume.volume_type}, not {new}: nothing is saved")
    size = volume.size_gb or size
    saved = quantize((prices.ebs_gb_month(applied.region, old) - prices.ebs_gb_month(applied.region, new)) * size)
    return Measured(saved, f"volume {volume_id} ({size} GiB) is {new}, was {old}: saves ${saved}/month "
                           "(storage price; IOPS and throughput above the included ones are not counted)")  # fmt: skip


MEASURES: dict[str, Measure] = {
    "scale-replicas": scaled_replicas,
    "set-requests-limits": set_requests,
    "stop-instance": stopped_instance,
    "terminate-instance": stopped_instance,
    "snapshot-and-delete-volume": deleted_volume,
    "modify-volume-type": retyped_volume,
}
