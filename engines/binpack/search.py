"""Placing pods on nodes: feasibility, best fit, draining one node, and a bounded backtracking search.

`planner.py` owns one `Placer` per plan attempt. Feasibility is vectorised over all nodes with numpy
(requests in every dimension, static masks, live anti-affinity/spread); best fit picks the node
left with the least normalised free CPU+memory, so full nodes fill up and lightly used ones empty.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import BoolArray, cause_codes, diagnose
from engines.binpack.dynamic import DynamicState
from engines.binpack.model import CPU, EPH, MEM, PODS, WORKLOAD, ClusterModel, FloatArray, IntArray

_EPS = 1e-9
_BACKTRACK_MAX_PODS = 12  # exact-ish search only where it is cheap: few pods per drained node
_BRANCH = 4  # destinations tried per pod in the search
_GLOBAL_BUDGET = 20_000  # search steps per plan, so big clusters with many failed drains stay fast
_EJECT_BUDGET = 20_000  # pods re-planned aside per plan, for the same reason
_EJECT_NODES = 3  # nodes a stuck pod almost fits on, tried for making room
_EJECT_PODS = 4  # moved-in pods per such node that could make the room


class Placer:
    """Free room per node and the pods on it; `free` is stored (4, N) so each dimension is a
    contiguous row (the feasibility test compares whole rows), and `score` caches the weighted
    free CPU+memory that best fit minimises."""

    def __init__(
        self,
        model: ClusterModel,
        dyn: DynamicState,
        free: FloatArray,
        alive: BoolArray,
        weights: FloatArray,
        size: FloatArray,
    ) -> None:
        self.model = model
        self.dyn = dyn
        self.free = np.ascontiguousarray(free.T)
        self.alive = alive
        self.weights = weights
        self.score = self.weights @ self.free[[CPU, MEM]]
        self.size = size
        self.budget = _GLOBAL_BUDGET
        self.eject_budget = _EJECT_BUDGET
        self.at: list[set[int]] = [set() for _ in range(model.n_nodes)]
        for p in np.flatnonzero((model.home >= 0) & (model.role == WORKLOAD)):
            self.at[int(model.home[p])].add(int(p))
        self._mask_cache: dict[int, BoolArray] = {}
        self._codes: dict[int, npt.NDArray[np.int8]] = {}
        self._mask_epoch = 0

    def feasible(self, p: int) -> BoolArray:
        m = self.model
        req = m.req[p]
        free = self.free
        ok: BoolArray = self._static(int(m.sig[p])).copy()
        ok &= free[CPU] >= req[CPU] - _EPS
        ok &= free[MEM] >= req[MEM] - _EPS
        ok &= free[PODS] >= req[PODS] - _EPS
        if req[EPH] > 0:
            ok &= free[EPH] >= req[EPH] - _EPS
        if self.dyn.constrained[p]:
            ok &= self.dyn.allowed(p, self.alive)
        return ok

    def _static(self, sig: int) -> BoolArray:
        """fit mask & alive, cached per signature until a node dies or revives."""
        hit = self._mask_cache.get(sig)
        if hit is None:
            hit = self._mask_cache[sig] = self.model.fit_masks[sig] & self.alive
        return hit

    def set_alive(self, n: int, value: bool) -> None:
        self.alive[n] = value
        self._mask_cache.clear()

    def ranked(self, p: int) -> IntArray:
        """Feasible nodes for pod p, tightest fit first (ties by node order, for determinism)."""
        idx = np.flatnonzero(self.feasible(p))
        return idx[np.argsort(self.score[idx], kind="stable")]

    def best(self, p: int) -> int:
        ok = self.feasible(p)
        # argmin of (free - req) . w over feasible nodes == argmin of free . w, the cached score.
        i = int(np.argmin(np.where(ok, self.score, np.inf)))
        return i if ok[i] else -1

    def place(self, p: int, dest: int, loc: IntArray) -> None:
        req = self.model.req[p]
        self.free[:, dest] -= req
        self.score[dest] -= req[CPU] * self.weights[0] + req[MEM] * self.weights[1]
        loc[p] = dest
        self.at[dest].add(p)
        if self.dyn.related[p]:
            self.dyn.add(p, dest)

    def unplace(self, p: int, loc: IntArray) -> None:
        node = int(loc[p])
        req = self.model.req[p]
        self.free[:, node] += req
        self.score[node] += req[CPU] * self.weights[0] + req[MEM] * self.weights[1]
        self.at[node].discard(p)
        if self.dyn.related[p]:
            self.dyn.remove(p, node)
        loc[p] = -1

    def drain(self, n: int, movable: BoolArray, loc: IntArray) -> str | None:
        """Move every workload pod off node n onto live nodes; None on success, else why not."""
        m = self.model
        pods = sorted(self.at[n], key=lambda p: (-self.size[p], p))
        stuck = [p for p in pods if not movable[p]]
        if stuck:
            return f"pod {m.pods[stuck[0]].namespace}/{m.pods[stuck[0]].name} may not be evicted"
        if pods:
            need = m.req[pods].sum(axis=0)
            others = self.alive.astype(np.float64)
            others[n] = 0.0
            room = np.zeros(4)
            # Ephemeral storage is left out: "unknown" is stored as infinity and inf * 0 is NaN.
            room[[CPU, MEM, PODS]] = np.maximum(self.free[[CPU, MEM, PODS]], 0.0) @ others
            short = [d for d in (CPU, MEM, PODS) if need[d] > room[d] + _EPS]
            if short:
                return self._short_reason(n, need, room, short)
        self.set_alive(n, False)
        for p in pods:
            self.unplace(p, loc)
        done: list[int] = []
        relocated: list[tuple[int, int]] = []  # (pod, node it left) for pods moved aside to make room
        failed_pod = -1
        for p in pods:
            dest = self.best(p)
            if dest < 0 and self.eject_budget > 0:
                dest = self._make_room(p, loc, relocated)
            if dest < 0:
                failed_pod = p
                break
            self.place(p, dest, loc)
            done.append(p)
        if failed_pod < 0:
            return None
        for q, prev in reversed(relocated):
            self.unplace(q, loc)
            self.place(q, prev, loc)
        for p in reversed(done):
            self.unplace(p, loc)
        if len(pods) <= _BACKTRACK_MAX_PODS and self.budget > 0 and self._search(pods, 0, loc):
            return None
        reason = self._pod_reason(failed_pod)
        self.set_alive(n, True)
        for p in pods:
            self.place(p, n, loc)
        return reason

    def _make_room(self, p: int, loc: IntArray, relocated: list[tuple[int, int]]) -> int:
        """Free room for pod p on a node it almost fits by re-planning one pod that this plan moved
        there anyway (never a pod that was on that node before: kept nodes keep their pods).
        Returns the node that now fits p, or -1."""
        m = self.model
        req = m.req[p]
        allowed = self._static(int(m.sig[p]))
        if self.dyn.constrained[p]:
            allowed = allowed & self.dyn.allowed(p, self.alive)
        cand = np.flatnonzero(allowed)
        if len(cand) == 0:
            return -1
        lack = np.maximum(req[:, None] - self.free[:, cand], 0.0)
        gap = lack[CPU] * self.weights[0] + lack[MEM] * self.weights[1] + lack[PODS] + (lack[EPH] > 0)
        if len(cand) > _EJECT_NODES:
            nearest = np.argpartition(gap, _EJECT_NODES)[:_EJECT_NODES]
            nearest = nearest[np.lexsort((nearest, gap[nearest]))]
        else:
            nearest = np.argsort(gap, kind="stable")
        for b in [int(x) for x in cand[nearest]]:
            need = np.maximum(req - self.free[:, b], 0.0)
            movers = [q for q in self.at[b] if m.home[q] != b and m.home[q] >= 0 and (m.req[q] >= need - _EPS).all()]
            for q in sorted(movers, key=lambda q: (self.size[q], q))[:_EJECT_PODS]:
                self.eject_budget -= 1
                self.unplace(q, loc)
                ok = self.feasible(q)
                ok[b] = False
                target = int(np.argmin(np.where(ok, self.score, np.inf)))
                if ok[target]:
                    self.place(q, target, loc)
                    relocated.append((q, b))
                    if self.feasible(p)[b]:
                        return b
                    self.unplace(q, loc)
                    relocated.pop()
                self.place(q, b, loc)
        return -1

    def _search(self, pods: list[int], i: int, loc: IntArray) -> bool:
        """Depth-first placement of pods[i:], trying a few tightest fits per pod; bounded budget."""
        if i == len(pods):
            return True
        self.budget -= 1
        if self.budget < 0:
            return False
        p = pods[i]
        tried: set[tuple[float, ...]] = set()
        for dest in self.ranked(p):
            # Nodes with the same free room are interchangeable for an unconstrained pod.
            key = tuple(self.free[:, dest].round(9)) if not self.dyn.related[p] else (float(dest),)
            if key in tried:
                continue
            tried.add(key)
            self.place(p, int(dest), loc)
            if self._search(pods, i + 1, loc):
                return True
            self.unplace(p, loc)
            if len(tried) >= _BRANCH or self.budget < 0:
                break
        return False

    def _pod_reason(self, p: int) -> str:
        m = self.model
        sig = int(m.sig[p])
        if sig not in self._codes:
            self._codes[sig] = cause_codes(m.pods[p], m.nodes, m.zones)
        cpu, mem = m.req[p, CPU], m.req[p, MEM] / 2**30
        return diagnose(m.pods[p], m.nodes, self._codes[sig], self.alive, f" for its {cpu:.2f} CPU and {mem:.2f} GiB")

    def _short_reason(self, n: int, need: FloatArray, room: FloatArray, short: list[int]) -> str:
        names = {CPU: "CPU", MEM: "memory", PODS: "pod slots"}
        parts = []
        for d in short:
            if d == MEM:
                parts.append(f"{need[d] / 2**30:.2f} GiB memory but {room[d] / 2**30:.2f} GiB is free")
            elif d == CPU:
                parts.append(f"{need[d]:.2f} CPU but {room[d]:.2f} is free")
            else:
                parts.append(f"{int(need[d])} {names[d]} but {int(room[d])} are free")
        return f"its pods need {' and '.join(parts)} on the other nodes"
