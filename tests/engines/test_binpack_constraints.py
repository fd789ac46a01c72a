"""The plan respects what the scheduler and the eviction rules would: each rule keeps a node, with a reason."""

from __future__ import annotations

import pytest

from engines.actions import DrainAndRemoveNode
from engines.snapshot import DisruptionBudget, LabelSelector, Namespace, SelectorRequirement, Taint, Toleration
from engines.snapshot import TopologySpread as Spread
from tests.engines.test_binpack_helpers import cluster, daemon, node, pod, reasons, removed, scan

GPU_TAINT = Taint(key="dedicated", value="gpu", effect="NoSchedule")


def _moves(result: object) -> dict[str, str | None]:
    return {
        m.pod: m.to_node
        for r in result.recommendations  # type: ignore[attr-defined]
        if isinstance(r.action, DrainAndRemoveNode)
        for m in r.action.moves
    }


def test_a_pod_with_no_other_node_tolerating_a_taint_keeps_its_node_and_the_reason_names_pod_and_taint() -> None:
    nodes = [node("plain"), node("gpu-1", taints=(GPU_TAINT,)), node("gpu-2", taints=(GPU_TAINT,))]
    pods = [
        pod("web-1", "plain", 0.2, 0.5),
        pod("train-1", "gpu-1", 3.0, 4, tolerations=(Toleration(key="dedicated"),)),
    ]
    pods += [pod("train-2", "gpu-2", 3.0, 4, tolerations=(Toleration(key="dedicated"),))]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert "plain" not in removed(result)
    assert reasons(result)["node/plain"] == (
        "node plain was kept: pod default/web-1 has no other node that tolerates taint dedicated=gpu:NoSchedule"
    )


