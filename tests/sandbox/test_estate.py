"""The seeded sandbox estate, checked over real HTTP with boto3 and the official Kubernetes client."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import boto3
import kubernetes.client
import kubernetes.config
import pytest

from sandbox.estate import CLUSTER_NAMES, CREATED_TAG, build_cluster_states, cluster_tag, node_plans
from sandbox.sandbox import Sandbox
from sandbox.usage import POINTS
from tests.waiting import wait_until

T = TypeVar("T")



@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), seed=7) as sb:
        yield sb


@pytest.fixture(scope="module")
def aws(sandbox: Sandbox) -> Callable[[str], Any]:
    """boto3 clients built from the sandbox's env, endpoint passed explicitly (os.environ untouched)."""
    env = sandbox.aws_env
    session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])
    return lambda service: session.client(service, endpoint_url=env["AWS_ENDPOINT_URL"])  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def core(sandbox: Sandbox) -> Callable[[str], Any]:
    """A CoreV1Api per cluster, loaded from the kubeconfig the sandbox wrote."""
    def make(cluster: str) -> Any:
        api = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(sandbox.kubeconfig_path), context=sandbox.clusters[cluster].context)
        return kubernetes.client.CoreV1Api(api)
    return make


def tags_of(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def test_both_clusters_have_nodes_whose_provider_id_is_an_ec2_instance_of_the_same_type_and_zone(
        sandbox: Sandbox, aws: Callable[[str], Any], core: Callable[[str], Any]) -> None:
    ec2 = aws("ec2")
    for cluster in CLUSTER_NAMES:
        nodes = core(cluster).list_node().items
        assert len(nodes) == len(node_plans(7)[cluster])
        for node in nodes:
            zone, instance_id = node.spec.provider_id.removeprefix("aws:///").split("/")
            found = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
            labels = node.metadata.labels
            assert found["InstanceType"] == labels["node.kubernetes.io/instance-type"]
            assert found["Placement"]["AvailabilityZone"] == zone == labels["topology.kubernetes.io/zone"]
            assert found["PrivateDnsName"] == node.metadata.name
            assert tags_of(found)[cluster_tag(cluster)] == "owned"
            spot = found.get("InstanceLifecycle") == "spot"
            assert labels["karpenter.sh/capacity-type"] == ("spot" if spot else "on-demand")
            assert labels["eks.amazonaws.com/capacityType"] == ("SPOT" if spot else "ON_DEMAND")
            assert int(node.status.allocatable["pods"]) > 0
    tainted = [n for n in core("prod-east").list_node().items if n.spec.taints]
    assert [t.key for n in tainted for t in n.spec.taints] == ["dedicated"]


def test_every_deployment_pod_becomes_running_within_the_deadline(sandbox: Sandbox) -> None:
    for cluster, kube in sandbox.kube.items():
        apps = kubernetes.client.AppsV1Api(kube.api_client())

        def all_ready(apps: Any = apps) -> list[str] | bool:
            deployments = apps.list_deployment_for_all_namespaces().items
            laggards = [d.metadata.name for d in deployments
                        if (d.status.ready_replicas or 0) < (d.spec.replicas or 0)]
            return not laggards and bool(deployments)
        wait_until(all_ready)
        pods: Any = kubernetes.client.CoreV1Api(kube.api_client()).list_pod_for_all_namespaces().items
        assert pods and {p.status.phase for p in pods} == {"Running"}, cluster
        assert all(p.spec.node_name for p in pods)


def test_a_settled_sandbox_cluster_writes_nothing_across_reconcile_passes(sandbox: Sandbox) -> None:
    def versions() -> dict[str, Any]:
        apis: dict[str, Any] = {name: kubernetes.client.CoreV1Api(kube.api_client()) for name, kube in sandbox.kube.items()}
        return {name: api.list_namespace().metadata.resource_version for name, api in apis.items()}

    for kube in sandbox.kube.values():
        kube.wait_reconciled(passes=3)
    settled = versions()
    for kube in sandbox.kube.values():
        kube.wait_reconciled(passes=3)
    assert versions() == settled  # no status churn: watches stay silent, resourceVersions stay valid


def test_oomkilled_pods_have_restarts_and_matching_events(core: Callable[[str], Any]) -> None:
    seen = []
    for cluster in CLUSTER_NAMES:
        api = core(cluster)
        events = {(e.involved_object.name, e.reason) for e in api.list_event_for_all_namespaces().items}
        for pod in api.list_pod_for_all_namespaces().items:
            for status in pod.status.container_statuses or []:
                terminated = status.last_state.terminated if status.last_state else None
                if terminated and terminated.reason == "OOMKilled":
                    assert terminated.exit_code == 137 and status.restart_count > 0
                    assert terminated.finished_at > terminated.started_at
                    assert {(pod.metadata.name, "OOMKilling"), (pod.metadata.name, "BackOff")} <= events
                    seen.append(pod.metadata.namespace)
    assert sorted(seen) == ["bookinfo", "boutique", "teastore"]


def test_unattached_volumes_of_several_types_and_ages_sit_beside_attached_ones(aws: Callable[[str], Any]) -> None:
    volumes = aws("ec2").describe_volumes()["Volumes"]
    unattached = [v for v in volumes if v["State"] == "available"]
    assert {v["VolumeType"] for v in unattached} >= {"gp2", "gp3", "io1", "st1", "sc1"}
    assert len({tags_of(v)[CREATED_TAG] for v in unattached}) == len(unattached)  # all different ages
    attached = [v for v in volumes if v["State"] == "in-use"]
    pvc_volumes = [v for v in attached if "kubernetes.io/created-for/pvc/name" in tags_of(v)]
    assert len(pvc_volumes) == 6 and all(v["Attachments"] for v in pvc_volumes)
    assert any("kubernetes.io/created-for/pvc/name" in tags_of(v) for v in unattached)  # an orphaned PVC volume


def test_cloudwatch_returns_fourteen_days_of_hourly_cpu_for_idle_instances(
        sandbox: Sandbox, aws: Callable[[str], Any]) -> None:
    cloudwatch = aws("cloudwatch")

    def hourly_cpu(name: str) -> list[float]:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/EC2", MetricName="CPUUtilization", Period=3600, Statistics=["Average"],
            Dimensions=[{"Name": "InstanceId", "Value": sandbox.standalone_instances[name]}],
            StartTime=sandbox.now - timedelta(days=15), EndTime=sandbox.now)["Datapoints"]
        return [p["Average"] for p in points]

    for idle in ("bastion", "legacy-reporting", "ci-runner-old"):
        cpu = hourly_cpu(idle)
        assert len(cpu) == 14 * 24 and max(cpu) <= 2.0
    busy = hourly_cpu("etl-worker")
    assert 50 < sum(busy) / len(busy) < 70
    stopped = aws("ec2").describe_instances(InstanceIds=[sandbox.standalone_instances["jenkins-2019"]])
    assert stopped["Reservations"][0]["Instances"][0]["State"]["Name"] == "stopped"


