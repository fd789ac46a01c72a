"""Bad or odd input never raises: it gives clear skip reasons and the rest of the plan still works."""

from __future__ import annotations

from engines.snapshot import Container, DisruptionBudget, LabelSelector, Pod, Resources
from tests.engines.test_binpack_helpers import GIB, cluster, node, pod, reasons, removed, scan


def test_a_pending_pod_larger_than_any_node_is_skipped_by_name() -> None:
    nodes = [node("a"), node("b")]
    pods = [pod("huge-1", None, 64.0, 512), pod("web-1", "a", 0.2, 0.5)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert reasons(result)["pod/default/huge-1"] == (
        "pod default/huge-1 requests 64.00 CPU and 512.00 GiB, more than any node offers (3.92 CPU, 15.03 GiB)"
    )
    assert removed(result) == ["b"]  # the rest of the plan is unaffected


def test_a_node_with_zero_allocatable_is_skipped_and_never_receives_pods() -> None:
    broken = node("broken", allocatable=Resources())
    nodes = [broken, node("a"), node("b")]
    result = scan(cluster(nodes, [pod("web-1", "a", 0.2, 0.5), pod("web-2", "b", 0.2, 0.5)]))
    assert reasons(result)["node/broken"] == "node broken reports zero allocatable CPU or memory; left out of the plan"
    assert all(m.to_node != "broken" for r in result.recommendations for m in getattr(r.action, "moves", ()))
    assert len(removed(result)) == 1


def test_cordoned_or_not_ready_nodes_are_left_out() -> None:
    nodes = [node("cordoned", unschedulable=True), node("down", ready=False), node("a")]
    result = scan(cluster(nodes, [pod("web-1", "a", 0.2, 0.5)]))
    assert "is cordoned" in reasons(result)["node/cordoned"]
    assert "is not Ready" in reasons(result)["node/down"]
    assert removed(result) == []


def test_missing_requests_count_as_zero_and_are_flagged_in_evidence() -> None:
    nodes = [node("a"), node("b")]
    bare = pod("noreq-1", "a", cpu=None, mem_gib=None)
    limited = Pod(
        name="lim-1",
        namespace="default",
        node_name="a",
        owner_kind="Deployment",
        controller_kind="ReplicaSet",
        containers=(Container(name="c", cpu_limit=0.5, memory_limit=GIB),),
    )
    result = scan(cluster(nodes, [bare, limited, pod("web-1", "b", 2.0, 4)]))
    [rec] = [r for r in result.recommendations if r.target == "node/a"]
    assert rec.evidence["missing_requests"] is True
    assert rec.evidence["pods_missing_requests"] == ["default/noreq-1 (cpu, memory)"]
    # A request defaults to the limit, as the API server does: lim-1 counts 0.5 CPU and is not flagged.
    assert rec.evidence["before"]["requested_cpu_cores"] == 0.5
    assert rec.confidence < 0.95


def test_unknown_instance_types_and_regions_are_skipped_with_the_reason() -> None:
    odd = node("odd").model_copy(update={"instance_type": "x99.mega"})
    untyped = node("untyped").model_copy(update={"instance_type": None})
    faraway = node("faraway").model_copy(update={"region": "mars-north-1"})
    nodes = [odd, untyped, faraway, node("a"), node("b")]
    pods = [pod("web-1", "a", 0.2, 0.5), pod("web-2", "b", 0.2, 0.5), pod("x-1", "odd", 0.2, 0.5)]
    result = scan(cluster(nodes, pods))
    why = reasons(result)
    assert why["node/odd"].startswith("no price for node odd (x99.mega, us-east-1):")
    assert "x99.mega" in why["node/odd"] and why["node/odd"].endswith("kept as is")
    assert why["node/untyped"].startswith("no price for node untyped (no instance type, us-east-1)")
    assert "mars-north-1" in why["node/faraway"]
    # Unpriced nodes are kept, but they are still valid destinations: their room is real.
    assert set(removed(result)) == {"a", "b"}


def test_two_thousand_pending_pods_give_no_exception_and_one_summary() -> None:
    nodes = [node(f"n{i}") for i in range(4)]
    pods = [pod(f"web-{i}", f"n{i}", 0.5, 1) for i in range(4)]
    pods += [pod(f"queued-{i:04d}", None, 0.3, 0.5) for i in range(2000)]
    result = scan(cluster(nodes, pods))
    assert removed(result) == []
    summary = reasons(result)["cluster/test"]
    # 11 pending pods of 0.3 CPU fit next to each 0.5 CPU pod on a 3.92 CPU node: 2000 - 44 = 1956.
    assert summary.startswith("1956 pending pods do not fit in the free room of any current node")
    assert sum(1 for s in result.skipped if s.target.startswith("node/")) == 4
    assert all("pending pods need its free room" in reasons(result)[f"node/n{i}"] for i in range(4))


def test_pods_on_unknown_nodes_and_unreadable_budgets_do_not_break_the_scan() -> None:
    ghost = pod("ghost-1", "no-such-node", 0.2, 0.5, labels={"app": "web"})
    bad_pdb = DisruptionBudget(
        name="web", namespace="default", selector=LabelSelector(match_labels={"app": "web"}), min_available="lots"
    )
    nodes = [node("a"), node("b")]
    pods = [ghost, pod("web-1", "a", 0.2, 0.5, labels={"app": "web"}), pod("api-1", "b", 0.2, 0.5)]
    result = scan(cluster(nodes, pods, pdbs=(bad_pdb,)))
    assert "PodDisruptionBudget default/web allows no disruption now" in reasons(result)["node/a"]
    assert removed(result) == ["b"]
    assert reasons(result)["cluster/test"].startswith("1 pod is bound to nodes missing from the snapshot")
