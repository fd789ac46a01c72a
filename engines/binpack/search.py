"""Placing pods on nodes: feasibility, fit, draining one node, and a bounded backtracking search.

`planner.py` owns one `Placer` per plan attempt. Feasibility is vectorised over all nodes with numpy
(requests in every dimension, static masks, live anti-affinity/spread). A pod goes where it costs
the least usable room: each node's free room counted in typical pods (the fewest that fit by CPU,
memory or pod slots), so a pod fills the dimension a node has to spare and no CPU is left stranded
behind full memory or slots; ties go to the node left with the least normalised free CPU+memory
(best fit), so full nodes fill up and lightly used ones empty. In first-fit mode (the FFD candidate)
a pod goes to the first feasible node in a fixed order instead, with no retry of a failed drain.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import BoolArray
from engines.binpack.dynamic import DynamicState
from engines.binpack.explain import cause_codes, diagnose, short_of_room
from engines.binpack.model import CPU, EPH, MEM, PODS, WORKLOAD, ClusterModel, FloatArray, IntArray

_EPS = 1e-9
_BACKTRACK_MAX_PODS = 12  # exact-ish search only where it is cheap: few pods per drained node
_BRANCH = 4  # destinations tried per pod in the search
_GLOBAL_BUDGET = 20_000  # search steps per plan, so big clusters with many failed drains stay fast
_EJECT_BUDGET = 5_000  # pods re-planned aside per plan, likewise (more changed no benchmark plan)
_EJECT_NODES = 3  # nodes a stuck pod almost fits on, tried for making room
_EJECT_PODS = 4  # moved-in pods per such node that could make the room
# Best fit only breaks ties of the usable-room cost: its score is a few units for a whole free
# node and a typical pod costs 1, so this keeps it well below any real difference in room lost.
_TIE = 0.003
FIT_DIMS = (CPU, MEM, PODS)


class Placer:
    """Free room per node and the pods on it; `free` is stored (4, N) so each dimension is a
    contiguous row (the feasibility test compares whole rows), `score` caches the weighted free
    CPU+memory that best fit minimises and `nfree`/`base` the same room in typical pods."""

    def __init__(
        self,
        model: ClusterModel,
        dyn: DynamicState,
        free: FloatArray,
        alive: BoolArray,
        weights: FloatArray,
        size: FloatArray,
        typical: FloatArray,
        first_fit: IntArray | None = None,
    ) -> None:
        self.model = model
        # First-fit mode (the FFD candidate): each node's rank in one fixed order; a pod goes to the
        # feasible node of lowest rank, and a failed drain is not retried (no make-room, no search).
        self.first_fit = first_fit
        self._fit_order = np.argsort(first_fit, kind="stable") if first_fit is not None else None
        self.track_room = True  # keep the least-room scores current; first fit alone may stop it
        self.dyn = dyn
        self.free = np.ascontiguousarray(free.T)
        self.alive = alive
        self.weights = weights
        self.score = self.weights @ self.free[[CPU, MEM]]
        self.size = size
        # Dimensions no pod requests (a typical request of 0) cannot strand anything; slots always count.
        dims = [d for d, t in zip(FIT_DIMS, typical, strict=True) if t > 0] or [PODS]
        self.fit_dims = np.array(dims, dtype=np.int64)
        inv = 1.0 / typical[[FIT_DIMS.index(d) for d in dims]]
        # Free room and requests in typical pods, kept alongside `free` so a fit costs two passes.
        self.nfree = np.ascontiguousarray(self.free[self.fit_dims] * inv[:, None])
        self.nreq = np.ascontiguousarray(model.req[:, self.fit_dims] * inv)
        # Usable room (the fewest typical pods by any dimension) plus the tie-breaker, per node.
        self.base = self.nfree.min(axis=0) + _TIE * self.score
        self.budget = _GLOBAL_BUDGET
        self.eject_budget = _EJECT_BUDGET
        self.at: list[set[int]] = [set() for _ in range(model.n_nodes)]
        for p in np.flatnonzero((model.home >= 0) & (model.role == WORKLOAD)):
            self.at[int(model.home[p])].add(int(p))
        self._mask_cache: dict[int, BoolArray] = {}
        self._codes: dict[int, npt.NDArray[np.int8]] = {}

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

    def _fits(self, p: int, n: int) -> bool:
        """feasible(p)[n] for one node, without the pass over all nodes."""
        req = self.model.req[p]
        dims = [CPU, MEM, PODS, EPH] if req[EPH] > 0 else [CPU, MEM, PODS]
        if not self._static(int(self.model.sig[p]))[n] or (self.free[dims, n] < req[dims] - _EPS).any():
            return False
        return not self.dyn.constrained[p] or bool(self.dyn.allowed(p, self.alive)[n])

    def _static(self, sig: int) -> BoolArray:
        """fit mask & alive, cached per signature until a node dies or revives."""
        hit = self._mask_cache.get(sig)
        if hit is None:
            hit = self._mask_cache[sig] = self.model.fit_masks[sig] & self.alive
        return hit

    def set_alive(self, n: int, value: bool) -> None:
        self.alive[n] = value
        self._mask_cache.clear()

    def cost(self, p: int) -> FloatArray:
        """Per node, the usable room (in typical pods) that placing pod p there uses up, plus the
        best-fit tie-breaker. Placing a pod always removes the same total room, so less usable
        room lost means less room stranded in a dimension no typical pod can use any more."""
        # Best fit on (free - req) . w ranks nodes as free . w does, so `base` holds the cached score.
        return np.asarray(self.base - (self.nfree - self.nreq[p][:, None]).min(axis=0), dtype=np.float64)

    def ranked(self, p: int) -> IntArray:
        """Feasible nodes for pod p, cheapest first (ties by node order, for determinism)."""
        idx = np.flatnonzero(self.feasible(p))
        return idx[np.argsort(self.cost(p)[idx], kind="stable")]

    def best(self, p: int, least_room: bool = False) -> int:
        """The node for pod p by this placer's rule (first fit, or least usable room lost, which
        `least_room` asks for in either mode); -1 if none fits."""
        ok = self.feasible(p)
        if self._fit_order is not None and not least_room:
            # argmax of a boolean row stops at the first True: the first fit in rank order.
            first = int(np.argmax(ok[self._fit_order]))
            return int(self._fit_order[first]) if ok[self._fit_order[first]] else -1
        i = int(np.argmin(np.where(ok, self.cost(p), np.inf)))
        return i if ok[i] else -1

    def _moved(self, p: int, n: int, sign: float) -> None:
        col = self.nfree[:, n]
        col += sign * self.nreq[p]
        self.base[n] = min(col.tolist()) + _TIE * self.score[n]

    def place(self, p: int, dest: int, loc: IntArray) -> None:
        req = self.model.req[p]
        self.free[:, dest] -= req
        if self.track_room:
            self.score[dest] -= req[CPU] * self.weights[0] + req[MEM] * self.weights[1]
            self._moved(p, dest, -1.0)
        loc[p] = dest
        self.at[dest].add(p)
        if self.dyn.related[p]:
            self.dyn.add(p, dest)

    def unplace(self, p: int, loc: IntArray) -> None:
        node = int(loc[p])
        req = self.model.req[p]
        self.free[:, node] += req
        if self.track_room:
            self.score[node] += req[CPU] * self.weights[0] + req[MEM] * self.weights[1]
            self._moved(p, node, 1.0)
        self.at[node].discard(p)
        if self.dyn.related[p]:
            self.dyn.remove(p, node)
        loc[p] = -1

    def _book(self, p: int, node: int, loc: IntArray, here: bool) -> None:
        """Pod p's location alone (not the node's free room) set to `node` or cleared."""
        if here:
            loc[p] = node
            self.at[node].add(p)
        else:
            loc[p] = -1
            self.at[node].discard(p)
        if self.dyn.related[p]:
            self.dyn.add(p, node, 1 if here else -1)

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
                return short_of_room(need, room, short)
        self.set_alive(n, False)
        # While n is out of the running nothing reads its free room, so its pods leave (and, on
        # failure, return) without the room bookkeeping; that halves the work of a failed drain.
        for p in pods:
            self._book(p, n, loc, False)
        done: list[int] = []
        relocated: list[tuple[int, int]] = []  # (pod, node it left) for pods moved aside to make room
        failed_pod = -1
        for p in pods:
            dest = self.best(p)
            if dest < 0 and self.eject_budget > 0 and self.first_fit is None:
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
        retry = self.first_fit is None and len(pods) <= _BACKTRACK_MAX_PODS and self.budget > 0
        if retry and self._search(pods, 0, loc):
            return None
        reason = self._pod_reason(failed_pod)
        self.set_alive(n, True)
        for p in pods:
            self._book(p, n, loc, True)
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
            here = np.fromiter(self.at[b], dtype=np.int64, count=len(self.at[b]))
            here = here[(m.home[here] != b) & (m.home[here] >= 0)]
            movers = here[(m.req[here] >= need - _EPS).all(axis=1)]
            for q in movers[np.lexsort((movers, self.size[movers]))][:_EJECT_PODS].tolist():
                self.eject_budget -= 1
                self.unplace(q, loc)
                ok = self.feasible(q)
                ok[b] = False
                target = int(np.argmin(np.where(ok, self.cost(q), np.inf)))
                if ok[target]:
                    self.place(q, target, loc)
                    relocated.append((q, b))
                    if self._fits(p, b):
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