def test_an_injected_spot_interruption_lands_in_the_queue_with_the_node_instance_id(
        sandbox: Sandbox, aws: Callable[[str], Any]) -> None:
    sent = sandbox.inject_spot_interruption()
    assert sent["instance_id"] in sandbox.node_instances["prod-east"].values()
    sqs = aws("sqs")
    messages = wait_until(lambda: sqs.receive_message(QueueUrl=sandbox.spot_queue_url, WaitTimeSeconds=1)
                          .get("Messages"), timeout=10)
    body = json.loads(messages[0]["Body"])
    assert body["detail-type"] == "EC2 Spot Instance Interruption Warning"
    assert body["source"] == "aws.ec2"
    assert body["detail"]["instance-id"] == sent["instance_id"]
    assert body["resources"] == [f"arn:aws:ec2:us-east-1:123456789012:instance/{sent['instance_id']}"]
    rules = aws("events").list_rules()["Rules"]
    patterns = [json.loads(r["EventPattern"])["detail-type"] for r in rules]
    assert ["EC2 Instance Rebalance Recommendation"] in patterns


def test_a_newly_launched_instance_tagged_for_prod_east_joins_as_a_ready_node(
        aws: Callable[[str], Any], core: Callable[[str], Any]) -> None:
    ec2 = aws("ec2")
    launched = ec2.run_instances(
        ImageId="ami-12345678", InstanceType="m5.large", MinCount=1, MaxCount=1,
        Placement={"AvailabilityZone": "us-east-1b"},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [
            {"Key": cluster_tag("prod-east"), "Value": "owned"}, {"Key": "eks:cluster-name", "Value": "prod-east"},
            {"Key": "eks:nodegroup-name", "Value": "general"}]}])["Instances"][0]
    api = core("prod-east")

    def joined() -> Any:
        nodes = [n for n in api.list_node().items if n.spec.provider_id.endswith("/" + launched["InstanceId"])]
        ready = [n for n in nodes if [c.status for c in n.status.conditions if c.type == "Ready"] == ["True"]]
        return ready[0] if ready else None
    node = wait_until(joined, timeout=20)  # NotReady for the sandbox's join delay first
    assert node.metadata.name == launched["PrivateDnsName"]
    assert node.metadata.labels["node.kubernetes.io/instance-type"] == "m5.large"
    assert node.metadata.labels["topology.kubernetes.io/zone"] == "us-east-1b"
    assert [c.status for c in node.status.conditions if c.type == "Ready"] == ["True"]
    assert not [n for n in core("staging-east").list_node().items if launched["InstanceId"] in n.spec.provider_id]


