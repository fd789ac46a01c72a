"""Node deletion and the kubelet lifecycle of node-source machines on the local sandbox cluster."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.k8s_emulator import LocalKubernetes
from tests.waiting import wait_until

Api = Any  # the client's models declare every field Optional; the tests assert the shape


def node(name: str, ready: str = "True") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": ready}]}}


def workload(kind: str, name: str, replicas: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}},
                                         "spec": {"containers": [{"name": "c", "image": "i",
                                                                  "resources": {"requests": {"cpu": "100m"}}}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def placement(core: Api) -> dict[str, str]:
    """pod name -> node of the Running pods."""
    return {p.metadata.name: p.spec.node_name for p in core.list_namespaced_pod("default").items
            if p.status and p.status.phase == "Running"}


def ready_replicas(apps: Api, name: str) -> int:
    status = apps.read_namespaced_deployment(name, "default").status
    return int(status.ready_replicas or 0) if status else 0


def ready_of(core: Api, name: str) -> str:
    """The node's Ready condition status; "" while it is not registered."""
    nodes = core.list_node(field_selector=f"metadata.name={name}").items
    return next((str(c.status) for n in nodes for c in n.status.conditions if c.type == "Ready"), "")


def test_deleting_a_node_deletes_its_pods_and_their_controllers_recreate_them_on_another_node(
        cluster: LocalKubernetes, core: Api) -> None:
    cluster.put_many([node("node-a"), workload("Deployment", "web", 2), workload("StatefulSet", "db", 1),
                      workload("DaemonSet", "agent", None)])
    # Bin-packing fills node-a first; node-b joins once everything runs there.
    first = wait_until(lambda: p if len(p := placement(core)) == 4 else {})
    assert set(first.values()) == {"node-a"}
    cluster.put(node("node-b"))
    wait_until(lambda: "node-b" in placement(core).values())  # the DaemonSet pod of node-b
    core.delete_node("node-a")
    with pytest.raises(ApiException) as gone:
        core.read_node("node-a")
    assert gone.value.status == 404

    def moved() -> dict[str, str]:
        now = placement(core)
        return now if len(now) == 4 and set(now.values()) == {"node-b"} else {}

    after = wait_until(moved)
    web = sorted(n for n in after if n.startswith("web-"))
    assert len(web) == 2 and not set(web) & set(first)  # new pods, not the old ones revived
    assert "db-0" in after  # a StatefulSet pod comes back under its own name
    assert [n for n in after if n.startswith("agent-")] != [n for n in first if n.startswith("agent-")]


def test_a_machine_whose_kubelet_stops_makes_its_node_and_pods_not_ready_until_it_is_back(
        cluster: LocalKubernetes, core: Api, apps: Api) -> None:
    machines = {"ip-10-0-1-5": "True"}

    def source() -> list[dict[str, Any]]:
        return [node(name, ready) for name, ready in machines.items()]

    cluster.register_node_source(source)
    cluster.put(workload("Deployment", "web", 2))
    wait_until(lambda: ready_replicas(apps, "web") == 2)
    machines["ip-10-0-1-5"] = "Unknown"  # the instance is stopping
    assert wait_until(lambda: ready_of(core, "ip-10-0-1-5") == "Unknown")
    taints = {(t.key, t.effect) for t in core.read_node("ip-10-0-1-5").spec.taints}
    assert taints == {("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")}
    assert wait_until(lambda: ready_replicas(apps, "web") == 0)
    assert len(placement(core)) == 2  # still bound there: the pods wait for the node, as on a real cluster
    machines["ip-10-0-1-5"] = "True"  # started again
    assert wait_until(lambda: ready_of(core, "ip-10-0-1-5") == "True")
    assert not core.read_node("ip-10-0-1-5").spec.taints
    assert wait_until(lambda: ready_replicas(apps, "web") == 2)


def test_a_node_deleted_through_the_api_stays_deleted_while_its_machine_runs(
        cluster: LocalKubernetes, core: Api) -> None:
    calls: list[int] = []

    def source() -> list[dict[str, Any]]:
        calls.append(1)
        return [node("ip-10-0-1-6")]

    cluster.register_node_source(source)
    assert wait_until(lambda: ready_of(core, "ip-10-0-1-6") == "True")
    core.delete_node("ip-10-0-1-6")
    seen = len(calls)
    wait_until(lambda: len(calls) > seen + 3)  # several polls of a source that still lists it
    assert core.list_node().items == []
