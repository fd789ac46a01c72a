"""Seeds local AWS (moto) with the estate's AWS side, and turns EC2 instances into Kubernetes nodes.

Called by `sandbox.sandbox.Sandbox` with boto3 clients bound to its `LocalAws`: a VPC with one
subnet per zone, the node instances of every cluster (tagged as EKS tags them), instances outside
every cluster with 14 days of hourly CloudWatch metrics (one with gaps), the owners that make an
idle instance no ghost (a target group, an Auto Scaling group: `seed_owners`), EBS volumes
(unattached ones of several types and ages, root volumes, the hotel MongoDB volumes), and the Spot
interruption queue with its EventBridge rules. `node_source` is what each local Kubernetes API
polls, so an instance launched later (the executor's replacement) joins its cluster as a node, a
stopped one's node goes NotReady and a terminated one's node leaves (its pods are rescheduled).
moto stamps every LaunchTime/CreateTime with "now"; the intended date is in the
`cloudoptim.io/sandbox-created` tag (ISO date) on every volume and standalone instance.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sandbox.estate import (
    CLUSTER_NAME_TAG,
    CREATED_TAG,
    NODEGROUP_TAG,
    REGION,
    ROOT_VOLUME_GIB,
    SANDBOX_TAG,
    VPC_CIDR,
    ZONES,
    ClusterPlan,
    NodePlan,
    cluster_tag,
    seeded_ip,
    subnet_cidr,
)
from sandbox.estate_k8s import PVC_GIB, PVC_ZONES, node_manifest

log = logging.getLogger(__name__)

Client = Any  # boto3 clients are generated at runtime; the stubs' types are not needed here
AMI = "ami-0eks1a2b3c4d5e6f7"  # moto runs any well-formed image id when default AMIs are off
QUEUE_NAME = "cloudoptim-spot-interruptions"
_DOWN_STATES = ("stopping", "stopped", "shutting-down")
RULES = {"cloudoptim-spot-interruption": "EC2 Spot Instance Interruption Warning",
         "cloudoptim-rebalance-recommendation": "EC2 Instance Rebalance Recommendation"}
# name, type, zone, behaviour (idle | busy | stopped), days since launch, extra tags
STANDALONE: tuple[tuple[str, str, str, str, int, dict[str, str]], ...] = (
    ("bastion", "t3.micro", "us-east-1a", "idle", 410, {"team": "platform"}),
    ("legacy-reporting", "m5.large", "us-east-1b", "idle", 260, {"team": "analytics"}),
    ("ci-runner-old", "c5.xlarge", "us-east-1c", "idle", 150, {}),
    ("etl-worker", "m5.xlarge", "us-east-1a", "busy", 95, {"team": "data"}),
    ("jenkins-2019", "t3.medium", "us-east-1b", "stopped", 1900, {"team": "platform"}),
    ("legacy-web", "m5.large", "us-east-1c", "idle", 330, {"environment": "staging"}),  # behind a target group
    ("qa-box", "t3.large", "us-east-1a", "idle", 75, {"env": "test"}),  # its CloudWatch data has gaps
)
# Name -> ELBv2 target group it is registered in: idle, yet a load balancer may still route to it.
TARGET_GROUPS = {"legacy-web": "legacy-web-tg"}
# Name -> (whole days ago without data, hours ago without data): a stop for maintenance and an agent gap.
METRIC_GAPS = {"qa-box": (frozenset({4, 5, 6}), frozenset(range(30, 37)))}
ASG_NAME, ASG_TYPE, ASG_ZONE = "queue-workers", "c5.large", "us-east-1c"  # an idle instance its group owns
# type, GiB, age in days, zone, tags (+ provisioned IOPS for io1). None is attached.
UNATTACHED: tuple[tuple[str, int, int, str, dict[str, str]], ...] = (
    ("gp2", 100, 200, "us-east-1a", {"Name": "old-jenkins-data", "team": "platform"}),
    ("gp3", 50, 30, "us-east-1b", {"Name": "scratch-analytics", "team": "analytics"}),
    ("io1", 200, 90, "us-east-1c", {"Name": "db-migration-2024", "team": "data"}),
    ("st1", 500, 400, "us-east-1a", {"Name": "log-archive"}),
    ("sc1", 1000, 60, "us-east-1b", {"Name": "cold-backups", "team": "platform"}),
    ("gp3", 20, 2, "us-east-1c", {"Name": "just-created"}),  # too young to call waste
    ("gp2", 100, 120, "us-east-1a", {"kubernetes.io/created-for/pvc/name": "data-elasticsearch-0",
                                     "kubernetes.io/created-for/pvc/namespace": "logging",
                                     "kubernetes.io/created-for/pv/name": "pvc-4f2a9c1e-elasticsearch",
                                     cluster_tag("prod-east"): "owned"}),  # left behind by a deleted PVC
)


def _tags(kind: str, tags: Mapping[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": [{"Key": k, "Value": v} for k, v in {SANDBOX_TAG: "true", **tags}.items()]}]


def _date(now: datetime, days: int) -> str:
    return (now - timedelta(days=days)).date().isoformat()


def seed_network(ec2: Client) -> dict[str, str]:
    """A VPC with one /24 subnet per zone; returns zone -> subnet id."""
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_tags("vpc", {"Name": "cloudoptim-sandbox"}))
    vpc_id = vpc["Vpc"]["VpcId"]
    subnets = {}
    for zone in ZONES:
        subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock=subnet_cidr(zone), AvailabilityZone=zone,
                                   TagSpecifications=_tags("subnet", {"Name": f"sandbox-{zone}"}))
        subnets[zone] = str(subnet["Subnet"]["SubnetId"])
    return subnets


def _launch(ec2: Client, subnet: str, ip: str, instance_type: str, tags: Mapping[str, str], *, spot: bool = False,
            root: tuple[str, int] = ("gp3", ROOT_VOLUME_GIB)) -> str:
    args: dict[str, Any] = {}
    if spot:
        args["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {"SpotInstanceType": "one-time"}}
    resp = ec2.run_instances(
        ImageId=AMI, InstanceType=instance_type, MinCount=1, MaxCount=1, SubnetId=subnet, PrivateIpAddress=ip,
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": root[1], "VolumeType": root[0]}}],
        TagSpecifications=_tags("instance", tags) + _tags("volume", tags), **args)  # the root volume shares them
    return str(resp["Instances"][0]["InstanceId"])


def launch_nodes(ec2: Client, subnets: Mapping[str, str], nodes: list[NodePlan], now: datetime) -> dict[str, str]:
    """Launch every planned node; returns node name -> instance id."""
    ids = {}
    for n in nodes:
        tags = {"Name": n.name, cluster_tag(n.cluster): "owned", CLUSTER_NAME_TAG: n.cluster, NODEGROUP_TAG: n.group,
                "eks:nodegroup-capacity-type": "SPOT" if n.capacity_type == "spot" else "ON_DEMAND",
                CREATED_TAG: _date(now, n.age_days)}
        ids[n.name] = _launch(ec2, subnets[n.zone], n.private_ip, n.instance_type, tags, spot=n.capacity_type == "spot")
    return ids


def create_pvc_volumes(ec2: Client, cluster: str, now: datetime) -> dict[str, str]:
    """The hotel MongoDB volumes, as the EBS CSI driver creates them; returns PVC -> volume id."""
    out = {}
    for pvc, zone in PVC_ZONES.items():
        tags = {"Name": f"{cluster}-dynamic-{pvc}", cluster_tag(cluster): "owned", CREATED_TAG: _date(now, 60),
                "kubernetes.io/created-for/pvc/name": pvc, "kubernetes.io/created-for/pvc/namespace": "hotel",
                "kubernetes.io/created-for/pv/name": pvc.replace("-pvc", "-pv"), "ebs.csi.aws.com/cluster": "true"}
        vol = ec2.create_volume(AvailabilityZone=zone, Size=PVC_GIB, VolumeType="gp3",
                                TagSpecifications=_tags("volume", tags))
        out[pvc] = str(vol["VolumeId"])
    return out


def attach_pvc_volumes(ec2: Client, volume_ids: Mapping[str, str], pods: list[dict[str, Any]],
                       instance_ids: Mapping[str, str]) -> None:
    """Attach each PVC's volume to the instance of the node its pod was placed on."""
    devices: dict[str, int] = {}
    for pod in pods:
        node = pod["spec"].get("nodeName")
        for vol in pod["spec"].get("volumes") or []:
            claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
            if isinstance(node, str) and isinstance(claim, str) and claim in volume_ids and node in instance_ids:
                n = devices[node] = devices.get(node, 0) + 1
                ec2.attach_volume(VolumeId=volume_ids[claim], InstanceId=instance_ids[node],
                                  Device=f"/dev/xvdb{chr(96 + n)}")


