"""Measuring what an applied execution saves, from a later snapshot and the real price book (pure,
no database): removed and replaced nodes, replicas and requests, stopped instances, volumes, and
every gap said in words instead of a zero."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.pricing import load_price_book
from app.services.realized_measure import Applied
from app.services.realized_savings import measure
from engines.contract import PriceBook
from engines.snapshot import Autoscaler, ClusterState, Container, Node, Pod, Workload
from engines.snapshot_aws import AccountState, Instance, Snapshot, Volume

STARTED = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
FINISHED = STARTED + timedelta(minutes=2)
SCANNED = STARTED + timedelta(hours=1)
M5_LARGE_MONTHLY = Decimal("70.08")  # 0.096 $/h x 730 h


@pytest.fixture(scope="module")
def prices() -> PriceBook:
    return load_price_book()


def applied(
    kind: str,
    *,
    action: dict[str, Any] | None = None,
    pre: dict[str, Any] | None = None,
    result: dict[str, Any] | None = None,
    expected: str = "70.08",
) -> Applied:
    return Applied(execution_id=7, action_kind=kind, action=action or {}, pre_image=pre or {}, result=result or {},
                   started_at=STARTED, finished_at=FINISHED, region="us-east-1", expected=Decimal(expected))  # fmt: skip


def node(
    name: str,
    itype: str = "m5.large",
    *,
    instance_id: str | None = None,
    created: datetime | None = None,
    capacity: str = "on-demand",
) -> Node:
    return Node(name=name, instance_type=itype, instance_id=instance_id, region="us-east-1",
                capacity_type=capacity, created_at=created or STARTED - timedelta(days=3))  # type: ignore[arg-type]  # fmt: skip


def web_pod(name: str, on: str) -> Pod:
    return Pod(name=name, namespace="shop", node_name=on, controller_kind="ReplicaSet", controller_name="web-6d4b")


def snap(
    nodes: tuple[Node, ...] = (),
    pods: tuple[Pod, ...] = (),
    *,
    account: AccountState | None = None,
    workloads: tuple[Workload, ...] = (),
    hpas: tuple[Autoscaler, ...] = (),
    at: datetime = SCANNED,
) -> Snapshot:
    cluster = ClusterState(name="prod", region="us-east-1", nodes=nodes, pods=pods, workloads=workloads, hpas=hpas)
    return Snapshot(collected_at=at, cluster=cluster, account=account)


def account(*instances: Instance, volumes: tuple[Volume, ...] = ()) -> AccountState:
    return AccountState(account_id="123456789012", region="us-east-1", instances=instances, volumes=volumes)


def instance(instance_id: str, state: str, itype: str = "m5.large") -> Instance:
    return Instance(instance_id=instance_id, instance_type=itype, state=state, zone="us-east-1a", region="us-east-1")


DRAIN = applied("drain-and-remove-node", action={"node": "node-a", "instance_id": "i-0a"},
                pre={"node": "node-a", "instance_id": "i-0a", "labels": {"node.kubernetes.io/instance-type": "m5.large"},
                     "controllers": [{"namespace": "shop", "kind": "ReplicaSet", "name": "web-6d4b", "uid": "u1"}]},
                result={"instance_id": "i-0a", "instance_state": "shutting-down"})  # fmt: skip


def test_a_drained_node_whose_instance_is_gone_saves_its_hourly_price_times_730_hours(prices: PriceBook) -> None:
    later = snap((node("node-b"),), (web_pod("web-1", "node-b"),), account=account(instance("i-0a", "terminated")))
    found = measure(DRAIN, later, prices)
    assert found.realized == M5_LARGE_MONTHLY
    assert found.notes == ("scan of 2026-05-01 11:00 UTC: node node-a (m5.large on-demand, $0.096/h) is gone and "
                           "instance i-0a no longer runs; its pods run on nodes that were already there: "
                           "saves $70.08/month")  # fmt: skip


def test_a_node_that_joined_since_and_runs_the_evicted_workload_counts_against_the_saving(prices: PriceBook) -> None:
    new = node("node-c", "t3.large", created=FINISHED + timedelta(minutes=1))
    unrelated = node("node-d", "m5.xlarge", created=FINISHED + timedelta(minutes=1))  # runs other pods: not counted
    later = snap((node("node-b"), new, unrelated), (web_pod("web-1", "node-c"), web_pod("web-2", "node-b")))
    found = measure(DRAIN, later, prices)
    assert found.realized == M5_LARGE_MONTHLY - Decimal("60.74")  # t3.large: 0.0832 $/h
    assert "new node(s) node-c (t3.large on-demand, $0.0832/h) joined since" in found.notes
    assert "$70.08 - $60.74 = $9.34/month" in found.notes and "(EC2 state not collected" in found.notes


def test_a_node_that_came_back_is_not_measured_and_the_note_says_so(prices: PriceBook) -> None:
    found = measure(DRAIN, snap((node("node-a", instance_id="i-0a"),)), prices)
    assert found.realized is None
    assert found.notes.endswith("not measured: node node-a (instance i-0a) is in the cluster again, so its price is "
                                "not gone")  # fmt: skip


def test_an_instance_still_running_after_its_node_left_saves_nothing(prices: PriceBook) -> None:
    found = measure(DRAIN, snap((node("node-b"),), account=account(instance("i-0a", "running"))), prices)
    assert found.realized == Decimal(0) and "instance i-0a is running and billed: nothing is saved" in found.notes


def test_no_scan_since_the_execution_finished_is_not_measured_yet(prices: PriceBook) -> None:
    found = measure(DRAIN, snap((node("node-b"),), at=FINISHED - timedelta(seconds=1)), prices)
    assert found.realized is None
    assert found.notes == ("not measured yet: no scan since execution 7 finished at 2026-05-01 10:02 UTC "
                           "(last scan 2026-05-01 10:01 UTC)")  # fmt: skip
    assert measure(DRAIN, None, prices).notes == "not measured yet: the cluster has no stored scan"


def test_a_removed_node_without_a_recorded_instance_type_is_not_measured(prices: PriceBook) -> None:
    bare = applied("drain-and-remove-node", action={"node": "node-a"}, pre={"node": "node-a", "labels": {}})
    found = measure(bare, snap((node("node-b"),)), prices)
    assert found.realized is None and "the instance type of node node-a is not recorded" in found.notes


def test_a_node_moved_to_spot_saves_its_price_minus_the_replacements_real_spot_price(prices: PriceBook) -> None:
    moved = applied("move-to-spot", pre={"node": "node-a", "instance_id": "i-0a", "instance_type": "m5.large",
                                         "capacity_type": "on-demand"},
                    result={"new_node": "node-s", "new_instance_id": "i-0s"})  # fmt: skip
    later = snap((node("node-s", instance_id="i-0s", capacity="spot", created=FINISHED),))
    found = measure(moved, later, prices)
    assert found.realized == M5_LARGE_MONTHLY - Decimal("31.87")  # spot average 0.04366 $/h
    assert "its replacement node-s (m5.large spot, $0.04366/h) runs (spot-average price)" in found.notes
    gone = measure(moved, snap((node("node-b"),)), prices)
    assert gone.realized is None and "the replacement node node-s is not in the cluster any more" in gone.notes


def test_a_scale_down_an_autoscaler_half_undid_realizes_half_the_expected_saving(prices: PriceBook) -> None:
    scaled = applied("scale-replicas", pre={"kind": "Deployment", "namespace": "shop", "name": "web", "replicas": 5,
                                            "target": 1}, expected="100.00")  # fmt: skip
    later = snap(workloads=(Workload(kind="Deployment", name="web", namespace="shop", replicas=3),),
                 hpas=(Autoscaler(name="web", namespace="shop", target_kind="Deployment", target_name="web",
                                  min_replicas=1, max_replicas=6),))  # fmt: skip
    found = measure(scaled, later, prices)
    assert found.realized == Decimal("50.00")
    assert found.notes.endswith("Deployment shop/web runs 3 replicas (was 5, planned 1); autoscaler shop/web (1-6) may "
                                "move it: 50% of the planned change holds, priced at the recommendation's "
                                "$100.00/month: $50.00/month")  # fmt: skip


def test_lowered_requests_still_in_place_realize_the_whole_expected_saving(prices: PriceBook) -> None:
    lowered = applied("set-requests-limits", action={"container": "app", "cpu_request": 0.5, "memory_request": 2**30},
                      pre={"kind": "Deployment", "namespace": "shop", "name": "web", "container": "app",
                           "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}, expected="40.00")  # fmt: skip
    now = Container(name="app", cpu_request=0.5, memory_request=2**30)
    found = measure(lowered, snap(workloads=(Workload(kind="Deployment", name="web", namespace="shop",
                                                      containers=(now,)),)), prices)  # fmt: skip
    assert found.realized == Decimal("40.00") and "cpu request 2 -> 0.5 (planned 0.5)" in found.notes


def test_a_stopped_instance_saves_its_on_demand_price_and_one_started_again_saves_nothing(prices: PriceBook) -> None:
    stop = applied(
        "stop-instance", action={"instance_id": "i-09"}, pre={"instance_id": "i-09", "instance_type": "m5.large"}
    )
    found = measure(stop, snap(account=account(instance("i-09", "stopped"))), prices)
    assert found.realized == M5_LARGE_MONTHLY and "its EBS volumes are still billed" in found.notes
    again = measure(stop, snap(account=account(instance("i-09", "running"))), prices)
    assert again.realized == Decimal(0) and "is running again" in again.notes


def test_a_deleted_volume_saves_its_storage_price_and_a_retyped_one_the_difference(prices: PriceBook) -> None:
    deleted = applied("snapshot-and-delete-volume", pre={"volume_id": "vol-1", "volume_type": "gp2", "size_gib": 100})
    assert measure(deleted, snap(account=account()), prices).realized == Decimal("10.00")
    retyped = applied(
        "modify-volume-type",
        action={"to_type": "gp3"},
        pre={"volume_id": "vol-1", "volume_type": "gp2", "size_gib": 100},
    )
    vol = Volume(
        volume_id="vol-1", volume_type="gp3", size_gb=100, state="in-use", zone="us-east-1a", region="us-east-1"
    )
    assert measure(retyped, snap(account=account(volumes=(vol,))), prices).realized == Decimal("2.00")


def test_an_action_kind_without_a_measurement_and_a_missing_price_say_so(prices: PriceBook) -> None:
    schedule = measure(applied("schedule-scale", expected="12.00"), snap(), prices)
    assert schedule.realized is None and schedule.notes.endswith("not measured: no measurement of schedule-scale yet "
                                                                 "(expected $12.00/month)")  # fmt: skip
    odd = applied(
        "drain-and-remove-node",
        action={"node": "node-a"},
        pre={"node": "node-a", "labels": {"node.kubernetes.io/instance-type": "m9.imaginary"}},
    )
    found = measure(odd, snap(), prices)
    assert found.realized is None and "not measured:" in found.notes and "m9.imaginary" in found.notes