def test_node_selector_and_required_affinity_decide_where_pods_may_move() -> None:
    nodes = [node("a", labels={"pool": "web"}), node("b", labels={"pool": "batch"}), node("c", labels={"pool": "web"})]
    selector = pod("sel-1", "a", 0.2, 0.5, node_selector={"pool": "web"})
    term = (SelectorRequirement(key="pool", operator="In", values=("web",)),)
    affinity = pod("aff-1", "a", 0.2, 0.5, required_node_affinity=(term,))
    pods = [selector, affinity, pod("big-1", "c", 3.6, 8), pod("batch-1", "b", 0.5, 1)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert "a" not in removed(result)
    assert reasons(result)["node/a"] == (
        "node a was kept: pod default/sel-1 fits on no other node: 1 node lacks free room for its 0.20 CPU and "
        "0.50 GiB or is ruled out by anti-affinity/spread; 1 node does not match its nodeSelector (node label pool=web)"
    )


def test_hostname_anti_affinity_keeps_replicas_on_different_nodes() -> None:
    apart = (LabelSelector(match_labels={"app": "db"}),)
    nodes = [node("a"), node("b"), node("c")]
    pods = [
        pod("db-1", "a", 0.5, 1, labels={"app": "db"}, anti_affinity_hostname=apart),
        pod("db-2", "b", 0.5, 1, labels={"app": "db"}, anti_affinity_hostname=apart),
        pod("web-1", "c", 0.5, 1),
    ]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    moves = _moves(result)
    assert len(removed(result)) == 1
    assert moves.get("db-1") != "b" and moves.get("db-2") != "a"


def test_topology_spread_do_not_schedule_is_respected_and_schedule_anyway_is_not() -> None:
    def spread(when: str) -> tuple[Spread, ...]:
        sel = LabelSelector(match_labels={"app": "api"})
        return (Spread(max_skew=1, topology_key="topology.kubernetes.io/zone", when_unsatisfiable=when, selector=sel),)

    nodes = [node("a1", zone="us-east-1a"), node("a2", zone="us-east-1a")]
    nodes += [node("b1", zone="us-east-1b"), node("b2", zone="us-east-1b")]
    counts = {}
    for when in ("DoNotSchedule", "ScheduleAnyway"):
        pods = [
            pod("api-1", "a1", 0.5, 1, labels={"app": "api"}, topology_spread=spread(when)),
            pod("api-2", "b1", 0.5, 1, labels={"app": "api"}, topology_spread=spread(when)),
            pod("full-1", "b2", 3.7, 4),
        ]
        result = scan(cluster(nodes, pods), allow_replace_node_type=False)
        counts[when] = removed(result)
    # Moving either api pod into the other zone would leave skew 2 - 0 > 1 while zone b keeps a node.
    assert counts["DoNotSchedule"] == ["a2"]
    assert len(counts["ScheduleAnyway"]) == 2


def test_a_pod_with_a_zonal_volume_moves_only_within_its_zone() -> None:
    nodes = [node("a1", zone="us-east-1a"), node("b1", zone="us-east-1b"), node("a2", zone="us-east-1a")]
    pods = [
        pod("db-0", "a1", 0.5, 1, owner="StatefulSet", pvc_names=("data-db-0",), pvc_zone="us-east-1a"),
        pod("full-1", "a2", 3.6, 12),
        pod("web-1", "b1", 0.5, 1),
    ]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert "a1" not in removed(result)
    assert "outside zone us-east-1a of its volume" in reasons(result)["node/a1"]


def test_a_pdb_limits_how_many_of_its_pods_one_drain_may_evict() -> None:
    pdb = DisruptionBudget(
        name="web", namespace="default", selector=LabelSelector(match_labels={"app": "web"}), max_unavailable="1"
    )
    nodes = [node("a"), node("b")]
    pods = [pod(f"web-{i}", "a", 0.2, 0.5, labels={"app": "web"}) for i in range(2)]
    pods += [pod("web-2", "b", 0.2, 0.5, labels={"app": "web"}), pod("big-1", "b", 1.0, 2)]
    result = scan(cluster(nodes, pods, pdbs=(pdb,)), allow_replace_node_type=False)
    assert "a" not in removed(result)
    assert reasons(result)["node/a"] == (
        "draining node a would evict 2 pods of PodDisruptionBudget default/web at once, which allows 1"
    )
    spent = pdb.model_copy(update={"disruptions_allowed": 0})
    result = scan(cluster(nodes, pods, pdbs=(spent,)), allow_replace_node_type=False)
    assert removed(result) == []
    assert "PodDisruptionBudget default/web allows no disruption now" in reasons(result)["node/b"]


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({"karpenter.sh/do-not-disrupt": "true"}, 'has karpenter.sh/do-not-disrupt: "true"'),
        ({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}, 'safe-to-evict: "false"'),
        ({"cloudoptim.io/opt-out": "true"}, "carries the opt-out annotation cloudoptim.io/opt-out"),
    ],
)
def test_protective_annotations_keep_the_pods_node(annotations: dict[str, str], expected: str) -> None:
    nodes = [node("a"), node("b")]
    pods = [pod("keep-1", "a", 0.2, 0.5, annotations=annotations), pod("web-1", "b", 0.2, 0.5)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert removed(result) == ["b"]
    assert expected in reasons(result)["node/a"]


def test_opt_out_on_a_namespace_or_a_node_is_honoured_too() -> None:
    nodes = [node("a"), node("b", annotations={"cloudoptim.io/opt-out": "true"})]
    pods = [pod("x-1", "a", 0.2, 0.5, namespace="payments"), pod("web-1", "b", 0.2, 0.5)]
    ns = (Namespace(name="payments", annotations={"cloudoptim.io/opt-out": "true"}),)
    result = scan(cluster(nodes, pods, namespaces=ns), allow_replace_node_type=False)
    assert removed(result) == []
    assert "namespace payments, which opted out" in reasons(result)["node/a"]
    assert reasons(result)["node/b"] == "node b carries the opt-out annotation cloudoptim.io/opt-out"


def test_a_pod_without_a_controller_keeps_its_node_unless_marked_safe_to_evict() -> None:
    nodes = [node("a"), node("b")]
    bare = pod("bare", "a", 0.2, 0.5, owner=None)
    result = scan(cluster(nodes, [bare, pod("web-1", "b")]), allow_replace_node_type=False)
    assert "has no controller, so evicting it would delete it for good" in reasons(result)["node/a"]
    safe = bare.model_copy(update={"annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"}})
    result = scan(cluster(nodes, [safe, pod("web-1", "b")]), allow_replace_node_type=False)
    assert len(removed(result)) == 1


