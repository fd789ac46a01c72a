"""The LP over node types that prices CPU, memory and pod slots, and the drain order it gives."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from app.pricing import load_price_book
from bench.baselines import ffd
from bench.scenarios import generated
from engines.binpack import BinPackSettings
from engines.binpack.blockers import assess, removable_nodes
from engines.binpack.mix import capacity, resource_prices, worth
from engines.binpack.model import ClusterModel, build_model
from engines.binpack.pricing import node_costs
from engines.binpack.report import pods_by_node
from tests.engines.test_binpack_helpers import GIB, cluster, node, pod, removed, scan

PACKING = {
    "savings_floor_monthly_usd": Decimal(0),
    "disruption_cost_per_pod_usd": Decimal(0),
    "max_pods_moved_per_node": 10_000,
    "allow_replace_node_type": False,
}


def _cpu_and_memory_bound() -> tuple[ClusterModel, np.ndarray]:
    nodes = [node(f"c{i}", "c5.xlarge") for i in range(3)] + [node(f"r{i}", "r5.xlarge") for i in range(3)]
    pods = [pod(f"cpu-{i}", f"c{i}", 2.5, 2.0) for i in range(3)]
    pods += [pod(f"mem-{i}", f"r{i}", 0.5, 12.0) for i in range(3)]
    model = build_model(cluster(nodes, pods))
    value = np.array([float(c or 0) for c in node_costs(model, load_price_book())[0]])
    return model, value


def test_capacity_is_allocatable_less_daemonsets_and_headroom() -> None:
    nodes = [node("a")]
    pods = [pod("ds-a", "a", 0.5, 1.0, namespace="kube-system", owner="DaemonSet")]
    model = build_model(cluster(nodes, pods))
    cpu, mem, slots = capacity(model, headroom=10.0)[0]
    assert np.isclose(cpu, model.alloc[0, 0] * 0.9 - 0.5)
    assert np.isclose(mem, model.alloc[0, 1] * 0.9 - GIB)
    assert slots == model.alloc[0, 3] - 1


def test_when_cpu_and_memory_both_bind_both_node_types_are_worth_their_price() -> None:
    # Three CPU-heavy and three memory-heavy pods: the cheapest kept set needs some c5 (CPU per
    # dollar) and some r5 (memory per dollar), so at the LP prices each type is worth exactly what
    # it costs, although per weighted CPU the r5 looks 50 % dearer.
    model, value = _cpu_and_memory_bound()
    prices = resource_prices(model, list(range(model.n_nodes)), value)
    assert prices is not None and prices[0] > 0 and prices[1] > 0
    assert np.allclose(value / worth(model, prices), 1.0, atol=1e-3)


def test_no_candidates_or_no_requests_give_no_prices() -> None:
    model, value = _cpu_and_memory_bound()
    assert resource_prices(model, [], value) is None
    empty = build_model(cluster([node("a"), node("b")], []))
    assert resource_prices(empty, [0, 1], np.ones(2)) is None


def test_a_cpu_and_memory_dense_estate_is_consolidated_better_than_first_fit_decreasing() -> None:
    # Pods were spread by least allocated, so the memory-dense r5 nodes hold the CPU-heavy pods;
    # ranking by dollars per weighted CPU drained every r5 first and then ran out of memory,
    # keeping more nodes, and more dollars, than a from-scratch first-fit-decreasing repack.
    prices = load_price_book()
    sc = generated("c5r5", 300, 6000, [("c5.xlarge", 0.5), ("r5.xlarge", 0.5)], prices, seed=1)
    result = scan(sc.cluster, **PACKING)
    model = build_model(sc.cluster)
    settings = BinPackSettings(**PACKING)
    dis = assess(model, settings)
    costs = node_costs(model, prices)[0]
    removable = np.zeros(model.n_nodes, dtype=bool)
    removable[removable_nodes(model, dis, settings, costs, pods_by_node(model)[0])] = True
    baseline = ffd(model, np.array([b is None for b in dis.pod_block]), removable)
    monthly = np.array([float(c or 0) for c in costs])
    gone = set(removed(result))
    kept = np.array([nd.name not in gone for nd in model.nodes])
    assert kept.sum() <= baseline.nodes_after
    assert monthly[kept].sum() <= monthly[baseline.kept].sum()
