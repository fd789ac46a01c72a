"""The sandbox estate plan: region, clusters, node groups and the seeded node mix.

Both ways of building the estate read this plan, so they describe the same estate for one seed:
the live sandbox (`sandbox.sandbox.Sandbox` seeds moto via `sandbox.estate_aws` and the local
Kubernetes APIs with the objects of `sandbox.estate_pods` / `sandbox.estate_k8s`) and the offline
`build_cluster_states`, which benchmarks call to get the Kubernetes part as Snapshot objects
without starting any server.
The mix is wasteful on purpose (idle on-demand nodes, an empty tainted node group, oversized
requests) so every engine has something to find.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

from app.services.collect import SANDBOX_CREATED_TAG
from engines.snapshot import CapacityType, ClusterState

REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
DEFAULT_SEED = 7
ESTATE_DIR = Path(__file__).with_name("estate")
MANIFEST_DIR = ESTATE_DIR / "manifests"
VPC_CIDR = "10.0.0.0/16"
ROOT_VOLUME_GIB = 20  # the EKS-optimized AMI's default root volume size
NODEGROUP_TAG = "eks:nodegroup-name"
CLUSTER_NAME_TAG = "eks:cluster-name"
SANDBOX_TAG = "cloudoptim.io/sandbox"
CREATED_TAG = SANDBOX_CREATED_TAG  # intended create date; moto stamps "now" itself


def cluster_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


@dataclass(frozen=True)
class NodeGroup:
    """An EKS-style managed node group: one instance type, one node per listed zone."""

    name: str
    instance_type: str
    capacity_type: CapacityType
    zones: tuple[str, ...]
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class App:
    """One upstream application: a folder under estate/manifests deployed into one namespace."""

    folder: str
    namespace: str
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    apps: tuple[App, ...]
    node_groups: tuple[NodeGroup, ...]

    def group(self, name: str) -> NodeGroup | None:
        return next((g for g in self.node_groups if g.name == name), None)


# Node group order is also the first-fit order of the offline placement: spot nodes fill first,
# so an interruption displaces real pods and the on-demand groups are left mostly idle.
CLUSTERS: tuple[ClusterPlan, ...] = (
    ClusterPlan(
        name="prod-east",
        apps=(
            App("online-boutique", "boutique",
                (("cloudoptim.io/team", "storefront"), ("cloudoptim.io/cost-center", "cc-1042"))),
            App("deathstarbench-hotelreservation", "hotel",
                (("cloudoptim.io/team", "reservations"), ("cloudoptim.io/cost-center", "cc-2210"))),
        ),
        node_groups=(
            NodeGroup("spot", "m5.xlarge", "spot", ZONES),
            NodeGroup("general", "m5.2xlarge", "on-demand", ZONES),
            # Nothing tolerates this taint: an on-demand node that only runs DaemonSets.
            NodeGroup("batch", "r5.xlarge", "on-demand", ("us-east-1a",),
                      taints=(("dedicated", "batch", "NoSchedule"),), labels=(("workload-type", "batch"),)),
        ),
    ),
    ClusterPlan(
        name="staging-east",
        apps=(
            App("teastore", "teastore", (("cloudoptim.io/team", "qa"), ("cloudoptim.io/environment", "staging"))),
            App("istio-bookinfo", "bookinfo",
                (("cloudoptim.io/team", "qa"), ("cloudoptim.io/environment", "staging"))),
        ),
        node_groups=(
            NodeGroup("spot", "t3.large", "spot", ("us-east-1c",)),
            NodeGroup("general", "m5.xlarge", "on-demand", ZONES),
        ),
    ),
)
CLUSTER_NAMES = tuple(c.name for c in CLUSTERS)


def cluster_plan(name: str) -> ClusterPlan:
    for plan in CLUSTERS:
        if plan.name == name:
            return plan
    raise KeyError(f"no sandbox cluster named {name!r}; known: {', '.join(CLUSTER_NAMES)}")


@dataclass(frozen=True)
class NodePlan:
    """One node to be: the EC2 instance to launch and the Kubernetes node it becomes."""

    cluster: str
    group: str
    instance_type: str
    zone: str
    capacity_type: CapacityType
    private_ip: str
    age_days: int  # how long ago the node joined (node creationTimestamp, root volume date tag)

    @property
    def name(self) -> str:
        return private_dns_name(self.private_ip)


def private_dns_name(ip: str) -> str:
    """EC2's private DNS name in us-east-1, which EKS uses as the node name."""
    return f"ip-{ip.replace('.', '-')}.ec2.internal"


def subnet_cidr(zone: str) -> str:
    return f"10.0.{ZONES.index(zone) + 1}.0/24"


def seeded_ip(rng: random.Random, zone: str, used: set[str], low: int, high: int) -> str:
    """A free host address in the zone's subnet; moto honours PrivateIpAddress, so names are stable."""
    while True:
        ip = f"10.0.{ZONES.index(zone) + 1}.{rng.randint(low, high)}"
        if ip not in used:
            used.add(ip)
            return ip


