"""PATCH on the local sandbox cluster with the three content types the official client sends."""

from __future__ import annotations

import json
from typing import Any

import kubernetes.client
import pytest
from kubernetes.client.exceptions import ApiException

from sandbox.k8s_emulator import LocalKubernetes
from sandbox.k8s_patch import STRATEGIC_MERGE_PATCH, apply_patch
from tests.waiting import wait_until

MERGE = "application/merge-patch+json"
Api = Any  # the client's models declare every field Optional; the tests assert the shape


def node(name: str, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"team": "a", "tier": "gold"}, "finalizers": ["keep"]},
            "spec": {"taints": taints or [{"key": "dedicated", "value": "batch", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def two_container_deployment() -> dict[str, Any]:
    app = {"name": "app", "image": "shop:1", "env": [{"name": "A", "value": "a"}, {"name": "B", "value": "b"}],
           "ports": [{"containerPort": 80, "name": "http"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "shop", "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "shop"}},
                     "template": {"metadata": {"labels": {"app": "shop"}},
                                  "spec": {"containers": [app, {"name": "proxy", "image": "envoy:1"}],
                                           "volumes": [{"name": "cache", "emptyDir": {}}]}}}}


def test_a_strategic_merge_patch_merges_containers_env_and_ports_by_their_keys_and_rolls_out(
        cluster: LocalKubernetes, apps: Api) -> None:
    cluster.put(two_container_deployment())
    before = apps.read_namespaced_deployment("shop", "default")
    apps.patch_namespaced_deployment("shop", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "shop:2", "env": [{"name": "B", "value": "b2"}, {"name": "C", "value": "c"}],
                        "ports": [{"containerPort": 9090, "name": "metrics"}]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}]}}}})
    after = apps.read_namespaced_deployment("shop", "default")
    spec = after.spec.template.spec
    assert [c.name for c in spec.containers] == ["app", "proxy"]
    app = spec.containers[0]
    assert app.image == "shop:2"
    assert [(e.name, e.value) for e in app.env] == [("A", "a"), ("B", "b2"), ("C", "c")]
    assert [p.container_port for p in app.ports] == [80, 9090]
    assert [v.name for v in spec.volumes] == ["cache", "tmp"]
    assert after.metadata.generation == before.metadata.generation + 1
    assert wait_until(lambda: (apps.read_namespaced_deployment("shop", "default").status or
                               kubernetes.client.V1DeploymentStatus()).observed_generation == after.metadata.generation)


def test_a_strategic_merge_patch_replaces_node_taints_and_merges_finalizers_and_conditions(
        cluster: LocalKubernetes, core: Api) -> None:
    cluster.put(node("node-a"))
    core.patch_node("node-a", {"metadata": {"finalizers": ["audit", "keep"]},
                               "spec": {"taints": [{"key": "spot", "value": "true", "effect": "NoSchedule"}]}})
    core.patch_node_status("node-a", {"status": {"conditions": [{"type": "DiskPressure", "status": "False"}]}})
    patched = core.read_node("node-a")
    assert [(t.key, t.value) for t in patched.spec.taints] == [("spot", "true")]  # no merge key: replaced
    assert patched.metadata.finalizers == ["keep", "audit"]  # merged as a set
    assert [(c.type, c.status) for c in patched.status.conditions] == [("Ready", "True"), ("DiskPressure", "False")]


def test_strategic_merge_directives_delete_list_elements_and_replace_whole_lists(
        cluster: LocalKubernetes, apps: Api) -> None:
    cluster.put(two_container_deployment())
    apps.patch_namespaced_deployment("shop", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "proxy", "$patch": "delete"},
                       {"name": "app", "env": [{"name": "A", "$patch": "delete"}]}],
        "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]}}}})
    spec = apps.read_namespaced_deployment("shop", "default").spec.template.spec
    assert [c.name for c in spec.containers] == ["app"]
    assert [e.name for e in spec.containers[0].env] == ["B"]
    assert [v.name for v in spec.volumes] == ["only"]


def test_a_json_merge_patch_replaces_lists_and_null_deletes_a_key(cluster: LocalKubernetes, core: Api,
                                                                  apps: Api) -> None:
    cluster.put_many([node("node-a"), two_container_deployment()])
    core.patch_node("node-a", {"metadata": {"labels": {"tier": None}}, "spec": {"unschedulable": True}},
                    _content_type=MERGE)
    patched = core.read_node("node-a")
    assert patched.metadata.labels == {"team": "a"}
    assert patched.spec.unschedulable is True and [t.key for t in patched.spec.taints] == ["dedicated"]
    apps.patch_namespaced_deployment("shop", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "shop:3"}]}}}}, _content_type=MERGE)
    containers = apps.read_namespaced_deployment("shop", "default").spec.template.spec.containers
    assert [(c.name, c.image, c.env) for c in containers] == [("app", "shop:3", None)]  # the list is replaced


