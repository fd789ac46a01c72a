"""The consolidation algorithm: which nodes to drain, in what order, and where each pod goes.

Called by `engine.py` (and `bench/`) with a `ClusterModel`, the pods that may be evicted and the
nodes that may be removed with their monthly value. Karpenter's order: pending pods first (their
room is reserved), then empty nodes, then the nodes a cheapest kept set does without (most dollars
per unit of capacity at the LP's resource prices, `mix.py`; smaller first) by load per dollar, each
drained onto the remaining nodes largest pods first, each pod where it uses up the least usable
room (`search.py`); a failed drain of few pods is retried with a bounded backtracking search. Pods
already planned onto a node that is drained later are re-planned, so every move ends on a node
that stays and the removals can be applied in any order."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engines.binpack.constraints import BoolArray
from engines.binpack.dynamic import DynamicState
from engines.binpack.mix import dimension_weights, resource_prices, worth
from engines.binpack.model import CPU, DAEMON, MEM, PENDING, PODS, WORKLOAD, ClusterModel, FloatArray, IntArray
from engines.binpack.search import Placer

_SMALL_CLUSTER = 200  # nodes; above this one candidate order is tried, to keep big scans fast
_RESTART_POD_BUDGET = 40_000  # pods placed across restarts on a small cluster (about 1 s at most)


@dataclass
class Plan:
    removed: list[int] = field(default_factory=list)  # node indices, in plan order
    failed: dict[int, str] = field(default_factory=dict)  # candidate node -> why it could not be emptied
    loc: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # final node of every pod
    pending_unplaced: list[int] = field(default_factory=list)
    pinned: set[int] = field(default_factory=set)  # nodes holding room reserved for pending pods
    value: float = 0.0
    constrained: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # pods with dynamic rules


def reference_capacity(model: ClusterModel) -> FloatArray:
    """A typical node's capacity, to compare pod sizes across dimensions (dominant share)."""
    usable = model.dest_ok if model.dest_ok.any() else np.ones(model.n_nodes, dtype=bool)
    ref = np.median(model.alloc[usable], axis=0) if usable.any() else np.ones(4)
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    return np.asarray(ref, dtype=np.float64)


def dominant_size(model: ClusterModel, ref: FloatArray) -> FloatArray:
    share = model.req[:, [CPU, MEM, PODS]] / ref[[CPU, MEM, PODS]]
    return np.asarray(share.max(axis=1) if len(share) else np.zeros(0), dtype=np.float64)


def typical_pod(model: ClusterModel) -> FloatArray:
    """CPU, memory and pod-slot requests of the average pod that may be placed (workloads and
    pending pods): the unit in which the placer counts a node's usable free room."""
    placeable = model.role != DAEMON
    if not placeable.any():
        return np.ones(3)
    return np.asarray(model.req[placeable][:, [CPU, MEM, PODS]].mean(axis=0), dtype=np.float64)


