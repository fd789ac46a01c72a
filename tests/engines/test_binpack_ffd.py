"""The plan is never worse than first-fit decreasing: FFD, as drains, is one of the plans compared."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from app.pricing import load_price_book
from bench.binpack import check
from bench.scenarios import ScenarioSkipped, alibaba_subset, generated
from engines.actions import DrainAndRemoveNode
from engines.binpack import BinPackSettings
from engines.binpack.blockers import assess, removable_nodes
from engines.binpack.model import build_model
from engines.binpack.planner import ffd_plan, fit_rank, node_size, plan, restarts_for
from engines.binpack.pricing import node_costs
from engines.binpack.report import pods_by_node
from engines.snapshot import ClusterState, Taint, Toleration
from tests.engines.test_binpack_helpers import cluster, node, pod, reasons, removed, scan

PACKING = {
    "savings_floor_monthly_usd": Decimal(0),
    "disruption_cost_per_pod_usd": Decimal(0),
    "max_pods_moved_per_node": 10_000,
    "allow_replace_node_type": False,
}


def _plans(state: ClusterState, priced: bool = True) -> tuple[int, int, float, float]:
    """(nodes kept, FFD's nodes kept, monthly value removed, FFD's value removed) on the same inputs."""
    model = build_model(state)
    settings = BinPackSettings(**PACKING)
    dis = assess(model, settings)
    costs = node_costs(model, load_price_book())[0] if priced else [Decimal(1)] * model.n_nodes
    candidates = removable_nodes(model, dis, settings, costs, pods_by_node(model)[0])
    movable = np.array([b is None for b in dis.pod_block], dtype=bool).reshape(-1)
    value = np.array([float(c or 0) for c in costs])
    best = plan(model, movable, candidates, value, 0.0, restarts_for(model.n_nodes, len(model.pods), 4))
    base = ffd_plan(model, movable, candidates, value)
    return model.n_nodes - len(best.removed), model.n_nodes - len(base.removed), best.value, base.value


def test_an_empty_big_node_is_kept_as_the_destination_when_that_removes_more_nodes_at_the_same_price() -> None:
    # Empty nodes go first in the searched orders, so they removed "big" and then nothing fitted:
    # a's 7 CPU pod and b's 2 CPU pod do not fit next to each other. FFD drains both small nodes
    # into "big": the same $560.64 a month, one node fewer.
    nodes = [node("big", "m5.4xlarge"), node("a", "m5.2xlarge"), node("b", "m5.2xlarge")]
    result = scan(cluster(nodes, [pod("batch-1", "a", 7.0, 2), pod("api-1", "b", 2.0, 2)]), **PACKING)
    assert sorted(removed(result)) == ["a", "b"]
    assert sum(r.monthly_savings for r in result.recommendations) == Decimal("560.64")
    assert {r.evidence["plan_candidate"] for r in result.recommendations} == {"first-fit-decreasing"}
    assert {m.to_node for r in result.recommendations for m in r.action.moves} == {"big"}  # type: ignore[union-attr]


def test_a_cheaper_plan_that_keeps_more_nodes_than_ffd_wins_because_dollars_come_first() -> None:
    # Two c5.xlarge and three m5.large at the same load: FFD empties the three small m5.large and
    # keeps two c5.xlarge ($248.20/month); removing both c5.xlarge keeps three nodes for $210.24.
    layout = {"n0": ("c5.xlarge", 5, 0), "n1": ("m5.large", 4, 1), "n2": ("c5.xlarge", 7, 0)}
    layout |= {"n3": ("m5.large", 5, 0), "n4": ("m5.large", 5, 1)}
    nodes, pods = [], []
    for name, (itype, web, tiny) in layout.items():
        nodes.append(node(name, itype))
        pods.append(pod(f"proxy-{name}", name, 0.125, 0, namespace="kube-system", owner="DaemonSet"))
        pods += [pod(f"web-{name}{i}", name, 0.19, 0.42) for i in range(web)]
        pods += [pod(f"tiny-{name}{i}", name, 0.02, 0.12) for i in range(tiny)]
    state = cluster(nodes, pods)
    kept, ffd_kept, value, ffd_value = _plans(state)
    assert (kept, ffd_kept) == (3, 2) and value > ffd_value
    result = scan(state, **PACKING)
    assert sorted(removed(result)) == ["n0", "n2"]
    assert sum(r.monthly_savings for r in result.recommendations) == Decimal("248.20")


def test_the_ffd_candidate_is_a_valid_drain_plan_under_taints_and_pinned_pods() -> None:
    # "gpu" is tainted, so the web pods may not go there although it is the largest node; "pinned"
    # holds a do-not-disrupt pod. FFD's plan must still only drain whole nodes onto kept ones.
    taint = Taint(key="dedicated", value="gpu", effect="NoSchedule")
    nodes = [node("gpu", "m5.4xlarge", taints=(taint,)), node("pinned"), node("a"), node("b")]
    pods = [
        pod("train-1", "gpu", 1.0, 2, tolerations=(Toleration(key="dedicated", operator="Exists"),)),
        pod("keep-1", "pinned", 0.5, 1, annotations={"karpenter.sh/do-not-disrupt": "true"}),
        pod("web-1", "a", 1.0, 2),
        pod("web-2", "b", 1.0, 2),
    ]
    model = build_model(cluster(nodes, pods))
    settings = BinPackSettings(**PACKING)
    dis = assess(model, settings)
    costs = node_costs(model, load_price_book())[0]
    candidates = removable_nodes(model, dis, settings, costs, pods_by_node(model)[0])
    movable = np.array([b is None for b in dis.pod_block])
    base = ffd_plan(model, movable, candidates, np.array([float(c or 0) for c in costs]))
    assert base.origin == "first-fit-decreasing"
    gone = set(base.removed)
    assert model.node_index["pinned"] not in gone
    for p, pd in enumerate(model.pods):
        if model.home[p] not in gone:
            assert base.loc[p] == model.home[p]  # a kept node keeps its pods
        else:
            assert base.loc[p] not in gone and base.loc[p] >= 0
        if pd.name.startswith("web"):
            assert model.nodes[base.loc[p]].name != "gpu"
    # First fit goes over the largest node first; the smallest nodes are drained first.
    assert fit_rank(model)[model.node_index["gpu"]] == 0
    assert node_size(model)[model.node_index["gpu"]] == node_size(model).max()


def test_ffd_is_never_better_than_the_plan_on_generated_cpu_bound_clusters() -> None:
    prices = load_price_book()
    types = [("m5.large", 0.4), ("m5.xlarge", 0.3), ("m5.2xlarge", 0.3)]
    for seed in range(3):
        state = generated(f"cpu-{seed}", 40, 200, types, prices, seed, cpu_util=0.6, mem_util=0.1).cluster
        kept, ffd_kept, value, ffd_value = _plans(state)
        assert value >= ffd_value - 1e-6
        assert kept <= ffd_kept or value > ffd_value + 1e-6


@pytest.mark.parametrize("seed", [6, 13, 26])
def test_on_held_out_real_node_lists_the_plan_keeps_no_more_nodes_than_ffd(seed: int) -> None:
    # Random 30-node subsets of the Alibaba openb node list (heterogeneous, GPU nodes, CPU-bound);
    # with seed 6 the searched orders alone kept one node more than FFD.
    try:
        state = alibaba_subset(seed, 30, 200).cluster
    except ScenarioSkipped as exc:
        pytest.skip(str(exc))
    kept, ffd_kept, _, _ = _plans(state, priced=False)
    assert kept <= ffd_kept


def test_a_pending_pod_that_fits_only_on_a_node_the_plan_empties_is_placed_on_that_freed_room() -> None:
    # No node has 3 CPU free today; the plan drains "a" into "b", and "a", once empty, would hold it.
    nodes = [node("a"), node("b"), node("c")]
    pods = [pod("web-1", "a", 1.5, 1), pod("web-2", "b", 1.5, 1), pod("web-3", "c", 1.5, 1)]
    pods.append(pod("batch-1", None, 3.0, 2))
    result = scan(cluster(nodes, pods), **PACKING)
    [drain] = result.recommendations
    assert isinstance(drain.action, DrainAndRemoveNode)
    assert drain.evidence["pending_pods_on_freed_room"] == ["default/batch-1"]
    assert "would also hold pending pod default/batch-1, which fits on no current node" in drain.rationale
    assert "cluster/test" not in reasons(result)


def test_the_benchmark_fails_loudly_when_a_scenario_is_worse_than_ffd() -> None:
    good = {"scenario": "c-ok", "instances_more_nodes_than_ffd": 0, "instances_costlier_than_ffd": 0}
    bad = {**good, "scenario": "b-bad", "instances_more_nodes_than_ffd": 2}
    assert check([good]) == []
    assert check([good, bad]) == ["b-bad: instances_more_nodes_than_ffd = 2, must be 0"]
