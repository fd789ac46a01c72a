"""Reference points for the bin-packing benchmark: first-fit decreasing (as a repack and as drains),
lower bounds, CP-SAT optima.

Called by `bench/binpack.py`. All work on the engine's own `ClusterModel`, so they see exactly the
same requests, DaemonSet overhead, node eligibility and static scheduling masks. `solve` uses
OR-Tools CP-SAT (a bench-only dependency) with two models: `drain_only` is the problem the engine
solves (a kept node keeps its pods; pods of removed nodes go to kept nodes), the other lets every
movable pod go anywhere (a full repack). Both minimise the monthly cost of the kept nodes, which
for one node type is their count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from engines.binpack.model import CPU, DAEMON, EPH, MEM, PENDING, PODS, WORKLOAD, ClusterModel
from engines.binpack.planner import Plan, ffd_plan

_EPS = 1e-9


@dataclass(frozen=True)
class FfdResult:
    nodes_after: int
    unplaced_pods: int
    kept: np.ndarray  # per node: still in use (or not removable) after the repack


def ffd(model: ClusterModel, movable: np.ndarray, removable: np.ndarray) -> FfdResult:
    """Classic first-fit-decreasing: repack every movable pod (and pending pod) from scratch onto
    the existing nodes, largest pods first, nodes largest first; a removable node left without
    workload pods counts as removed. Pods that may not move stay where they are. It may move pods
    between nodes that stay, which no drain can, so on some clusters it keeps fewer nodes than any
    drain plan (CP-SAT proves it on a held-out instance, see BENCHMARKS.md); static masks only."""
    stay = (model.home >= 0) & ((model.role == DAEMON) | ((model.role == WORKLOAD) & ~movable))
    free = model.alloc - _sum_at(model, stay)
    used_by_workload = np.zeros(model.n_nodes, dtype=bool)
    used_by_workload[model.home[stay & (model.role == WORKLOAD)]] = True
    move = np.flatnonzero(((model.role == WORKLOAD) & movable & (model.home >= 0)) | (model.role == PENDING))
    ref = np.where(np.isfinite(model.alloc).all(axis=0), np.median(model.alloc, axis=0), 1.0)
    ref = np.where(ref > 0, ref, 1.0)
    size = (model.req[move][:, [CPU, MEM]] / ref[[CPU, MEM]]).max(axis=1)
    order = move[np.argsort(-size, kind="stable")]
    node_size = (model.alloc[:, [CPU, MEM]] / ref[[CPU, MEM]]).sum(axis=1)
    bins = np.argsort(-node_size, kind="stable")
    free_b = free[bins]
    ok_b = model.dest_ok[bins]
    masks_b = model.fit_masks[:, bins]
    unplaced = 0
    for p in order:
        r = model.req[p]
        fits = masks_b[model.sig[p]] & ok_b
        fits &= (free_b[:, CPU] >= r[CPU] - _EPS) & (free_b[:, MEM] >= r[MEM] - _EPS)
        fits &= free_b[:, PODS] >= r[PODS] - _EPS
        if r[EPH] > 0:
            fits &= free_b[:, EPH] >= r[EPH] - _EPS
        i = int(np.argmax(fits))
        if not fits[i]:
            unplaced += 1
            if model.home[p] >= 0:
                used_by_workload[model.home[p]] = True  # it stays where it is
            continue
        free_b[i] -= r
        used_by_workload[bins[i]] = True
    emptied = removable & ~used_by_workload
    return FfdResult(nodes_after=model.n_nodes - int(emptied.sum()), unplaced_pods=unplaced, kept=~emptied)


def ffd_drains(
    model: ClusterModel, movable: np.ndarray, candidates: list[int], value: np.ndarray, headroom: float = 0.0
) -> Plan:
    """The same first-fit-decreasing rule as whole-node drains under every rule the engine applies
    (`engines.binpack.planner.ffd_plan`): the plan the engine evaluates, so it never does worse."""
    return ffd_plan(model, movable, candidates, value, headroom)


def _sum_at(model: ClusterModel, which: np.ndarray) -> np.ndarray:
    total = np.zeros((model.n_nodes, 4))
    np.add.at(total, model.home[which], model.req[which])
    return total


def lower_bound(model: ClusterModel, removable: np.ndarray) -> int:
    """Fewest nodes that can hold all requests: per node type (allocatable less its DaemonSet
    overhead), the LP relaxation of "choose x_t nodes of type t" covering every dimension's total,
    with nodes that may not be removed forced in. With one node type this is exactly
    max over dimensions of ceil(total requests / node capacity)."""
    fun, forced = _cover_lp(model, removable, np.ones(model.n_nodes))
    if fun is None:
        return model.n_nodes  # infeasible: even every node together cannot hold the requests
    return max(math.ceil(fun - 1e-6), forced)


def cost_lower_bound(model: ClusterModel, removable: np.ndarray, monthly: np.ndarray) -> float | None:
    """The same LP minimising the monthly cost of the kept nodes (the engine's own objective)."""
    return _cover_lp(model, removable, monthly)[0]


def _cover_lp(model: ClusterModel, removable: np.ndarray, price: np.ndarray) -> tuple[float | None, int]:
    daemons = _sum_at(model, (model.home >= 0) & (model.role == DAEMON))
    cap = model.alloc - daemons
    dims = [CPU, MEM, PODS] + ([EPH] if np.isfinite(model.alloc[:, EPH]).all() else [])
    total = model.req[model.role != DAEMON][:, dims].sum(axis=0)
    keys: dict[tuple[float, ...], list[int]] = {}
    for n in range(model.n_nodes):
        if model.dest_ok[n] or not removable[n]:
            keys.setdefault((*np.round(cap[n, dims], 6), round(float(price[n]), 6)), []).append(n)
    types = sorted(keys)
    caps = np.array([t[:-1] for t in types]).reshape(-1, len(dims))
    upper = np.array([len(keys[t]) for t in types], dtype=float)
    lower = np.array([sum(1 for n in keys[t] if not removable[n]) for t in types], dtype=float)
    # Scale rows so CPU cores and memory bytes have comparable magnitudes for the solver.
    scale = np.where(total > 0, total, 1.0)
    res = linprog(
        c=np.array([t[-1] for t in types]),
        A_ub=-(caps / scale).T,
        b_ub=-(total / scale),
        bounds=list(zip(lower, upper, strict=True)),
        method="highs",
    )
    return (float(res.fun) if res.success else None), int(lower.sum())


MIB = 2**20


@dataclass(frozen=True)
class Optimum:
    kept_nodes: int
    kept_cost_cents: int
    optimal: bool


def solve(
    model: ClusterModel,
    movable: np.ndarray,
    removable: np.ndarray,
    cost_cents: list[int],
    drain_only: bool = True,
    seconds: float = 20.0,
) -> Optimum | None:
    """Minimum kept cost; None when CP-SAT proves nothing within the time limit."""
    # Imported here: OR-Tools is the optional `bench` extra, and ffd/lower_bound do not need it.
    from ortools.sat.python import cp_model

    m = cp_model.CpModel()
    n_nodes = model.n_nodes
    keep = [m.new_bool_var(f"k{n}") for n in range(n_nodes)]
    for n in range(n_nodes):
        if not removable[n]:
            m.add(keep[n] == 1)
    # Integer units: millicores, MiB (requests in the scenarios are whole MiB), pod slots.
    cap = np.stack(
        [np.floor(model.alloc[:, CPU] * 1000 + 1e-6), np.floor(model.alloc[:, MEM] / MIB), model.alloc[:, PODS]], axis=1
    ).astype(np.int64)
    req = np.stack(
        [np.ceil(model.req[:, CPU] * 1000 - 1e-6), np.ceil(model.req[:, MEM] / MIB), model.req[:, PODS]], axis=1
    ).astype(np.int64)
    fixed = np.zeros((n_nodes, 3), dtype=np.int64)
    load: list[list[list[cp_model.LinearExprT]]] = [[[] for _ in range(3)] for _ in range(n_nodes)]
    for p in range(len(model.pods)):
        home = int(model.home[p])
        stays = model.role[p] == DAEMON or (model.role[p] == WORKLOAD and not movable[p])
        if stays and home >= 0:
            fixed[home] += req[p]
            continue
        if model.role[p] not in (WORKLOAD, PENDING):
            continue
        allowed = np.flatnonzero(model.fit_masks[model.sig[p]])
        xs = {int(n): m.new_bool_var(f"x{p}_{n}") for n in allowed}
        if home >= 0 and home not in xs:
            xs[home] = m.new_bool_var(f"x{p}_{home}")
        m.add_exactly_one(xs.values())
        for n, x in xs.items():
            m.add_implication(x, keep[n])
            for d in range(3):
                load[n][d].append(x * int(req[p, d]))
        if drain_only and home >= 0:
            m.add_implication(keep[home], xs[home])
    for n in range(n_nodes):
        for d in range(3):
            if load[n][d]:
                m.add(sum(load[n][d]) + int(fixed[n, d]) <= int(cap[n, d]))
    m.minimize(sum(int(cost_cents[n]) * keep[n] for n in range(n_nodes)))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 2
    solver.parameters.random_seed = 1
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None
    kept = [n for n in range(n_nodes) if solver.value(keep[n])]
    return Optimum(
        kept_nodes=len(kept),
        kept_cost_cents=sum(cost_cents[n] for n in kept),
        optimal=status == cp_model.OPTIMAL,
    )
