"""The bin-packing engine's plans: what it removes or replaces, in what order, at what price."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from app.pricing import load_price_book
from bench.baselines import ffd
from bench.scenarios import generated
from engines.actions import DrainAndRemoveNode, ReplaceNodeType
from engines.binpack import BinPackEngine, BinPackSettings
from engines.binpack.blockers import assess, removable_nodes
from engines.binpack.model import build_model
from engines.binpack.pricing import node_costs
from engines.binpack.report import pods_by_node
from engines.money import monthly_from_hourly
from engines.snapshot import ClusterState
from tests.engines.test_binpack_helpers import REGION, cluster, daemon, node, pod, reasons, removed, scan


def _price(instance_type: str) -> Decimal:
    return monthly_from_hourly(load_price_book().on_demand_hourly(REGION, instance_type))


def test_the_engine_describes_itself_and_every_setting() -> None:
    assert BinPackEngine.name == "binpack"
    assert BinPackEngine.title and BinPackEngine.__doc__
    for field in BinPackSettings.model_fields.values():
        assert field.description and len(field.description) > 30


def test_an_empty_snapshot_or_a_cluster_without_nodes_gives_nothing() -> None:
    assert scan(None).recommendations == []
    empty = scan(ClusterState(name="c", region=REGION))
    assert empty.recommendations == [] and empty.skipped == []


def test_an_empty_node_is_removed_first_and_saves_its_full_price() -> None:
    nodes = [node("busy"), node("idle"), node("light")]
    pods = [daemon(f"ds-{n.name}", n.name) for n in nodes]
    pods += [pod("web-1", "busy", 2.0, 4), pod("web-2", "light", 0.5, 1)]
    result = scan(cluster(nodes, pods))
    assert removed(result)[0] == "idle"
    idle = result.recommendations[0]
    assert isinstance(idle.action, DrainAndRemoveNode) and idle.action.moves == ()
    assert idle.monthly_savings == _price("m5.xlarge")
    assert idle.projected_monthly_cost == 0
    assert "no workload pods" in idle.rationale


def test_three_lightly_used_nodes_are_consolidated_onto_one() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    pods = [daemon(f"ds-{n.name}", n.name) for n in nodes]
    pods += [pod(f"api-{i}", f"n{i}", 1.0, 3) for i in range(3)]
    result = scan(cluster(nodes, pods))
    assert sorted(removed(result)) == ["n0", "n1"]
    targets = {m.to_node for r in result.recommendations for m in r.action.moves}  # type: ignore[union-attr]
    assert targets == {"n2"}
    first = result.recommendations[0]
    assert first.rationale.startswith("Node n0 (m5.xlarge) runs 1 pod using")
    assert "saving $" in first.rationale
    assert first.evidence["moved_pods"] == 1 and first.evidence["before"]["requested_cpu_percent"] > 0


def test_pods_of_a_removed_node_are_never_planned_onto_another_removed_node() -> None:
    nodes = [node(f"n{i}") for i in range(6)]
    pods = [daemon(f"ds-{n.name}", n.name) for n in nodes]
    pods += [pod(f"w-{i}-{j}", f"n{i}", 0.3 + 0.1 * i, 0.5) for i in range(6) for j in range(2)]
    result = scan(cluster(nodes, pods))
    gone = set(removed(result))
    assert len(gone) >= 3
    drains = [r for r in result.recommendations if isinstance(r.action, DrainAndRemoveNode)]
    for rec in drains:
        assert isinstance(rec.action, DrainAndRemoveNode)
        assert all(m.to_node not in gone for m in rec.action.moves)
    assert [r.evidence["plan_position"] for r in drains] == list(range(1, len(gone) + 1))


def test_an_oversized_node_is_replaced_with_a_cheaper_type_that_fits_its_pods() -> None:
    nodes = [node("big", "m5.4xlarge"), node("other", "m5.xlarge")]
    pods = [daemon("ds-big", "big"), daemon("ds-other", "other"), pod("other-1", "other", 3.5, 12)]
    # Two pods too big for the other node's free room, so "big" cannot be removed, only shrunk.
    pods += [pod("job-1", "big", 1.0, 4), pod("job-2", "big", 1.0, 4)]
    result = scan(cluster(nodes, pods))
    [rec] = [r for r in result.recommendations if r.target == "node/big"]
    assert isinstance(rec.action, ReplaceNodeType)
    assert rec.action.from_type == "m5.4xlarge" and rec.action.to_type != "m5.4xlarge"
    spec = load_price_book().instance_spec(rec.action.to_type)
    assert spec.vcpu >= 8 and spec.memory_mib >= 21 * 1024
    assert 0 < rec.projected_monthly_cost < rec.current_monthly_cost == _price("m5.4xlarge")
    assert rec.projected_monthly_cost == _price(rec.action.to_type)
    assert "why_not_removed" in rec.evidence
    # The small node is drained into the big one first; the replacement is sized for both.
    assert removed(result) == ["other"]
    assert rec.evidence["received_pods"] == 1
    assert "runs 2 pods now and will run 3 (1 moved in by this plan)" in rec.rationale


def test_daemonset_overhead_is_reserved_on_every_destination_node() -> None:
    # 2.5 CPU of workload would fit one 3.92-CPU node, but each node also runs 1.5 CPU of DaemonSets.
    nodes = [node("n0"), node("n1")]
    pods = [daemon("ds-n0", "n0", 1.5), daemon("ds-n1", "n1", 1.5)]
    pods += [pod("small-1", "n0", 0.2, 0.5), pod("big-1", "n1", 2.3, 0.5)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert removed(result) == []
    assert "its pods need 0.20 CPU but 0.12 is free" in reasons(result)["node/n0"]
    without_daemons = scan(cluster(nodes, pods[2:]), allow_replace_node_type=False)
    assert removed(without_daemons) == ["n0"]


def test_savings_below_the_floor_or_not_worth_the_evictions_are_not_proposed() -> None:
    nodes = [node("a"), node("b")]
    pods = [pod(f"p-{i}", "a", 0.01, 0.01) for i in range(40)] + [pod("q-1", "b", 0.1, 0.1)]
    result = scan(cluster(nodes, pods), savings_floor_monthly_usd=Decimal(1000))
    assert result.recommendations == []
    assert "below the savings floor of $1,000.00" in reasons(result)["node/a"]
    result = scan(cluster(nodes, pods), disruption_cost_per_pod_usd=Decimal(5))
    assert removed(result) == ["b"]
    assert "40 evicted pods" in reasons(result)["node/a"]


def test_spot_nodes_are_priced_from_the_spot_average() -> None:
    spot = node("s", capacity_type="spot")
    # The pod is pinned, so only the spot node can go (otherwise moving w-1 onto it saves more).
    pinned = pod("w-1", "o", annotations={"karpenter.sh/do-not-disrupt": "true"})
    result = scan(cluster([spot, node("o")], [pinned]), allow_replace_node_type=False)
    [rec] = result.recommendations
    hourly = load_price_book().spot_avg_hourly(REGION, "m5.xlarge")
    assert hourly is not None
    assert rec.current_monthly_cost == monthly_from_hourly(hourly)
    assert rec.evidence["price_source"] == "spot-average"


def test_the_same_snapshot_gives_the_same_result_and_unique_fingerprints() -> None:
    sc = generated("det", 40, 600, [("m5.xlarge", 0.6), ("m5.2xlarge", 0.4)], load_price_book(), seed=3)
    first = scan(sc.cluster)
    second = scan(sc.cluster)
    assert first.model_dump_json() == second.model_dump_json()
    prints = [r.fingerprint for r in first.recommendations]
    assert len(prints) == len(set(prints)) > 5
    assert all(r.monthly_savings > 0 for r in first.recommendations)


def test_the_plan_is_never_worse_than_first_fit_decreasing_on_generated_clusters() -> None:
    prices = load_price_book()
    settings = BinPackSettings(savings_floor_monthly_usd=Decimal(0), disruption_cost_per_pod_usd=Decimal(0))
    for seed in range(3):
        sc = generated(f"g{seed}", 60, 1200, [("m5.xlarge", 1.0)], prices, seed=seed)
        result = scan(sc.cluster, savings_floor_monthly_usd=Decimal(0), disruption_cost_per_pod_usd=Decimal(0))
        model = build_model(sc.cluster)
        dis = assess(model, settings)
        workloads, _ = pods_by_node(model)
        removable = np.zeros(model.n_nodes, dtype=bool)
        removable[removable_nodes(model, dis, settings, node_costs(model, prices)[0], workloads)] = True
        movable = np.array([b is None for b in dis.pod_block])
        baseline = ffd(model, movable, removable)
        assert model.n_nodes - len(removed(result)) <= baseline.nodes_after
