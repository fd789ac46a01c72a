"""Where the planner puts a moved pod: the usable-room rule that keeps mixed estates near the LP bound."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import numpy as np

from app.pricing import load_price_book
from bench.baselines import cost_lower_bound, lower_bound
from bench.scenarios import generated
from engines.binpack.dynamic import DynamicState
from engines.binpack.mix import dimension_weights
from engines.binpack.model import build_model
from engines.binpack.planner import dominant_size, reference_capacity, typical_pod
from engines.binpack.pricing import node_costs
from engines.binpack.search import Placer
from tests.engines.test_binpack_helpers import GIB, cluster, node, pod, removed, scan

PINNED = {"karpenter.sh/do-not-disrupt": "true"}
PACKING = {
    "savings_floor_monthly_usd": Decimal(0),
    "disruption_cost_per_pod_usd": Decimal(0),
    "max_pods_moved_per_node": 10_000,
    "allow_replace_node_type": False,
}


def test_the_typical_pod_is_the_mean_request_of_the_pods_that_may_be_placed() -> None:
    nodes = [node("a")]
    pods = [pod("w-1", "a", 1.0, 2.0), pod("w-2", "a", 0.5, 1.0), pod("p-1", None, 0.3, 3.0)]
    pods.append(pod("ds-a", "a", 2.0, 8.0, namespace="kube-system", owner="DaemonSet"))
    typical = typical_pod(build_model(cluster(nodes, pods)))
    assert np.allclose(typical, [0.6, 2.0 * GIB, 1.0])


def test_a_pod_goes_where_it_uses_up_the_least_usable_room_not_to_the_tightest_node() -> None:
    # "low-mem" has CPU to spare and little memory, "balanced" a little less CPU and plenty of
    # memory. Best fit alone puts the CPU-heavy pod on "balanced" (less free CPU) and strands
    # the CPU of "low-mem", which no typical pod can use without memory; counted in typical
    # pods, the pod costs "low-mem" far less usable room, so it goes there. "busy" makes CPU the
    # binding resource, so best fit weighs free CPU far above free memory.
    nodes = [node("low-mem"), node("balanced"), node("busy"), node("drained")]
    pods = [
        pod("hog-1", "busy", 3.9, 0.5, annotations=PINNED),
        pod("keep-1", "low-mem", 1.62, 13.03, annotations=PINNED),
        pod("keep-2", "balanced", 1.92, 7.03, annotations=PINNED),
        pod("cpu-1", "drained", 2.0, 1.0),
        pod("mem-1", "drained", 0.5, 7.0),
    ]
    model = build_model(cluster(nodes, pods))
    ref = reference_capacity(model)
    weights = dimension_weights(model, ref, np.ones(model.n_nodes))
    dyn = DynamicState(model, np.flatnonzero(model.home >= 0))
    alive = model.dest_ok.copy()
    placer = Placer(model, dyn, model.alloc - model.used, alive, weights, dominant_size(model, ref), typical_pod(model))
    low_mem, balanced, drained = (model.node_index[n] for n in ("low-mem", "balanced", "drained"))
    placer.set_alive(drained, False)
    cpu_pod = next(p for p, pd in enumerate(model.pods) if pd.name == "cpu-1")
    assert int(np.argmin(np.where(placer.feasible(cpu_pod), placer.score, np.inf))) == balanced
    assert placer.best(cpu_pod) == low_mem
    # And the plan drains the node with both pods placed, each where the other still fits.
    result = scan(cluster(nodes, pods), **PACKING)
    assert removed(result) == ["drained"]
    moves = {m.pod: m.to_node for r in result.recommendations for m in r.action.moves}  # type: ignore[union-attr]
    assert moves == {"cpu-1": "low-mem", "mem-1": "balanced"}


def test_a_mixed_estate_keeps_the_lp_optimal_mix_within_three_percent_of_the_bound() -> None:
    # m5.xlarge and m5.2xlarge cost the same per CPU and r5.xlarge more, so the cheapest kept set
    # (the cost LP) is every m5.2xlarge plus enough m5.xlarge: fewer, bigger nodes and no r5.
    prices = load_price_book()
    types = [("m5.xlarge", 0.5), ("m5.2xlarge", 0.3), ("r5.xlarge", 0.2)]
    sc = generated("mixed", 100, 2000, types, prices, seed=3)
    result = scan(sc.cluster, **PACKING)
    model = build_model(sc.cluster)
    gone = set(removed(result))
    kept = [n for n, nd in enumerate(model.nodes) if nd.name not in gone]
    mix = Counter(model.nodes[n].instance_type for n in kept)
    assert mix["r5.xlarge"] == 0
    assert mix["m5.2xlarge"] == sum(1 for nd in model.nodes if nd.instance_type == "m5.2xlarge")
    everything = np.ones(model.n_nodes, dtype=bool)
    assert len(kept) <= 1.03 * lower_bound(model, everything)
    monthly = np.array([float(c or 0) for c in node_costs(model, prices)[0]])
    bound = cost_lower_bound(model, everything, monthly)
    assert bound is not None and monthly[kept].sum() <= 1.03 * bound
