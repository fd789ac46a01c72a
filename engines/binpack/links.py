"""Links between the recommendations of one scan: which must come first, which touch the same nodes.

Called by `engine.py` once every recommendation is built (fingerprints are final then). A drain
touches its node and every node its pods move to; a replacement touches its node. Two
recommendations that touch a common node are `related` (both ways). A replacement of node B
`depends_on` every drain that moves pods onto B: the drain names B as destination and the new
type is sized for those pods, so replacing B first would leave the drain's plan pointing at a node
that is gone. The removals themselves never depend on each other: every move ends on a node that
the plan keeps, so they can be applied in any order.
"""

from __future__ import annotations

from engines.actions import DrainAndRemoveNode, ReplaceNodeType
from engines.contract import Recommendation


def _node(rec: Recommendation) -> str | None:
    action = rec.action
    return action.node if isinstance(action, DrainAndRemoveNode | ReplaceNodeType) else None


def _destinations(rec: Recommendation) -> set[str]:
    action = rec.action
    if not isinstance(action, DrainAndRemoveNode):
        return set()
    return {m.to_node for m in action.moves if m.to_node is not None}


def link(recs: list[Recommendation]) -> list[Recommendation]:
    """The same recommendations, in the same order, with `depends_on` and `related` filled in
    (each list in recommendation order, without duplicates)."""
    touches: list[set[str]] = []
    by_node: dict[str, list[int]] = {}
    into: dict[str, list[int]] = {}  # node -> drains moving pods onto it
    for i, rec in enumerate(recs):
        node = _node(rec)
        dests = _destinations(rec)
        nodes = dests | ({node} if node is not None else set())
        touches.append(nodes)
        for name in nodes:
            by_node.setdefault(name, []).append(i)
        for name in dests:
            into.setdefault(name, []).append(i)
    linked: list[Recommendation] = []
    for i, rec in enumerate(recs):
        near = sorted({j for name in touches[i] for j in by_node[name] if j != i})
        node = _node(rec)
        first = into.get(node, []) if isinstance(rec.action, ReplaceNodeType) and node is not None else []
        if not near:
            linked.append(rec)
            continue
        linked.append(
            rec.model_copy(
                update={
                    "related": [recs[j].fingerprint for j in near],
                    "depends_on": [recs[j].fingerprint for j in sorted(set(first))],
                }
            )
        )
    return linked