def test_a_json_patch_applies_every_rfc_6902_operation_and_a_failed_test_changes_nothing(
        cluster: LocalKubernetes, core: Api) -> None:
    cluster.put(node("node-a"))
    core.patch_node("node-a", [
        {"op": "test", "path": "/metadata/labels/team", "value": "a"},
        {"op": "add", "path": "/metadata/labels/zone", "value": "us-east-1a"},
        {"op": "replace", "path": "/metadata/labels/tier", "value": "silver"},
        {"op": "copy", "from": "/metadata/labels/zone", "path": "/metadata/labels/zone-copy"},
        {"op": "move", "from": "/metadata/labels/team", "path": "/metadata/labels/owner"},
        {"op": "remove", "path": "/spec/taints/0"},
        {"op": "add", "path": "/spec/unschedulable", "value": True},
    ])
    patched = core.read_node("node-a")
    assert patched.metadata.labels == {"tier": "silver", "zone": "us-east-1a", "zone-copy": "us-east-1a",
                                       "owner": "a"}
    assert patched.spec.taints == [] and patched.spec.unschedulable is True
    with pytest.raises(ApiException) as failed:
        core.patch_node("node-a", [{"op": "test", "path": "/metadata/labels/tier", "value": "gold"},
                                   {"op": "remove", "path": "/metadata/labels/owner"}])
    assert failed.value.status == 422 and json.loads(failed.value.body or "")["reason"] == "Invalid"
    with pytest.raises(ApiException) as missing:
        core.patch_node("node-a", [{"op": "remove", "path": "/metadata/labels/nothing-here"}])
    assert missing.value.status == 422
    unchanged = core.read_node("node-a")
    assert unchanged.metadata.labels["owner"] == "a"
    assert unchanged.metadata.resource_version == patched.metadata.resource_version


def test_a_patch_of_an_object_leaves_its_status_alone_and_a_status_patch_touches_only_status(
        cluster: LocalKubernetes, core: Api, apps: Api) -> None:
    cluster.put_many([node("node-a"), two_container_deployment()])
    core.patch_node("node-a", {"spec": {"unschedulable": True}, "status": {"allocatable": {"cpu": "64"}}})
    patched = core.read_node("node-a")
    assert patched.spec.unschedulable is True and patched.status.allocatable["cpu"] == "4"
    apps.patch_namespaced_deployment_status("shop", "default", {"spec": {"replicas": 9},
                                                                "status": {"conditions": [{"type": "Progressing",
                                                                                           "status": "True"}]}})
    deploy = apps.read_namespaced_deployment("shop", "default")
    assert deploy.spec.replicas == 1
    assert [c.type for c in deploy.status.conditions] == ["Progressing"]


@pytest.mark.parametrize("content_type", [STRATEGIC_MERGE_PATCH, MERGE, "application/json-patch+json"])
def test_pods_services_and_every_workload_kind_accept_all_three_patch_types(
        cluster: LocalKubernetes, core: Api, apps: Api, content_type: str) -> None:
    template = {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    workload_spec = {"selector": {"matchLabels": {"app": "w"}}, "template": template}
    cluster.put_many([
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "labels": {"a": "1"}},
         "spec": template["spec"]},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default", "labels": {"a": "1"}},
         "spec": {"selector": {"app": "w"}, "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]}},
        *({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w", "namespace": "default", "labels": {"a": "1"}},
           "spec": {**workload_spec, **({"serviceName": "w"} if kind == "StatefulSet" else {})}}
          for kind in ("Deployment", "StatefulSet", "ReplicaSet", "DaemonSet")),
    ])
    body: Any = ([{"op": "add", "path": "/metadata/labels/patched", "value": "yes"}]
                 if content_type.startswith("application/json-patch") else {"metadata": {"labels": {"patched": "yes"}}})
    calls = [(core.patch_namespaced_pod, core.read_namespaced_pod, "p"),
             (core.patch_namespaced_service, core.read_namespaced_service, "s"),
             (apps.patch_namespaced_deployment, apps.read_namespaced_deployment, "w"),
             (apps.patch_namespaced_stateful_set, apps.read_namespaced_stateful_set, "w"),
             (apps.patch_namespaced_replica_set, apps.read_namespaced_replica_set, "w"),
             (apps.patch_namespaced_daemon_set, apps.read_namespaced_daemon_set, "w")]
    for patch, read, name in calls:
        patch(name, "default", body, _content_type=content_type)
        assert read(name, "default").metadata.labels == {"a": "1", "patched": "yes"}, patch.__name__
    core.patch_namespaced_service("s", "default", {"spec": {"ports": [{"port": 443, "targetPort": 8443}]}})
    ports = core.read_namespaced_service("s", "default").spec.ports
    assert [(p.port, p.name, p.target_port) for p in ports] == [(80, "http", None), (443, "https", 8443)]


def test_an_apply_patch_is_refused_as_an_unsupported_media_type(cluster: LocalKubernetes, core: Api) -> None:
    cluster.put(node("node-a"))
    with pytest.raises(ApiException) as refused:
        core.patch_node("node-a", {"metadata": {"labels": {"x": "y"}}}, _content_type="application/apply-patch+yaml",
                        field_manager="test")
    assert refused.value.status == 415
    assert json.loads(refused.value.body or "")["reason"] == "UnsupportedMediaType"


def test_strategic_merge_retains_only_listed_union_fields_and_drops_listed_finalizers() -> None:
    current: dict[str, Any] = {"metadata": {"name": "d", "finalizers": ["a", "b", "c"]},
                               "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    patched = apply_patch(STRATEGIC_MERGE_PATCH, "Deployment", current, {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]},
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert patched == {"metadata": {"name": "d", "finalizers": ["a", "c"]}, "spec": {"strategy": {"type": "Recreate"}}}
    assert current["metadata"]["finalizers"] == ["a", "b", "c"]  # the input is not modified


def test_strategic_merge_orders_a_merged_list_as_set_element_order_says() -> None:
    current: dict[str, Any] = {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    patched = apply_patch(STRATEGIC_MERGE_PATCH, "Pod", current, {"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
        "containers": [{"name": "c", "image": "new"}]}})
    assert [c["name"] for c in patched["spec"]["containers"]] == ["c", "b", "a"]
