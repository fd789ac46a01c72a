"""Tests of the local sandbox Kubernetes cluster over real HTTP with the official client."""

from __future__ import annotations

import json
import pathlib
from collections.abc import Iterator
from typing import Any, TypeVar

import kubernetes.client
import kubernetes.config
import kubernetes.watch
import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.k8s_emulator import MANAGED_BY_SOURCE, LocalKubernetes, parse_cpu, parse_memory
from tests.waiting import wait_until

T = TypeVar("T")
# The client's models declare every field Optional; the tests assert the shape, so use Any.
CoreApi = Any
AppsApi = Any



def node(name: str, *, cpu: str = "4", memory: str = "8Gi", unschedulable: bool = False,
         taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "spec": {"unschedulable": unschedulable, "taints": taints or []},
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def running_pod(name: str, node_name: str, labels: dict[str, str], namespace: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node_name, "containers": [{"name": "app", "image": "nginx"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


def deployment(name: str, replicas: int, cpu: str = "100m") -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx",
                                                           "resources": {"requests": {"cpu": cpu}}}]}}}}


@pytest.fixture
def cluster() -> Iterator[LocalKubernetes]:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
        yield k8s


@pytest.fixture
def core(cluster: LocalKubernetes) -> CoreApi:
    return kubernetes.client.CoreV1Api(cluster.api_client())


@pytest.fixture
def apps(cluster: LocalKubernetes) -> AppsApi:
    return kubernetes.client.AppsV1Api(cluster.api_client())


def running_pods(core: CoreApi, selector: str) -> list[Any]:
    pods = core.list_namespaced_pod("default", label_selector=selector).items
    return [p for p in pods if p.status and p.status.phase == "Running"]


