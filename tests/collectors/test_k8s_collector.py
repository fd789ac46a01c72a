"""KubernetesCollector against the local Kubernetes API (real HTTP through the official client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.collectors.k8s import KubernetesCollector
from sandbox.k8s_emulator import LocalKubernetes
from tests.collectors.k8s_objects import FIXTURES, collector, container, deployment, load_fixture, node, pod


def test_nodes_carry_instance_type_zone_capacity_type_taints_and_instance_id(
    k8s: LocalKubernetes, kubeconfig: Path
) -> None:
    k8s.put_many(
        [
            node(
                "ip-10-0-1-1",
                instance_type="m5.xlarge",
                capacity_label={"karpenter.sh/capacity-type": "spot"},
                instance_id="i-0aaa",
            ),
            node(
                "ip-10-0-2-2",
                zone="us-east-1b",
                capacity_label={"eks.amazonaws.com/capacityType": "SPOT"},
                taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
            ),
            node("ip-10-0-3-3", capacity_label={"eks.amazonaws.com/capacityType": "ON_DEMAND"}),
        ]
    )
    result = collector(kubeconfig).collect()
    nodes = {n.name: n for n in result.value.nodes}
    assert result.value.name == "prod-east" and result.warnings == ()
    first = nodes["ip-10-0-1-1"]
    assert (first.instance_type, first.zone, first.region, first.capacity_type) == (
        "m5.xlarge",
        "us-east-1a",
        "us-east-1",
        "spot",
    )
    assert first.instance_id == "i-0aaa" and first.provider_id == "aws:///us-east-1a/i-0aaa"
    assert first.allocatable.cpu == pytest.approx(1.93) and first.allocatable.memory == 7134 * 2**20
    assert first.allocatable.pods == 29 and first.allocatable.ephemeral_storage == 18 * 2**30
    assert nodes["ip-10-0-2-2"].capacity_type == "spot" and nodes["ip-10-0-2-2"].zone == "us-east-1b"
    assert nodes["ip-10-0-2-2"].taints[0].key == "dedicated" and nodes["ip-10-0-2-2"].taints[0].value == "gpu"
    assert nodes["ip-10-0-3-3"].capacity_type == "on-demand"


def test_pod_scheduling_constraints_volumes_and_container_resources_are_converted(
    k8s: LocalKubernetes, kubeconfig: Path
) -> None:
    selector = {"matchLabels": {"app": "db"}}
    spec = {
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}],
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "node.kubernetes.io/instance-type",
                                    "operator": "In",
                                    "values": ["m5.large", "m5.xlarge"],
                                }
                            ]
                        }
                    ]
                }
            },
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"},
                    {"labelSelector": selector, "topologyKey": "topology.kubernetes.io/zone"},
                ]
            },
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            }
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}},
            {"name": "tmp", "emptyDir": {"medium": "Memory"}},
        ],
        "priorityClassName": "high",
        "initContainers": [container("init", cpu="50m", memory=None)],
    }
    status = {
        "phase": "Running",
        "containerStatuses": [
            {
                "name": "db",
                "restartCount": 3,
                "state": {"running": {}},
                "lastState": {
                    "terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": "2026-01-02T03:04:05Z"}
                },
            }
        ],
    }
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-db-0", "namespace": "data"},
        "spec": {"volumeName": "pv-1"},
    }
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "pv-1"},
        "spec": {
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": ["us-east-1c"]}
                            ]
                        }
                    ]
                }
            }
        },
    }
    k8s.put_many(
        [
            node("node-a"),
            pvc,
            pv,
            pod(
                "db-0",
                "data",
                spec=spec,
                status=status,
                containers=[container("db", cpu="1500m", memory="2Gi", cpu_limit="2", memory_limit="3Gi")],
            ),
            pod("scratch", "data", spec={"volumes": [{"name": "s", "emptyDir": {}}]}),
            pod("logs", "data", spec={"volumes": [{"name": "h", "hostPath": {"path": "/var/log"}}]}),
            pod("kube-proxy-node-a", "kube-system", annotations={"kubernetes.io/config.mirror": "abc"}),
        ]
    )
    pods = {p.name: p for p in collector(kubeconfig).collect().value.pods}
    db = pods["db-0"]
    assert db.tolerations[0].key == "dedicated" and db.tolerations[0].value == "db"
    assert db.node_selector == {"kubernetes.io/arch": "amd64"}
    assert db.required_node_affinity[0][0].values == ("m5.large", "m5.xlarge")
    assert len(db.anti_affinity_hostname) == 1 and db.anti_affinity_hostname[0].match_labels == {"app": "db"}
    assert db.topology_spread[0].when_unsatisfiable == "ScheduleAnyway"
    assert db.pvc_names == ("data-db-0",) and db.pvc_zone == "us-east-1c"
    assert db.has_local_storage is False and db.priority_class_name == "high"
    main = db.containers[0]
    assert (main.cpu_request, main.memory_request, main.cpu_limit, main.memory_limit) == (
        1.5,
        2 * 2**30,
        2.0,
        3 * 2**30,
    )
    assert (main.restart_count, main.last_termination_reason, main.last_termination_exit_code) == (3, "OOMKilled", 137)
    assert main.last_termination_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert db.init_containers[0].cpu_request == 0.05 and db.init_containers[0].memory_request is None
    assert pods["scratch"].has_local_storage and pods["logs"].has_local_storage
    assert pods["kube-proxy-node-a"].is_mirror and not db.is_mirror


def test_owner_chain_resolves_pods_to_their_deployment_through_the_replicaset(
    k8s: LocalKubernetes, kubeconfig: Path
) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout"},
            "minReplicas": 2,
            "maxReplicas": 10,
        },
    }
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "checkout"}}},
    }
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"team": "web"}, "annotations": {"cloudoptim.io/opt-out": "true"}},
    }
    k8s.put_many([namespace, node("node-a"), node("node-b"), deployment("checkout", "shop", replicas=2), hpa, pdb])
    k8s.wait_reconciled(passes=2)
    state = collector(kubeconfig).collect().value
    pods = [p for p in state.pods if p.namespace == "shop"]
    assert len(pods) == 2
    for p in pods:
        assert (p.owner_kind, p.owner_name) == ("Deployment", "checkout")
        assert p.controller_kind == "ReplicaSet" and p.controller_name and p.controller_name.startswith("checkout-")
    workload = next(w for w in state.workloads if w.name == "checkout")
    assert workload.kind == "Deployment" and workload.replicas == 2
    assert workload.selector.match_labels == {"app": "checkout"} and workload.annotations == {"team": "payments"}
    assert workload.containers[0].memory_limit == 512 * 2**20
    assert [(h.target_kind, h.target_name, h.min_replicas, h.max_replicas) for h in state.hpas] == [
        ("Deployment", "checkout", 2, 10)
    ]
    assert state.pdbs[0].min_available == "1" and state.pdbs[0].selector.match_labels == {"app": "checkout"}
    shop = next(n for n in state.namespaces if n.name == "shop")
    assert shop.annotations == {"cloudoptim.io/opt-out": "true"} and shop.labels["team"] == "web"


def test_only_oom_related_events_are_kept(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def event(name: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "checkout-1", "namespace": "shop"},
            "reason": reason,
            "message": message,
            "count": 2,
            "lastTimestamp": now,
            "type": "Warning",
        }

    k8s.put_many(
        [
            event("e1", "OOMKilling", "Memory cgroup out of memory: Killed process 4242 (java)"),
            event("e2", "BackOff", "Back-off restarting failed container app (last state OOMKilled)"),
            event("e3", "BackOff", "Back-off pulling image"),
            event("e4", "Evicted", "The node was low on resource: memory. Container app was using 1Gi"),
            event("e5", "Evicted", "The node was low on resource: ephemeral-storage."),
            event("e6", "Scheduled", "Successfully assigned shop/checkout-1 to node-a"),
        ]
    )
    events = collector(kubeconfig).collect().value.events
    assert sorted((e.reason, e.message[:12]) for e in events) == [
        ("BackOff", "Back-off res"),
        ("Evicted", "The node was"),
        ("OOMKilling", "Memory cgrou"),
    ]
    assert all(e.involved_name == "checkout-1" and e.count == 2 and e.last_seen for e in events)


def test_lists_are_paginated_so_1200_pods_and_510_nodes_come_back_complete_and_unique(
    k8s: LocalKubernetes, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = [node(f"node-{i:04d}") for i in range(510)]
    pods = [pod(f"web-{i:05d}", f"ns-{i % 7}", node_name=f"node-{i % 510:04d}") for i in range(1200)]
    k8s.put_many(nodes + pods)
    pages: dict[str, int] = {}
    original = KubernetesCollector._page

    def counting_page(self: KubernetesCollector, what: str, call: Any, token: str | None) -> Any:
        pages[what] = pages.get(what, 0) + 1
        return original(self, what, call, token)

    monkeypatch.setattr(KubernetesCollector, "_page", counting_page)
    state = collector(kubeconfig, page_size=500).collect().value
    assert len(state.pods) == 1200 and len({(p.namespace, p.name) for p in state.pods}) == 1200
    assert len(state.nodes) == 510 and len({n.name for n in state.nodes}) == 510
    assert pages["pods"] == 3 and pages["nodes"] == 2


def test_a_real_oomkilled_pod_object_is_read_with_its_termination_facts(k8s: LocalKubernetes, kubeconfig: Path) -> None:
    raw = (FIXTURES / "oomkilled-unhealthy.yaml").read_text()
    # The fixture's authors templated some times ("@now-2h"); the API would hold real ones.
    finished = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    text = raw.replace('"@now-2h"', finished.strftime("%Y-%m-%dT%H:%M:%SZ")).replace(
        '"@now-5m"', datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    obj = load_fixture(text)
    k8s.put_many([node(obj["spec"]["nodeName"]), obj])
    state = collector(kubeconfig).collect().value
    oom = next(p for p in state.pods if p.name == "oomkilled-pod")
    c = oom.containers[0]
    assert (c.memory_request, c.memory_limit, c.cpu_request) == (100 * 2**20, 200 * 2**20, None)
    assert (c.restart_count, c.last_termination_reason, c.last_termination_exit_code) == (9, "OOMKilled", 1)
    assert c.last_termination_at == finished and oom.namespace == "mission-control"
