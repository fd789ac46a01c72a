"""Recommendations of one scan that depend on or touch each other say so, by fingerprint."""

from __future__ import annotations

from engines.actions import DrainAndRemoveNode, ReplaceNodeType
from engines.contract import Recommendation
from tests.engines.test_binpack_helpers import cluster, daemon, node, pod, scan


def _by_target(recs: list[Recommendation]) -> dict[str, Recommendation]:
    return {r.target: r for r in recs}


def test_the_replacement_of_a_node_depends_on_the_drain_that_moves_pods_onto_it() -> None:
    # "other" is drained into "big", and "big" is replaced by a smaller type sized for both sets
    # of pods: the drain names "big" as destination, so it must be applied first.
    nodes = [node("big", "m5.4xlarge"), node("other", "m5.xlarge")]
    pods = [daemon("ds-big", "big"), daemon("ds-other", "other"), pod("other-1", "other", 3.5, 12)]
    pods += [pod("job-1", "big", 1.0, 4), pod("job-2", "big", 1.0, 4)]
    recs = _by_target(scan(cluster(nodes, pods)).recommendations)
    drain, replace = recs["node/other"], recs["node/big"]
    assert isinstance(drain.action, DrainAndRemoveNode) and isinstance(replace.action, ReplaceNodeType)
    assert replace.depends_on == [drain.fingerprint]
    assert replace.related == [drain.fingerprint] and drain.related == [replace.fingerprint]
    assert drain.depends_on == []


def test_drains_onto_the_same_node_are_related_but_independent() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    pods = [pod(f"api-{i}", f"n{i}", 1.0, 3) for i in range(3)]
    recs = scan(cluster(nodes, pods), allow_replace_node_type=False).recommendations
    assert len(recs) == 2
    first, second = recs
    assert first.related == [second.fingerprint] and second.related == [first.fingerprint]
    assert first.depends_on == second.depends_on == []


def test_links_are_not_part_of_the_fingerprint() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    pods = [pod(f"api-{i}", f"n{i}", 1.0, 3) for i in range(3)]
    rec = scan(cluster(nodes, pods), allow_replace_node_type=False).recommendations[0]
    bare = rec.model_copy(update={"related": [], "depends_on": []})
    assert rec.related and bare.fingerprint == rec.fingerprint


def test_a_lone_recommendation_has_no_links() -> None:
    result = scan(cluster([node("busy"), node("idle")], [pod("web-1", "busy", 2.0, 4)]), allow_replace_node_type=False)
    [rec] = result.recommendations
    assert rec.related == [] and rec.depends_on == []
