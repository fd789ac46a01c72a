"""EBS volume actions: snapshot-then-delete an unattached volume, change a volume's type.

Registered in `executor.registry` (imported by `executor.actions_all`), called by the worker's
execution service like every action. A volume is never deleted without a `completed` snapshot
tagged with its id; a retry after a crash or a timeout finds that snapshot and waits for it
instead of taking a second one. A type change is reversible by the reverse change, but AWS
lets a volume be modified again only after the previous modification has completed and, per
the EBS docs, six hours after it (the "cooldown"): a rollback may have to wait that long.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from engines.actions import ModifyVolumeType as ModifySpec
from engines.actions import SnapshotAndDeleteVolume as SnapshotDeleteSpec
from executor import aws_calls as aws
from executor.base import Action, ExecContext, PermanentError, Permissions, Plan, Refusal, StepStatus
from executor.registry import register

SOURCE_VOLUME_TAG = "cloudoptim.io/source-volume"
COOLDOWN = timedelta(hours=6)
NEEDS_IOPS = ("io1", "io2")  # provisioned IOPS are required and the spec does not carry them
HDD_MIN_GIB = 125  # st1/sc1 minimum size


def describe(volume: dict[str, Any]) -> str:
    attached = ", ".join(a["InstanceId"] for a in volume.get("Attachments", []) if a.get("InstanceId"))
    where = f"attached to {attached}" if attached else volume.get("State", "?")
    return (f"{volume['VolumeId']} ({volume.get('VolumeType')}, {volume.get('Size')} GiB, "
            f"{volume.get('AvailabilityZone')}, {where}, {aws.tags_text(aws.tag_map(volume.get('Tags')))})")


def _snapshot_of(ctx: ExecContext, volume_id: str) -> dict[str, Any] | None:
    """The snapshot an earlier attempt took of this volume (pending or completed), if any."""
    try:
        resp = aws.call(ctx, "DescribeSnapshots", ctx.ec2.describe_snapshots, OwnerIds=["self"], Filters=[
            {"Name": f"tag:{SOURCE_VOLUME_TAG}", "Values": [volume_id]},
            {"Name": "status", "Values": ["pending", "completed"]}])
    except ClientError as exc:
        raise aws.permanent("DescribeSnapshots", exc) from exc
    snaps = sorted(resp.get("Snapshots", []), key=lambda s: s.get("StartTime") or datetime.min.replace(tzinfo=UTC))
    return dict(snaps[-1]) if snaps else None


def _snapshot_state(ctx: ExecContext, snapshot_id: str) -> dict[str, Any]:
    try:
        resp = aws.call(ctx, "DescribeSnapshots", ctx.ec2.describe_snapshots, SnapshotIds=[snapshot_id])
    except ClientError as exc:
        raise aws.permanent("DescribeSnapshots", exc) from exc
    snaps = resp.get("Snapshots") or [{"SnapshotId": snapshot_id, "State": "error", "StateMessage": "vanished"}]
    return dict(snaps[0])


@register
class SnapshotAndDeleteVolume(Action[SnapshotDeleteSpec]):
    kind = "snapshot-and-delete-volume"
    spec_type = SnapshotDeleteSpec
    permissions = Permissions(iam=("ec2:DescribeVolumes", "ec2:CreateSnapshot", "ec2:CreateTags",
                                   "ec2:DescribeSnapshots", "ec2:DeleteVolume"))

    def validate(self, ctx: ExecContext, spec: SnapshotDeleteSpec) -> list[Refusal]:
        volume = aws.describe_volume(ctx, spec.volume_id)
        if volume is None or volume.get("State") in ("deleting", "deleted"):
            return []  # already deleted: apply records it as done
        if volume.get("State") != "available":
            return [Refusal("stale", f"{describe(volume)}: the recommendation saw it unattached")]
        return []

    def plan(self, ctx: ExecContext, spec: SnapshotDeleteSpec) -> Plan:
        volume = aws.describe_volume(ctx, spec.volume_id)
        if volume is None:
            return Plan(summary=f"{spec.volume_id} is already deleted; nothing to do")
        return Plan(
            summary=f"snapshot then delete {describe(volume)}",
            steps=[f"CreateSnapshot of {spec.volume_id} tagged {SOURCE_VOLUME_TAG}={spec.volume_id}",
                   "wait until the snapshot is completed (the volume is never deleted before)",
                   f"DeleteVolume {spec.volume_id}",
                   "not reversible in place: a volume can be created from the snapshot (billed as snapshot "
                   "storage until then)"],
            pre_image={"volume_id": spec.volume_id, "volume_type": volume.get("VolumeType"),
                       "size_gib": volume.get("Size"), "zone": volume.get("AvailabilityZone"),
                       "tags": aws.tag_map(volume.get("Tags"))},
        )

    def apply(self, ctx: ExecContext, spec: SnapshotDeleteSpec, plan: Plan) -> dict[str, Any]:
        volume = aws.describe_volume(ctx, spec.volume_id)
        earlier = _snapshot_of(ctx, spec.volume_id)
        if volume is None or volume.get("State") in ("deleting", "deleted"):
            ctx.step("DeleteVolume", StepStatus.SKIPPED, f"{spec.volume_id} is already deleted")
            return {"volume_id": spec.volume_id, "deleted": True, "snapshot_id": (earlier or {}).get("SnapshotId")}
        if volume.get("State") != "available":  # attached since validate: never delete a volume in use
            raise PermanentError(f"{describe(volume)} is no longer unattached; nothing was changed")
        snapshot_id = self._snapshot(ctx, volume, earlier)
        try:
            resp = aws.call(ctx, "DeleteVolume", ctx.ec2.delete_volume, VolumeId=spec.volume_id)
            ctx.step("DeleteVolume", StepStatus.SUCCEEDED, f"{spec.volume_id} deleted", **aws.summary(resp))
        except ClientError as exc:
            if not aws.is_not_found(exc):
                raise aws.permanent("DeleteVolume", exc) from exc
            ctx.step("DeleteVolume", StepStatus.SKIPPED, f"{spec.volume_id} vanished before the call")
        return {"volume_id": spec.volume_id, "deleted": True, "snapshot_id": snapshot_id}

    def _snapshot(self, ctx: ExecContext, volume: dict[str, Any], earlier: dict[str, Any] | None) -> str:
        volume_id = str(volume["VolumeId"])
        if earlier is not None:
            snapshot_id = str(earlier["SnapshotId"])
            ctx.step("CreateSnapshot", StepStatus.SKIPPED, f"reusing {snapshot_id} from an earlier attempt")
        else:
            tags = {**aws.user_tags(aws.tag_map(volume.get("Tags"))), aws.MANAGED_BY_TAG: "cloudoptim",
                    SOURCE_VOLUME_TAG: volume_id}
            try:
                resp = aws.call(ctx, "CreateSnapshot", ctx.ec2.create_snapshot, VolumeId=volume_id,
                                Description=f"CloudOptim: {volume_id} before deleting it",
                                TagSpecifications=[{"ResourceType": "snapshot",
                                                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}])
            except ClientError as exc:
                raise aws.permanent("CreateSnapshot", exc) from exc
            snapshot_id = str(resp["SnapshotId"])
            ctx.step("CreateSnapshot", StepStatus.SUCCEEDED, f"{snapshot_id} of {volume_id}: {resp.get('State')}",
                     **aws.summary(resp))
        last: dict[str, Any] = {}

        def completed() -> str | None:
            last.update(_snapshot_state(ctx, snapshot_id))
            if last.get("State") == "error":
                raise PermanentError(f"snapshot {snapshot_id} failed ({last.get('StateMessage') or 'no reason'}); "
                                     f"{volume_id} was not deleted")
            return snapshot_id if last.get("State") == "completed" else None

        aws.wait_for(ctx, f"snapshot {snapshot_id} completed (so {volume_id} is kept until then)", completed,
                     aws.timeout(ctx, "aws_wait_timeout_s", aws.AWS_WAIT_TIMEOUT_S),
                     progress=lambda: f"progress {last.get('Progress') or '0%'}; a retry waits for the same snapshot")
        ctx.step("wait snapshot", StepStatus.SUCCEEDED, f"{snapshot_id} completed")
        return snapshot_id

    def verify(self, ctx: ExecContext, spec: SnapshotDeleteSpec, plan: Plan) -> list[str]:
        problems = []
        volume = aws.describe_volume(ctx, spec.volume_id)
        if volume is not None and volume.get("State") not in ("deleting", "deleted"):
            problems.append(f"{spec.volume_id} still exists ({volume.get('State')})")
        snap = _snapshot_of(ctx, spec.volume_id)
        if snap is None or snap.get("State") != "completed":
            problems.append(f"no completed CloudOptim snapshot of {spec.volume_id}")
        return problems


def _last_modification(ctx: ExecContext, volume_id: str) -> dict[str, Any] | None:
    try:
        resp = aws.call(ctx, "DescribeVolumesModifications", ctx.ec2.describe_volumes_modifications,
                        VolumeIds=[volume_id])
    except ClientError as exc:
        if aws.is_not_found(exc):  # InvalidVolumeModification.NotFound: never modified
            return None
        raise aws.permanent("DescribeVolumesModifications", exc) from exc
    mods = sorted(resp.get("VolumesModifications", []),
                  key=lambda m: m.get("StartTime") or datetime.min.replace(tzinfo=UTC))
    return dict(mods[-1]) if mods else None


@register
class ModifyVolumeType(Action[ModifySpec]):
    kind = "modify-volume-type"
    spec_type = ModifySpec
    permissions = Permissions(iam=("ec2:DescribeVolumes", "ec2:ModifyVolume", "ec2:DescribeVolumesModifications"))

    def validate(self, ctx: ExecContext, spec: ModifySpec) -> list[Refusal]:
        volume = aws.describe_volume(ctx, spec.volume_id)
        if volume is None or volume.get("State") not in ("available", "in-use"):
            state = "gone" if volume is None else volume.get("State")
            return [Refusal("stale", f"volume {spec.volume_id} is {state}")]
        if volume.get("VolumeType") != spec.from_type:
            return [Refusal("stale", f"{spec.volume_id} is {volume.get('VolumeType')} now; "
                                     f"the recommendation saw {spec.from_type}")]
        refusals = []
        if spec.to_type in NEEDS_IOPS:
            refusals.append(Refusal("unsupported", f"{spec.to_type} needs provisioned IOPS, which this action "
                                                   "does not set"))
        if spec.to_type in ("st1", "sc1") and int(volume.get("Size", 0)) < HDD_MIN_GIB:
            refusals.append(Refusal("unsupported", f"{spec.to_type} volumes are at least {HDD_MIN_GIB} GiB; "
                                                   f"{spec.volume_id} has {volume.get('Size')}"))
        last = _last_modification(ctx, spec.volume_id)
        if last and last.get("ModificationState") in ("modifying", "optimizing"):
            refusals.append(Refusal("busy", f"{spec.volume_id} is still {last['ModificationState']} after its "
                                            f"last change to {last.get('TargetVolumeType')}"))
        elif last and isinstance(start := last.get("StartTime"), datetime) and datetime.now(UTC) - start < COOLDOWN:
            refusals.append(Refusal("cooldown", f"{spec.volume_id} was modified at {start:%Y-%m-%d %H:%M} UTC; "
                                                f"AWS allows the next change after {start + COOLDOWN:%H:%M} UTC"))
        return refusals

    def plan(self, ctx: ExecContext, spec: ModifySpec) -> Plan:
        volume = aws.describe_volume(ctx, spec.volume_id) or {"VolumeId": spec.volume_id}
        steps = [f"ModifyVolume {spec.volume_id} VolumeType={spec.to_type} (online: no detach, no downtime)",
                 "wait until the modification is optimizing or completed"]
        # gp2's baseline is 3 IOPS per GiB (100 to 16000) when AWS leaves Iops out
        iops = int(volume.get("Iops") or min(max(100, 3 * int(volume.get("Size") or 0)), 16000))
        if spec.from_type == "gp2" and spec.to_type == "gp3" and iops > 3000:
            steps.append(f"gp2 gave {iops} IOPS, gp3 includes 3000: check the result, IOPS above 3000 are billed")
        steps.append("rollback: the reverse change, possible only 6 hours after this one (AWS cooldown)")
        return Plan(
            summary=f"change {describe(volume)} from {spec.from_type} to {spec.to_type}",
            steps=steps,
            pre_image={"volume_id": spec.volume_id, "volume_type": volume.get("VolumeType", spec.from_type),
                       "iops": volume.get("Iops"), "throughput": volume.get("Throughput"),
                       "size_gib": volume.get("Size"), "changed_to": spec.to_type},
            reversible=True,
        )

    def apply(self, ctx: ExecContext, spec: ModifySpec, plan: Plan) -> dict[str, Any]:
        try:
            resp = aws.call(ctx, "ModifyVolume", ctx.ec2.modify_volume, VolumeId=spec.volume_id,
                            VolumeType=spec.to_type)
        except ClientError as exc:
            raise aws.permanent("ModifyVolume", exc) from exc
        mod = resp.get("VolumeModification", {})
        ctx.step("ModifyVolume", StepStatus.SUCCEEDED, f"{spec.volume_id}: {mod.get('OriginalVolumeType')} -> "
                                              f"{mod.get('TargetVolumeType')} ({mod.get('ModificationState')})",
                 **aws.summary(resp))
        last: dict[str, Any] = {}

        def settled() -> str | None:
            last.update(_last_modification(ctx, spec.volume_id) or {})
            state = last.get("ModificationState")
            if state == "failed":
                raise PermanentError(f"modifying {spec.volume_id} failed: {last.get('StatusMessage') or 'no reason'}")
            return str(state) if state in ("optimizing", "completed") else None

        state = aws.wait_for(ctx, f"{spec.volume_id} modification optimizing", settled,
                             aws.timeout(ctx, "aws_wait_timeout_s", aws.AWS_WAIT_TIMEOUT_S),
                             progress=lambda: f"{last.get('ModificationState')}, {last.get('Progress', 0)}%")
        ctx.step("wait modification", StepStatus.SUCCEEDED, f"{spec.volume_id} is {spec.to_type} ({state})")
        return {"volume_id": spec.volume_id, "volume_type": spec.to_type, "modification_state": state}

    def verify(self, ctx: ExecContext, spec: ModifySpec, plan: Plan) -> list[str]:
        volume = aws.describe_volume(ctx, spec.volume_id)
        actual = None if volume is None else volume.get("VolumeType")
        return [] if actual == spec.to_type else [f"{spec.volume_id} is {actual}, not {spec.to_type}"]

    def rollback_spec(self, plan: Plan) -> ModifySpec | None:
        old, new = plan.pre_image.get("volume_type"), plan.pre_image.get("changed_to")
        volume_id = plan.pre_image.get("volume_id")
        if not (isinstance(old, str) and isinstance(new, str) and isinstance(volume_id, str)):
            return None
        return ModifySpec(volume_id=volume_id, from_type=new, to_type=old)
