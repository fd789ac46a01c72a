"""Words and numbers an analyst reads for the EBS cleanup engine: keep tags, age, Kubernetes
origin, risk, confidence, rationale sentences and evidence.

Called by `engines.ebs.engine`. Evidence keys carry their unit (`_gib`, `_days`, `_monthly_usd`)
and values are plain JSON; money is written as strings so the Decimal figures survive exports.
Rationale sentences are written from the same values as the evidence, so they cannot drift.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engines.contract import Risk
from engines.ebs.pricing import VolumePrice
from engines.snapshot_aws import Volume

Evidence = dict[str, Any]

PV_TAG = "kubernetes.io/created-for/pv/name"
PVC_TAG = "kubernetes.io/created-for/pvc/name"
PVC_NAMESPACE_TAG = "kubernetes.io/created-for/pvc/namespace"
FALSE_WORDS = {"false", "no", "0", "off"}
SOURCES = {
    "cloudtrail": "the last DetachVolume call CloudTrail recorded for it",
    "first-seen": "the first scan that saw it unattached (it may have been unattached for longer)",
    "create-time": ("its creation time: CloudTrail shows no DetachVolume for it since it was created and no "
                    "scan saw it attached (a volume freed by terminating its instance leaves no DetachVolume)"),
}
BASE_CONFIDENCE = {"cloudtrail": 0.9, "create-time": 0.8, "first-seen": 0.8}
SNAPSHOT_NOT_PRICED = (
    "not priced: the shipped price file has no EBS snapshot price, so the snapshot's storage cost "
    "is not included in the projected cost"
)


def keep_tag(tags: dict[str, str], keep_tags: list[str]) -> str | None:
    """The first setting entry that matches a tag of the volume, as "key=value" found, else None."""
    lowered = {key.lower(): (key, value) for key, value in tags.items()}
    for entry in keep_tags:
        key, sep, wanted = entry.partition("=")
        found = lowered.get(key.strip().lower())
        if found is None:
            continue
        real_key, value = found
        if sep and value.strip().lower() == wanted.strip().lower():
            return f"{real_key}={value}"
        if not sep and value.strip().lower() not in FALSE_WORDS:
            return f"{real_key}={value}"
    return None


def age_days(since: datetime, now: datetime) -> int:
    """Whole days between `since` and the scan (never negative)."""
    return max(0, (now - since).days)


def kubernetes_origin(volume: Volume) -> Evidence | None:
    """What the in-tree/CSI provisioner tags say about the PersistentVolume that created the volume."""
    if PV_TAG not in volume.tags and PVC_TAG not in volume.tags:
        return None
    return {
        "persistent_volume": volume.tags.get(PV_TAG),
        "claim": volume.tags.get(PVC_TAG),
        "claim_namespace": volume.tags.get(PVC_NAMESPACE_TAG),
        "persistent_volume_checked": False,
        "note": (
            "the snapshot holds no PersistentVolume list, so whether this PV still exists (a Retain "
            "policy keeps it after its claim is deleted) was not checked; check before applying"
        ),
    }


def cleanup_risk(k8s: Evidence | None) -> Risk:
    """low: the data is kept in a snapshot first; medium when a Kubernetes PV may still point at it."""
    return "medium" if k8s is not None else "low"


def cleanup_confidence(source: str, days: int, grace_days: int, old_factor: float, k8s: Evidence | None) -> float:
    """How sure the volume is abandoned: by how its age is known, higher when unattached for many
    grace periods, lower when a Kubernetes PV that may still exist created it."""
    value = BASE_CONFIDENCE.get(source, 0.6)
    if days >= max(1.0, grace_days * old_factor):
        value += 0.05
    if k8s is not None:
        value -= 0.2
    return round(min(0.95, max(0.3, value)), 2)


def volume_facts(volume: Volume, price: VolumePrice) -> Evidence:
    return {
        "volume_id": volume.volume_id,
        "volume_type": volume.volume_type,
        "size_gib": volume.size_gb,
        "iops": volume.iops,
        "throughput_mibps": volume.throughput,
        "state": volume.state,
        "zone": volume.zone,
        "region": volume.region,
        "name": volume.tags.get("Name"),
        "created_at": volume.create_time.isoformat() if volume.create_time else None,
        "current_cost_monthly_usd": str(price.monthly),
        "current_cost_parts": price.parts,
    }


def cleanup_evidence(
    volume: Volume, price: VolumePrice, days: int, grace_days: int, k8s: Evidence | None, cloudtrail: str | None
) -> Evidence:
    assert volume.unattached_since is not None and volume.unattached_source is not None
    evidence = volume_facts(volume, price)
    evidence.update(
        unattached_since=volume.unattached_since.isoformat(),
        unattached_source=volume.unattached_source,
        unattached_source_means=SOURCES.get(volume.unattached_source, volume.unattached_source),
        unattached_days=days,
        grace_period_days=grace_days,
        last_instance_id=volume.last_instance_id,
        cloudtrail_unavailable=cloudtrail,
        restored_from_snapshot=volume.snapshot_id,
        snapshot_size_gib_upper_bound=volume.size_gb,
        snapshot_size_note=(
            "EBS snapshots are incremental and compressed, and store only written blocks: the "
            "volume's size is an upper bound"
        ),
        snapshot_cost_monthly_usd=None,
        snapshot_cost_note=SNAPSHOT_NOT_PRICED,
        projected_cost_monthly_usd="0.00",
        savings_monthly_usd=str(price.monthly),
        kubernetes=k8s,
    )
    return evidence


def cleanup_rationale(volume: Volume, price: VolumePrice, days: int, grace_days: int, k8s: Evidence | None) -> str:
    how = {"cloudtrail": "per CloudTrail", "create-time": "since it was created",
           "first-seen": "at least, since CloudOptim first saw it"}.get(volume.unattached_source or "", "")
    text = (
        f"{volume.volume_id} ({volume.volume_type}, {volume.size_gb} GiB, {volume.zone}) has been unattached for "
        f"{days} days ({how}), past the {grace_days}-day grace period, and costs ${price.monthly} a month. "
        f"Snapshot it, then delete it: the volume's ${price.monthly} a month goes away, but the snapshot "
        f"(at most {volume.size_gb} GiB, usually much less) is billed as snapshot storage, which is not priced "
        "here because the price file has no snapshot price."
    )
    if k8s is not None:
        text += (f" A Kubernetes provisioner created it for PersistentVolume {k8s['persistent_volume']}; "
                 "check that no PV still refers to it.")
    return text


def gp3_evidence(volume: Volume, now_price: VolumePrice, gp3: VolumePrice) -> Evidence:
    evidence = volume_facts(volume, now_price)
    evidence.update(
        attached_to=[a.instance_id for a in volume.attachments],
        gp2_baseline_iops=now_price.iops,
        gp3_iops=gp3.iops,
        gp3_throughput_mibps=gp3.throughput_mibps,
        gp3_included="3000 IOPS and 125 MiB/s are included in the gp3 price; only the excess is billed",
        projected_cost_monthly_usd=str(gp3.monthly),
        projected_cost_parts=gp3.parts,
        savings_monthly_usd=str(now_price.monthly - gp3.monthly),
        extra_performance_to_set=bool(set(gp3.parts) - {"storage"}),
    )
    return evidence


def gp3_rationale(volume: Volume, now_price: VolumePrice, gp3: VolumePrice) -> str:
    text = (
        f"{volume.volume_id} ({volume.size_gb} GiB gp2, attached) costs ${now_price.monthly} a month; the same "
        f"size as gp3 with {gp3.iops} IOPS and {gp3.throughput_mibps} MiB/s, at least what gp2 gives it, costs "
        f"${gp3.monthly}, saving ${now_price.monthly - gp3.monthly} a month. The change is online (no detach)."
    )
    if set(gp3.parts) - {"storage"}:
        text += (f" The price includes provisioned performance above gp3's included 3000 IOPS / 125 MiB/s: set "
                 f"{gp3.iops} IOPS and {gp3.throughput_mibps} MiB/s on the volume, since changing the type alone "
                 "gives gp3's baseline.")
    return text