def candidate_order(
    model: ClusterModel,
    candidates: list[int],
    value: FloatArray,
    movable: BoolArray,
    weights: FloatArray,
    variant: int,
    lp_worth: FloatArray | None = None,
) -> list[int]:
    """Empty nodes first; then (variant 0) nodes with the most dollars per unit of useful capacity,
    the ones a cheapest kept set does without, each group by load per dollar; other variants order
    by load per dollar only, by pods per dollar, or by utilisation (restarts on small clusters).
    Capacity is valued at the LP's resource prices when given (`mix.py`), else weighted."""
    work = (model.role == WORKLOAD) & movable & (model.home >= 0)
    load = np.zeros((model.n_nodes, 4))
    np.add.at(load, model.home[work], model.req[work])
    count = np.bincount(model.home[work], minlength=model.n_nodes)
    worth = np.maximum(value, 1e-9)
    used = load[:, [CPU, MEM]] @ weights
    capacity = np.maximum(model.alloc[:, [CPU, MEM]] @ weights, 1e-12)
    # Rounded to 2 % so nodes of one type (or near-equal price per capacity) form one group.
    useful = capacity if lp_worth is None else np.maximum(lp_worth, 1e-12)
    dear = np.round(np.log(worth / useful) / np.log(1.02)) if variant % 4 == 0 else np.zeros(model.n_nodes)
    keys = {0: used / worth, 1: used / worth, 2: count / worth, 3: used / capacity}
    base = keys[variant % 4]

    # Within a price-per-capacity group smaller nodes go first: keeping the big ones costs the
    # same and leaves fewer nodes and less fragmented room.
    size = capacity if variant % 4 == 0 else np.zeros(model.n_nodes)

    def key(n: int) -> tuple[bool, float, float, float, float, str]:
        return (count[n] > 0, -float(dear[n]), float(size[n]), float(base[n]), -float(value[n]), model.nodes[n].name)

    ordered = sorted(candidates, key=key)
    if variant < 4:
        return ordered
    # Further restarts shuffle the non-empty nodes with a seeded generator: same input, same plan.
    empties = [n for n in ordered if count[n] == 0]
    rest = [n for n in ordered if count[n] > 0]
    shuffled = np.random.default_rng(variant).permutation(len(rest))
    return empties + [rest[i] for i in shuffled]


def restarts_for(n_nodes: int, n_pods: int, effort: int) -> int:
    """How many candidate orders to try: many on small clusters, where a restart costs
    milliseconds and greedy misses matter most, one above 200 nodes."""
    if n_nodes > _SMALL_CLUSTER:
        return 1
    return max(effort, min(effort * 8, _RESTART_POD_BUDGET // max(n_pods, 1)))


def plan(
    model: ClusterModel,
    movable: BoolArray,
    candidates: list[int],
    value: FloatArray,
    headroom_percent: float = 0.0,
    restarts: int = 1,
) -> Plan:
    """Best plan over `restarts` candidate orders: largest value removed, then most nodes removed,
    then fewest pods moved."""
    ref = reference_capacity(model)
    weights = dimension_weights(model, ref, value)
    prices = resource_prices(model, candidates, value, headroom_percent)
    lp_worth = worth(model, prices, headroom_percent) if prices is not None else None
    best: Plan | None = None
    best_key: tuple[float, int, int] | None = None
    for variant in range(max(1, restarts)):
        order = candidate_order(model, candidates, value, movable, weights, variant, lp_worth)
        result = _run(model, movable, order, value, headroom_percent, ref, weights)
        moved = int((np.isin(model.home, result.removed) & (model.role == WORKLOAD)).sum())
        key = (-round(result.value, 6), -len(result.removed), moved)
        if best_key is None or key < best_key:
            best, best_key = result, key
    assert best is not None
    return best


def _run(
    model: ClusterModel,
    movable: BoolArray,
    order: list[int],
    value: FloatArray,
    headroom: float,
    ref: FloatArray,
    weights: FloatArray,
) -> Plan:
    cap = model.alloc.copy()
    cap[:, :3] *= 1.0 - headroom / 100.0
    # Free room may be negative (headroom, or a node already over-committed): it then takes no pods.
    free = cap - model.used
    placed = np.flatnonzero(model.home >= 0)
    dyn = DynamicState(model, placed)
    alive = model.dest_ok.copy()
    placer = Placer(model, dyn, free, alive, weights, dominant_size(model, ref), typical_pod(model))
    result = Plan(loc=model.home.copy(), constrained=dyn.constrained)

    pending = np.flatnonzero(model.role == PENDING)
    for p in pending[np.argsort(-placer.size[pending], kind="stable")]:
        dest = placer.best(int(p))
        if dest < 0:
            result.pending_unplaced.append(int(p))
            continue
        placer.place(int(p), dest, result.loc)
        result.pinned.add(dest)

    for n in order:
        if n in result.pinned or not alive[n]:
            continue
        reason = placer.drain(n, movable, result.loc)
        if reason is None:
            result.removed.append(n)
            result.value += float(value[n])
        else:
            result.failed[n] = reason
    return result
