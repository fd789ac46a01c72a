"""Fresh Spot nodes with known pods in a running sandbox, and the events that interrupt them.

Used by the Spot tests (tests/spot) and `python -m bench spot-reaction`: each experiment needs a
node nobody else touched, so `launch_spot_node` starts a Spot instance tagged like the estate's
node groups (it joins its cluster through the node source, as a real node would) and
`put_pods` binds a ReplicaSet's pods to it, optionally behind a PodDisruptionBudget: evicted
pods are recreated by the ReplicaSet and scheduled elsewhere, as in a real cluster. The events
go through moto's EventBridge (`put_events`) and the sandbox's rules into the Spot queue, or,
for shapes no rule routes (state changes, foreign bodies), straight into the queue.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import kubernetes.client

from sandbox.estate import CLUSTER_NAME_TAG, NODEGROUP_TAG, SANDBOX_TAG, cluster_tag
from sandbox.estate_aws import AMI, spot_interruption_entry
from sandbox.sandbox import Sandbox

SPOT_GROUP = "spot-lab"


def _subnet(sb: Sandbox, zone: str) -> str:
    subnets = sb.aws.client("ec2").describe_subnets(Filters=[{"Name": "availability-zone", "Values": [zone]}])
    return str(subnets["Subnets"][0]["SubnetId"])


def launch_spot_node(
    sb: Sandbox, cluster: str, *, zone: str = "us-east-1a", instance_type: str = "m5.xlarge", timeout: float = 30.0
) -> tuple[str, str]:
    """Launch a Spot instance into `cluster` and wait until it is a Ready node; (instance id, node)."""
    return launch_spot_nodes(sb, cluster, 1, zone=zone, instance_type=instance_type, timeout=timeout)[0]


def launch_spot_nodes(
    sb: Sandbox,
    cluster: str,
    count: int,
    *,
    zone: str = "us-east-1a",
    instance_type: str = "m5.xlarge",
    timeout: float = 60.0,
) -> list[tuple[str, str]]:
    """`count` Spot instances in one RunInstances call, once all are Ready nodes; [(instance id, node)]."""
    tags = {
        SANDBOX_TAG: "true",
        cluster_tag(cluster): "owned",
        CLUSTER_NAME_TAG: cluster,
        NODEGROUP_TAG: SPOT_GROUP,
        "eks:nodegroup-capacity-type": "SPOT",
        "Name": f"{SPOT_GROUP}-{uuid.uuid4().hex[:6]}",
    }
    resp = sb.aws.client("ec2").run_instances(
        ImageId=AMI,
        InstanceType=instance_type,
        MinCount=count,
        MaxCount=count,
        SubnetId=_subnet(sb, zone),
        InstanceMarketOptions={"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}},
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )
    wanted = [str(i["InstanceId"]) for i in resp["Instances"]]
    core = kubernetes.client.CoreV1Api(sb.kube[cluster].api_client())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        joined = {}
        nodes: list[Any] = core.list_node().items  # the client's models: attributes may be None in general
        for node in nodes:
            ready = any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
            instance = str(node.spec.provider_id or "").rpartition("/")[2]
            if instance in wanted and ready:
                joined[instance] = str(node.metadata.name)
        if len(joined) == len(wanted):
            return [(i, joined[i]) for i in wanted]
        time.sleep(0.1)  # the node source runs every reconcile pass
    raise TimeoutError(f"{count} instance(s) did not join {cluster} as Ready nodes within {timeout:.0f} s")


def put_pods(
    sb: Sandbox,
    cluster: str,
    node: str,
    name: str,
    count: int,
    *,
    namespace: str = "spot-lab",
    pdb: dict[str, Any] | None = None,
    grace: int = 5,
    cpu: str = "50m",
    memory: str = "64Mi",
) -> list[str]:
    """A ReplicaSet of `count` running pods bound to `node` (and a PodDisruptionBudget `pdb` spec
    over them); returns the pods' "namespace/name". One batch: no reconcile pass sees half of it."""
    uid = str(uuid.uuid4())
    labels = {"app": name}
    template: dict[str, Any] = {
        "metadata": {"labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "containers": [
                {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": cpu, "memory": memory}}}
            ],
        },
    }
    objs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels},
            "spec": {"replicas": count, "selector": {"matchLabels": labels}, "template": template},
        }
    ]
    owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid, "controller": True}
    pods = []
    for i in range(count):
        pod_name = f"{name}-{i:03d}"
        pods.append(f"{namespace}/{pod_name}")
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod_name, "namespace": namespace, "labels": labels, "ownerReferences": [owner]},
                "spec": {**template["spec"], "nodeName": node},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
            }
        )
    if pdb is not None:
        objs.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"selector": {"matchLabels": labels}, **pdb},
            }
        )
    sb.kube[cluster].put_many(objs)
    return pods


def put_event(
    sb: Sandbox,
    instance_id: str,
    *,
    detail_type: str = "EC2 Spot Instance Interruption Warning",
    when: datetime | None = None,
) -> str:
    """Send a warning or a rebalance recommendation through EventBridge; returns the event id."""
    account = str(sb.aws.client("sts").get_caller_identity()["Account"])
    entry = spot_interruption_entry(instance_id, account, when or datetime.now(UTC))
    if detail_type != entry["DetailType"]:
        entry = {**entry, "DetailType": detail_type, "Detail": json.dumps({"instance-id": instance_id})}
    resp = sb.aws.client("events").put_events(Entries=[entry])
    if resp.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge rejected the event: {resp['Entries']}")
    return str(resp["Entries"][0]["EventId"])


def send_raw(sb: Sandbox, body: str) -> str:
    """Put a body straight into the Spot queue (what no EventBridge rule would route); message id."""
    return str(sb.aws.client("sqs").send_message(QueueUrl=sb.spot_queue_url, MessageBody=body)["MessageId"])


def state_change_body(instance_id: str, state: str, *, event_id: str | None = None) -> str:
    """An EC2 Instance State-change Notification, shaped like the EC2 User Guide's example."""
    return json.dumps(
        {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "account": "123456789012",
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"],
            "detail": {"instance-id": instance_id, "state": state},
        }
    )