def pdb(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


def evict(core: CoreApi, name: str) -> Any:
    body = kubernetes.client.V1Eviction(metadata=kubernetes.client.V1ObjectMeta(name=name, namespace="default"))
    return core.create_namespaced_pod_eviction(name, "default", body)


def test_eviction_succeeds_and_spends_the_budget_when_the_pdb_has_slack(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    cluster.put_many([node("node-a"), pdb("web", minAvailable=2),
                      *(running_pod(f"web-{i}", "node-a", {"app": "web"}) for i in range(3))])
    evict(core, "web-0")
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("web-0", "default")
    assert missing.value.status == 404
    policy: Any = kubernetes.client.PolicyV1Api(cluster.api_client())
    status = wait_until(lambda: policy.read_namespaced_pod_disruption_budget("web", "default").status)
    assert (status.current_healthy, status.desired_healthy, status.disruptions_allowed, status.expected_pods) \
        == (2, 2, 0, 2)


def test_eviction_returns_429_when_the_pdb_has_no_slack(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    cluster.put_many([node("node-a"), pdb("web", maxUnavailable="0%"),
                      *(running_pod(f"web-{i}", "node-a", {"app": "web"}) for i in range(2))])
    with pytest.raises(ApiException) as refused:
        evict(core, "web-1")
    assert refused.value.status == 429
    assert json.loads(refused.value.body or "") == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "TooManyRequests",
        "code": 429, "message": "Cannot evict pod as it would violate the pod's disruption budget.",
        "details": {"causes": [{"reason": "DisruptionBudget",
                                "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}]}}
    assert core.read_namespaced_pod("web-1", "default").metadata.name == "web-1"


def test_eviction_returns_404_for_a_missing_pod(core: CoreApi) -> None:
    with pytest.raises(ApiException) as missing:
        evict(core, "ghost")
    assert missing.value.status == 404
    assert json.loads(missing.value.body or "")["reason"] == "NotFound"


def test_label_and_field_selectors_filter_lists_in_one_and_all_namespaces(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    cluster.put_many([node("node-a"), node("node-b"),
                      running_pod("web-a", "node-a", {"app": "web", "tier": "front"}),
                      running_pod("web-b", "node-b", {"app": "web", "tier": "edge"}, namespace="shop"),
                      running_pod("db-a", "node-a", {"app": "db"}, namespace="shop")])

    def names(**kwargs: str) -> set[str]:
        return {p.metadata.name for p in core.list_pod_for_all_namespaces(**kwargs).items}

    assert names(field_selector="spec.nodeName=node-a") == {"web-a", "db-a"}
    assert names(field_selector="spec.nodeName!=node-a,metadata.namespace=shop") == {"web-b"}
    assert names(label_selector="app=web,tier in (front, edge)") == {"web-a", "web-b"}
    assert names(label_selector="app!=web") == {"db-a"}
    assert names(label_selector="!tier") == {"db-a"}
    assert names(label_selector="tier,tier notin (edge)") == {"web-a"}
    assert names(label_selector="app=web", field_selector="status.phase=Running,spec.nodeName=node-b") == {"web-b"}
    shop = core.list_namespaced_pod("shop", field_selector="spec.nodeName=node-a").items
    assert [p.metadata.name for p in shop] == ["db-a"]
    nodes = core.list_node(field_selector="metadata.name=node-b").items
    assert [n.metadata.name for n in nodes] == ["node-b"]


def test_pagination_lists_1200_pods_exactly_once_with_limit_500(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    cluster.put_many([node("node-a"), *(running_pod(f"pod-{i:04d}", "node-a", {"app": "bulk"},
                                                    namespace=f"ns-{i % 3}") for i in range(1200))])
    names: list[str] = []
    page_sizes: list[int] = []
    token: str | None = None
    while True:
        page = core.list_pod_for_all_namespaces(limit=500, _continue=token)
        page_sizes.append(len(page.items))
        names.extend(f"{p.metadata.namespace}/{p.metadata.name}" for p in page.items)
        token = page.metadata._continue
        if not token:
            break
    assert page_sizes == [500, 500, 200]
    assert len(names) == len(set(names)) == 1200
    first = core.list_namespaced_pod("ns-1", limit=100)
    assert len(first.items) == 100 and first.metadata.remaining_item_count == 300


def test_the_reconciler_replaces_an_evicted_deployment_pod_on_another_node_when_its_node_is_cordoned(
        cluster: LocalKubernetes, core: CoreApi, apps: AppsApi) -> None:
    cluster.put_many([node("node-a"), node("node-b")])
    apps.create_namespaced_deployment("default", deployment("web", 1))
    original = wait_until(lambda: running_pods(core, "app=web"))[0]
    core.patch_node(original.spec.node_name, {"spec": {"unschedulable": True}})
    evict(core, original.metadata.name)
    replacement = wait_until(lambda: [p for p in running_pods(core, "app=web")
                                      if p.metadata.name != original.metadata.name])
    assert len(replacement) == 1
    assert replacement[0].spec.node_name not in (None, original.spec.node_name)
    assert replacement[0].metadata.owner_references[0].kind == "ReplicaSet"
    ready = wait_until(lambda: apps.read_namespaced_deployment("web", "default").status.ready_replicas == 1)
    assert ready


def test_a_daemonset_pod_is_not_duplicated_across_passes_and_appears_on_a_new_node(
        cluster: LocalKubernetes, core: CoreApi, apps: AppsApi) -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    cluster.put_many([node("node-a"), node("node-b", unschedulable=True), node("node-gpu", taints=[taint])])
    apps.create_namespaced_daemon_set("default", {
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "agent", "image": "agent"}]}}}})

    def nodes_of_agents() -> list[str]:
        return sorted(p.spec.node_name for p in running_pods(core, "app=agent"))

    assert wait_until(lambda: nodes_of_agents() == ["node-a", "node-b"])
    cluster.wait_reconciled(passes=3)
    assert nodes_of_agents() == ["node-a", "node-b"]
    cluster.put(node("node-c"))
    assert wait_until(lambda: nodes_of_agents() == ["node-a", "node-b", "node-c"])
    status = wait_until(lambda: apps.read_namespaced_daemon_set("agent", "default").status.number_ready == 3 and
                        apps.read_namespaced_daemon_set("agent", "default").status)
    assert status.desired_number_scheduled == 3


def test_a_deployment_scaled_to_zero_has_its_pods_deleted(
        cluster: LocalKubernetes, core: CoreApi, apps: AppsApi) -> None:
    cluster.put_many([node("node-a"), deployment("web", 3)])
    wait_until(lambda: len(running_pods(core, "app=web")) == 3)
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 0}})
    assert wait_until(lambda: core.list_namespaced_pod("default", label_selector="app=web").items == [])
    assert wait_until(lambda: apps.read_namespaced_deployment("web", "default").status.replicas == 0)


def test_a_node_source_registers_a_not_ready_node_that_turns_ready_after_the_delay_and_leaves_when_dropped(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    instances: list[dict[str, Any]] = []
    calls: list[int] = []

    def source() -> list[dict[str, Any]]:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("EC2 is having a moment")  # must be logged and survived
        return [dict(n) for n in instances]

    # A watch from this version replays every write after it, however slow this test runs.
    since = core.list_node().metadata.resource_version
    cluster.register_node_source(source)
    instances.append({"metadata": {"name": "ip-10-0-0-7"}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}})
    seen: list[tuple[str, list[str]]] = []
    watcher: Any = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
    for event in watcher.stream(core.list_node, field_selector="metadata.name=ip-10-0-0-7",
                                resource_version=since, timeout_seconds=10):
        node_obj = event["object"]
        ready = next(c.status for c in node_obj.status.conditions if c.type == "Ready")
        seen.append((ready, [t.key for t in node_obj.spec.taints or []]))
        if ready == "True":
            watcher.stop()
    # Registered at once, NotReady (with the not-ready taint) while its CNI starts, then Ready.
    assert seen == [("False", ["node.kubernetes.io/not-ready"]), ("True", [])]
    joined = core.read_node("ip-10-0-0-7")
    assert joined.metadata.annotations[MANAGED_BY_SOURCE] == "true"
    instances.clear()
    assert wait_until(lambda: core.list_node(field_selector="metadata.name=ip-10-0-0-7").items == [])
    assert len(calls) > 2