def seed_standalone(ec2: Client, subnets: Mapping[str, str], seed: int, now: datetime) -> dict[str, str]:
    """Instances outside every cluster plus the unattached volumes; returns Name -> instance id."""
    rng, used = random.Random(f"cloudoptim-sandbox-vms-{seed}"), set[str]()
    ids = {}
    for name, itype, zone, behaviour, age, extra in STANDALONE:
        tags = {"Name": name, CREATED_TAG: _date(now, age), **extra}
        ids[name] = _launch(ec2, subnets[zone], seeded_ip(rng, zone, used, 200, 250), itype, tags, root=("gp2", 30))
        if behaviour == "stopped":
            ec2.stop_instances(InstanceIds=[ids[name]])
    data = ec2.create_volume(AvailabilityZone="us-east-1a", Size=500, VolumeType="gp3",
                             TagSpecifications=_tags("volume", {"Name": "etl-scratch", "team": "data",
                                                                CREATED_TAG: _date(now, 95)}))
    ec2.attach_volume(VolumeId=data["VolumeId"], InstanceId=ids["etl-worker"], Device="/dev/xvdf")
    for vtype, size, age, zone, vtags in UNATTACHED:
        iops = {"Iops": 3000} if vtype == "io1" else {}
        ec2.create_volume(AvailabilityZone=zone, Size=size, VolumeType=vtype,
                          TagSpecifications=_tags("volume", {**vtags, CREATED_TAG: _date(now, age)}), **iops)
    return ids


