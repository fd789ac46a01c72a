"""A large generated estate for `python -m bench scan --only large`: one Snapshot built directly as
plain data (not through moto or the Kubernetes emulator), seeded so every run sees the same estate.

Called by `bench/scan.py` and tests/test_bench_scan.py. Full size: 1,000 EKS-sized nodes of real
us-east-1 types (a fifth on Spot), 30,000 pods (2,000 DaemonSet pods, the rest in 2,000
Deployments with requests, owners and labels, placed as the default scheduler spreads them),
one Service per Deployment, 2,000 standalone EC2 instances with 14 days of daily CloudWatch metrics
(besides the nodes' own 1,000, which the account lists too), 5,000 EBS volumes (gp2/gp3/io1/st1/sc1,
a third unattached), Spot history for every node pool, and traffic from every Deployment to
`peers` others (50: 100,000 edges; a dense 2,000 x 2,000 matrix is 4 M edges, about 4 GB as
pydantic objects, over the 2 GiB target on its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np

from bench.scenarios import DAEMONSETS, MIB, REGION, node_for, spread
from engines.contract import PriceBook
from engines.snapshot import ClusterState, Container, LabelSelector, Pod, Service, ServicePort, Workload
from engines.snapshot_aws import (
    AccountState,
    DailyMetric,
    Instance,
    MetricSummary,
    Snapshot,
    SpotPoolHistory,
    TrafficEdge,
    Volume,
    VolumeAttachment,
)

NOW = datetime(2026, 5, 1, tzinfo=UTC)
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
NODE_TYPES = (("m5.xlarge", 0.4), ("m5.2xlarge", 0.2), ("c5.2xlarge", 0.15), ("r5.xlarge", 0.15), ("m6i.xlarge", 0.1))
HOST_TYPES = ("t3.medium", "t3.large", "m5.large", "c5.xlarge", "r5.large", "m6g.large", "c6i.large", "t3a.small")
VOLUME_TYPES = (("gp2", 0.4), ("gp3", 0.4), ("io1", 0.05), ("st1", 0.1), ("sc1", 0.05))
METRIC_DAYS = 14


@dataclass(frozen=True)
class Sizes:
    nodes: int
    pods: int
    instances: int
    volumes: int
    workloads: int
    peers: int

    @property
    def edges(self) -> int:
        return self.workloads * self.peers


FULL = Sizes(nodes=1_000, pods=30_000, instances=2_000, volumes=5_000, workloads=2_000, peers=50)
QUICK = Sizes(nodes=100, pods=3_000, instances=200, volumes=500, workloads=200, peers=20)


def _instance_id(i: int) -> str:
    return f"i-{0x0A00000000000000 + i:017x}"


def _cluster(sizes: Sizes, prices: PriceBook, rng: np.random.Generator) -> ClusterState:
    kinds = rng.choice(len(NODE_TYPES), size=sizes.nodes, p=[s for _, s in NODE_TYPES])
    nodes = []
    for i, k in enumerate(kinds):
        base = node_for(f"node-{i:05d}", NODE_TYPES[int(k)][0], prices, ZONES[i % 3])
        iid = _instance_id(i)
        spot = i % 5 == 0
        nodes.append(base.model_copy(update={
            "instance_id": iid, "provider_id": f"aws:///{base.zone}/{iid}", "capacity_type": "spot" if spot else "on-demand",
            "labels": {**base.labels, "eks.amazonaws.com/capacityType": "SPOT" if spot else "ON_DEMAND"},
            "created_at": NOW - timedelta(days=int(rng.integers(1, 200))),
        }))  # fmt: skip
    cap = np.array([[n.allocatable.cpu, n.allocatable.memory, 1e30, n.allocatable.pods] for n in nodes])
    cap[:, 0] -= sum(c for _, c, _ in DAEMONSETS)
    cap[:, 3] -= len(DAEMONSETS)
    n_app = sizes.pods - len(DAEMONSETS) * sizes.nodes
    # Every Deployment gets at least one replica; the rest follow a heavy-tailed share.
    share = rng.pareto(1.5, size=sizes.workloads) + 1.0
    replicas = 1 + rng.multinomial(n_app - sizes.workloads, share / share.sum())
    w_cpu = np.exp(math.log(0.1) + 0.9 * rng.standard_normal(sizes.workloads))
    w_mem = np.exp(math.log(256 * MIB) + 0.9 * rng.standard_normal(sizes.workloads))
    owner_of = np.repeat(np.arange(sizes.workloads), replicas)
    cpu = np.clip(np.round(w_cpu[owner_of] * 0.55 * cap[:, 0].sum() / w_cpu[owner_of].sum(), 2), 0.01, 3.0)
    mem = np.clip(np.round(w_mem[owner_of] * 0.5 * cap[:, 1].sum() / w_mem[owner_of].sum() / (16 * MIB)) * 16 * MIB,
                  16 * MIB, 8 * 2**30)  # fmt: skip
    where = spread(cap, np.stack([cpu, mem, np.zeros(n_app), np.ones(n_app)], axis=1), rng)
    names = [f"app-{w:05d}" for w in range(sizes.workloads)]
    ns_of = [f"team-{w % 20:02d}" for w in range(sizes.workloads)]
    workloads = [
        Workload(kind="Deployment", name=names[w], namespace=ns_of[w], replicas=int(replicas[w]),
                 labels={"app": names[w]}, selector=LabelSelector(match_labels={"app": names[w]}),
                 containers=(Container(name="app", cpu_request=float(w_cpu[w]), memory_request=int(w_mem[w])),))
        for w in range(sizes.workloads)
    ]  # fmt: skip
    pods = [
        Pod(name=f"{ds}-{n.name}", namespace="kube-system", node_name=n.name, owner_kind="DaemonSet", owner_name=ds,
            controller_kind="DaemonSet", controller_name=ds,
            containers=(Container(name=ds, cpu_request=c, memory_request=m),))
        for n in nodes for ds, c, m in DAEMONSETS
    ]  # fmt: skip
    for p, w in enumerate(owner_of):
        node = f"node-{where[p]:05d}" if where[p] >= 0 else None
        pods.append(Pod(
            name=f"{names[w]}-{p:06d}", namespace=ns_of[w], node_name=node, phase="Running" if node else "Pending",
            labels={"app": names[w]}, owner_kind="Deployment", owner_name=names[w], controller_kind="ReplicaSet",
            controller_name=f"{names[w]}-5d9f", created_at=NOW - timedelta(days=3),
            containers=(Container(name="app", cpu_request=float(cpu[p]), memory_request=int(mem[p])),),
        ))  # fmt: skip
    services = [Service(name=names[w], namespace=ns_of[w], selector={"app": names[w]}, ports=(ServicePort(port=80),))
                for w in range(sizes.workloads)]  # fmt: skip
    return ClusterState(name="large-east", region=REGION, nodes=tuple(nodes), pods=tuple(pods),
                        workloads=tuple(workloads), services=tuple(services))  # fmt: skip


def _metrics(rng: np.random.Generator, idle: bool) -> MetricSummary:
    days = []
    for d in range(METRIC_DAYS):
        avg = float(rng.uniform(0.1, 1.5) if idle else rng.uniform(8, 60))
        days.append(DailyMetric(day=date(2026, 4, 17) + timedelta(days=d), hours=24, cpu_avg=round(avg, 2),
                                cpu_max=round(min(100.0, avg * 2.5), 2),
                                network_bytes=float(rng.uniform(1e5, 4e6) if idle else rng.uniform(1e8, 5e10))))  # fmt: skip
    avgs = [m.cpu_avg or 0.0 for m in days]
    return MetricSummary(cpu_avg=round(sum(avgs) / len(avgs), 2), cpu_p95=round(max(avgs), 2),
                         cpu_max=max(m.cpu_max or 0.0 for m in days), datapoints=METRIC_DAYS * 288,
                         window_days=float(METRIC_DAYS), daily=tuple(days))  # fmt: skip


def _account(sizes: Sizes, cluster: ClusterState, rng: np.random.Generator) -> AccountState:
    instances = [
        Instance(instance_id=n.instance_id or "", instance_type=n.instance_type or "", state="running", zone=n.zone or "",
                 region=REGION, lifecycle=n.capacity_type, launch_time=n.created_at, cluster=cluster.name,
                 private_dns_name=f"{n.name}.ec2.internal", tags={"eks:cluster-name": cluster.name},
                 metrics=_metrics(rng, idle=False))
        for n in cluster.nodes
    ]  # fmt: skip
    for i in range(sizes.instances):
        idle, stopped = rng.random() < 0.1, rng.random() < 0.05
        iid = _instance_id(sizes.nodes + i)
        instances.append(Instance(
            instance_id=iid, instance_type=HOST_TYPES[i % len(HOST_TYPES)], zone=ZONES[i % 3], region=REGION,
            state="stopped" if stopped else "running", launch_time=NOW - timedelta(days=int(rng.integers(30, 900))),
            state_since=NOW - timedelta(days=int(rng.integers(1, 120))) if stopped else None,
            tags={"Name": f"host-{i:05d}", "team": f"team-{i % 20:02d}", **({"keep": "true"} if i % 97 == 0 else {})},
            platform="Windows" if i % 50 == 0 else "Linux",
            target_groups=(f"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tg-{i % 40}/0",)
            if i % 4 == 0 else (),
            network_interfaces=(f"eni-{i:017x}",), public_ip=f"54.0.{i // 250}.{i % 250}" if i % 3 == 0 else None,
            metrics=None if stopped else _metrics(rng, idle),
        ))  # fmt: skip
    volume_kinds = rng.choice(len(VOLUME_TYPES), size=sizes.volumes, p=[s for _, s in VOLUME_TYPES])
    volumes = []
    for v, k in enumerate(volume_kinds):
        vtype = VOLUME_TYPES[int(k)][0]
        free = v % 3 == 0
        host = instances[int(rng.integers(0, len(instances)))].instance_id
        sizes_gb = [125, 500, 2000] if vtype in ("st1", "sc1") else [8, 20, 50, 100, 500]  # HDD minimum 125 GB
        size = int(rng.choice(sizes_gb))
        volumes.append(Volume(
            volume_id=f"vol-{v:017x}", volume_type=vtype, size_gb=size, state="available" if free else "in-use",
            zone=ZONES[v % 3], region=REGION, iops=3000 if vtype in ("gp3", "io1") else None,
            throughput=125 if vtype == "gp3" else None, create_time=NOW - timedelta(days=int(rng.integers(10, 700))),
            attachments=() if free else (VolumeAttachment(instance_id=host, device="/dev/xvdf"),),
            tags={"team": f"team-{v % 20:02d}", **({"keep": "true"} if v % 101 == 0 else {})},
            unattached_since=NOW - timedelta(days=int(rng.integers(1, 200))) if free else None,
            unattached_source=("cloudtrail" if v % 2 else "first-seen") if free else None,
            last_instance_id=host if free else None,
        ))  # fmt: skip
    return AccountState(account_id="123456789012", region=REGION, instances=tuple(instances), volumes=tuple(volumes),
                        cluster_node_instances=tuple(n.instance_id or "" for n in cluster.nodes))  # fmt: skip


def _traffic(sizes: Sizes, cluster: ClusterState, rng: np.random.Generator) -> list[TrafficEdge]:
    names = [w.name for w in cluster.workloads]
    spaces = [w.namespace for w in cluster.workloads]
    n = len(names)
    edges = []
    for src in range(n):
        # `peers` distinct destinations other than itself: a rotation by a random offset.
        start = int(rng.integers(1, n - sizes.peers)) if n > sizes.peers + 1 else 1
        volume = rng.lognormal(math.log(2e9), 1.5, size=sizes.peers)
        for j in range(sizes.peers):
            dst = (src + start + j) % n
            edges.append(TrafficEdge(namespace=spaces[src], source=names[src], destination=names[dst],
                                     bytes_per_day=round(float(volume[j])), destination_namespace=spaces[dst]))  # fmt: skip
    return edges


def _spot_history(cluster: ClusterState, rng: np.random.Generator) -> list[SpotPoolHistory]:
    pools = sorted({(n.instance_type or "", n.zone or "") for n in cluster.nodes})
    return [SpotPoolHistory(instance_type=t, zone=z, interruptions=int(rng.poisson(1.0)),
                            instance_hours=float(rng.uniform(500, 20_000))) for t, z in pools]  # fmt: skip


def large_snapshot(prices: PriceBook, sizes: Sizes = FULL, seed: int = 7) -> Snapshot:
    """The estate as one Snapshot, the same for the same sizes and seed."""
    rng = np.random.default_rng(seed)
    cluster = _cluster(sizes, prices, rng)
    return Snapshot(collected_at=NOW, cluster=cluster, account=_account(sizes, cluster, rng),
                    traffic=tuple(_traffic(sizes, cluster, rng)), spot_history=tuple(_spot_history(cluster, rng)))  # fmt: skip
