"""The plan's order, conflicts and simulation as pure functions on plain snapshots (no database):
requests first so consolidation sees them, a removal that no longer fits after requests grow,
account changes priced from the real price book, and what cannot be simulated said so."""

from __future__ import annotations

from decimal import Decimal

from app.pricing import load_price_book
from app.services.plan_order import PlanGroup, find_conflicts, group_of, order_steps
from app.services.plan_simulation import StepOutcome, simulate
from app.services.scans import run_engines
from engines.actions import (
    DrainAndRemoveNode,
    MoveToSpot,
    PodMove,
    ReplaceNodeType,
    ScheduleScale,
    SetRequestsLimits,
    SetTrafficDistribution,
    SnapshotAndDeleteVolume,
    StopInstance,
)
from engines.contract import Recommendation, ScanResult
from engines.registry import default_registry
from engines.snapshot_aws import AccountState, Instance, Snapshot, Volume
from tests.framework.estate import GIB, wasteful_snapshot

PRICES = load_price_book()
REGISTRY = default_registry()


def rec(engine: str, action: object, saving: str = "10", target: str = "") -> Recommendation:
    return Recommendation(engine=engine, cluster="prod-east", target=target or f"t/{engine}/{id(action)}",
                          action=action, current_monthly_cost=Decimal(saving), projected_monthly_cost=Decimal(0),
                          rationale="test")  # type: ignore[arg-type]  # fmt: skip


def rerun(name: str, snapshot: Snapshot) -> ScanResult | str:
    if name not in REGISTRY.names():
        return f"engine {name} is not installed here"
    outcome = run_engines(snapshot, REGISTRY, PRICES, now=snapshot.collected_at, engine_names=[name])[0]
    return outcome.error or outcome.result


def requests(engine: str, memory_gib: float, app: str = "web") -> Recommendation:
    action = SetRequestsLimits(namespace="shop", workload_kind="Deployment", workload_name=app, container="main",
                               memory_request=int(memory_gib * GIB))  # fmt: skip
    return rec(engine, action, target=f"workload/shop/Deployment/{app}/main")


def test_steps_are_ordered_requests_consolidation_spot_account_traffic_then_schedules() -> None:
    schedule = rec("office-hours", ScheduleScale(namespace="shop", workload_kind="Deployment", workload_name="web",
                                                 uptime="Mon-Fri 08:00-18:00 UTC"))  # fmt: skip
    traffic = rec("cross-az", SetTrafficDistribution(namespace="shop", service="web"))
    volume = rec("ebs", SnapshotAndDeleteVolume(volume_id="vol-1"))
    spot = rec("spot-optimizer", MoveToSpot(node="node-3", from_type="m5.xlarge", to_types=("m5.xlarge",)))
    replace = rec("binpack", ReplaceNodeType(node="node-2", from_type="m5.xlarge", to_type="m5.large"), "90")
    drain = rec("binpack", DrainAndRemoveNode(node="node-0"), "50")
    sizing = requests("rightsizing", 0.5)
    ordered = order_steps([schedule, traffic, volume, spot, replace, drain, sizing])
    assert ordered == [sizing, drain, replace, spot, volume, traffic, schedule]
    assert [group_of(r) for r in ordered] == [PlanGroup.REQUESTS, PlanGroup.CONSOLIDATION, PlanGroup.CONSOLIDATION,
                                              PlanGroup.SPOT, PlanGroup.ACCOUNT, PlanGroup.TRAFFIC, PlanGroup.SCHEDULES]
    assert group_of(schedule) is PlanGroup.SCHEDULES and group_of(sizing) is PlanGroup.REQUESTS
    assert group_of(rec("spot-optimizer", ReplaceNodeType(node="n", from_type="a", to_type="b",
                                                          capacity_type="spot"))) is PlanGroup.SPOT  # fmt: skip