def put_metrics(cloudwatch: Client, instance_ids: Mapping[str, str], seed: int, now: datetime) -> int:
    """14 days of hourly CPUUtilization / NetworkIn / NetworkOut for the running standalone instances."""
    data: list[dict[str, Any]] = []
    for name, *_, behaviour, _age, _extra in STANDALONE:
        if behaviour == "stopped":
            continue
        rng = random.Random(f"cloudoptim-sandbox-cw-{seed}-{name}")
        dims = [{"Name": "InstanceId", "Value": instance_ids[name]}]
        gap_days, gap_hours = METRIC_GAPS.get(name, (frozenset(), frozenset()))
        for hour in range(14 * 24):
            when = now - timedelta(hours=14 * 24 - hour)
            if (now.date() - when.date()).days in gap_days or 14 * 24 - hour in gap_hours:
                continue
            daily = 1 + 0.35 * math.cos(2 * math.pi * (when.hour - 15) / 24)  # afternoon peak (UTC)
            if behaviour == "busy":
                cpu, net_in, net_out = min(98.0, 60 * daily * rng.uniform(0.85, 1.15)), 2.2e9 * daily, 1.4e9 * daily
            else:
                # Agent chatter only: about 2.4 MB a day in and out, under Trusted Advisor's 5 MB.
                cpu, net_in, net_out = rng.uniform(0.5, 2.0), rng.uniform(1e4, 1e5), rng.uniform(1e4, 8e4)
            for metric, value, unit in (("CPUUtilization", cpu, "Percent"), ("NetworkIn", net_in, "Bytes"),
                                        ("NetworkOut", net_out, "Bytes")):
                data.append({"MetricName": metric, "Dimensions": dims, "Timestamp": when, "Value": value, "Unit": unit})
    for i in range(0, len(data), 1000):  # the API's per-call limit
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[i: i + 1000])
    return len(data)


