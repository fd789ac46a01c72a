"""Scheduler predicates the plan must respect: taints, nodeSelector, required node affinity, PVC zone.

`model.py` calls `static_masks` once per distinct pod constraint signature (pods of one workload
share it), giving a boolean row over nodes; `planner.py` calls `diagnose` to turn an empty row into
a reason an analyst can act on. Semantics follow the Kubernetes scheduler's filter plugins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from engines.snapshot import LabelSelector, Node, Pod, SelectorRequirement, Taint, Toleration

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
# PreferNoSchedule is a preference, not a filter: the scheduler may still place pods there.
_HARD_EFFECTS = ("NoSchedule", "NoExecute")

BoolArray = npt.NDArray[np.bool_]
Signature = tuple[object, ...]


def tolerates(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """True when one toleration matches the taint (key, operator, value and effect rules of the API)."""
    for tol in tolerations:
        if tol.effect and tol.effect != taint.effect:
            continue
        if tol.operator == "Exists":
            if not tol.key or tol.key == taint.key:
                return True
        elif tol.key == taint.key and tol.value == taint.value:
            return True
    return False


def untolerated_taint(pod: Pod, node: Node) -> Taint | None:
    """The first hard taint of the node that the pod does not tolerate, if any."""
    for taint in node.taints:
        if taint.effect in _HARD_EFFECTS and not tolerates(pod.tolerations, taint):
            return taint
    return None


def requirement_matches(req: SelectorRequirement, labels: Mapping[str, str]) -> bool:
    """One matchExpressions entry against a label set (In, NotIn, Exists, DoesNotExist, Gt, Lt)."""
    value = labels.get(req.key)
    op = req.operator
    if op == "In":
        return value is not None and value in req.values
    if op == "NotIn":
        return value is None or value not in req.values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and req.values:
        try:
            have, bound = int(value), int(req.values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """A label selector against a label set; an empty selector matches everything, as in the API."""
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    return all(requirement_matches(req, labels) for req in selector.match_expressions)


def affinity_matches(pod: Pod, labels: Mapping[str, str]) -> bool:
    """nodeSelector (all pairs) and required node affinity (any term, all expressions of a term)."""
    for key, value in pod.node_selector.items():
        if labels.get(key) != value:
            return False
    if not pod.required_node_affinity:
        return True
    # An empty term matches no node (API semantics), so `all(())` must not be allowed to pass.
    return any(term and all(requirement_matches(r, labels) for r in term) for term in pod.required_node_affinity)


def node_zone(node: Node) -> str | None:
    """The node's zone, from the snapshot field or the well-known labels."""
    if node.zone:
        return node.zone
    for label in ZONE_LABELS:
        if label in node.labels:
            return node.labels[label]
    return None


def signature(pod: Pod) -> Signature:
    """What decides where a pod may run regardless of other pods; pods of a workload share it."""
    return (
        pod.tolerations,
        tuple(sorted(pod.node_selector.items())),
        pod.required_node_affinity,
        pod.pvc_zone,
    )


def _referenced_keys(pod: Pod) -> tuple[str, ...]:
    keys = set(pod.node_selector)
    for term in pod.required_node_affinity:
        keys.update(req.key for req in term)
    return tuple(sorted(keys))


def static_masks(pod: Pod, nodes: Sequence[Node], zones: Sequence[str | None]) -> tuple[BoolArray, BoolArray]:
    """(fits, affinity): where the pod may run by taints+affinity+PVC zone, and by affinity alone.

    Nodes are grouped by the labels the pod refers to, their taints and zone, so a 5,000-node
    cluster is evaluated once per distinct group instead of once per node (hostname labels are
    unique per node but rarely referenced).
    """
    keys = _referenced_keys(pod)
    fits = np.zeros(len(nodes), dtype=bool)
    aff = np.zeros(len(nodes), dtype=bool)
    cache: dict[tuple[object, ...], tuple[bool, bool]] = {}
    for i, node in enumerate(nodes):
        group = (tuple(node.labels.get(k) for k in keys), node.taints, zones[i])
        hit = cache.get(group)
        if hit is None:
            ok_aff = affinity_matches(pod, node.labels)
            ok = ok_aff and untolerated_taint(pod, node) is None and (pod.pvc_zone is None or pod.pvc_zone == zones[i])
            hit = cache[group] = (ok, ok_aff)
        fits[i], aff[i] = hit
    return fits, aff


def _taint_text(taint: Taint) -> str:
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


# Why a node rejects a pod by rule, first cause first (0 = no rule against it).
OK, TAINT, AFFINITY, ZONE = range(4)


def cause_codes(pod: Pod, nodes: Sequence[Node], zones: Sequence[str | None]) -> npt.NDArray[np.int8]:
    """Per node, the first rule that keeps the pod off it, grouped like `static_masks`."""
    keys = _referenced_keys(pod)
    codes = np.zeros(len(nodes), dtype=np.int8)
    cache: dict[tuple[object, ...], int] = {}
    for i, node in enumerate(nodes):
        group = (tuple(node.labels.get(k) for k in keys), node.taints, zones[i])
        code = cache.get(group)
        if code is None:
            if untolerated_taint(pod, node) is not None:
                code = TAINT
            elif not affinity_matches(pod, node.labels):
                code = AFFINITY
            elif pod.pvc_zone is not None and pod.pvc_zone != zones[i]:
                code = ZONE
            else:
                code = OK
            cache[group] = code
        codes[i] = code
    return codes


def diagnose(pod: Pod, nodes: Sequence[Node], codes: npt.NDArray[np.int8], others: BoolArray, room: str = "") -> str:
    """Why none of the nodes in `others` (those left in the plan) accepts the pod, by first cause;
    `room` describes the pod's requests for the nodes that pass every rule but lack free room."""
    counts = np.bincount(codes[others], minlength=4)
    who = f"pod {pod.namespace}/{pod.name}"
    if counts.sum() == 0:
        return f"{who} has no other node to run on"
    taints: Counter[str] = Counter()
    for i in np.flatnonzero(others & (codes == TAINT))[:200].tolist():
        taint = untolerated_taint(pod, nodes[i])
        if taint is not None:
            taints[_taint_text(taint)] += 1
    ranked = [t for t, _ in sorted(taints.items(), key=lambda kv: (-kv[1], kv[0]))]
    if counts[TAINT] == counts.sum():
        return f"{who} has no other node that tolerates taint {', '.join(ranked[:3])}"
    parts = []
    if counts[OK]:
        parts.append(f"{_count(counts[OK], 'lacks', 'lack')} free room{room} or is ruled out by anti-affinity/spread")
    if counts[TAINT]:
        parts.append(f"{_count(counts[TAINT], 'has', 'have')} a taint it does not tolerate (e.g. {ranked[0]})")
    if counts[AFFINITY]:
        parts.append(f"{_count(counts[AFFINITY], 'does', 'do')} not match its nodeSelector/required node affinity")
    if counts[ZONE]:
        parts.append(f"{_count(counts[ZONE], 'is', 'are')} outside zone {pod.pvc_zone} of its volume")
    return f"{who} fits on no other node: " + "; ".join(parts)


def _count(n: int, singular: str, plural: str) -> str:
    return f"1 node {singular}" if n == 1 else f"{n} nodes {plural}"
