"""The consolidation algorithm: which nodes to drain, in what order, and where each pod goes.

Called by `engine.py` (and `bench/`) with a `ClusterModel`, the pods that may be evicted and the
nodes that may be removed with their monthly value. Karpenter's order: pending pods first (their
room is reserved), then empty nodes, then the nodes a cheapest kept set does without (most dollars
per unit of capacity at the LP's resource prices, `mix.py`; smaller first) by load per dollar, each
drained onto the remaining nodes largest pods first, each pod where it uses up the least usable
room (`search.py`); a failed drain of few pods is retried with a bounded backtracking search. Pods
already planned onto a node that is drained later are re-planned, so every move ends on a node
that stays and the removals can be applied in any order.

First-fit decreasing as drains (`ffd_plan`: candidates smallest first, pods largest first, each onto
the first node that fits, largest nodes first; the engine's placer in first-fit mode, so every rule
applies) is always one more candidate, compared by the same key, so the plan never keeps more nodes
than FFD at no less cost, nor costs more (`bench/baselines.py` also has the textbook FFD repack).
Pending pods that fit on no current node are checked last against the room the plan frees (a
removed node once empty)."""

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
    origin: str = "search"  # which candidate won: "search" (ordered drains) or "first-fit-decreasing"
    # Removed node -> pending pods that fit on no current node but on this one once it is empty.
    freed_for_pending: dict[int, list[int]] = field(default_factory=dict)


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
    """Best plan over `restarts` candidate orders and the FFD plan: fewest pending pods left out,
    then largest value removed, then most nodes removed, then fewest pods moved."""
    ref = reference_capacity(model)
    weights = dimension_weights(model, ref, value)
    prices = resource_prices(model, candidates, value, headroom_percent)
    lp_worth = worth(model, prices, headroom_percent) if prices is not None else None
    best = ffd_plan(model, movable, candidates, value, headroom_percent, ref, weights)
    best_key = _key(model, best)
    for variant in range(max(1, restarts)):
        order = candidate_order(model, candidates, value, movable, weights, variant, lp_worth)
        result = _run(model, movable, order, value, headroom_percent, ref, weights)
        key = _key(model, result)
        # Ties go to the first searched plan: its order reflects node prices, FFD's only sizes.
        if key < best_key or (key == best_key and best.origin != "search"):
            best, best_key = result, key
    _place_on_freed_room(model, best, headroom_percent)
    return best


def ffd_plan(
    model: ClusterModel,
    movable: BoolArray,
    candidates: list[int],
    value: FloatArray,
    headroom_percent: float = 0.0,
    ref: FloatArray | None = None,
    weights: FloatArray | None = None,
) -> Plan:
    """First-fit decreasing expressed as drains under every rule the engine applies (the same
    candidates, masks, anti-affinity, spread, pinned pods and headroom): the plan `plan` must beat."""
    ref = reference_capacity(model) if ref is None else ref
    weights = dimension_weights(model, ref, value) if weights is None else weights
    # Smallest first: the easiest to empty, with the least useful room. Empty nodes get no priority,
    # unlike in the searched orders, so FFD finds plans where a big empty node is worth more as a
    # destination than removed.
    size = node_size(model)
    order = sorted(candidates, key=lambda n: (float(size[n]), n))
    result = _run(model, movable, order, value, headroom_percent, ref, weights, fit_rank(model))
    result.origin = "first-fit-decreasing"
    return result


def node_size(model: ClusterModel) -> FloatArray:
    """CPU plus memory of each node, each in units of the median node's (FFD's sort key)."""
    ref = np.median(model.alloc, axis=0) if model.n_nodes else np.ones(4)
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    return np.asarray((model.alloc[:, [CPU, MEM]] / ref[[CPU, MEM]]).sum(axis=1), dtype=np.float64)


def fit_rank(model: ClusterModel) -> IntArray:
    """Each node's position in FFD's first-fit order: largest first, ties by node order."""
    rank = np.empty(model.n_nodes, dtype=np.int64)
    rank[np.argsort(-node_size(model), kind="stable")] = np.arange(model.n_nodes)
    return rank


def _key(model: ClusterModel, result: Plan) -> tuple[int, float, int, int]:
    moved = int((np.isin(model.home, result.removed) & (model.role == WORKLOAD)).sum())
    # Values are sums of cent amounts, so four decimals compare equal sets as equal.
    return (len(result.pending_unplaced), -round(result.value, 4), -len(result.removed), moved)


def _run(
    model: ClusterModel,
    movable: BoolArray,
    order: list[int],
    value: FloatArray,
    headroom: float,
    ref: FloatArray,
    weights: FloatArray,
    first_fit: IntArray | None = None,
) -> Plan:
    cap = model.alloc.copy()
    cap[:, :3] *= 1.0 - headroom / 100.0
    # Free room may be negative (headroom, or a node already over-committed): it then takes no pods.
    free = cap - model.used
    placed = np.flatnonzero(model.home >= 0)
    dyn = DynamicState(model, placed)
    alive = model.dest_ok.copy()
    placer = Placer(model, dyn, free, alive, weights, dominant_size(model, ref), typical_pod(model), first_fit)
    result = Plan(loc=model.home.copy(), constrained=dyn.constrained)

    pending = np.flatnonzero(model.role == PENDING)
    # Every candidate places pending pods the same way (where they lose the least room), so plans
    # differ only in their drains and the FFD comparison is between drains alone.
    for p in pending[np.argsort(-placer.size[pending], kind="stable")]:
        dest = placer.best(int(p), least_room=True)
        if dest < 0:
            result.pending_unplaced.append(int(p))
            continue
        placer.place(int(p), dest, result.loc)
        result.pinned.add(dest)
    # First-fit drains never read the least-room scores, so FFD stops paying for their upkeep.
    placer.track_room = first_fit is None

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


def _place_on_freed_room(model: ClusterModel, result: Plan, headroom: float) -> None:
    """Pending pods that fit on no node now, checked against the room the plan frees: a removed
    node once its workloads left (allocatable less headroom and DaemonSets). Largest first, each on
    the first removed node with room, in plan order; by requests and the static rules only."""
    if not result.pending_unplaced or not result.removed:
        return
    cap = model.alloc.copy()
    cap[:, :3] *= 1.0 - headroom / 100.0
    daemons = (model.home >= 0) & (model.role == DAEMON)
    room = cap.copy()
    np.subtract.at(room, model.home[daemons], model.req[daemons])
    size = dominant_size(model, reference_capacity(model))
    removed = np.array(result.removed, dtype=np.int64)
    left: list[int] = []
    for p in sorted(result.pending_unplaced, key=lambda q: (-size[q], q)):
        fits = model.fit_masks[model.sig[p], removed] & (room[removed] >= model.req[p] - 1e-9).all(axis=1)
        if not fits.any():
            left.append(p)
            continue
        n = int(removed[int(np.argmax(fits))])
        room[n] -= model.req[p]
        result.freed_for_pending.setdefault(n, []).append(p)
    result.pending_unplaced = sorted(left)
