"""Plain-data builders for the rightsizing engine tests: nodes, owned pods, usage series, a scan."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from app.pricing import load_price_book
from engines.contract import PriceBook, ScanContext, ScanResult
from engines.rightsizing import RightsizingEngine, RightsizingSettings
from engines.snapshot import Autoscaler, ClusterState, Container, Node, Pod, Resources, Workload
from engines.snapshot_aws import ContainerUsage, Snapshot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GIB = 2**30
MIB = 2**20
STEP = 300
DAY = 86400 // STEP  # samples a day


def node(name: str, itype: str = "m5.xlarge", zone: str = "us-east-1a") -> Node:
    return Node(name=name, instance_type=itype, zone=zone, region="us-east-1", instance_id=f"i-{name}",
                labels={"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
                        "node.kubernetes.io/instance-type": itype},
                allocatable=Resources(cpu=3.92, memory=14 * GIB, ephemeral_storage=20 * GIB, pods=58),
                capacity=Resources(cpu=4, memory=16 * GIB, ephemeral_storage=20 * GIB, pods=58))


def container(name: str = "main", cpu: float | None = 1.0, mem_mib: int | None = 2048, *,
              cpu_limit: float | None = None, mem_limit_mib: int | None = None, **extra: Any) -> Container:
    return Container(name=name, cpu_request=cpu, memory_request=None if mem_mib is None else mem_mib * MIB,
                     cpu_limit=cpu_limit, memory_limit=None if mem_limit_mib is None else mem_limit_mib * MIB, **extra)


def pod(name: str, owner: str, *containers: Container, kind: str = "Deployment", namespace: str = "shop",
        node_name: str = "node-a", **extra: Any) -> Pod:
    return Pod(name=name, namespace=namespace, node_name=node_name, owner_kind=kind, owner_name=owner,
               labels={"app": owner}, containers=containers or (container(),), **extra)


def workload(name: str, *containers: Container, kind: str = "Deployment", namespace: str = "shop",
             **extra: Any) -> Workload:
    return Workload(kind=kind, name=name, namespace=namespace, containers=containers or (container(),),  # type: ignore[arg-type]
                    **extra)


def series(fn: Callable[[int], float | None], days: float) -> tuple[float | None, ...]:
    return tuple(fn(i) for i in range(int(days * DAY)))


def usage(pod_name: str, cpu: Sequence[float | None], mem: Sequence[float | None], *, container_name: str = "main",
          namespace: str = "shop", end: datetime = NOW) -> ContainerUsage:
    start = end - timedelta(seconds=STEP * len(cpu))
    return ContainerUsage(namespace=namespace, pod=pod_name, container=container_name, start=start,
                          step_seconds=STEP, cpu_cores=tuple(cpu), memory_bytes=tuple(mem))


def daily(base: float, swing: float) -> Callable[[int], float]:
    """A daily cycle: base at night, base + swing at the afternoon peak."""
    return lambda i: base + swing * (0.5 - 0.5 * math.cos(2 * math.pi * (i % DAY) / DAY))


def steady(cpu: float = 0.2, mem_mib: float = 600, days: float = 14, swing: float = 0.1) -> tuple[
        tuple[float | None, ...], tuple[float | None, ...]]:
    return series(daily(cpu, cpu * swing * 2), days), series(daily(mem_mib * MIB, mem_mib * MIB * swing), days)


def snapshot(pods: Sequence[Pod], use: Sequence[ContainerUsage], *, workloads: Sequence[Workload] = (),
             hpas: Sequence[Autoscaler] = (), nodes: Sequence[Node] | None = None) -> Snapshot:
    cluster = ClusterState(name="prod-east", region="us-east-1",
                           nodes=tuple(nodes if nodes is not None else (node("node-a"), node("node-b"))),
                           pods=tuple(pods), workloads=tuple(workloads), hpas=tuple(hpas))
    return Snapshot(collected_at=NOW, cluster=cluster, usage=tuple(use))


def run(snap: Snapshot, settings: RightsizingSettings | None = None, prices: PriceBook | None = None) -> ScanResult:
    ctx = ScanContext(prices=prices or load_price_book(), now=NOW, settings=settings or RightsizingSettings())
    return RightsizingEngine().scan(snap, ctx)


def skip_reason(result: ScanResult, target: str) -> str:
    reasons = [s.reason for s in result.skipped if s.target == target]
    assert len(reasons) == 1, (target, result.skipped)
    return reasons[0]


def target(owner: str, name: str = "main", kind: str = "Deployment", namespace: str = "shop") -> str:
    return f"workload/{namespace}/{kind}/{owner}/{name}"
