"""The workload-to-destination byte matrix of one cluster, with the zones of clients and endpoints.

Built by `engines.crossaz.engine` from `ClusterState` and `Snapshot.traffic`, in one pass over the
pods and one over the edges (dict aggregation, no per-edge objects), into arrays: pods per zone of
every client and destination, and one (client, destination, bytes) row per pair, so the shares of
hundreds of thousands of pairs are one numpy expression (`shares`).

- A pod belongs to its top controller (`owner_name`; a bare pod to itself) and sits in the zone of
  its node. Only running pods on a node with a zone count; the others are counted for a skip.
- An edge's destination is a Service of the destination namespace when one has that name (its
  endpoints are the counted pods its selector matches), else a workload of that name (direct pod
  traffic), else unknown. Edges naming unknown sources or destinations are counted, not guessed.
- Expected cross-zone share of a pair (documented in the engine): a client pod in zone z reaching
  uniformly spread endpoints crosses zones with probability 1 - e_z / E, so the pair's share is the
  mean of that over the client's pods. With same-zone routing (trafficDistribution set) a client in
  a zone with endpoints stays local and one in a zone without endpoints always crosses.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from engines.snapshot import ClusterState, Service, Workload
from engines.snapshot_aws import TrafficEdge

Key = tuple[str, str]  # (namespace, name)



@dataclass(frozen=True)
class Destination:
    """What an edge reaches: a Service's endpoints or a workload's pods, counted per zone."""

    kind: str  # "service" or "workload"
    namespace: str
    name: str
    zones: dict[str, int]
    labels: dict[str, str]
    service: Service | None = None
    workload: Workload | None = None

    @property
    def endpoints(self) -> int:
        return sum(self.zones.values())

    @property
    def prefers_same_zone(self) -> bool:
        return self.service is not None and self.service.traffic_distribution is not None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.name)


@dataclass
class Unknown:
    """Edges left out, by why: counted with their bytes, a few examples kept for the reason."""

    edges: int = 0
    bytes_per_day: float = 0.0
    examples: list[str] = field(default_factory=list)

    def add(self, edge: TrafficEdge, limit: int = 5) -> None:
        self.edges += 1
        self.bytes_per_day += edge.bytes_per_day
        if len(self.examples) < limit:
            dst_ns = edge.destination_namespace or edge.namespace
            self.examples.append(f"{edge.namespace}/{edge.source} -> {dst_ns}/{edge.destination}")


@dataclass
class Matrix:
    """Pods per zone of clients (rows of `source_pods`) and destinations (`dest_pods`), columns
    `zones`; one row per (client, destination) pair in `flow_*`; and what no pair could use."""

    zones: list[str]
    sources: list[Key]
    source_pods: np.ndarray
    destinations: list[Destination]
    dest_pods: np.ndarray
    flow_src: np.ndarray
    flow_dst: np.ndarray
    flow_bytes: np.ndarray
    workloads: dict[Key, Workload]
    unknown_source: Unknown = field(default_factory=Unknown)
    unknown_destination: Unknown = field(default_factory=Unknown)
    unzoned_source: Unknown = field(default_factory=Unknown)
    unzoned_pods: int = 0

    def clients_of(self, source: int) -> Counter[str]:
        row = self.source_pods[source]
        return Counter({z: int(n) for z, n in zip(self.zones, row, strict=True) if n})


def shares(matrix: Matrix, same_zone: np.ndarray) -> np.ndarray:
    """Expected cross-zone share of every pair; `same_zone[d]` = destination d routes same-zone.
    Uniform routing: 1 - sum_z c_z e_z / E; same-zone routing: 1 - sum_z c_z [e_z > 0]."""
    pods = matrix.source_pods.sum(axis=1, keepdims=True)
    clients = np.divide(matrix.source_pods, pods, out=np.zeros(matrix.source_pods.shape), where=pods > 0)
    total = matrix.dest_pods.sum(axis=1, keepdims=True)
    uniform = np.divide(matrix.dest_pods, total, out=np.zeros(matrix.dest_pods.shape), where=total > 0)
    local = np.where(same_zone[:, None], (matrix.dest_pods > 0).astype(float), uniform)
    reach = (clients[matrix.flow_src] * local[matrix.flow_dst]).sum(axis=1)
    return np.where(total[matrix.flow_dst, 0] > 0, 1.0 - reach, 0.0)


def cross_share(clients: Counter[str], dest: Destination, same_zone: bool) -> float:
    """The same share for one client zone mix (used for projections of one destination)."""
    total_clients, total_endpoints = sum(clients.values()), dest.endpoints
    if total_clients == 0 or total_endpoints == 0:
        return 0.0
    reach = sum(n * ((1.0 if dest.zones.get(z) else 0.0) if same_zone else dest.zones.get(z, 0) / total_endpoints)
                for z, n in clients.items())
    return 1.0 - reach / total_clients


def _pod_zones(cluster: ClusterState) -> tuple[list[tuple[str, dict[str, str], str, str]], int]:
    """(namespace, labels, workload name, zone) of every running pod on a zoned node; unzoned count."""
    zone_of = {n.name: n.zone for n in cluster.nodes}
    out: list[tuple[str, dict[str, str], str, str]] = []
    unzoned = 0
    for pod in cluster.pods:
        if pod.phase != "Running" or pod.node_name is None:
            continue
        zone = zone_of.get(pod.node_name)
        if not zone:
            unzoned += 1
            continue
        out.append((pod.namespace, pod.labels, pod.owner_name or pod.name, zone))
    return out, unzoned


def build(cluster: ClusterState, edges: tuple[TrafficEdge, ...]) -> Matrix:
    pods, unzoned = _pod_zones(cluster)
    clients: dict[Key, Counter[str]] = {}
    # (namespace, label key, label value) -> indices of counted pods: a Service's endpoints are the
    # intersection of its selector's entries, so matching never compares every pod with every Service.
    by_label: dict[tuple[str, str, str], set[int]] = {}
    for index, (ns, labels, owner, zone) in enumerate(pods):
        clients.setdefault((ns, owner), Counter())[zone] += 1
        for key, value in labels.items():
            by_label.setdefault((ns, key, value), set()).add(index)
    services = {(s.namespace, s.name): s for s in cluster.services}
    workloads = {(w.namespace, w.name): w for w in cluster.workloads}
    known_names = set(clients) | set(workloads)
    resolved: dict[Key, Destination | None] = {}

    def endpoints_of(service: Service) -> dict[str, int]:
        if not service.selector:
            return {}
        sets = sorted((by_label.get((service.namespace, k, v), set()) for k, v in service.selector.items()), key=len)
        return dict(Counter(pods[i][3] for i in set.intersection(*sets)))

    def resolve(ns: str, name: str) -> Destination | None:
        if (ns, name) not in resolved:
            svc, wl = services.get((ns, name)), workloads.get((ns, name))
            if svc is not None:
                resolved[(ns, name)] = Destination("service", ns, name, endpoints_of(svc), dict(svc.selector), svc)
            elif (ns, name) in known_names:
                labels = dict(wl.selector.match_labels) if wl else {}
                resolved[(ns, name)] = Destination("workload", ns, name, dict(clients.get((ns, name), {})), labels,
                                                   workload=wl)
            else:
                resolved[(ns, name)] = None
        return resolved[(ns, name)]

    unknown_source, unknown_destination, unzoned_source = Unknown(), Unknown(), Unknown()
    flows: dict[tuple[Key, tuple[str, str, str]], float] = {}
    for edge in edges:
        source = (edge.namespace, edge.source)
        if source not in clients:
            (unknown_source if source not in workloads else unzoned_source).add(edge)
            continue
        dest = resolve(edge.destination_namespace or edge.namespace, edge.destination)
        if dest is None:
            unknown_destination.add(edge)
            continue
        flows[(source, dest.key)] = flows.get((source, dest.key), 0.0) + edge.bytes_per_day
    # Sorted indices: ties in the engine's ordering fall back to names, so the output is stable.
    dests = sorted((d for d in resolved.values() if d is not None), key=lambda d: d.key)
    sources = sorted({src for src, _ in flows})
    zones = sorted({z for c in clients.values() for z in c})
    z_index = {z: i for i, z in enumerate(zones)}
    s_index = {k: i for i, k in enumerate(sources)}
    d_index = {d.key: i for i, d in enumerate(dests)}
    source_pods = np.zeros((len(sources), len(zones)))
    for i, source in enumerate(sources):
        for zone, count in clients[source].items():
            source_pods[i, z_index[zone]] = count
    dest_pods = np.zeros((len(dests), len(zones)))
    for i, dest in enumerate(dests):
        for zone, count in dest.zones.items():
            dest_pods[i, z_index[zone]] = count
    return Matrix(
        zones=zones, sources=sources, source_pods=source_pods, destinations=dests, dest_pods=dest_pods,
        flow_src=np.fromiter((s_index[s] for s, _ in flows), dtype=np.int64, count=len(flows)),
        flow_dst=np.fromiter((d_index[d] for _, d in flows), dtype=np.int64, count=len(flows)),
        flow_bytes=np.fromiter(flows.values(), dtype=float, count=len(flows)),
        workloads=workloads, unknown_source=unknown_source, unknown_destination=unknown_destination,
        unzoned_source=unzoned_source, unzoned_pods=unzoned,
    )
