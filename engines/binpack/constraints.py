"""Scheduler predicates the plan must respect: taints, nodeSelector, required node affinity, PVC zone.

`model.py` calls `static_masks` once per distinct pod constraint signature (pods of one workload
share it), giving a boolean row over nodes; `explain.py` turns an empty row into a reason an
analyst can act on. Semantics follow the Kubernetes scheduler's filter plugins.
"""

from __future__ import annotations

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


def referenced_keys(pod: Pod) -> tuple[str, ...]:
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
    keys = referenced_keys(pod)
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