def test_usage_csv_has_fourteen_days_of_five_minute_rows_for_every_container(
        sandbox: Sandbox, core: Callable[[str], Any]) -> None:
    assert POINTS == 14 * 288
    for cluster in CLUSTER_NAMES:
        with sandbox.usage_path(cluster).open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        counts = Counter((r["namespace"], r["pod"], r["container"]) for r in rows)
        seeded_nodes = sandbox.node_instances[cluster]  # not DaemonSet pods of a node joined later
        containers = {(p.metadata.namespace, p.metadata.name, c.name)
                      for p in core(cluster).list_pod_for_all_namespaces().items if p.spec.node_name in seeded_nodes
                      for c in p.spec.containers}
        assert set(counts) == containers
        assert set(counts.values()) == {POINTS}
        assert rows[-1]["timestamp"] == sandbox.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert all(float(r["cpu_cores"]) > 0 and int(r["memory_bytes"]) > 0 for r in rows[:POINTS])
        with sandbox.traffic_path(cluster).open(newline="") as fh:
            edges = list(csv.DictReader(fh))
        assert edges and all(int(e["bytes_per_day"]) > 0 for e in edges)
    boutique = {(e["source"], e["destination"]) for e in csv.DictReader(sandbox.traffic_path("prod-east").open())}
    assert ("frontend", "productcatalogservice") in boutique


def shape(states: list[Any]) -> list[Any]:
    return [(s.name, sorted((n.name, n.instance_type, n.zone, n.capacity_type) for n in s.nodes),
             sorted((p.namespace, p.name, p.node_name) for p in s.pods), sorted((w.kind, w.name) for w in s.workloads))
            for s in states]


def test_the_same_seed_builds_the_same_estate_shape_offline_and_live(
        sandbox: Sandbox, core: Callable[[str], Any]) -> None:
    first, again = build_cluster_states(seed=7), build_cluster_states(seed=7)
    assert shape(first) == shape(again)
    assert shape(build_cluster_states(seed=8))[0][1] != shape(first)[0][1]  # another seed, other node names
    for state in first:
        live_nodes = {n.metadata.name for n in core(state.name).list_node().items}
        assert {n.name for n in state.nodes} <= live_nodes  # the live one may have gained a node
        live_pods = {(p.metadata.namespace, p.metadata.name)
                     for p in core(state.name).list_pod_for_all_namespaces().items}
        # Live may have more: DaemonSet pods on a node that joined in an earlier test.
        assert {(p.namespace, p.name) for p in state.pods} <= live_pods


def test_usage_files_are_deterministic_for_a_seed(tmp_path: Path) -> None:
    from sandbox.estate import CLUSTERS, default_now, offline_instance_id
    from sandbox.estate_pods import cluster_objects
    from sandbox.usage import write_cluster_files

    cluster, nodes, now = CLUSTERS[1], node_plans(7)[CLUSTERS[1].name], default_now()
    ids = {n.name: offline_instance_id(7, n.name) for n in nodes}
    pods = [o for o in cluster_objects(cluster, nodes, ids, seed=7, now=now) if o["kind"] == "Pod"]
    a = write_cluster_files(tmp_path / "a", cluster.name, pods, ["teastore"], seed=7, now=now)
    b = write_cluster_files(tmp_path / "b", cluster.name, pods, ["teastore"], seed=7, now=now)
    assert a[0].read_bytes() == b[0].read_bytes() and a[1].read_bytes() == b[1].read_bytes()
