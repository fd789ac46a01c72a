"""The EC2 and EBS actions against a local moto server: plans an analyst can read, stale
recommendations refused with the reason, throttling retried inside the deadline, and a volume
never deleted without a completed snapshot."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.stub import Stubber

from engines.actions import ModifyVolumeType, SnapshotAndDeleteVolume, StopInstance, TerminateInstance
from executor import aws_actions, ebs_actions
from executor.base import PermanentError, StepRecord, StepStatus, TemporaryError
from tests.executor.conftest import FakeClock, inject_error, make_ctx, rewrite_response

AMI = "ami-12345678"


def run(ec2: Any, itype: str = "m5.large", tags: dict[str, str] | None = None, **extra: Any) -> str:
    tag_spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
    resp = ec2.run_instances(ImageId=AMI, InstanceType=itype, MinCount=1, MaxCount=1,
                             **({"TagSpecifications": tag_spec} if tags else {}), **extra)
    return str(resp["Instances"][0]["InstanceId"])


def state(ec2: Any, instance_id: str) -> str:
    return str(ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"])


def volume(ec2: Any, vtype: str = "gp2", size: int = 100, tags: dict[str, str] | None = None) -> str:
    tag_spec = [{"ResourceType": "volume", "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}]
    resp = ec2.create_volume(AvailabilityZone="us-east-1a", Size=size, VolumeType=vtype,
                             **({"TagSpecifications": tag_spec} if tags else {}))
    return str(resp["VolumeId"])


def every_snapshot(**fields: str) -> Callable[[dict[str, Any]], None]:
    """A DescribeSnapshots rewrite: AWS reports every snapshot with these fields."""
    def change(parsed: dict[str, Any]) -> None:
        for snap in parsed.get("Snapshots", []):
            snap.update(fields)

    return change


def names(steps: list[StepRecord]) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in steps]


# --- stop ----------------------------------------------------------------------------------
def test_stopping_an_idle_instance_records_the_running_pre_image_and_the_rollback_starts_it_again(ec2: Any) -> None:
    iid = run(ec2, tags={"team": "analytics", "Name": "legacy-reporting"})
    steps: list[StepRecord] = []
    ctx, action, spec = make_ctx(steps, ec2=ec2), aws_actions.StopInstance(), StopInstance(instance_id=iid)

    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    assert plan.summary == f"stop {iid} (m5.large, running, tags Name=legacy-reporting, team=analytics)"
    assert plan.reversible and plan.pre_image["state"] == "running"
    result = action.apply(ctx, spec, plan)

    assert result == {"instance_id": iid, "state": "stopped"} and state(ec2, iid) == "stopped"
    assert action.verify(ctx, spec, plan) == []
    stop = steps[0]
    assert (stop.name, stop.status, stop.detail) == ("StopInstances", StepStatus.SUCCEEDED, f"{iid}: running -> stopping")
    assert stop.response["RequestId"] and stop.response["StoppingInstances"][0]["InstanceId"] == iid
    assert action.rollback_spec(plan) is None  # the service then calls the direct rollback
    assert action.rollback(ctx, plan) == {"instance_id": iid, "state": "running"}
    assert state(ec2, iid) == "running"


def test_a_stop_is_refused_as_stale_when_the_instance_is_stopped_or_gone(ec2: Any) -> None:
    iid = run(ec2)
    ec2.stop_instances(InstanceIds=[iid])
    ctx, action = make_ctx([], ec2=ec2), aws_actions.StopInstance()

    (stopped,) = action.validate(ctx, StopInstance(instance_id=iid))
    (gone,) = action.validate(ctx, StopInstance(instance_id="i-0123456789abcdef0"))

    assert (stopped.code, stopped.message) == ("stale", f"{iid} is stopped; the recommendation saw it running")
    assert (gone.code, gone.message) == ("stale", "instance i-0123456789abcdef0 no longer exists")


def test_a_stop_is_refused_for_a_kubernetes_node_and_for_a_spot_instance(ec2: Any) -> None:
    node = run(ec2, tags={"kubernetes.io/cluster/prod-east": "owned"})
    spot = run(ec2, InstanceMarketOptions={"MarketType": "spot"})
    ctx, action = make_ctx([], ec2=ec2), aws_actions.StopInstance()

    (is_node,) = action.validate(ctx, StopInstance(instance_id=node))
    (is_spot,) = action.validate(ctx, StopInstance(instance_id=spot))

    assert is_node.code == "is-node" and "node of cluster prod-east" in is_node.message
    assert "drain-and-remove-node" in is_node.message
    assert is_spot.code == "unsupported" and "Spot instance" in is_spot.message


# --- terminate -----------------------------------------------------------------------------
def test_terminating_plans_type_state_tags_and_volumes_then_leaves_the_instance_terminated(ec2: Any) -> None:
    iid = run(ec2, "c5.xlarge", tags={"team": "ci"})
    steps: list[StepRecord] = []
    ctx, action, spec = make_ctx(steps, ec2=ec2), aws_actions.TerminateInstance(), TerminateInstance(instance_id=iid)

    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    action.apply(ctx, spec, plan)

    assert plan.summary == f"terminate {iid} (c5.xlarge, running, tags team=ci)"
    assert any(s.startswith("volumes deleted with it: vol-") for s in plan.steps) and not plan.reversible
    assert state(ec2, iid) == "terminated" and action.verify(ctx, spec, plan) == []
    assert names(steps) == [("TerminateInstances", "succeeded"), ("wait terminated", "succeeded")]


def test_terminating_an_instance_that_is_already_gone_is_done_not_an_error(ec2: Any) -> None:
    iid = run(ec2)
    ec2.terminate_instances(InstanceIds=[iid])
    steps: list[StepRecord] = []
    ctx, action = make_ctx(steps, ec2=ec2), aws_actions.TerminateInstance()

    for gone in (iid, "i-0123456789abcdef0"):
        spec = TerminateInstance(instance_id=gone)
        assert action.validate(ctx, spec) == []
        plan = action.plan(ctx, spec)
        assert plan.summary == f"{gone} is already terminated; nothing to do"
        assert action.apply(ctx, spec, plan)["state"] == "terminated"
        assert action.verify(ctx, spec, plan) == []
    assert names(steps) == [("TerminateInstances", "skipped")] * 2


def test_termination_protection_refuses_the_terminate(ec2: Any) -> None:
    iid = run(ec2)
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    (refusal,) = aws_actions.TerminateInstance().validate(make_ctx([], ec2=ec2), TerminateInstance(instance_id=iid))
    assert refusal.code == "protected" and iid in refusal.message


# --- throttling ----------------------------------------------------------------------------
def test_a_throttled_call_is_retried_with_backoff_and_then_succeeds(ec2: Any, clock: FakeClock) -> None:
    iid = run(ec2)
    failed = inject_error(ec2, "StopInstances", "RequestLimitExceeded", times=3)
    steps: list[StepRecord] = []
    ctx, action, spec = make_ctx(steps, ec2=ec2, clock=clock), aws_actions.StopInstance(), StopInstance(instance_id=iid)

    action.apply(ctx, spec, action.plan(ctx, spec))

    assert len(failed) == 3 and state(ec2, iid) == "stopped"
    assert clock.slept[:3] == [0.5, 1.0, 2.0]  # exponential backoff on the injected sleep
    assert names(steps)[:2] == [("StopInstances", "retrying"), ("StopInstances", "succeeded")]
    assert "RequestLimitExceeded" in steps[0].detail


def test_throttling_that_outlasts_the_deadline_is_a_temporary_error(clock: FakeClock, local_aws: Any) -> None:
    # Stubber plays an account that stays throttled: every DescribeVolumes answers Throttling.
    client = local_aws.boto3_session().client("ec2", endpoint_url=local_aws.endpoint_url)
    stubber = Stubber(client)
    for _ in range(20):
        stubber.add_client_error("describe_volumes", service_error_code="Throttling", http_status_code=400)
    ctx = make_ctx([], ec2=client, clock=clock, aws_call_timeout_s=10.0)
    with stubber, pytest.raises(TemporaryError, match=r"DescribeVolumes: still failing after 5 attempt\(s\) \(Throttling"):
        ebs_actions.ModifyVolumeType().validate(ctx, ModifyVolumeType(volume_id="vol-1", from_type="gp2", to_type="gp3"))
    assert sum(clock.slept) <= 10.0


# --- snapshot and delete -------------------------------------------------------------------
def test_an_unattached_volume_is_snapshotted_with_tags_naming_it_and_then_deleted(ec2: Any) -> None:
    vid = volume(ec2, tags={"Name": "old-jenkins-data", "team": "platform"})
    steps: list[StepRecord] = []
    ctx, action, spec = make_ctx(steps, ec2=ec2), ebs_actions.SnapshotAndDeleteVolume(), SnapshotAndDeleteVolume(volume_id=vid)

    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    result = action.apply(ctx, spec, plan)

    assert plan.summary == f"snapshot then delete {vid} (gp2, 100 GiB, us-east-1a, available, tags Name=old-jenkins-data, team=platform)"
    snap = ec2.describe_snapshots(SnapshotIds=[result["snapshot_id"]])["Snapshots"][0]
    tags = {t["Key"]: t["Value"] for t in snap["Tags"]}
    assert tags == {"Name": "old-jenkins-data", "team": "platform", "cloudoptim.io/managed-by": "cloudoptim",
                    "cloudoptim.io/source-volume": vid}
    assert snap["VolumeId"] == vid and snap["State"] == "completed" and vid in snap["Description"]
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [vid]}])["Volumes"] == []
    assert names(steps) == [("CreateSnapshot", "succeeded"), ("wait snapshot", "succeeded"), ("DeleteVolume", "succeeded")]
    assert action.verify(ctx, spec, plan) == []


def test_an_attached_volume_is_refused_as_stale(ec2: Any) -> None:
    vid, iid = volume(ec2), run(ec2)
    ec2.attach_volume(VolumeId=vid, InstanceId=iid, Device="/dev/xvdf")
    (refusal,) = ebs_actions.SnapshotAndDeleteVolume().validate(make_ctx([], ec2=ec2), SnapshotAndDeleteVolume(volume_id=vid))
    assert refusal.code == "stale" and f"attached to {iid}" in refusal.message and "saw it unattached" in refusal.message


def test_a_failed_snapshot_never_deletes_the_volume(ec2: Any) -> None:
    vid = volume(ec2)
    rewrite_response(ec2, "DescribeSnapshots", every_snapshot(State="error", StateMessage="KMS key disabled"))
    ctx, action, spec = make_ctx([], ec2=ec2), ebs_actions.SnapshotAndDeleteVolume(), SnapshotAndDeleteVolume(volume_id=vid)

    with pytest.raises(PermanentError, match=f"failed \\(KMS key disabled\\); {vid} was not deleted"):
        action.apply(ctx, spec, action.plan(ctx, spec))
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available"


def test_a_snapshot_pending_at_the_deadline_keeps_the_volume_and_a_retry_reuses_that_snapshot(ec2: Any, clock: FakeClock) -> None:
    vid = volume(ec2)
    undo = rewrite_response(ec2, "DescribeSnapshots", every_snapshot(State="pending", Progress="42%"))
    steps: list[StepRecord] = []
    ctx = make_ctx(steps, ec2=ec2, clock=clock, aws_wait_timeout_s=60.0, poll_interval_s=5.0)
    action, spec = ebs_actions.SnapshotAndDeleteVolume(), SnapshotAndDeleteVolume(volume_id=vid)

    with pytest.raises(TemporaryError, match=r"not reached within 60s \(progress 42%; a retry waits for the same snapshot\)"):
        action.apply(ctx, spec, action.plan(ctx, spec))
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["State"] == "available"
    undo()  # the snapshot completes meanwhile
    result = action.apply(ctx, spec, action.plan(ctx, spec))

    assert len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]) == 1
    assert ("CreateSnapshot", "skipped") in names(steps) and result["deleted"]


def test_a_volume_that_is_already_deleted_is_done(ec2: Any) -> None:
    steps: list[StepRecord] = []
    ctx, action = make_ctx(steps, ec2=ec2), ebs_actions.SnapshotAndDeleteVolume()
    spec = SnapshotAndDeleteVolume(volume_id="vol-0123456789abcdef0")
    assert action.validate(ctx, spec) == []
    assert action.apply(ctx, spec, action.plan(ctx, spec))["deleted"] is True
    assert names(steps) == [("DeleteVolume", "skipped")]


# --- modify volume type --------------------------------------------------------------------
def test_gp2_to_gp3_waits_for_optimizing_and_the_rollback_spec_is_the_reverse_change(ec2: Any) -> None:
    vid = volume(ec2, size=2000)
    seen: list[str] = []

    def modifying_first(parsed: dict[str, Any]) -> None:
        for mod in parsed.get("VolumesModifications", []):
            if not seen:
                mod["ModificationState"] = "modifying"
            seen.append(mod["ModificationState"])

    steps: list[StepRecord] = []
    ctx, action = make_ctx(steps, ec2=ec2), ebs_actions.ModifyVolumeType()
    spec = ModifyVolumeType(volume_id=vid, from_type="gp2", to_type="gp3")
    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    rewrite_response(ec2, "DescribeVolumesModifications", modifying_first)
    result = action.apply(ctx, spec, plan)

    assert seen == ["modifying", "completed"] and result["volume_type"] == "gp3"
    assert ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]["VolumeType"] == "gp3"
    assert any("gp2 gave 6000 IOPS" in s for s in plan.steps) and any("6 hours" in s for s in plan.steps)
    assert plan.reversible and plan.pre_image["volume_type"] == "gp2"
    assert action.rollback_spec(plan) == ModifyVolumeType(volume_id=vid, from_type="gp3", to_type="gp2")
    assert action.verify(ctx, spec, plan) == []
    assert names(steps) == [("ModifyVolume", "succeeded"), ("wait modification", "succeeded")]


def test_a_volume_whose_type_changed_since_the_scan_is_refused_as_stale(ec2: Any) -> None:
    vid = volume(ec2, "gp3")
    (refusal,) = ebs_actions.ModifyVolumeType().validate(make_ctx([], ec2=ec2),
                                                         ModifyVolumeType(volume_id=vid, from_type="gp2", to_type="gp3"))
    assert (refusal.code, refusal.message) == ("stale", f"{vid} is gp3 now; the recommendation saw gp2")


def test_a_volume_modified_less_than_six_hours_ago_is_refused_for_the_aws_cooldown(ec2: Any) -> None:
    vid = volume(ec2, "gp2")
    ec2.modify_volume(VolumeId=vid, VolumeType="gp3")
    (refusal,) = ebs_actions.ModifyVolumeType().validate(make_ctx([], ec2=ec2),
                                                         ModifyVolumeType(volume_id=vid, from_type="gp3", to_type="gp2"))
    assert refusal.code == "cooldown" and "AWS allows the next change after" in refusal.message
