"""The Spot path against the sandbox: an EventBridge `put_events` lands in the SQS queue, the
worker's Spot poller cordons the node, launches a ranked replacement through the executor and
drains the node inside the notice, every step's time in the spot_warnings row; a duplicate is
handled once; state changes land on the row; rebalance recommendations follow the policy."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import kubernetes.client
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from app.db.models import SpotWarning
from app.pricing import load_price_book
from background.spot_poller import SpotPoller
from executor.node_launch import REPLACES_TAG
from sandbox import spot_lab
from sandbox.sandbox import Sandbox
from tests.spot.conftest import finished_row, queue_empty, row_of
from tests.waiting import wait_until

CLUSTER = "prod-east"
REBALANCE = "EC2 Instance Rebalance Recommendation"


def core(sb: Sandbox) -> Any:
    return kubernetes.client.CoreV1Api(sb.kube[CLUSTER].api_client())


def pods_on(sb: Sandbox, node: str) -> list[str]:
    pods = core(sb).list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
    return sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in pods if p.metadata.namespace == "spot-lab")


def replacements(sb: Sandbox, instance_id: str) -> list[dict[str, Any]]:
    resp = sb.aws.client("ec2").describe_instances(Filters=[{"Name": f"tag:{REPLACES_TAG}", "Values": [instance_id]}])
    return [i for r in resp["Reservations"] for i in r["Instances"]]


def test_a_warning_put_through_eventbridge_cordons_replaces_and_drains_the_node_with_every_time_recorded(
    spot_env: Sandbox, engine: Engine, start_poller: Callable[..., SpotPoller]
) -> None:
    instance_id, node = spot_lab.launch_spot_node(spot_env, CLUSTER, zone="us-east-1b")
    moved = spot_lab.put_pods(spot_env, CLUSTER, node, "shop", 10, pdb={"minAvailable": 9})
    start_poller()
    event_id = spot_lab.put_event(spot_env, instance_id)

    row = finished_row(engine, event_id)
    assert row.status == "handled", row.message
    assert (row.cluster_id, row.node_name, row.instance_action) == (row.cluster_id, node, "terminate")
    assert row.event_time is not None and row.deadline_at == row.event_time + timedelta(seconds=120)
    assert row.cordoned_at and row.replacement_launched_at and row.drained_at
    assert row.received_at <= row.cordoned_at <= row.replacement_launched_at <= row.drained_at <= row.deadline_at
    assert row.handled_in_notice is True
    assert row.feasibility and "PodDisruptionBudget spot-lab/shop allows 1 disruption for 10 pods" in row.feasibility
    # 10 rounds of 1 disruption are an upper bound above the budget: it may not fit, and here it did.
    assert row.feasibility.startswith("may not fit in the"), row.feasibility
    assert sorted(row.detail["evicted"]) == moved and row.detail["pool"] == {
        "instance_type": "m5.xlarge",
        "zone": "us-east-1b",
    }
    # The node is cordoned and empty of its workload; the pods run again elsewhere.
    assert core(spot_env).read_node(node).spec.unschedulable is True and pods_on(spot_env, node) == []
    # The replacement: a Spot instance of the best-ranked type, not the interrupted pool, same subnet.
    [new] = replacements(spot_env, instance_id)
    ranked = [r["instance_type"] for r in row.detail["ranking"]["ranked"]]
    assert new["InstanceId"] == row.replacement_instance_id and new["InstanceType"] == ranked[0] != "m5.xlarge"
    assert new["InstanceLifecycle"] == "spot" and new["Placement"]["AvailabilityZone"] == "us-east-1b"
    assert wait_until(lambda: queue_empty(spot_env))  # deleted once recorded

    # AWS then takes the instance: its state change lands on the same row.
    spot_lab.send_raw(spot_env, spot_lab.state_change_body(instance_id, "shutting-down"))
    changed = wait_until(lambda: (r := row_of(engine, event_id)) and r.detail.get("instance_state") and r)
    assert changed.detail["instance_state"] == "shutting-down" and changed.status == "handled"


def test_a_duplicate_event_is_handled_once_even_when_both_copies_arrive_in_one_batch(
    spot_env: Sandbox, engine: Engine, start_poller: Callable[..., SpotPoller]
) -> None:
    instance_id, node = spot_lab.launch_spot_node(spot_env, CLUSTER, zone="us-east-1c")
    spot_lab.put_pods(spot_env, CLUSTER, node, "dup", 3)
    body = json.dumps(
        {
            "version": "0",
            "id": f"dup-{instance_id}",
            "detail-type": "EC2 Spot Instance Interruption Warning",
            "source": "aws.ec2",
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"],
            "detail": {"instance-id": instance_id, "instance-action": "terminate"},
        }
    )
    for _ in range(3):
        spot_lab.send_raw(spot_env, body)
    start_poller()
    wait_until(lambda: queue_empty(spot_env))
    row = finished_row(engine, f"dup-{instance_id}")
    with Session(engine) as session:
        count = session.exec(
            select(func.count()).select_from(SpotWarning).where(SpotWarning.instance_id == instance_id)
        ).one()
    assert count == 1
    assert len(replacements(spot_env, instance_id)) == 1
    # The notice of 2026-01-01 had long passed: the node is still cordoned, nothing is drained.
    assert row.status == "failed" and "no time left to drain" in row.message
    assert core(spot_env).read_node(node).spec.unschedulable is True


@pytest.mark.parametrize(("policy", "bucket_offset", "acts"), [
    ("act", 0, True),
    ("record", 0, False),
    ("act-high-risk", 0, True),  # the pool's bucket is the threshold: act
    ("act-high-risk", 1, False),  # the threshold is above the pool's bucket: only record
])  # fmt: skip
def test_a_rebalance_recommendation_follows_the_policy(
    spot_env: Sandbox,
    engine: Engine,
    start_poller: Callable[..., SpotPoller],
    policy: str,
    bucket_offset: int,
    acts: bool,
) -> None:
    instance_type = "m5.large"  # Spot Advisor bucket 3 in us-east-1 in the shipped data
    bucket = load_price_book().spot_advice("us-east-1", instance_type).interruption_bucket
    instance_id, node = spot_lab.launch_spot_node(spot_env, CLUSTER, instance_type=instance_type)
    spot_lab.put_pods(spot_env, CLUSTER, node, f"rb-{policy}-{bucket_offset}", 2)
    start_poller(rebalance_policy=policy, rebalance_act_min_bucket=bucket + bucket_offset)
    event_id = spot_lab.put_event(spot_env, instance_id, detail_type=REBALANCE)

    row = finished_row(engine, event_id)
    assert row.deadline_at is None  # a recommendation carries no two-minute notice
    if acts:
        assert row.status == "handled", row.message
        assert row.cordoned_at and row.replacement_launched_at and row.drained_at
        assert core(spot_env).read_node(node).spec.unschedulable is True
    else:
        assert row.status == "recorded" and f"policy: {policy}" in row.message
        assert row.cordoned_at is None and replacements(spot_env, instance_id) == []
        assert not core(spot_env).read_node(node).spec.unschedulable
    assert row.node_name == node


def test_a_warning_a_killed_worker_left_handling_is_resumed_inside_its_notice_and_an_expired_one_failed(
    spot_env: Sandbox, engine: Engine, start_poller: Callable[..., SpotPoller]
) -> None:
    from app.db.types import utcnow

    instance_id, node = spot_lab.launch_spot_node(spot_env, CLUSTER, zone="us-east-1c")
    moved = spot_lab.put_pods(spot_env, CLUSTER, node, "resumed", 3)
    now = utcnow()
    # What a worker SIGKILLed right after storing the rows leaves: one warning whose notice still
    # runs (its message is already deleted, so only the row can bring it back) and one long expired.
    with Session(engine) as s:
        s.add(SpotWarning(event_id="killed-live", detail_type="EC2 Spot Instance Interruption Warning",
                          instance_id=instance_id, region="us-east-1", status="handling", event_time=now,
                          received_at=now, deadline_at=now + timedelta(seconds=120), instance_action="terminate"))
        s.add(SpotWarning(event_id="killed-expired", detail_type="EC2 Spot Instance Interruption Warning",
                          instance_id="i-0000000000000dead", region="us-east-1", status="received",
                          event_time=now - timedelta(minutes=10), received_at=now - timedelta(minutes=10),
                          deadline_at=now - timedelta(minutes=8)))  # fmt: skip
        s.commit()
    start_poller()

    live = finished_row(engine, "killed-live")
    assert live.status == "handled" and live.handled_in_notice is True, live.message
    assert live.cordoned_at and live.replacement_launched_at and live.drained_at
    assert sorted(live.detail["evicted"]) == moved
    expired = finished_row(engine, "killed-expired")
    assert expired.status == "failed" and expired.handled_in_notice is False
    assert expired.message and "the worker stopped while handling it and the notice ended" in expired.message