def seed_owners(ec2: Client, elbv2: Client, autoscaling: Client, subnets: Mapping[str, str],
                instance_ids: Mapping[str, str], now: datetime) -> str:
    """What makes an idle instance not a ghost: TARGET_GROUPS registrations, and an Auto Scaling group
    (moto tags its instance aws:autoscaling:groupName, as AWS does). Returns the group's instance id."""
    vpc = ec2.describe_subnets(SubnetIds=[subnets[ASG_ZONE]])["Subnets"][0]["VpcId"]
    for name, group in TARGET_GROUPS.items():
        arn = elbv2.create_target_group(Name=group, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance",
                                        HealthCheckPath="/healthz")["TargetGroups"][0]["TargetGroupArn"]
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": instance_ids[name]}])
    template = ec2.create_launch_template(LaunchTemplateName=ASG_NAME, LaunchTemplateData={
        "ImageId": AMI, "InstanceType": ASG_TYPE})["LaunchTemplate"]["LaunchTemplateId"]  # fmt: skip
    tags = {"Name": "queue-worker", SANDBOX_TAG: "true", CREATED_TAG: _date(now, 120), "team": "data"}
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=ASG_NAME, LaunchTemplate={"LaunchTemplateId": template, "Version": "$Latest"},
        MinSize=1, MaxSize=1, DesiredCapacity=1, VPCZoneIdentifier=subnets[ASG_ZONE],
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": ASG_NAME,
               "ResourceType": "auto-scaling-group"} for k, v in tags.items()])  # fmt: skip
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ASG_NAME])["AutoScalingGroups"][0]
    return str(group["Instances"][0]["InstanceId"])


def seed_spot_queue(sqs: Client, events: Client) -> str:
    """The SQS queue and the EventBridge rules (source aws.ec2) that feed it; returns the queue URL."""
    url = str(sqs.create_queue(QueueName=QUEUE_NAME, Attributes={"MessageRetentionPeriod": "300"})["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    statement = {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                 "Action": "sqs:SendMessage", "Resource": arn}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    for rule, detail_type in RULES.items():
        events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.ec2"], "detail-type": [detail_type]}),
                        State="ENABLED", Description=f"CloudOptim: {detail_type} -> SQS")
        events.put_targets(Rule=rule, Targets=[{"Id": "cloudoptim-queue", "Arn": arn}])
    return url


def spot_interruption_entry(instance_id: str, account: str, now: datetime) -> dict[str, Any]:
    """A PutEvents entry shaped like the EC2 User Guide's Spot interruption warning example."""
    return {"Source": "aws.ec2", "DetailType": "EC2 Spot Instance Interruption Warning", "Time": now,
            "Resources": [f"arn:aws:ec2:{REGION}:{account}:instance/{instance_id}"],
            "Detail": json.dumps({"instance-id": instance_id, "instance-action": "terminate"})}


def is_member(tags: Mapping[str, str], cluster: str) -> bool:
    """An instance is a node of `cluster` when tagged as EKS, Karpenter or the cloud provider tag it."""
    return tags.get(cluster_tag(cluster)) in ("owned", "shared") or tags.get(CLUSTER_NAME_TAG) == cluster


def node_source(ec2: Client, cluster: ClusterPlan) -> Callable[[], list[dict[str, Any]]]:
    """Node manifests for the cluster's instances that are up or on their way down.

    Running instances have a running kubelet; pending ones not yet (their Node waits); stopping,
    stopped and shutting-down ones keep their Node, NotReady (Ready "Unknown" in the manifest);
    terminated ones are left out, so their Node is removed. An instance type missing from the
    shipped specs is skipped with a warning (its Node could not be sized).
    """
    filters = [{"Name": "instance-state-name", "Values": ["pending", "running", *_DOWN_STATES]}]
    warned: set[str] = set()

    def source() -> list[dict[str, Any]]:
        nodes = []
        for page in ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for inst in (i for res in page["Reservations"] for i in res["Instances"]):
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags") or []}
                state = inst["State"]["Name"]
                if not is_member(tags, cluster.name) or state == "pending":
                    continue
                try:
                    node = node_manifest(
                        cluster, name=inst["PrivateDnsName"], instance_id=inst["InstanceId"],
                        instance_type=inst["InstanceType"], zone=inst["Placement"]["AvailabilityZone"],
                        spot=inst.get("InstanceLifecycle") == "spot", group=tags.get(NODEGROUP_TAG, ""),
                        private_ip=inst["PrivateIpAddress"], created=inst["LaunchTime"])
                except KeyError as exc:
                    if inst["InstanceId"] not in warned:
                        warned.add(inst["InstanceId"])
                        log.warning("instance %s of %s is not a node: unknown %s", inst["InstanceId"], cluster.name, exc)
                    continue
                if state in _DOWN_STATES:  # its kubelet stopped posting status
                    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
                nodes.append(node)
        return nodes

    return source
