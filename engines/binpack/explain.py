"""Why a pod fits on no node, in words an analyst can act on: the taint it does not tolerate, the
node label it needs, the zone of its volume, or the free room it lacks.

`search.Placer` calls `diagnose` when a drain fails (over the nodes left in the plan), or
`short_of_room` when the other nodes lack the room in total; `pending.py` calls `diagnose` for
pending pods that fit nowhere (over every node that takes pods). Each node is classed by the
first rule that rejects the pod, in the scheduler's filter order (taints, node affinity, volume
zone); a rule that no node satisfies is named exactly, so the reason says "needs node label
topology.kubernetes.io/zone=us-east-1a (nodeSelector)" rather than "no free room".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from engines.binpack.constraints import (
    BoolArray,
    affinity_matches,
    referenced_keys,
    requirement_matches,
    untolerated_taint,
)
from engines.binpack.model import CPU, MEM
from engines.snapshot import Node, Pod, SelectorRequirement, Taint

# Why a node rejects a pod by rule, first cause first (0 = no rule against it).
OK, TAINT, AFFINITY, ZONE = range(4)
_SAMPLE = 200  # nodes inspected to name a taint or a label; causes are counted over all of them


def cause_codes(pod: Pod, nodes: Sequence[Node], zones: Sequence[str | None]) -> npt.NDArray[np.int8]:
    """Per node, the first rule that keeps the pod off it, grouped like `static_masks`."""
    keys = referenced_keys(pod)
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


def requirement_text(req: SelectorRequirement) -> str:
    """One matchExpressions entry as a need: "node label pool=web", "no node label spot"."""
    values = ", ".join(req.values)
    if req.operator == "In":
        return (
            f"node label {req.key}={req.values[0]}" if len(req.values) == 1 else f"node label {req.key} in ({values})"
        )
    if req.operator == "NotIn":
        return f"node label {req.key} not in ({values})"
    if req.operator == "Exists":
        return f"node label {req.key}"
    if req.operator == "DoesNotExist":
        return f"no node label {req.key}"
    sign = ">" if req.operator == "Gt" else "<" if req.operator == "Lt" else req.operator
    return f"node label {req.key} {sign} {values}"


def label_need(pod: Pod, nodes: Sequence[Node]) -> tuple[str, str]:
    """(what the pod needs, which rule asks for it) that `nodes` fail: the nodeSelector pairs none
    of them has (else all pairs), or else the affinity expressions none of them matches."""
    pairs = sorted(pod.node_selector.items())
    by_selector = [n for n in nodes if any(n.labels.get(k) != v for k, v in pairs)]
    if by_selector:
        lacking = [(k, v) for k, v in pairs if all(n.labels.get(k) != v for n in by_selector)] or pairs
        noun = "node label" if len(lacking) == 1 else "node labels"
        return f"{noun} " + " and ".join(f"{k}={v}" for k, v in lacking), "nodeSelector"
    terms = [t for t in pod.required_node_affinity if t]
    if not terms:
        return "a node affinity term with no expressions, which matches no node", "required node affinity"

    def term_text(term: tuple[SelectorRequirement, ...]) -> str:
        broken = [r for r in term if not any(requirement_matches(r, n.labels) for n in nodes)] or list(term)
        return " and ".join(requirement_text(r) for r in broken)

    if len(terms) == 1:
        return term_text(terms[0]), "required node affinity"
    return "one of: " + "; or ".join(term_text(t) for t in terms), "required node affinity"


def _taint_text(taint: Taint) -> str:
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


def diagnose(
    pod: Pod,
    nodes: Sequence[Node],
    codes: npt.NDArray[np.int8],
    others: BoolArray,
    room: str = "",
    other: str = "other ",
) -> str:
    """Why none of the nodes in `others` accepts the pod, by first cause; `room` describes the pod's
    requests for the nodes that pass every rule but lack free room; `other` is "other " for a
    pod leaving its node and "" for a pending pod."""
    counts = np.bincount(codes[others], minlength=4)
    who = f"pod {pod.namespace}/{pod.name}"
    if counts.sum() == 0:
        return f"{who} has no {other}node to run on"
    taints: Counter[str] = Counter()
    for i in np.flatnonzero(others & (codes == TAINT))[:_SAMPLE].tolist():
        taint = untolerated_taint(pod, nodes[i])
        if taint is not None:
            taints[_taint_text(taint)] += 1
    ranked = [t for t, _ in sorted(taints.items(), key=lambda kv: (-kv[1], kv[0]))]
    if counts[TAINT] == counts.sum():
        return f"{who} has no {other}node that tolerates taint {', '.join(ranked[:3])}"
    need = ("", "")
    if counts[AFFINITY]:
        need = label_need(pod, [nodes[i] for i in np.flatnonzero(others & (codes == AFFINITY))[:_SAMPLE].tolist()])
    if counts[AFFINITY] == counts.sum():
        verb = "has it" if need[1] == "nodeSelector" else "matches it"
        return f"{who} needs {need[0]} ({need[1]}); no {other}node {verb}"
    if counts[ZONE] == counts.sum():
        return f"{who} has no {other}node in zone {pod.pvc_zone}, where its volume is"
    parts = []
    if counts[OK]:
        ruled = "is" if counts[OK] == 1 else "are"
        parts.append(
            f"{_count(counts[OK], 'lacks', 'lack')} free room{room} or {ruled} ruled out by anti-affinity/spread"
        )
    if counts[TAINT]:
        parts.append(f"{_count(counts[TAINT], 'has', 'have')} a taint it does not tolerate (e.g. {ranked[0]})")
    if counts[AFFINITY]:
        parts.append(f"{_count(counts[AFFINITY], 'does', 'do')} not match its {need[1]} ({need[0]})")
    if counts[ZONE]:
        parts.append(f"{_count(counts[ZONE], 'is', 'are')} outside zone {pod.pvc_zone} of its volume")
    return f"{who} fits on no {other}node: " + "; ".join(parts)


def short_of_room(need: npt.NDArray[np.float64], room: npt.NDArray[np.float64], short: list[int]) -> str:
    """Why a drain fails before any pod is placed: the dimensions in `short` (CPU, MEM or PODS
    indices) where the node's pods together need more than all other nodes have free."""
    parts = []
    for d in short:
        if d == MEM:
            parts.append(f"{need[d] / 2**30:.2f} GiB memory but {room[d] / 2**30:.2f} GiB is free")
        elif d == CPU:
            parts.append(f"{need[d]:.2f} CPU but {room[d]:.2f} is free")
        else:
            parts.append(f"{int(need[d])} pod slots but {int(room[d])} are free")
    return f"its pods need {' and '.join(parts)} on the other nodes"


def _count(n: int, singular: str, plural: str) -> str:
    return f"1 node {singular}" if n == 1 else f"{n} nodes {plural}"