def test_a_malformed_object_does_not_stop_the_reconciler(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    broken_node = node("node-broken")
    broken_node["status"]["allocatable"]["cpu"] = "lots"
    cluster.put_many([
        node("node-a"), broken_node,
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "broken"},
         "spec": {"replicas": "many"}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "bad", "namespace": "broken"},
         "spec": "nonsense"},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": "broken"},
         "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "a lot"}}}]}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odd", "ownerReferences": 7}, "spec": None},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odder", "namespace": "broken"},
         "spec": {"tolerations": "all", "containers": []}},
        deployment("web", 2),
    ])
    assert wait_until(lambda: [p.spec.node_name for p in running_pods(core, "app=web")] == ["node-a"] * 2)


def test_a_pod_that_fits_nowhere_stays_pending_as_unschedulable(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    cluster.put_many([node("node-small", cpu="1"), deployment("big", 1, cpu="1500m")])

    def scheduled_condition() -> Any:
        pods = core.list_namespaced_pod("default", label_selector="app=big").items
        conds = [c for p in pods for c in (p.status.conditions or []) if c.type == "PodScheduled"]
        return conds[0] if conds else None

    condition = wait_until(scheduled_condition)
    assert (condition.status, condition.reason) == ("False", "Unschedulable")
    assert "Insufficient cpu" in condition.message
    assert core.list_namespaced_pod("default", label_selector="app=big").items[0].status.phase == "Pending"


def test_one_kubeconfig_holds_the_contexts_of_two_clusters(tmp_path: pathlib.Path) -> None:
    with LocalKubernetes() as east, LocalKubernetes() as west:
        east.put(node("east-1"))
        west.put(node("west-1"))
        path = east.write_kubeconfig(tmp_path / "kubeconfig", "east")
        west.write_kubeconfig(path, "west")
        for context, expected in (("east", "east-1"), ("west", "west-1")):
            api = kubernetes.config.new_client_from_config(config_file=str(path), context=context)  # type: ignore[no-untyped-call]
            nodes: Any = kubernetes.client.CoreV1Api(api).list_node().items
            assert [n.metadata.name for n in nodes] == [expected]


@pytest.mark.parametrize(("quantity", "cores"), [("100m", 0.1), ("1.5", 1.5), (2, 2.0), ("250000u", 0.25)])
def test_parse_cpu_reads_kubernetes_quantities(quantity: Any, cores: float) -> None:
    assert parse_cpu(quantity) == pytest.approx(cores)


@pytest.mark.parametrize(("quantity", "size"), [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("500M", 500_000_000),
                                                 (1024, 1024), ("1e3", 1000), ("1.5Ki", 1536)])
def test_parse_memory_reads_kubernetes_quantities(quantity: Any, size: int) -> None:
    assert parse_memory(quantity) == size


def test_parse_memory_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        parse_memory("lots")


def test_a_watch_honours_its_label_selector_and_timeout(
        cluster: LocalKubernetes, core: CoreApi) -> None:
    cluster.put_many([node("node-a"), deployment("web", 1), deployment("other", 1)])
    watcher: Any = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
    events = [(event["type"], event["object"].metadata.name)
              for event in watcher.stream(core.list_namespaced_pod, "default",
                                          label_selector="app=web", timeout_seconds=1)]
    assert events and {name.split("-")[0] for _, name in events} == {"web"}


def test_workloads_created_from_client_models_without_kind_are_reconciled(
        cluster: LocalKubernetes, core: CoreApi, apps: AppsApi) -> None:
    m = kubernetes.client
    cluster.put(node("node-a"))
    apps.create_namespaced_stateful_set("default", m.V1StatefulSet(
        metadata=m.V1ObjectMeta(name="db"),
        spec=m.V1StatefulSetSpec(
            replicas=2, service_name="db", selector=m.V1LabelSelector(match_labels={"app": "db"}),
            template=m.V1PodTemplateSpec(metadata=m.V1ObjectMeta(labels={"app": "db"}),
                                         spec=m.V1PodSpec(containers=[m.V1Container(name="db", image="pg")])))))
    assert wait_until(lambda: sorted(p.metadata.name for p in running_pods(core, "app=db")) == ["db-0", "db-1"])
    assert wait_until(lambda: apps.read_namespaced_stateful_set("db", "default").status.ready_replicas == 2)
