"""Label/field selectors and PodDisruptionBudget maths of the local sandbox cluster.

Parses and matches label selectors (string and structured LabelSelector/NodeSelectorTerm
forms) and field selectors, and computes a PDB's status numbers over a namespace's pods.
Used by sandbox.k8s_handlers and sandbox.k8s_watch (list/watch filtering), sandbox.k8s_subresources
(eviction) and the reconciler modules (sandbox.k8s_scheduling, sandbox.k8s_reconciler_base,
sandbox.k8s_workloads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# --- selectors -------------------------------------------------------------------------
# A requirement is (key, operator, values); operators: = != in notin exists !exists gt lt.
Requirement = tuple[str, str, frozenset[str]]
_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_SET_RE = re.compile(rf"^({_KEY})\s+(in|notin)\s+\((.*)\)$")
_EQ_RE = re.compile(rf"^({_KEY})\s*(==|!=|=)\s*([-A-Za-z0-9_.]*)$")


def _split_top_level(text: str) -> list[str]:
    # Commas inside "in (a,b)" do not separate requirements.
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def parse_label_selector(text: str) -> list[Requirement]:
    reqs: list[Requirement] = []
    for term in _split_top_level(text):
        if match := _SET_RE.match(term):
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            reqs.append((match.group(1), match.group(2), values))
        elif match := _EQ_RE.match(term):
            op = "!=" if match.group(2) == "!=" else "="
            reqs.append((match.group(1), op, frozenset([match.group(3)])))
        elif re.fullmatch(rf"!\s*{_KEY}", term):
            reqs.append((term[1:].strip(), "!exists", frozenset()))
        elif re.fullmatch(_KEY, term):
            reqs.append((term, "exists", frozenset()))
        else:
            raise ValueError(f"invalid label selector term: {term!r}")
    return reqs


def selector_requirements(selector: Mapping[str, Any]) -> list[Requirement]:
    """Requirements of a structured LabelSelector (or NodeSelectorTerm) dict."""
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists", "Gt": "gt", "Lt": "lt"}
    reqs: list[Requirement] = [(str(k), "=", frozenset([str(v)]))
                               for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op = ops.get(expr.get("operator"))
        if op is None:
            raise ValueError(f"unknown selector operator {expr.get('operator')!r}")
        reqs.append((str(expr["key"]), op, frozenset(str(v) for v in expr.get("values") or [])))
    return reqs


def labels_match(reqs: list[Requirement], labels: Mapping[str, str]) -> bool:
    for key, op, values in reqs:
        value = labels.get(key)
        if op in ("=", "in"):
            ok = value is not None and value in values
        elif op in ("!=", "notin"):
            ok = value is None or value not in values
        elif op in ("gt", "lt"):
            try:
                number, bound = int(value or ""), int(next(iter(values)))
            except (ValueError, StopIteration):
                return False
            ok = number > bound if op == "gt" else number < bound
        else:
            ok = (value is not None) == (op == "exists")
        if not ok:
            return False
    return True


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels")
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}


FieldRequirement = tuple[str, bool, str]  # (dotted path, must equal?, value)


def parse_field_selector(text: str) -> list[FieldRequirement]:
    reqs: list[FieldRequirement] = []
    for term in _split_top_level(text):
        for op in ("!=", "==", "="):
            if op in term:
                path, value = term.split(op, 1)
                reqs.append((path.strip(), op != "!=", value.strip()))
                break
        else:
            raise ValueError(f"invalid field selector term: {term!r}")
    return reqs


def fields_match(reqs: list[FieldRequirement], obj: Mapping[str, Any], namespace: str) -> bool:
    for path, equal, value in reqs:
        current: Any = obj
        for part in path.split("."):
            current = current.get(part) if isinstance(current, dict) else None
        if path == "metadata.namespace":
            current = namespace  # the store keys objects by the URL namespace, the body may omit it
        text = "" if current is None else str(current).lower() if isinstance(current, bool) else str(current)
        if (text == value) != equal:
            return False
    return True


# --- pods & disruption budgets -----------------------------------------------------------
def is_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pdb_selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    selector = (pdb.get("spec") or {}).get("selector")
    if selector is None:  # policy/v1: a null selector matches nothing, an empty one everything
        return False
    return labels_match(selector_requirements(selector), labels_of(pod))


def _scaled(value: Any, total: int) -> int:
    # IntOrString: "N%" of total rounded up (as the disruption controller does), else an int.
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


def pdb_status(pdb: Mapping[str, Any], pods: list[dict[str, Any]]) -> dict[str, int]:
    """Budget numbers over `pods` (same namespace); expectedPods counts the matching pods."""
    spec = pdb.get("spec") or {}
    matching = [p for p in pods if pdb_selects(pdb, p) and not is_terminating(p)
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    expected = len(matching)
    healthy = sum(1 for p in matching if (p.get("status") or {}).get("phase") == "Running")
    if spec.get("minAvailable") is not None:
        desired = _scaled(spec["minAvailable"], expected)
    elif spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
    else:
        desired = 0
    return {"currentHealthy": healthy, "desiredHealthy": desired,
            "disruptionsAllowed": max(0, healthy - desired), "expectedPods": expected}
