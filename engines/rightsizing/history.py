"""Usage history per owner container: pooled, time-windowed sample matrices and what the history is worth.

`engine.py` calls `owners` to group the snapshot's pods by their top controller (Deployment,
StatefulSet, DaemonSet) and `gather` to pool the `Snapshot.usage` samples of every pod of one
owner per container name, cut to the policy's windows, with the span, coverage and restart facts
that `report.confidence` turns into a confidence and the engine into "too little data" skips.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from engines.rightsizing.stats import FloatArray
from engines.snapshot import ClusterState, Container, Pod, Workload
from engines.snapshot_aws import ContainerUsage

SIZED_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass(frozen=True)
class OwnerKey:
    namespace: str
    kind: str
    name: str

    @property
    def target(self) -> str:
        return f"workload/{self.namespace}/{self.kind}/{self.name}"


@dataclass
class Owner:
    """One sized workload: its spec (from the Workload, else its first pod) and its running pods."""

    key: OwnerKey
    workload: Workload | None
    pods: list[Pod] = field(default_factory=list)

    def containers(self) -> tuple[Container, ...]:
        if self.workload is not None and self.workload.containers:
            return self.workload.containers
        return self.pods[0].containers if self.pods else ()

    def annotations(self) -> dict[str, str]:
        # The workload's own annotations win; a pod template's are the fallback when no Workload was read.
        merged = dict(self.pods[0].annotations) if self.pods else {}
        if self.workload is not None:
            merged.update(self.workload.annotations)
        return merged


@dataclass(frozen=True)
class History:
    """Pooled samples of one container name over all pods of its owner, and how much they are worth."""

    cpu: FloatArray  # CPU window, all pods concatenated (order is irrelevant to percentiles)
    memory: FloatArray  # memory recent window, all pods concatenated
    memory_all: FloatArray  # memory over the whole history window, for the OOM risk shown
    pods_seen: int
    span_days: float  # first to last valid sample in the history window, across pods
    coverage: float  # valid samples / slots between each pod's first and last valid sample
    restarts: int
    oom_kills: int


def owners(cluster: ClusterState) -> tuple[list[Owner], list[tuple[str, str]]]:
    """The owners to size, and (target, reason) for the running pods that have none."""
    specs: dict[tuple[str, str, str], Workload] = {(w.namespace, w.kind, w.name): w for w in cluster.workloads}
    found: dict[OwnerKey, Owner] = {}
    loose: list[tuple[str, str]] = []
    for pod in sorted(cluster.pods, key=lambda p: (p.namespace, p.name)):
        if pod.phase not in ("Running", "Pending") or pod.is_mirror:
            continue
        if pod.owner_kind not in SIZED_KINDS or not pod.owner_name:
            what = f"owned by a {pod.owner_kind}" if pod.owner_kind else "without a controller"
            loose.append((f"pod/{pod.namespace}/{pod.name}",
                          f"pod {pod.namespace}/{pod.name} is {what}; only Deployments, StatefulSets and "
                          "DaemonSets are rightsized (requests are set on the owner's pod template)"))
            continue
        key = OwnerKey(pod.namespace, pod.owner_kind, pod.owner_name)
        owner = found.setdefault(key, Owner(key, specs.get((key.namespace, key.kind, key.name))))
        owner.pods.append(pod)
    return [found[k] for k in sorted(found, key=lambda k: (k.namespace, k.kind, k.name))], loose


UsageMap = dict[tuple[OwnerKey, str], list[ContainerUsage]]


def usage_by_owner(usage: tuple[ContainerUsage, ...], cluster: ClusterState) -> tuple[UsageMap, list[tuple[str, str]]]:
    """Usage series by (owner, container name), and (target, reason) for series that belong to no
    known pod or owner. A pod that is gone still counts through the usage's own workload fields, so
    a rollout does not throw history away."""
    pod_owner = {(p.namespace, p.name): (p.owner_kind, p.owner_name) for p in cluster.pods}
    out: UsageMap = defaultdict(list)
    orphans: dict[str, str] = {}
    for series in usage:
        known = (series.namespace, series.pod) in pod_owner
        kind, name = pod_owner.get((series.namespace, series.pod), (series.workload_kind, series.workload_name))
        if kind in SIZED_KINDS and name:
            out[(OwnerKey(series.namespace, kind, name), series.container)].append(series)
        elif not known:
            orphans[f"pod/{series.namespace}/{series.pod}"] = (
                f"usage history of pod {series.namespace}/{series.pod} matches no pod in the cluster and names no "
                "Deployment, StatefulSet or DaemonSet: it is not used")
    return out, sorted(orphans.items())


def _array(values: tuple[float | None, ...], *, memory: bool) -> FloatArray:
    arr = np.array(values, dtype=np.float64) if values else np.empty(0)
    bad = ~np.isfinite(arr) | (arr < 0)
    if memory:
        # A running container never has a zero working set; zeros are scrape gaps, not idle samples.
        bad |= arr == 0
    arr[bad] = np.nan
    return arr


def _cut(arr: FloatArray, start: datetime, step: int, since: datetime) -> FloatArray:
    skip = int(np.ceil((since - start).total_seconds() / step)) if since > start else 0
    return arr[min(skip, arr.size):]


def gather(series: list[ContainerUsage], pods: list[Pod], container: str, now: datetime,
           history_days: float, memory_days: float, terminations: int) -> History:
    """Pool one owner container's series: CPU over `history_days`, memory over `memory_days`."""
    since = now - timedelta(days=history_days)
    mem_since = now - timedelta(days=memory_days)
    cpus: list[FloatArray] = []
    mems: list[FloatArray] = []
    mem_alls: list[FloatArray] = []
    first: datetime | None = None
    last: datetime | None = None
    valid = slots = 0
    for s in sorted(series, key=lambda s: (s.pod, s.start)):
        if s.step_seconds <= 0:
            continue
        cpu = _cut(_array(s.cpu_cores, memory=False), s.start, s.step_seconds, since)
        memory = _array(s.memory_bytes, memory=True)
        mem_all = _cut(memory, s.start, s.step_seconds, since)
        offset = len(s.cpu_cores) - cpu.size  # both series share start and step
        cpus.append(cpu)
        mem_alls.append(mem_all)
        mems.append(_cut(memory, s.start, s.step_seconds, mem_since))
        n = min(cpu.size, mem_all.size)
        # A slot counts as sampled only when both resources were measured in it.
        ok = ~np.isnan(cpu[:n]) & ~np.isnan(mem_all[:n])
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        valid += int(idx.size)
        slots += int(idx[-1] - idx[0] + 1)
        t0 = s.start + timedelta(seconds=s.step_seconds * (offset + int(idx[0])))
        t1 = s.start + timedelta(seconds=s.step_seconds * (offset + int(idx[-1]) + 1))
        first = t0 if first is None or t0 < first else first
        last = t1 if last is None or t1 > last else last
    span = 0.0 if first is None or last is None else (last - first).total_seconds() / 86400
    restarts = sum(c.restart_count for p in pods for c in p.containers if c.name == container)
    ooms = sum(1 for p in pods for c in p.containers if c.name == container and c.last_termination_reason == "OOMKilled")
    return History(
        cpu=np.concatenate(cpus) if cpus else np.empty(0),
        memory=np.concatenate(mems) if mems else np.empty(0),
        memory_all=np.concatenate(mem_alls) if mem_alls else np.empty(0),
        pods_seen=len({s.pod for s in series}),
        span_days=span,
        coverage=valid / slots if slots else 0.0,
        restarts=restarts,
        oom_kills=max(ooms, terminations),
    )


def matrix(rows: list[FloatArray]) -> FloatArray:
    """Rows of different lengths as one NaN-padded matrix (containers x samples) for `stats`."""
    width = max((r.size for r in rows), default=0)
    out = np.full((len(rows), max(width, 1)), np.nan)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out
