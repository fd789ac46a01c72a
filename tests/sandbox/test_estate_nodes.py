"""EC2 instances in local AWS (moto) as nodes of a local cluster: launch, stop, start, terminate.

A small estate per test: two on-demand instances of one node group, polled by the sandbox's EC2
node source, as `Sandbox` wires it for the demo estate; boto3 acts the way an executor would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes.client
import kubernetes.watch
import pytest

from sandbox import estate_aws
from sandbox.aws import LocalAws
from sandbox.estate import CLUSTER_NAME_TAG, NODEGROUP_TAG, ClusterPlan, NodeGroup, NodePlan, cluster_tag
from sandbox.k8s_emulator import LocalKubernetes
from tests.waiting import wait_until

Api = Any  # the client's models declare every field Optional; the tests assert the shape
CLUSTER = "test-east"
PLAN = ClusterPlan(CLUSTER, apps=(), node_groups=(
    NodeGroup("general", "m5.large", "on-demand", ("us-east-1a", "us-east-1b")),))


@dataclass
class Estate:
    ec2: Any
    kube: LocalKubernetes
    core: Api
    apps: Api
    instances: dict[str, str]  # node name -> instance id
    subnets: dict[str, str]


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws() as local:
        yield local


@pytest.fixture
def estate(aws: LocalAws) -> Iterator[Estate]:
    aws.reset()  # moto's state is per process: start from an empty account
    ec2 = aws.client("ec2")
    subnets = estate_aws.seed_network(ec2)
    plans = [NodePlan(CLUSTER, "general", "m5.large", zone, "on-demand", ip, 30)
             for zone, ip in (("us-east-1a", "10.0.1.11"), ("us-east-1b", "10.0.2.12"))]
    instances = estate_aws.launch_nodes(ec2, subnets, plans, datetime.now(UTC))
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.5) as kube:
        kube.register_node_source(estate_aws.node_source(ec2, PLAN))
        core: Api = kubernetes.client.CoreV1Api(kube.api_client())
        wait_until(lambda: len(ready_nodes(core)) == 2)
        yield Estate(ec2, kube, core, kubernetes.client.AppsV1Api(kube.api_client()), instances, subnets)


def ready_nodes(core: Api) -> list[str]:
    return sorted(n.metadata.name for n in core.list_node().items
                  if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions))


def deployment(name: str, replicas: int, node_selector: dict[str, str] | None = None) -> dict[str, Any]:
    pod_spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i", "resources": {"requests": {"cpu": "200m"}}}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}}


def running_on(core: Api, app: str) -> dict[str, str]:
    pods = core.list_namespaced_pod("default", label_selector=f"app={app}").items
    return {p.metadata.name: p.spec.node_name for p in pods if p.status and p.status.phase == "Running"}


def test_terminating_the_instance_of_a_node_removes_the_node_and_its_pods_run_on_the_other_node(
        estate: Estate) -> None:
    estate.kube.put(deployment("web", 3))
    before = wait_until(lambda: placed if len(placed := running_on(estate.core, "web")) == 3 else {})
    busy = sorted(set(before.values()))[0]
    estate.ec2.terminate_instances(InstanceIds=[estate.instances[busy]])
    assert wait_until(lambda: busy not in [n.metadata.name for n in estate.core.list_node().items])

    def moved() -> dict[str, str]:
        now = running_on(estate.core, "web")
        return now if len(now) == 3 and busy not in now.values() else {}

    after = wait_until(moved)
    assert not {pod for pod, node_name in before.items() if node_name == busy} & set(after)


def test_a_launched_instance_registers_not_ready_then_turns_ready_with_the_labels_of_an_eks_node(
        estate: Estate) -> None:
    since = estate.core.list_node().metadata.resource_version
    tags = {cluster_tag(CLUSTER): "owned", CLUSTER_NAME_TAG: CLUSTER, NODEGROUP_TAG: "general"}
    launched = estate.ec2.run_instances(
        ImageId="ami-12345678", InstanceType="m6g.large", MinCount=1, MaxCount=1, SubnetId=estate.subnets["us-east-1b"],
        InstanceMarketOptions={"MarketType": "spot"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"][0]
    name = launched["PrivateDnsName"]
    watcher: Any = kubernetes.watch.Watch()  # type: ignore[no-untyped-call]
    states: list[str] = []
    for event in watcher.stream(estate.core.list_node, field_selector=f"metadata.name={name}", resource_version=since,
                                timeout_seconds=15):
        states.append(next(c.status for c in event["object"].status.conditions if c.type == "Ready"))
        if states[-1] == "True":
            watcher.stop()
    assert states == ["False", "True"]
    node = estate.core.read_node(name)
    labels = node.metadata.labels
    assert {key: labels[key] for key in ("node.kubernetes.io/instance-type", "topology.kubernetes.io/zone",
                                         "karpenter.sh/capacity-type", "eks.amazonaws.com/capacityType",
                                         "kubernetes.io/hostname", "kubernetes.io/arch")} == {
        "node.kubernetes.io/instance-type": "m6g.large", "topology.kubernetes.io/zone": "us-east-1b",
        "karpenter.sh/capacity-type": "spot", "eks.amazonaws.com/capacityType": "SPOT",
        "kubernetes.io/hostname": name, "kubernetes.io/arch": "arm64"}
    assert node.spec.provider_id == f"aws:///us-east-1b/{launched['InstanceId']}"
    assert node.status.node_info.architecture == "arm64" and int(node.status.allocatable["pods"]) > 0
    estate.kube.put(deployment("arm", 1, {"kubernetes.io/arch": "arm64"}))
    assert wait_until(lambda: list(running_on(estate.core, "arm").values())) == [name]


def test_stopping_an_instance_makes_its_node_not_ready_and_starting_it_makes_it_ready_again(
        estate: Estate) -> None:
    name = sorted(estate.instances)[0]
    estate.ec2.stop_instances(InstanceIds=[estate.instances[name]])
    assert wait_until(lambda: ready_nodes(estate.core) == [n for n in sorted(estate.instances) if n != name])
    condition = next(c for c in estate.core.read_node(name).status.conditions if c.type == "Ready")
    assert (condition.status, condition.reason) == ("Unknown", "NodeStatusUnknown")
    estate.kube.put(deployment("web", 2))
    placed = wait_until(lambda: p if len(p := running_on(estate.core, "web")) == 2 else {})
    assert set(placed.values()) == {n for n in estate.instances if n != name}  # never on the NotReady node
    estate.ec2.start_instances(InstanceIds=[estate.instances[name]])
    assert wait_until(lambda: ready_nodes(estate.core) == sorted(estate.instances))
