"""A generated estate with per-container usage history for the rightsizing speed benchmark.

Called by `bench/rightsizing.py` and tests/test_bench_rightsizing.py. The cluster is
`bench.large_estate.large_snapshot` at a size with `containers` pods (one container each: the
aws-node and kube-proxy DaemonSet pods on every node, the rest in Deployments with log-normal
requests, placed as the default scheduler spreads them) and no standalone instances, volumes or
traffic. `Snapshot.usage` then gets one 5-minute series per pod container ending at the snapshot
time: CPU at a per-Deployment level of its request (2-70 %, most containers over-provisioned)
with a daily cycle and log-normal noise, memory at 20-95 % of its request with a slow drift;
0.5 % of the slots are missing, and 3 % of the containers started late (their first days missing).

Samples are quantised (CPU to 0.1 millicore, memory to 1 MiB) and every series refers to shared
float objects: 10,000 x 4,032 x 2 distinct Python floats alone would take about 2.6 GB. The
usage models are built with `model_construct` (values valid by construction) for the same
reason; the engine reads them exactly as it reads a validated snapshot.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from bench.large_estate import NOW, Sizes, large_snapshot
from bench.scenarios import DAEMONSETS, MIB
from engines.contract import PriceBook
from engines.snapshot_aws import ContainerUsage, Snapshot

STEP_SECONDS = 300
FULL_CONTAINERS = 10_000
FULL_SAMPLES = 14 * 86400 // STEP_SECONDS  # 4,032: 14 days at 5 minutes
PODS_PER_NODE = 25
CHUNK = 500  # containers generated at once, to bound the float64 working arrays
CPU_QUANTUM = 1e-4  # cores
MEMORY_QUANTUM = float(MIB)


def sizes_for(containers: int) -> Sizes:
    """Estate sizes whose pod count is `containers` (one container per pod)."""
    nodes = max(3, containers // PODS_PER_NODE)
    app_pods = containers - nodes * len(DAEMONSETS)
    if app_pods < 1:
        raise ValueError(f"{containers} containers are too few for {nodes} nodes and their DaemonSet pods")
    return Sizes(nodes=nodes, pods=containers, instances=0, volumes=0, workloads=max(1, app_pods // 13), peers=0)


def _series(
    cpu_req: np.ndarray,
    mem_req: np.ndarray,
    level: np.ndarray,
    mem_level: np.ndarray,
    phase: np.ndarray,
    samples: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantised CPU and memory sample indices (rows x samples); -1 = missing."""
    hours = (np.arange(samples) * STEP_SECONDS / 3600.0)[None, :]
    daily = 1.0 + 0.4 * np.cos(2 * np.pi * (hours - phase[:, None]) / 24.0)
    cpu = cpu_req[:, None] * level[:, None] * daily * rng.lognormal(0.0, 0.35, size=(len(level), samples))
    drift = 1.0 + 0.08 * np.sin(2 * np.pi * hours / (24.0 * rng.uniform(3, 10, size=(len(level), 1))))
    memory = mem_req[:, None] * mem_level[:, None] * drift * rng.uniform(0.97, 1.0, size=(len(level), samples))
    cpu_idx = np.maximum(np.rint(cpu / CPU_QUANTUM), 1).astype(np.int64)
    mem_idx = np.maximum(np.rint(memory / MEMORY_QUANTUM), 1).astype(np.int64)
    gaps = rng.random(size=cpu_idx.shape) < 0.005
    late = np.flatnonzero(rng.random(len(level)) < 0.03)
    for row in late:
        gaps[row, : int(rng.integers(samples // 4, samples // 2))] = True
    cpu_idx[gaps], mem_idx[gaps] = -1, -1
    return cpu_idx, mem_idx


def usage_snapshot(
    prices: PriceBook, containers: int = FULL_CONTAINERS, samples: int = FULL_SAMPLES, seed: int = 7
) -> Snapshot:
    """The estate with `containers` pod containers and `samples` usage samples each."""
    rng = np.random.default_rng(seed)
    base = large_snapshot(prices, sizes_for(containers), seed)
    assert base.cluster is not None
    pods = base.cluster.pods
    owners = sorted({p.owner_name or p.name for p in pods})
    owner_index = {name: i for i, name in enumerate(owners)}
    # One CPU level, memory level and daily phase per owner: replicas of a Deployment behave alike.
    owner_level = np.exp(rng.uniform(np.log(0.02), np.log(0.7), size=len(owners)))
    owner_mem = rng.uniform(0.2, 0.95, size=len(owners))
    owner_phase = rng.uniform(0, 24, size=len(owners))
    which = np.array([owner_index[p.owner_name or p.name] for p in pods])
    cpu_req = np.array([p.containers[0].cpu_request or 0.1 for p in pods])
    mem_req = np.array([float(p.containers[0].memory_request or 128 * MIB) for p in pods])
    start = NOW - timedelta(seconds=STEP_SECONDS * (samples - 1))
    cpu_pool: list[float | None] = []
    mem_pool: list[float | None] = []
    usage: list[ContainerUsage] = []
    for lo in range(0, len(pods), CHUNK):
        hi = min(lo + CHUNK, len(pods))
        cpu_idx, mem_idx = _series(cpu_req[lo:hi], mem_req[lo:hi], owner_level[which[lo:hi]],
                                   owner_mem[which[lo:hi]], owner_phase[which[lo:hi]], samples, rng)  # fmt: skip
        # Pools grow to the largest index seen; the last entry is None so that index -1 reads None.
        for pool, idx, quantum in ((cpu_pool, cpu_idx, CPU_QUANTUM), (mem_pool, mem_idx, MEMORY_QUANTUM)):
            have = len(pool) - 1 if pool else 0
            need = int(idx.max()) + 1
            if need > have:
                if pool:
                    pool.pop()
                pool.extend((np.arange(have, need) * quantum).tolist())
                pool.append(None)
        cpu_get, mem_get = cpu_pool.__getitem__, mem_pool.__getitem__
        for row, pod in enumerate(pods[lo:hi]):
            c = pod.containers[0]
            usage.append(ContainerUsage.model_construct(
                namespace=pod.namespace, pod=pod.name, container=c.name, workload_kind=pod.owner_kind,
                workload_name=pod.owner_name, start=start, step_seconds=STEP_SECONDS,
                cpu_cores=tuple(map(cpu_get, cpu_idx[row].tolist())),
                memory_bytes=tuple(map(mem_get, mem_idx[row].tolist())),
            ))  # fmt: skip
    return base.model_copy(update={"usage": tuple(usage)})