def node_plans(seed: int = DEFAULT_SEED) -> dict[str, list[NodePlan]]:
    """Every cluster's nodes in first-fit order; addresses 10-199 (200+ are for standalone VMs)."""
    rng = random.Random(f"cloudoptim-sandbox-nodes-{seed}")  # str seeds are stable across runs
    used: set[str] = set()
    plans: dict[str, list[NodePlan]] = {}
    for cluster in CLUSTERS:
        plans[cluster.name] = [
            NodePlan(cluster.name, group.name, group.instance_type, zone, group.capacity_type,
                     seeded_ip(rng, zone, used, 10, 199), rng.randint(20, 90))
            for group in cluster.node_groups
            for zone in group.zones
        ]
    return plans


def offline_instance_id(seed: int, node_name: str) -> str:
    """A stable stand-in instance id for the offline estate (moto makes up the live ones)."""
    return "i-0" + hashlib.sha256(f"{seed}:{node_name}".encode()).hexdigest()[:16]


# --- instance types and node resources --------------------------------------------------------
@dataclass(frozen=True)
class TypeInfo:
    vcpu: int
    memory_mib: int
    max_enis: int
    ips_per_eni: int
    arch: str = "amd64"  # as the kubernetes.io/arch label names it: amd64 or arm64

    @property
    def max_pods(self) -> int:
        # The EKS VPC CNI limit: every ENI but its primary address can carry one pod, plus two
        # host-network pods (aws-node, kube-proxy).
        return self.max_enis * (self.ips_per_eni - 1) + 2


@functools.cache
def instance_types() -> dict[str, TypeInfo]:
    """Specs of every EC2 type from the shipped reference data (app/data, DescribeInstanceTypes)."""
    text = (resources.files("app") / "data" / "ec2-instance-types.csv").read_text(encoding="utf-8")
    return {
        row["instance_type"]: TypeInfo(int(row["vcpu"]), int(row["memory_mib"]),
                                       int(row["maximum_network_interfaces"] or 1),
                                       int(row["ipv4_addresses_per_interface"] or 1),
                                       "arm64" if "arm64" in row["architectures"].split(";") else "amd64")
        for row in csv.DictReader(text.splitlines())
    }


def kube_reserved_cpu_millis(vcpu: int) -> int:
    """The EKS AMI's kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of the
    third and fourth, 0.25 % of every further core (amazon-eks-ami bootstrap)."""
    millis = 60.0 + 10.0 * (vcpu >= 2) + 5.0 * min(max(vcpu - 2, 0), 2) + 2.5 * max(vcpu - 4, 0)
    return round(millis)


def node_resources(instance_type: str) -> tuple[dict[str, str], dict[str, str]]:
    """(capacity, allocatable) as Kubernetes quantities for a node of this type.

    allocatable = capacity - kube-reserved - eviction threshold, as the EKS AMI configures kubelet:
    memory reserves 11 MiB per max pod + 255 MiB plus the 100 MiB hard-eviction threshold; CPU uses
    `kube_reserved_cpu_millis`; ephemeral storage (the root volume) reserves 1 GiB plus the 10 %
    nodefs eviction threshold. Capacity memory is the type's nominal size (a real kubelet reports
    slightly less, after the kernel's share).
    """
    info = instance_types()[instance_type]
    mem_ki = info.memory_mib * 1024
    reserved_mem_ki = (11 * info.max_pods + 255 + 100) * 1024
    disk_ki = ROOT_VOLUME_GIB * 1024 * 1024
    capacity = {"cpu": str(info.vcpu), "memory": f"{mem_ki}Ki", "pods": str(info.max_pods),
                "ephemeral-storage": f"{disk_ki}Ki"}
    allocatable = {
        "cpu": f"{info.vcpu * 1000 - kube_reserved_cpu_millis(info.vcpu)}m",
        "memory": f"{mem_ki - reserved_mem_ki}Ki",
        "pods": str(info.max_pods),
        "ephemeral-storage": f"{int(disk_ki * 0.9) - 1024 * 1024}Ki",
    }
    return capacity, allocatable


def default_now() -> datetime:
    """The estate's reference time: the current hour, so one run's timestamps line up."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def build_cluster_states(seed: int = DEFAULT_SEED, now: datetime | None = None) -> list[ClusterState]:
    """The Kubernetes estate of every sandbox cluster as Snapshot objects, built offline.

    Same manifests, node mix and placement as the live sandbox, with stand-in instance ids; the
    objects go through the collector's own converters, so benchmarks see what a scan would see.
    """
    from sandbox.estate_pods import cluster_state  # the object builders import this module

    now = now or default_now()
    states = []
    for cluster in CLUSTERS:
        nodes = node_plans(seed)[cluster.name]
        ids = {n.name: offline_instance_id(seed, n.name) for n in nodes}
        states.append(cluster_state(cluster, nodes, ids, seed=seed, now=now))
    return states