def test_a_replacement_that_depends_on_a_removal_comes_after_it_and_is_no_conflict() -> None:
    drain = rec("binpack", DrainAndRemoveNode(node="node-0", moves=(PodMove(namespace="shop", pod="web-1",
                                                                            to_node="node-1"),)), "10")  # fmt: skip
    replace = rec("binpack", ReplaceNodeType(node="node-1", from_type="m5.xlarge", to_type="m5.large"), "90")
    replace = replace.model_copy(update={"depends_on": [drain.fingerprint]})
    assert order_steps([replace, drain]) == [drain, replace]
    assert find_conflicts([drain, replace]) == []
    other = rec("spot-optimizer", MoveToSpot(node="node-1", from_type="m5.xlarge", to_types=("m5.xlarge",)))
    (conflict,) = find_conflicts([drain, other])
    assert "onto node node-1" in conflict.reason


def test_requests_that_grow_make_a_chosen_removal_no_longer_hold() -> None:
    snapshot = wasteful_snapshot()
    drain = next(r for r in rerun("binpack", snapshot).recommendations  # type: ignore[union-attr]
                 if r.target == "node/node-0")  # fmt: skip
    grown = requests("oom-remediation", 13.6)  # web pods need 13.6 GiB: no other node has that free

    sim = simulate(snapshot, order_steps([drain, grown]), PRICES, rerun)

    assert [s.outcome for s in sim.steps] == [StepOutcome.SIMULATED, StepOutcome.NO_LONGER_HOLDS]
    assert "no longer recommends" in sim.steps[1].note or "instead" in sim.steps[1].note
    assert sim.delta == Decimal(0) and sim.naive_sum == drain.monthly_savings + grown.monthly_savings

    shrunk = simulate(snapshot, [drain], PRICES, rerun)
    assert shrunk.delta == Decimal("140.16")  # alone, the same removal saves one m5.xlarge


def test_account_changes_are_priced_and_schedules_and_traffic_are_said_to_be_not_simulated() -> None:
    account = AccountState(account_id="123456789012", region="us-east-1", instances=(
        Instance(instance_id="i-idle", instance_type="m5.large", state="running", zone="us-east-1a", region="us-east-1"),
    ), volumes=(Volume(volume_id="vol-old", volume_type="gp2", size_gb=100, state="available", zone="us-east-1a",
                       region="us-east-1"),))  # fmt: skip
    snapshot = wasteful_snapshot().model_copy(update={"account": account})
    stop = rec("my-ghosts", StopInstance(instance_id="i-idle"), "70")
    delete = rec("my-volumes", SnapshotAndDeleteVolume(volume_id="vol-old"), "10")
    schedule = rec("office-hours", ScheduleScale(namespace="shop", workload_kind="Deployment", workload_name="web",
                                                 uptime="Mon-Fri 08:00-18:00 UTC"), "25")  # fmt: skip

    sim = simulate(snapshot, order_steps([schedule, delete, stop]), PRICES, rerun)

    m5_large = (PRICES.on_demand_hourly("us-east-1", "m5.large") * 730).quantize(Decimal("0.01"))
    gp2 = (PRICES.ebs_gb_month("us-east-1", "gp2") * 100).quantize(Decimal("0.01"))
    assert sim.before.instances == m5_large and sim.before.volumes == gp2
    assert sim.delta == m5_large + gp2 and sim.after.instances == 0 and sim.after.volumes == 0
    assert [s.outcome for s in sim.steps] == [StepOutcome.SIMULATED, StepOutcome.SIMULATED, StepOutcome.NOT_SIMULATED]
    assert "not installed" in sim.steps[0].note  # not re-checked, applied as recommended
    assert sim.unsimulated_estimate == Decimal("25") and "office-hours schedule" in sim.steps[2].note


def test_a_removed_node_is_not_counted_again_as_a_running_instance_of_the_account() -> None:
    snapshot = wasteful_snapshot()
    assert snapshot.cluster is not None
    account = AccountState(account_id="123456789012", region="us-east-1", instances=tuple(
        Instance(instance_id=n.instance_id or "", instance_type="m5.xlarge", state="running", zone=n.zone or "",
                 region="us-east-1") for n in snapshot.cluster.nodes))  # fmt: skip
    drain = next(r for r in rerun("binpack", snapshot).recommendations  # type: ignore[union-attr]
                 if r.target == "node/node-0")  # fmt: skip
    sim = simulate(snapshot.model_copy(update={"account": account}), [drain], PRICES, rerun)
    assert sim.before.instances == 0 and sim.after.instances == 0  # the nodes' instances are priced as nodes
    assert sim.delta == Decimal("140.16")
