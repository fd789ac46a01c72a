"""Plain-data builders for the OOMKilled remediation tests: nodes, owners with OOM-killed pods,
memory series shaped like each triage class, snapshots and a scan with the real price book."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from app.pricing import load_price_book
from engines.contract import ScanContext, ScanResult
from engines.oom import OomRemediationEngine, OomRemediationSettings
from engines.snapshot import ClusterState, Container, KubeEvent, Node, Pod, Resources, TerminationRecord, Workload
from engines.snapshot_aws import ContainerUsage, Snapshot

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIB, GIB = 2**20, 2**30
POINTS = 14 * 288  # 14 days of 5-minute samples
START = NOW - timedelta(seconds=300 * POINTS)


def node(name: str = "ip-10-0-1-10", itype: str = "m5.xlarge", mem_gib: int = 16, cpu: int = 4) -> Node:
    return Node(name=name, instance_type=itype, zone="us-east-1a", region="us-east-1",
                allocatable=Resources(cpu=cpu - 0.08, memory=(mem_gib - 1) * GIB, pods=58),
                capacity=Resources(cpu=cpu, memory=mem_gib * GIB, pods=58))


def owner(name: str, *, ns: str = "shop", kind: str = "Deployment", limit_mib: int | None = 512,
          request_mib: int | None = 256, replicas: int = 2, restarts: int = 5, oom: bool = True,
          last_oom: datetime | None = NOW - timedelta(hours=2), on: str = "ip-10-0-1-10",
          container: str = "app") -> tuple[Workload, list[Pod]]:
    """A workload and its pods; with `oom` the first pod's container was last OOM-killed at `last_oom`."""
    def spec(i: int) -> Container:
        killed = oom and i == 0
        return Container(name=container, image=f"example/{name}:1", cpu_request=0.1, cpu_limit=None,
                         memory_request=None if request_mib is None else request_mib * MIB,
                         memory_limit=None if limit_mib is None else limit_mib * MIB,
                         restart_count=restarts if killed else 0,
                         last_termination_reason="OOMKilled" if killed else None,
                         last_termination_exit_code=137 if killed else None,
                         last_termination_at=last_oom if killed else None)
    controller = f"{name}-7d9f8b6c4" if kind == "Deployment" else name
    pods = [Pod(name=f"{controller}-{i}" if kind != "Deployment" else f"{controller}-x{i}z", namespace=ns,
                node_name=on, owner_kind=kind, owner_name=name,
                controller_kind="ReplicaSet" if kind == "Deployment" else kind, controller_name=controller,
                containers=(spec(i),)) for i in range(replicas)]  # fmt: skip
    template = spec(1).model_copy(update={"restart_count": 0})
    wl = Workload(kind=kind, name=name, namespace=ns, replicas=replicas, containers=(template,))  # type: ignore[arg-type]
    return wl, pods


def usage(pod: Pod, values: list[float | None], container: str = "app") -> ContainerUsage:
    return ContainerUsage(namespace=pod.namespace, pod=pod.name, container=container, workload_kind=pod.owner_kind,
                          workload_name=pod.owner_name, start=START, memory_bytes=tuple(values),
                          cpu_cores=tuple(0.05 for _ in values))


def _wobble(i: int) -> float:
    """Deterministic small noise in [-1, 1]."""
    return math.sin(i * 0.7137) * 0.6 + math.sin(i * 2.311) * 0.4


def steady(limit_mib: int) -> list[float | None]:
    """A daily cycle whose afternoon peaks sit at 93-97 % of the limit, every day."""
    out: list[float | None] = []
    for i in range(POINTS):
        day = (math.sin(2 * math.pi * (i % 288) / 288) + 1) / 2  # 0..1 once a day
        out.append(limit_mib * MIB * (0.70 + 0.25 * day + 0.02 * _wobble(i)))
    return out


def spike(limit_mib: int) -> list[float | None]:
    """Flat at about 35 % of the limit, with one 15-minute burst to 98 % three days ago."""
    burst = range(POINTS - 3 * 288, POINTS - 3 * 288 + 3)
    return [limit_mib * MIB * (0.98 if i in burst else 0.35 + 0.02 * _wobble(i)) for i in range(POINTS)]


def growth(limit_mib: int) -> list[float | None]:
    """A sawtooth: from 20 % to 98 % of the limit in a straight line over two days, killed, again."""
    period = 2 * 288
    return [limit_mib * MIB * (0.20 + 0.78 * (i % period) / period + 0.005 * _wobble(i)) for i in range(POINTS)]


def snapshot(pods: list[Pod], workloads: list[Workload], *, series: tuple[ContainerUsage, ...] = (),
             nodes: list[Node] | None = None, events: tuple[KubeEvent, ...] = (),
             terminations: tuple[TerminationRecord, ...] = ()) -> Snapshot:
    state = ClusterState(name="prod-east", region="us-east-1", nodes=tuple(nodes or [node()]), pods=tuple(pods),
                         workloads=tuple(workloads), events=events, terminations=terminations)
    return Snapshot(collected_at=NOW, cluster=state, usage=series)


def scan(snap: Snapshot, **settings: Any) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=OomRemediationSettings(**settings))
    return OomRemediationEngine().scan(snap, ctx)


def one(name: str, shape: Any = None, *, limit_mib: int = 512, **kw: Any) -> Snapshot:
    """A snapshot of one OOM-killed Deployment whose pods' memory follows `shape` (None = no usage)."""
    wl, pods = owner(name, limit_mib=limit_mib, **kw)
    series = tuple(usage(p, shape(limit_mib)) for p in pods) if shape else ()
    return snapshot(pods, [wl], series=series)


def reasons(result: ScanResult) -> dict[str, str]:
    return {s.target: s.reason for s in result.skipped}
