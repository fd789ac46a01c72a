"""What CPU, memory and pod slots are worth on this cluster: LP prices and best-fit weights.

Called by `planner.py`. `resource_prices` solves the cover LP over node types (nodes of equal
capacity and value; how many of each to keep so the kept capacity holds every request at the least
value, as `bench/baselines.py` bounds the plan) and returns its dual prices; a node's value over
the worth of its capacity at those prices ranks it for draining. `dimension_weights` weighs CPU
against memory for best fit and for the load key.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from engines.binpack.model import CPU, DAEMON, MEM, PODS, ClusterModel, FloatArray, IntArray

# Among kept sets of equal value the LP should prefer fewer nodes (less DaemonSet overhead, less to
# run): each node costs this share of the mean node value on top, far below any real price gap.
_PER_NODE = 1e-4
DIMS = (CPU, MEM, PODS)


def capacity(model: ClusterModel, headroom: float = 0.0) -> FloatArray:
    """(N, 3) CPU, memory and pod slots each node offers to workloads: allocatable less headroom
    (CPU and memory only, as the planner applies it) less the node's DaemonSet requests."""
    daemons = np.zeros((model.n_nodes, 4))
    on_node = (model.home >= 0) & (model.role == DAEMON)
    np.add.at(daemons, model.home[on_node], model.req[on_node])
    cap = model.alloc[:, list(DIMS)].copy()
    cap[:, :2] *= 1.0 - headroom / 100.0
    return np.asarray(cap - daemons[:, list(DIMS)], dtype=np.float64)


def node_types(cap: FloatArray, value: FloatArray, nodes: IntArray) -> IntArray:
    """Type index of each of `nodes` (equal capacity and value share one), numbered in sorted
    key order so the LP, and every tie it breaks, is the same from run to run."""
    keys = [(*np.round(cap[n], 6).tolist(), round(float(value[n]), 6)) for n in nodes.tolist()]
    index = {key: i for i, key in enumerate(sorted(set(keys)))}
    return np.array([index[key] for key in keys], dtype=np.int64)


def resource_prices(
    model: ClusterModel, candidates: list[int], value: FloatArray, headroom: float = 0.0
) -> FloatArray | None:
    """Dual prices of the cover LP: value per CPU core, per memory byte and per pod slot at the
    cheapest kept mix. None when there is nothing to choose or no solution (the requests exceed
    every node together, or the solver fails); the planner then ranks nodes without it."""
    usable = np.flatnonzero(model.dest_ok)
    if not candidates or len(usable) == 0:
        return None
    cap = capacity(model, headroom)
    # Nodes that cannot take pods (not Ready, cordoned) keep theirs and are left out on both sides.
    home_ok = model.dest_ok[np.maximum(model.home, 0)]
    stays = (model.role != DAEMON) & ((model.home < 0) | home_ok)
    demand = model.req[stays][:, list(DIMS)].sum(axis=0)
    rows = demand > 0
    if not rows.any():
        return None
    kind = node_types(cap, value, usable)
    n_types = int(kind.max()) + 1
    is_candidate = np.zeros(model.n_nodes, dtype=bool)
    is_candidate[candidates] = True
    upper = np.bincount(kind, minlength=n_types).astype(np.float64)
    lower = np.bincount(kind, weights=(~is_candidate[usable]).astype(np.float64), minlength=n_types)
    first = usable[np.unique(kind, return_index=True)[1]]
    price = np.maximum(value[first], 0.0) + _PER_NODE * max(float(value[usable].mean()), 1e-9)
    # Rows scaled by the demand so CPU cores and memory bytes have comparable magnitudes.
    res = linprog(
        c=price,
        A_ub=-(np.clip(cap[first], 0.0, None)[:, rows] / demand[rows]).T,
        b_ub=-np.ones(int(rows.sum())),
        bounds=list(zip(lower, upper, strict=True)),
        method="highs",
    )
    if not res.success:
        return None
    prices = np.zeros(len(DIMS))
    prices[rows] = -np.asarray(res.ineqlin.marginals, dtype=np.float64) / demand[rows]
    return np.maximum(prices, 0.0)


def worth(model: ClusterModel, prices: FloatArray, headroom: float = 0.0) -> FloatArray:
    """Per node, what its capacity is worth at the LP prices. Its value over this is 1 for the types
    a cheapest kept set keeps in part, more for the types it does without, less for those it keeps
    whole (their reduced cost, as a ratio).

    Ranking by this, rather than by dollars per unit of one weighted resource, gets node types
    right when two resources bind at once: CPU-dense and memory-dense types are then both worth
    their price, where the weighted ranking drained every memory-dense node first and then found
    the memory missing. The LP's counts per type are deliberately not used as quotas: a drain-only
    plan cannot reach the fluid mix when pods already sit on the wrong nodes, and capping removals
    kept nodes whose pods would have fit elsewhere (more nodes and dollars on CPU/memory estates)."""
    return np.asarray(np.clip(capacity(model, headroom), 0.0, None) @ prices, dtype=np.float64)


def dimension_weights(model: ClusterModel, ref: FloatArray, value: FloatArray) -> FloatArray:
    """Weights of CPU and memory for comparing nodes: how much each dimension binds in the node
    set a cheapest plan would keep. Starts from cluster-wide utilisation, keeps the cheapest nodes
    per weighted capacity until they hold all requests, and re-weights by the utilisation of that
    set (raised to a high power, so the binding dimension dominates); three rounds settle it.
    Not replaced by the LP prices: those are 0 for any dimension with slack, which would leave
    best fit and the load key blind to a memory that is nearly full."""
    usable = np.flatnonzero(model.dest_ok)
    cap = model.alloc[usable][:, [CPU, MEM]] / ref[[CPU, MEM]]
    demand = model.req[:, [CPU, MEM]].sum(axis=0) / ref[[CPU, MEM]]
    total = cap.sum(axis=0)
    if len(usable) == 0 or (total <= 0).any():
        return np.asarray(1.0 / ref[[CPU, MEM]], dtype=np.float64)
    util = np.clip(demand / total, 1e-3, 1.0)
    dollars = np.maximum(value[usable], 1e-9)
    for _ in range(3):
        order = np.argsort(dollars / np.maximum(cap @ util, 1e-12), kind="stable")
        held = np.cumsum(cap[order], axis=0)
        enough = np.flatnonzero((held >= demand).all(axis=1))
        kept = held[enough[0]] if len(enough) else total
        util = np.clip(demand / np.maximum(kept, 1e-12), 1e-3, 1.0) ** 8
        util = util / util.max()
    return np.asarray(util / ref[[CPU, MEM]], dtype=np.float64)
