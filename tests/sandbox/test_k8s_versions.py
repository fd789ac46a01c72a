"""resourceVersions, conflicts, the scale subresource and watches of the local sandbox cluster."""

from __future__ import annotations

import json
from typing import Any

import kubernetes.client
import kubernetes.watch
import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.k8s_emulator import LocalKubernetes
from sandbox.k8s_store import HISTORY
from tests.waiting import wait_until

Api = Any  # the client's models declare every field Optional; the tests assert the shape
m = kubernetes.client


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"allocatable": {"cpu": "8", "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def workload(kind: str, name: str, replicas: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}},
                                         "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def body_of(exc: ApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body or "{}"))


def test_every_write_bumps_one_cluster_wide_resource_version_that_lists_carry(
        cluster: LocalKubernetes, core: Api) -> None:
    cluster.put_many([node("node-a"), node("node-b")])
    nodes = core.list_node()
    versions = sorted(int(n.metadata.resource_version) for n in nodes.items)
    assert int(nodes.metadata.resource_version) >= versions[-1] > versions[0] > 0
    patched = core.patch_node("node-a", {"metadata": {"labels": {"x": "1"}}})
    assert int(patched.metadata.resource_version) > int(nodes.metadata.resource_version)
    assert int(core.list_namespace().metadata.resource_version) >= int(patched.metadata.resource_version)
    cluster.wait_reconciled(passes=2)
    assert core.read_node("node-a").metadata.resource_version == patched.metadata.resource_version  # quiet


def test_replacing_a_node_with_a_stale_resource_version_gets_409_with_the_real_status_body(
        cluster: LocalKubernetes, core: Api) -> None:
    cluster.put(node("node-a"))
    stale = core.read_node("node-a")
    core.patch_node("node-a", {"spec": {"unschedulable": True}})  # someone else wrote meanwhile
    stale.metadata.labels = {"mine": "yes"}
    with pytest.raises(ApiException) as conflict:
        core.replace_node("node-a", stale)
    assert conflict.value.status == 409
    assert body_of(conflict.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Conflict", "code": 409,
        "message": 'Operation cannot be fulfilled on nodes "node-a": the object has been modified; please apply '
                   "your changes to the latest version and try again",
        "details": {"name": "node-a", "kind": "nodes"}}
    fresh = core.read_node("node-a")
    fresh.metadata.labels = {"mine": "yes"}
    replaced = core.replace_node("node-a", fresh)
    assert replaced.metadata.labels == {"mine": "yes"} and replaced.spec.unschedulable is True


def test_a_patch_carrying_a_stale_resource_version_gets_409_and_one_without_applies(
        cluster: LocalKubernetes, apps: Api) -> None:
    cluster.put(workload("Deployment", "web", 1))
    old = apps.read_namespaced_deployment("web", "default").metadata.resource_version
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"a": "1"}}})
    with pytest.raises(ApiException) as conflict:
        apps.patch_namespaced_deployment("web", "default", {"metadata": {"resourceVersion": old, "labels": {"b": "2"}}})
    assert conflict.value.status == 409
    assert body_of(conflict.value)["message"].startswith('Operation cannot be fulfilled on deployments.apps "web"')
    assert apps.read_namespaced_deployment("web", "default").metadata.labels == {"a": "1"}


def test_create_get_and_delete_answer_like_the_real_server_for_existing_and_missing_objects(
        cluster: LocalKubernetes, core: Api) -> None:
    created = core.create_node(m.V1Node(metadata=m.V1ObjectMeta(name="node-a")))
    assert created.metadata.uid and created.metadata.resource_version
    with pytest.raises(ApiException) as exists:
        core.create_node(m.V1Node(metadata=m.V1ObjectMeta(name="node-a")))
    assert (exists.value.status, body_of(exists.value)["message"]) == (409, 'nodes "node-a" already exists')
    with pytest.raises(ApiException) as precondition:
        core.delete_node("node-a", body=m.V1DeleteOptions(preconditions=m.V1Preconditions(uid="other")))
    assert precondition.value.status == 409
    status = core.delete_node("node-a")  # the client returns it as a plain dict
    assert (status["status"], status["details"]["name"], status["details"]["kind"]) == ("Success", "node-a", "nodes")
    with pytest.raises(ApiException) as missing:
        core.read_node("node-a")
    assert body_of(missing.value) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                      "message": 'nodes "node-a" not found', "reason": "NotFound",
                                      "details": {"name": "node-a", "kind": "nodes"}, "code": 404}
    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_config_map("nowhere", m.V1ConfigMap(metadata=m.V1ObjectMeta(name="c")))
    assert body_of(no_namespace.value)["message"] == 'namespaces "nowhere" not found'