def test_a_pod_with_local_storage_keeps_its_node() -> None:
    nodes = [node("a"), node("b")]
    pods = [pod("cache-1", "a", 0.2, 0.5, has_local_storage=True), pod("web-1", "b", 0.2, 0.5)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert removed(result) == ["b"]
    assert "uses local storage (emptyDir or hostPath)" in reasons(result)["node/a"]


def test_kube_system_pods_need_a_pdb_and_critical_ones_never_move() -> None:
    nodes = [node("a"), node("b"), node("c")]
    critical = pod("metrics-1", "a", 0.2, 0.5, namespace="kube-system", priority_class_name="system-cluster-critical")
    plain = pod("dns-1", "b", 0.2, 0.5, namespace="kube-system", labels={"k8s-app": "dns"})
    pods = [critical, plain, pod("web-1", "c", 2.0, 4), daemon("proxy-a", "a"), daemon("proxy-b", "b")]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert "critical pod (system-cluster-critical) in protected namespace kube-system" in reasons(result)["node/a"]
    assert "no PodDisruptionBudget covers it" in reasons(result)["node/b"]
    dns_pdb = DisruptionBudget(
        name="dns",
        namespace="kube-system",
        selector=LabelSelector(match_labels={"k8s-app": "dns"}),
        max_unavailable="1",
    )
    result = scan(cluster(nodes, pods, pdbs=(dns_pdb,)), allow_replace_node_type=False)
    assert "b" in removed(result) and "a" not in removed(result)


def test_a_node_selector_no_other_node_satisfies_is_named_with_the_missing_label() -> None:
    zone_a = {"topology.kubernetes.io/zone": "us-east-1a"}
    nodes = [node("a", zone="us-east-1a"), node("b", zone="us-east-1b"), node("c", zone="us-east-1b")]
    pods = [pod("db-0", "a", 0.2, 0.5, namespace="shop", owner="StatefulSet", node_selector=zone_a)]
    pods += [pod("web-1", "b", 0.2, 0.5), pod("web-2", "c", 0.2, 0.5)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert "a" not in removed(result)
    assert reasons(result)["node/a"] == (
        "node a was kept: pod shop/db-0 needs node label topology.kubernetes.io/zone=us-east-1a (nodeSelector); "
        "no other node has it"
    )


def test_a_required_node_affinity_no_other_node_matches_is_named_with_the_expression() -> None:
    term = (SelectorRequirement(key="pool", operator="In", values=("gpu", "tpu")),)
    nodes = [node("a", labels={"pool": "gpu"}), node("b", labels={"pool": "web"})]
    pods = [pod("train-1", "a", 0.2, 0.5, required_node_affinity=(term,)), pod("web-1", "b", 0.2, 0.5)]
    result = scan(cluster(nodes, pods), allow_replace_node_type=False)
    assert reasons(result)["node/a"] == (
        "node a was kept: pod default/train-1 needs node label pool in (gpu, tpu) (required node affinity); "
        "no other node matches it"
    )


def test_a_pending_pod_whose_node_selector_no_node_satisfies_is_skipped_by_name_with_the_label() -> None:
    nodes = [node("a"), node("b")]
    pending = pod("gpu-job-1", None, 0.5, 1, namespace="ml", node_selector={"accelerator": "nvidia-a100"})
    result = scan(cluster(nodes, [pending, pod("web-1", "a", 0.2, 0.5)]), allow_replace_node_type=False)
    why = reasons(result)
    assert why["pod/ml/gpu-job-1"] == (
        "pod ml/gpu-job-1 needs node label accelerator=nvidia-a100 (nodeSelector); no node has it"
    )
    assert "cluster/test" not in why  # not "do not fit in the free room of any current node"
