"""Container usage history and the service traffic matrix of the sandbox estate, as CSV files.

`sandbox.sandbox.Sandbox` calls `write_cluster_files` once per cluster after the pods are placed;
the collectors' file usage source reads the files back. Layout: `<dir>/<cluster>/usage.csv`
(`timestamp,namespace,pod,container,cpu_cores,memory_bytes`, 5-minute steps, 14 days ending at
`now`) and `<dir>/<cluster>/traffic.csv` (`namespace,source,destination,bytes_per_day`).

Usage shape: the sample-to-sample texture (CPU noise and spikes, memory drift) is the real Kruize
trace of the koku-metrics-operator container (estate/traces, 15-minute samples, interpolated to
5 minutes); that trace is an operator with almost no daily cycle, so the daily (afternoon peak)
and weekly (weekend dip) envelope and each container's level relative to its requests are ours,
chosen so most containers are heavily over-provisioned and a few run near their memory limit.
Traffic volumes are synthetic; only the edges come from the upstream call graphs below.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import logging
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from engines.quantity import parse_bytes, parse_cpu
from sandbox.estate import ESTATE_DIR

log = logging.getLogger(__name__)

STEP_SECONDS = 300
DAYS = 14
POINTS = DAYS * 86400 // STEP_SECONDS
USAGE_HEADER = "timestamp,namespace,pod,container,cpu_cores,memory_bytes"
TRAFFIC_HEADER = "namespace,source,destination,bytes_per_day"
TRACE = ESTATE_DIR / "traces" / "koku-metrics-operator_deployment_koku-metrics-operator.csv"

# (namespace, workload) -> profile. Unlisted containers get a seeded "over-provisioned" level.
NEAR_LIMIT = {("boutique", "adservice"), ("boutique", "recommendationservice"),
              ("teastore", "teastore-recommender"), ("bookinfo", "reviews-v3")}
IDLE = {("teastore", "teastore-webui"), ("hotel", "jaeger"), ("bookinfo", "reviews-v1"),
        ("teastore", "teastore-image")}
BUSY = {("boutique", "frontend"), ("hotel", "frontend"), ("hotel", "search")}
USER_FACING = {"frontend", "teastore-webui", "productpage-v1", "loadgenerator"}
# Namespaces used by one team in office hours only (a staging shop tested Mon-Fri 08:00-18:00 UTC):
# outside those hours their CPU falls to a few percent, what the office-hours engine looks for.
OFFICE_HOURS_NAMESPACES = {"teastore"}
OFF_HOURS_LEVEL = 0.03


@dataclass(frozen=True)
class UsageTarget:
    """One container of one pod, with the requests its usage is scaled to."""

    namespace: str
    pod: str
    container: str
    workload: str
    cpu_request: float | None
    memory_request: int | None
    memory_limit: int | None


def usage_paths(usage_dir: Path, cluster: str) -> tuple[Path, Path]:
    return usage_dir / cluster / "usage.csv", usage_dir / cluster / "traffic.csv"


@functools.cache
def trace_texture() -> tuple[np.ndarray, np.ndarray]:
    """CPU and memory of the real trace, each divided by its mean, interpolated to 5 minutes."""
    with TRACE.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    cpu = np.array([float(r["cpu_usage_container_avg"]) for r in rows])
    mem = np.array([float(r["memory_usage_container_avg"]) for r in rows])
    fine = np.arange(len(rows) * 3) / 3.0  # three 5-minute samples per 15-minute sample
    cpu = np.interp(fine, np.arange(len(rows)), cpu)
    mem = np.interp(fine, np.arange(len(rows)), mem)
    return cpu / cpu.mean(), mem / mem.mean()


# Service call graphs, as (source workload, destination service, synthetic GiB per day).
# Online Boutique: the architecture diagram in GoogleCloudPlatform/microservices-demo's README.
# hotelReservation: its README has no graph, so the edges follow the gRPC clients each service
# creates in DeathStarBench hotelReservation/services/*/server.go and the databases named in the
# manifests. TeaStore: the architecture section of the TeaStore paper (von Kistowski et al., MASCOTS 2018)
# (everything registers with the registry; WebUI calls auth, image, persistence, recommender;
# image and recommender read persistence at start-up).
# Bookinfo: the architecture section of istio.io's Bookinfo page (productpage -> details, reviews;
# reviews v2/v3 -> ratings).
EDGES: dict[str, tuple[tuple[str, str, float], ...]] = {
    "boutique": (
        ("loadgenerator", "frontend", 6), ("frontend", "adservice", 3), ("frontend", "cartservice", 4),
        ("frontend", "checkoutservice", 2), ("frontend", "currencyservice", 5),
        ("frontend", "productcatalogservice", 12), ("frontend", "recommendationservice", 4),
        ("frontend", "shippingservice", 2), ("checkoutservice", "cartservice", 1),
        ("checkoutservice", "currencyservice", 1), ("checkoutservice", "emailservice", 1),
        ("checkoutservice", "paymentservice", 1), ("checkoutservice", "productcatalogservice", 2),
        ("checkoutservice", "shippingservice", 1), ("recommendationservice", "productcatalogservice", 6),
        ("cartservice", "redis-cart", 8),
    ),
    "hotel": (
        ("frontend", "search", 6), ("frontend", "profile", 9), ("frontend", "recommendation", 3),
        ("frontend", "user", 1), ("frontend", "reservation", 4), ("search", "geo", 3), ("search", "rate", 5),
        ("geo", "mongodb-geo", 2), ("rate", "memcached-rate", 6), ("rate", "mongodb-rate", 2),
        ("profile", "memcached-profile", 10), ("profile", "mongodb-profile", 3),
        ("recommendation", "mongodb-recommendation", 2), ("user", "mongodb-user", 1),
        ("reservation", "memcached-reserve", 4), ("reservation", "mongodb-reservation", 2),
        ("frontend", "jaeger", 1), ("search", "jaeger", 0.5), ("profile", "jaeger", 0.5),
        ("frontend", "consul", 0.2), ("search", "consul", 0.2),
    ),
    "teastore": (
        ("teastore-webui", "teastore-auth", 2), ("teastore-webui", "teastore-image", 15),
        ("teastore-webui", "teastore-persistence", 6), ("teastore-webui", "teastore-recommender", 2),
        ("teastore-auth", "teastore-persistence", 1), ("teastore-image", "teastore-persistence", 0.5),
        ("teastore-recommender", "teastore-persistence", 0.5), ("teastore-persistence", "teastore-db", 8),
        ("teastore-webui", "teastore-registry", 0.1), ("teastore-auth", "teastore-registry", 0.1),
        ("teastore-image", "teastore-registry", 0.1), ("teastore-persistence", "teastore-registry", 0.1),
        ("teastore-recommender", "teastore-registry", 0.1),
    ),
    "bookinfo": (
        ("productpage-v1", "details", 2), ("productpage-v1", "reviews", 4),
        ("reviews-v2", "ratings", 1), ("reviews-v3", "ratings", 1),
    ),
}


def _cpu(value: Any) -> float | None:
    return None if value is None else parse_cpu(value)


def _bytes(value: Any) -> int | None:
    return None if value is None else parse_bytes(value)


def targets_from_pods(pods: Iterable[Mapping[str, Any]]) -> list[UsageTarget]:
    """Every container of every pod manifest (app and kube-system), in manifest order."""
    out = []
    for pod in pods:
        meta, spec = pod["metadata"], pod["spec"]
        owner = (meta.get("ownerReferences") or [{}])[0]
        # ReplicaSet pods are <deployment>-<hash>-<suffix>; StatefulSet/DaemonSet pods <name>-<suffix>
        parts = 2 if owner.get("kind") == "ReplicaSet" else 1
        workload = meta["name"].rsplit("-", parts)[0]
        for c in spec["containers"]:
            req, lim = (c.get("resources") or {}).get("requests") or {}, (c.get("resources") or {}).get("limits") or {}
            out.append(UsageTarget(meta["namespace"], meta["name"], c["name"], workload, _cpu(req.get("cpu")),
                                   _bytes(req.get("memory")), _bytes(lim.get("memory"))))
    return out


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random(hashlib.sha256(":".join([str(seed), *parts]).encode()).hexdigest())


def series(target: UsageTarget, seed: int, now: datetime) -> tuple[np.ndarray, np.ndarray]:
    """(cpu cores, memory bytes) for the POINTS samples ending at `now`."""
    rng = _rng(seed, target.namespace, target.pod, target.container)
    cpu_tex, mem_tex = trace_texture()
    offset = rng.randrange(len(cpu_tex) - POINTS)  # each container reads its own stretch
    cpu_tex, mem_tex = cpu_tex[offset: offset + POINTS], mem_tex[offset: offset + POINTS]
    start = now - timedelta(seconds=STEP_SECONDS * (POINTS - 1))
    since_midnight = start.hour * 3600 + start.minute * 60 + np.arange(POINTS) * STEP_SECONDS
    hours = since_midnight / 3600 % 24
    weekday = (start.weekday() + since_midnight // 86400) % 7
    key = (target.namespace, target.workload)
    amp = 0.55 if target.workload in USER_FACING else 0.3
    # Afternoon (15:00 UTC, US morning) peak; weekends run at 60 % of weekday CPU.
    envelope = (1 + amp * np.cos(2 * np.pi * (hours - 15) / 24)) * np.where(weekday >= 5, 0.6, 1.0)
    if target.namespace in OFFICE_HOURS_NAMESPACES:
        envelope = np.where((weekday < 5) & (hours >= 8) & (hours < 18), 1.0 + amp, OFF_HOURS_LEVEL)
    # Node agents (aws-node, kube-proxy) request no memory; 128 MiB stands in as their scale.
    cpu_req = target.cpu_request or 0.1
    mem_req = target.memory_request or 128 * 2**20
    if key in BUSY:
        cpu_level, mem_level = rng.uniform(0.55, 0.75), rng.uniform(0.6, 0.8)
    elif key in IDLE:
        cpu_level, mem_level = rng.uniform(0.01, 0.03), rng.uniform(0.1, 0.2)
    else:
        cpu_level, mem_level = rng.uniform(0.04, 0.3), rng.uniform(0.25, 0.6)
    cpu = cpu_req * cpu_level * envelope * cpu_tex
    # Memory follows the trace's slow drift (damped) and only a trace of the daily cycle.
    mem_shape = (1 + 0.35 * (mem_tex - 1)) * (1 + 0.04 * np.cos(2 * np.pi * (hours - 15) / 24))
    if key in NEAR_LIMIT and target.memory_limit:
        peak = target.memory_limit * rng.uniform(0.93, 0.985)
        mem = np.minimum(peak * mem_shape / mem_shape.max(), target.memory_limit * 0.99)
    else:
        mem = mem_req * mem_level * mem_shape
    return np.maximum(cpu, 0.0005), mem


def write_usage(path: Path, targets: list[UsageTarget], *, seed: int, now: datetime) -> int:
    """Write the usage CSV; returns the number of data rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    start = now - timedelta(seconds=STEP_SECONDS * (POINTS - 1))
    stamps = [(start + timedelta(seconds=STEP_SECONDS * i)).strftime("%Y-%m-%dT%H:%M:%SZ") for i in range(POINTS)]
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(USAGE_HEADER + "\n")
        for t in targets:
            cpu, mem = series(t, seed, now)
            prefix = f",{t.namespace},{t.pod},{t.container},"
            fh.writelines(f"{ts}{prefix}{c:.5f},{int(m)}\n" for ts, c, m in zip(stamps, cpu, mem, strict=True))
            rows += POINTS
    return rows


def write_traffic(path: Path, namespaces: Iterable[str], *, seed: int) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    edges = [(ns, *edge) for ns in namespaces for edge in EDGES.get(ns, ())]
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(TRAFFIC_HEADER + "\n")
        for ns, source, destination, gib_per_day in edges:
            jitter = _rng(seed, "traffic", ns, source, destination).uniform(0.7, 1.3)
            fh.write(f"{ns},{source},{destination},{int(gib_per_day * jitter * 2**30)}\n")
    return len(edges)


def write_cluster_files(usage_dir: Path, cluster: str, pods: Iterable[Mapping[str, Any]],
                        namespaces: Iterable[str], *, seed: int, now: datetime) -> tuple[Path, Path]:
    usage_path, traffic_path = usage_paths(usage_dir, cluster)
    rows = write_usage(usage_path, targets_from_pods(pods), seed=seed, now=now)
    edges = write_traffic(traffic_path, namespaces, seed=seed)
    log.info("wrote %d usage rows and %d traffic edges for %s", rows, edges, cluster)
    return usage_path, traffic_path