def test_a_deleted_object_with_a_finalizer_stays_terminating_until_its_last_finalizer_is_removed(
        core: Api) -> None:
    core.create_namespaced_config_map("default", m.V1ConfigMap(
        metadata=m.V1ObjectMeta(name="held", finalizers=["example.com/cleanup"])))
    terminating = core.delete_namespaced_config_map("held", "default")
    assert terminating["metadata"]["deletionTimestamp"]
    assert core.read_namespaced_config_map("held", "default").metadata.deletion_timestamp
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("held", "default")
    assert gone.value.status == 404


def test_deleting_a_namespace_deletes_what_is_in_it(cluster: LocalKubernetes, core: Api) -> None:
    core.create_namespace(m.V1Namespace(metadata=m.V1ObjectMeta(name="shop")))
    core.create_namespaced_config_map("shop", m.V1ConfigMap(metadata=m.V1ObjectMeta(name="c")))
    core.delete_namespace("shop")
    assert core.list_config_map_for_all_namespaces().items == []
    with pytest.raises(ApiException) as forbidden:
        core.delete_namespace("default")
    assert forbidden.value.status == 403


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "ReplicaSet"])
def test_the_scale_subresource_reads_and_writes_replicas_with_resource_version_checks(
        cluster: LocalKubernetes, core: Api, apps: Api, kind: str) -> None:
    suffix = {"Deployment": "deployment", "StatefulSet": "stateful_set", "ReplicaSet": "replica_set"}[kind]
    read, replace, patch = (getattr(apps, f"{verb}_namespaced_{suffix}_scale") for verb in ("read", "replace", "patch"))
    cluster.put_many([node("node-a"), workload(kind, "web", 1)])
    scale = read("web", "default")
    assert (scale.kind, scale.api_version, scale.spec.replicas, scale.status.selector) == (
        "Scale", "autoscaling/v1", 1, "app=web")
    scale.spec.replicas = 3
    assert replace("web", "default", scale).spec.replicas == 3
    with pytest.raises(ApiException) as stale:
        replace("web", "default", scale)  # still carries the version it was read at
    assert stale.value.status == 409
    assert patch("web", "default", {"spec": {"replicas": 2}}).spec.replicas == 2
    assert patch("web", "default", [{"op": "replace", "path": "/spec/replicas", "value": 4}]).spec.replicas == 4
    with pytest.raises(ApiException) as negative:
        patch("web", "default", {"spec": {"replicas": -1}})
    assert negative.value.status == 422 and "spec.replicas" in body_of(negative.value)["message"]
    assert getattr(apps, f"read_namespaced_{suffix}")("web", "default").spec.replicas == 4
    assert wait_until(lambda: len(core.list_namespaced_pod("default", label_selector="app=web").items) == 4)
    assert wait_until(lambda: read("web", "default").status.replicas == 4)


def test_a_watch_resumes_after_a_resource_version_and_sees_objects_leave_its_selector_as_deleted(
        cluster: LocalKubernetes, core: Api) -> None:
    cluster.put(node("node-a"))
    since = core.list_node().metadata.resource_version
    core.patch_node("node-a", {"metadata": {"labels": {"pool": "spot"}}})
    core.patch_node("node-a", {"metadata": {"labels": {"pool": "on-demand"}}})
    cluster.put(node("node-b"))
    watcher: Any = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
    events = [(e["type"], e["object"].metadata.name) for e in watcher.stream(
        core.list_node, label_selector="pool=spot", resource_version=since, timeout_seconds=1)]
    assert events == [("ADDED", "node-a"), ("DELETED", "node-a")]


def test_a_watch_from_a_resource_version_older_than_the_history_fails_with_410_gone(
        cluster: LocalKubernetes, core: Api) -> None:
    since = core.list_namespace().metadata.resource_version
    cluster.put_many({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}", "namespace": "default"}}
                     for i in range(HISTORY + 1))
    watcher: Any = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
    with pytest.raises(ApiException) as gone:
        list(watcher.stream(core.list_namespaced_config_map, "default", resource_version=since, timeout_seconds=1))
    assert gone.value.status == 410
