"""Constraints that depend on where other pods are: hostname anti-affinity and topology spread.

`planner.py` owns one `DynamicState`, asks `allowed(p, alive)` before placing a constrained pod and
calls `add`/`remove` whenever a related pod changes node. Only `DoNotSchedule` spread constraints
are enforced (ScheduleAnyway is a preference); skew is checked for the incoming pod the way the
scheduler's PodTopologySpread filter does: count(domain) + self - min(count over eligible domains),
except that zones emptied by the plan still count (more conservative than the scheduler).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import BoolArray, selector_matches
from engines.binpack.model import ClusterModel
from engines.snapshot import LabelSelector

HOSTNAME = "kubernetes.io/hostname"
_ZONE_KEYS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
IntArray = npt.NDArray[np.int64]


def _selects(selector: LabelSelector, labels: dict[str, str]) -> bool:
    # A nil selector in a term matches no pod; the snapshot stores nil as the empty selector.
    if not selector.match_labels and not selector.match_expressions:
        return False
    return selector_matches(selector, labels)


def _key(namespace: str, selector: LabelSelector, extra: str = "") -> tuple[str, str, str]:
    return namespace, selector.model_dump_json(), extra


class DynamicState:
    """Per-node counts of pods matching each anti-affinity term and spread selector."""

    def __init__(self, model: ClusterModel, placed: Iterable[int]) -> None:
        self.model = model
        n_nodes = model.n_nodes
        pods = model.pods
        none: tuple[()] = ()
        self.own: list[tuple[int, ...]] = [none] * len(pods)
        self.spread: list[tuple[tuple[int, int, int], ...]] = [none] * len(pods)
        term_ids: dict[tuple[str, str, str], int] = {}
        term_sel: list[tuple[str, LabelSelector]] = []
        group_ids: dict[tuple[str, str, str], int] = {}
        group_def: list[tuple[str, LabelSelector, str]] = []
        for p, pod in enumerate(pods):
            if pod.anti_affinity_hostname:
                ids = set()
                for sel in pod.anti_affinity_hostname:
                    k = _key(pod.namespace, sel)
                    if k not in term_ids:
                        term_ids[k] = len(term_sel)
                        term_sel.append((pod.namespace, sel))
                    ids.add(term_ids[k])
                self.own[p] = tuple(sorted(ids))
            if pod.topology_spread:
                cons = []
                for tsc in pod.topology_spread:
                    if tsc.when_unsatisfiable != "DoNotSchedule":
                        continue  # ScheduleAnyway is a preference the scheduler may ignore
                    k = _key(pod.namespace, tsc.selector, tsc.topology_key)
                    if k not in group_ids:
                        group_ids[k] = len(group_def)
                        group_def.append((pod.namespace, tsc.selector, tsc.topology_key))
                    cons.append((group_ids[k], tsc.max_skew, int(_selects(tsc.selector, pod.labels))))
                self.spread[p] = tuple(cons)
        # Index terms and groups by namespace: a pod can only be matched by those of its namespace.
        terms_by_ns: dict[str, list[tuple[int, LabelSelector]]] = {}
        for t, (ns, sel) in enumerate(term_sel):
            terms_by_ns.setdefault(ns, []).append((t, sel))
        groups_by_ns: dict[str, list[tuple[int, LabelSelector]]] = {}
        for g, (ns, sel, _) in enumerate(group_def):
            groups_by_ns.setdefault(ns, []).append((g, sel))
        self.matched: list[tuple[int, ...]] = [none] * len(pods)
        self.member: list[tuple[int, ...]] = [none] * len(pods)
        if terms_by_ns or groups_by_ns:
            for p, pod in enumerate(pods):
                terms = terms_by_ns.get(pod.namespace)
                if terms:
                    self.matched[p] = tuple(t for t, sel in terms if _selects(sel, pod.labels))
                groups = groups_by_ns.get(pod.namespace)
                if groups:
                    self.member[p] = tuple(g for g, sel in groups if _selects(sel, pod.labels))
        self.match_count = np.zeros((len(term_sel), n_nodes), dtype=np.int32)
        self.own_count = np.zeros((len(term_sel), n_nodes), dtype=np.int32)
        self.domain: list[IntArray] = []
        self.counts: list[IntArray] = []
        self.hostname = [topo == HOSTNAME for _, _, topo in group_def]
        for _, _, topo in group_def:
            dom, size = self._domains(topo)
            self.domain.append(dom)
            self.counts.append(np.zeros(size, dtype=np.int64))
        self.constrained = np.zeros(len(pods), dtype=bool)
        self.related = np.zeros(len(pods), dtype=bool)
        if term_sel or group_def:
            for p in range(len(pods)):
                self.constrained[p] = bool(self.own[p] or self.matched[p] or self.spread[p])
                self.related[p] = bool(self.own[p] or self.matched[p] or self.member[p])
        for p in placed:
            if self.related[p]:
                self.add(p, int(model.home[p]))

    def _domains(self, topo: str) -> tuple[IntArray, int]:
        nodes = self.model.nodes
        if topo == HOSTNAME:
            return np.arange(len(nodes), dtype=np.int64), len(nodes)
        values: list[str | None] = [
            self.model.zones[i] if topo in _ZONE_KEYS else n.labels.get(topo) for i, n in enumerate(nodes)
        ]
        index = {v: i for i, v in enumerate(sorted({v for v in values if v is not None}))}
        return np.array([index[v] if v is not None else -1 for v in values], dtype=np.int64), max(1, len(index))

    def add(self, p: int, node: int, sign: int = 1) -> None:
        for t in self.own[p]:
            self.own_count[t, node] += sign
        for t in self.matched[p]:
            self.match_count[t, node] += sign
        for g in self.member[p]:
            d = self.domain[g][node]
            if d >= 0:
                self.counts[g][d] += sign

    def remove(self, p: int, node: int) -> None:
        self.add(p, node, -1)

    def allowed(self, p: int, alive: BoolArray) -> BoolArray:
        """Nodes where pod p may go given where the other pods are now."""
        ok = np.ones(self.model.n_nodes, dtype=bool)
        for t in self.own[p]:
            ok &= self.match_count[t] == 0
        for t in self.matched[p]:
            ok &= self.own_count[t] == 0
        for g, max_skew, self_match in self.spread[p]:
            dom = self.domain[g]
            eligible = self.model.aff_masks[self.model.sig[p]] & (dom >= 0)
            if self.hostname[g]:
                eligible &= alive  # a removed node is no longer a domain; that is the point
            # A zone (or other domain) keeps counting even when the plan removes its last node, so
            # consolidation never empties a zone that a DoNotSchedule spread relies on.
            per_node = self.counts[g][np.maximum(dom, 0)]
            low = int(per_node[eligible].min()) if eligible.any() else 0
            ok &= (dom >= 0) & (per_node + self_match - low <= max_skew)
        return ok
