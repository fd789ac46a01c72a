"""Plain-data builders for the office-hours engine tests: nodes, pods, workloads, usage series with
a day/night shape in a local timezone, snapshots and a scan."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.pricing import load_price_book
from engines.contract import PriceBook, ScanContext, ScanResult
from engines.office_hours import OfficeHoursEngine, OfficeHoursSettings
from engines.snapshot import (
    Autoscaler,
    ClusterState,
    Container,
    Namespace,
    Node,
    Pod,
    Resources,
    Workload,
)
from engines.snapshot_aws import ContainerUsage, Snapshot

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # a Tuesday, midnight UTC
GIB = 2**30
STEP = 300


def node(name: str, itype: str = "m5.xlarge", zone: str = "us-east-1a") -> Node:
    return Node(name=name, instance_type=itype, zone=zone, region="us-east-1", instance_id=f"i-{name}",
                labels={"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone},
                allocatable=Resources(cpu=3.92, memory=14 * GIB, ephemeral_storage=20 * GIB, pods=58),
                capacity=Resources(cpu=4, memory=16 * GIB, ephemeral_storage=20 * GIB, pods=58))  # fmt: skip


def pod(ns: str, name: str, kind: str, owner: str, on: str, cpu: float = 0.5, mem_gib: float = 1.0) -> Pod:
    return Pod(name=name, namespace=ns, node_name=on, owner_kind=kind, owner_name=owner, labels={"app": owner},
               containers=(Container(name="main", cpu_request=cpu, memory_request=int(mem_gib * GIB)),))  # fmt: skip


def workload(kind: str, ns: str, name: str, replicas: int | None = 1, cpu: float = 0.5, mem_gib: float = 1.0,
             **extra: object) -> Workload:  # fmt: skip
    return Workload(kind=kind, namespace=ns, name=name, replicas=None if kind == "CronJob" else replicas,  # type: ignore[arg-type]
                    containers=(Container(name="main", cpu_request=cpu, memory_request=int(mem_gib * GIB)),),
                    **extra)  # type: ignore[arg-type]  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """CPU cores by local time: `day` on office days inside [start, end), `night` otherwise, and
    `extra` during the listed local (weekday, hour) pairs (e.g. a night batch)."""

    day: float
    night: float
    start: int = 9
    end: int = 17
    tz: str = "UTC"
    extra: tuple[tuple[int, int, float], ...] = ()

    def at(self, moment: datetime, i: int) -> float:
        local = moment.astimezone(ZoneInfo(self.tz))
        wiggle = 1 + 0.05 * ((i * 7) % 5 - 2) / 2  # deterministic +-5 % texture
        for day, hour, cores in self.extra:
            if (day < 0 or local.weekday() == day) and local.hour == hour:
                return cores * wiggle
        inside = local.weekday() < 5 and self.start <= local.hour < self.end
        return (self.day if inside else self.night) * wiggle


def usage(ns: str, pod_name: str, shape: Shape, *, days: float = 14, now: datetime = NOW, kind: str = "Deployment",
          owner: str | None = None, container: str = "main") -> ContainerUsage:  # fmt: skip
    points = int(days * 86400 // STEP)
    start = now - timedelta(seconds=STEP * points)
    values = tuple(round(shape.at(start + timedelta(seconds=STEP * i), i), 5) for i in range(points))
    return ContainerUsage(namespace=ns, pod=pod_name, container=container, workload_kind=kind,
                          workload_name=owner or pod_name.rsplit("-", 1)[0], start=start, step_seconds=STEP,
                          cpu_cores=values, memory_bytes=tuple(float(GIB) for _ in values))  # fmt: skip


def job_runs(ns: str, owner: str, utc_hour: int, *, days: int = 14, now: datetime = NOW,
             cores: float = 0.02) -> tuple[ContainerUsage, ...]:  # fmt: skip
    """One pod per day of a CronJob, each running for the hour starting at `utc_hour` (12 samples)."""
    first = (now - timedelta(days=days)).replace(hour=utc_hour, minute=0)
    runs = [first + timedelta(days=d) for d in range(days + 1)]
    return tuple(ContainerUsage(namespace=ns, pod=f"{owner}-{int(t.timestamp()) // 60}", container="main",
                                workload_kind="CronJob", workload_name=owner, start=t, step_seconds=STEP,
                                cpu_cores=(cores,) * 12)
                 for t in runs if now - timedelta(days=days) <= t and t + timedelta(hours=1) <= now)  # fmt: skip


def snapshot(*, nodes: tuple[Node, ...], pods: tuple[Pod, ...], workloads: tuple[Workload, ...],
             namespaces: tuple[Namespace, ...] = (), hpas: tuple[Autoscaler, ...] = (),
             series: tuple[ContainerUsage, ...] = (), now: datetime = NOW) -> Snapshot:  # fmt: skip
    cluster = ClusterState(name="dev-east", region="us-east-1", nodes=nodes, pods=pods, workloads=workloads,
                           namespaces=namespaces, hpas=hpas)  # fmt: skip
    return Snapshot(collected_at=now, cluster=cluster, usage=series)


def run(snap: Snapshot, settings: OfficeHoursSettings | None = None, prices: PriceBook | None = None,
        now: datetime = NOW) -> ScanResult:  # fmt: skip
    ctx = ScanContext(prices=prices or load_price_book(), now=now, settings=settings or OfficeHoursSettings())
    return OfficeHoursEngine().scan(snap, ctx)


def skip_reason(result: ScanResult, target: str) -> str:
    reasons = [s.reason for s in result.skipped if s.target == target]
    assert len(reasons) == 1, (target, result.skipped)
    return reasons[0]


def one_namespace(ns: str, shape: Shape, *, labels: dict[str, str] | None = None,
                  annotations: dict[str, str] | None = None, days: float = 14, now: datetime = NOW,
                  series: tuple[ContainerUsage, ...] | None = None) -> Snapshot:  # fmt: skip
    """One namespace with one two-replica Deployment `web` on one m5.xlarge."""
    pods = (pod(ns, "web-1", "Deployment", "web", "n1"), pod(ns, "web-2", "Deployment", "web", "n1"))
    if series is None:
        series = tuple(usage(ns, p.name, shape, days=days, now=now, owner="web") for p in pods)
    return snapshot(nodes=(node("n1"),), pods=pods, workloads=(workload("Deployment", ns, "web", 2),),
                    namespaces=(Namespace(name=ns, labels=labels or {"environment": "dev"},
                                          annotations=annotations or {}),),
                    series=series, now=now)  # fmt: skip
