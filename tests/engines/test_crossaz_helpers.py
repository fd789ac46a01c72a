"""Plain-data builders for the cross-AZ engine tests: zoned nodes, workload pods, Services, edges.

Imported by the other test_crossaz*.py modules; it holds no tests itself. Prices come from the real
price book (`app.pricing.load_price_book`, the shipped AWS data), never from numbers typed here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.pricing import load_price_book
from engines.contract import ScanContext, ScanResult
from engines.crossaz import CrossAzEngine, CrossAzSettings
from engines.snapshot import ClusterState, LabelSelector, Namespace, Node, Pod, Service, Workload
from engines.snapshot_aws import Snapshot, TrafficEdge

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
GIB = 2**30
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def nodes() -> list[Node]:
    """One node per zone (node-a, node-b, node-c) and node-x, whose zone label is missing."""
    out = [Node(name=f"node-{z[-1]}", zone=z, region=REGION, instance_type="m5.xlarge") for z in ZONES]
    return [*out, Node(name="node-x", region=REGION, instance_type="m5.xlarge")]


def workload(name: str, zones: str, *, kind: str = "Deployment", namespace: str = "shop",
             labels: dict[str, str] | None = None, **extra: Any) -> tuple[Workload, list[Pod]]:
    """A workload with one running pod per letter of `zones` ("aab": two in us-east-1a, one in b;
    "x": on the node without a zone; "-": pending)."""
    labels = labels or {"app": name}
    wl = Workload(kind=kind, name=name, namespace=namespace, replicas=len(zones), labels=labels,  # type: ignore[arg-type]
                  selector=LabelSelector(match_labels=labels), **extra)
    pods = [
        Pod(name=f"{name}-{i}", namespace=namespace, node_name=None if z == "-" else f"node-{z}",
            phase="Pending" if z == "-" else "Running", labels=labels, owner_kind=kind, owner_name=name)
        for i, z in enumerate(zones)
    ]
    return wl, pods


def service(name: str, *, namespace: str = "shop", selector: dict[str, str] | None = None, **extra: Any) -> Service:
    return Service(name=name, namespace=namespace, selector={"app": name} if selector is None else selector, **extra)


def edge(source: str, destination: str, gib_per_day: float, *, namespace: str = "shop",
         destination_namespace: str | None = None) -> TrafficEdge:
    return TrafficEdge(namespace=namespace, source=source, destination=destination,
                       bytes_per_day=gib_per_day * GIB, destination_namespace=destination_namespace)


def snapshot(parts: list[tuple[Workload, list[Pod]]], services: list[Service], edges: list[TrafficEdge],
             *, namespaces: tuple[Namespace, ...] = (), region: str = REGION) -> Snapshot:
    cluster = ClusterState(
        name="prod", region=region, nodes=tuple(nodes()),
        workloads=tuple(w for w, _ in parts), pods=tuple(p for _, pods in parts for p in pods),
        services=tuple(services), namespaces=namespaces,
    )
    return Snapshot(collected_at=NOW, cluster=cluster, traffic=tuple(edges))


def scan(snap: Snapshot, **settings: Any) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=CrossAzSettings(**settings))
    return CrossAzEngine().scan(snap, ctx)


def skip_reasons(result: ScanResult) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in result.skipped:
        out.setdefault(s.target, []).append(s.reason)
    return out


def mixed_estate() -> Snapshot:
    """Every kind of outcome in one cluster (the golden file's snapshot; the tests name its parts):
    web -> api and web -> identity/auth: endpoints in every client zone (trafficDistribution);
    frontend -> images: same, but three quarters of the clients sit in the zone with a quarter of
    the endpoints (medium risk); api -> db: a single-replica database (co-location of api);
    worker -> search: pod-to-pod traffic without a Service (co-location of worker); web -> cache:
    already PreferClose, the residual is below the pair threshold; agent (a DaemonSet) ->
    collector: no template to change; web -> tiny: below the savings floor; ExternalName, no
    selector, no endpoints, opted out, no traffic; unknown and unzoned edges."""
    parts = [
        workload("web", "abc"), workload("api", "abc"), workload("db", "a", kind="StatefulSet"),
        workload("cache", "ab"), workload("agent", "abc", kind="DaemonSet"), workload("collector", "b"),
        workload("worker", "ab"), workload("search", "cc"), workload("frontend", "aaab"),
        workload("images", "abbc"), workload("tiny", "abc"), workload("reports", "ab"),
        workload("auth", "abc", namespace="identity"), workload("batch", "--"), workload("stray", "x"),
    ]
    services = [
        service("api"), service("db"), service("cache", traffic_distribution="PreferClose"), service("collector"),
        service("images"), service("tiny"), service("auth", namespace="identity"), service("idle"),
        service("payments-ext", type="ExternalName", selector={}), service("legacy", selector={}),
        service("ghost"), service("reports", annotations={"cloudoptim.io/opt-out": "true"}),
    ]
    edges = [
        edge("web", "api", 200), edge("web", "auth", 60, destination_namespace="identity"),
        edge("frontend", "images", 100), edge("api", "db", 150), edge("worker", "search", 40),
        edge("web", "cache", 30), edge("agent", "collector", 50), edge("web", "tiny", 0.1),
        edge("web", "payments-ext", 5), edge("web", "legacy", 5), edge("web", "ghost", 5),
        edge("web", "reports", 20), edge("nobody", "api", 3), edge("web", "nowhere", 2),
        edge("batch", "api", 1), edge("stray", "api", 1),
        edge("web", "api", 10),  # the same pair again (a split export): summed
    ]
    return snapshot(parts, services, edges)
