"""Clusters and nodes as the web app administers them: the cluster list with the state of its last
collection, each node's requests vs allocatable, adding a cluster only after its connection was
tested, removing one (audited), the AWS account check, and each engine's last-scan numbers.

Called by app/ui/clusters.py and app/ui/engines.py. Registration and removal are those of
`app.services.clusters` (the CLI's), with `require(actor, Permission.CLUSTERS)` and an audit row
around them. The connection test talks to the cluster with the collector's own client set-up
(kubeconfig, context, one retry) and a short timeout; AWS is read through boto3's standard
credential chain, so no credential ever reaches the database.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import requests
import urllib3
from botocore.config import Config
from botocore.parsers import ResponseParserError
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.collectors.aws import aws_errors
from app.collectors.errors import CollectorError, describe_http_error, describe_network_error, first_meaningful_line
from app.collectors.k8s import KubernetesCollector
from app.collectors.traffic import FileTrafficSource
from app.collectors.usage_file import FileUsageSource
from app.db import session_scope
from app.db.models import Cluster, Node, StoredSnapshot
from app.db.states import RecStatus
from app.db.tables_recs import AuditEvent, CostSaving, Execution, Recommendation, ScanRun
from app.pricing import PriceCatalog
from app.services.access import Actor, Permission, require
from app.services.clusters import ClusterError, ClusterRemoval, register_cluster, remove_cluster
from app.settings import Settings
from engines.binpack.model import pod_requests
from engines.snapshot import ClusterState

CHECK_TIMEOUT_S = 5.0  # a connection test the admin waits for: seconds, not the scan's patience


@dataclass(frozen=True)
class ClusterStatus:
    """One registered cluster and how its last collection and scan went."""

    id: int
    name: str
    context: str
    region: str
    account_id: str
    usage_source: str
    traffic_source: str
    is_sandbox: bool
    monthly_cost: Decimal | None
    last_error: str | None
    collected_at: datetime | None
    nodes: int
    last_scan_status: str | None
    last_scan_at: datetime | None
    last_scan_error: str | None


@dataclass(frozen=True)
class NodeUse:
    """A node of the latest collection: its price and what its pods request of its allocatable."""

    name: str
    instance_type: str | None
    zone: str | None
    capacity_type: str
    pods: int
    cpu_requested: float
    cpu_allocatable: float
    memory_requested: int
    memory_allocatable: int
    hourly_cost: Decimal | None
    monthly_cost: Decimal | None


@dataclass(frozen=True)
class ConnectionCheck:
    """The result of testing a cluster's sources; `problems` name each failing source and why."""

    server_version: str = ""
    nodes_seen: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class ConnectionFailed(ClusterError):
    """A cluster whose connection test failed; nothing was saved."""

    def __init__(self, check: ConnectionCheck) -> None:
        super().__init__("connection test failed, nothing saved: " + "; ".join(check.problems))
        self.check = check


@dataclass(frozen=True)
class AwsCheck:
    account_id: str = ""
    arn: str = ""
    regions: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EngineStats:
    """An engine's numbers from the latest finished scan of a cluster that ran it."""

    scanned_at: datetime | None = None
    recommendations: int = 0
    skipped: int = 0
    monthly_savings: Decimal = Decimal("0")
    seconds: float = 0.0
    error: str | None = None
    open_savings: Decimal = Decimal("0")  # open recommendations now, priced per month


def list_clusters(db: Engine) -> list[ClusterStatus]:
    with Session(db) as session:
        clusters = session.exec(select(Cluster).order_by(Cluster.name)).all()
        collected = dict(session.exec(select(StoredSnapshot.cluster_id, func.max(StoredSnapshot.collected_at))
                                      .group_by(col(StoredSnapshot.cluster_id))).all())  # fmt: skip
        nodes = dict(session.exec(select(Node.cluster_id, func.count()).group_by(col(Node.cluster_id))).all())
        latest: dict[int | None, ScanRun] = {}
        for run in session.exec(select(ScanRun).where(col(ScanRun.cluster_id).is_not(None))
                                .order_by(col(ScanRun.started_at).desc()).limit(50 + 5 * len(clusters))):  # fmt: skip
            latest.setdefault(run.cluster_id, run)
    out = []
    for c in clusters:
        assert c.id is not None
        last = latest.get(c.id)
        out.append(ClusterStatus(c.id, c.name, c.context, c.region, c.account_id, c.usage_source, c.traffic_source,
                                 c.is_sandbox, c.monthly_cost, c.last_error, collected.get(c.id), nodes.get(c.id, 0),
                                 last.status if last else None, (last.finished_at or last.started_at) if last else None,
                                 last.error if last else None))  # fmt: skip
    return out


def cluster_nodes(db: Engine, cluster_id: int) -> list[NodeUse]:
    """Node rows with the CPU and memory their pods request, summed from the stored snapshot."""
    with Session(db) as session:
        rows = session.exec(select(Node).where(Node.cluster_id == cluster_id).order_by(Node.name)).all()
        stored = session.exec(select(StoredSnapshot).where(StoredSnapshot.cluster_id == cluster_id)
                              .order_by(col(StoredSnapshot.collected_at).desc())).first()  # fmt: skip
    requested: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    if stored is not None and (stored.data or {}).get("cluster"):
        state = ClusterState.model_validate(stored.data["cluster"])
        for pod in state.pods:
            if pod.node_name and pod.phase not in ("Succeeded", "Failed"):
                (cpu, memory, _eph, _slots), _missing = pod_requests(pod)
                requested[pod.node_name][0] += cpu
                requested[pod.node_name][1] += memory
    return [NodeUse(n.name, n.instance_type, n.zone, n.capacity_type, n.pods, requested[n.name][0], n.cpu_cores,
                    int(requested[n.name][1]), n.memory_bytes, n.hourly_cost, n.monthly_cost) for n in rows]  # fmt: skip


def _kubernetes(kubeconfig: Path | None, context: str, timeout: float) -> tuple[str, int, str | None]:
    """(server version, nodes seen, problem) from /version and one page of nodes."""
    collector = KubernetesCollector(kubeconfig, context, "connection-test", "", page_size=1, timeout=timeout)
    try:
        api: Any = collector.api_client()  # the collector's kubeconfig rules; one retry, no global config
    except CollectorError as exc:
        return "", 0, f"Kubernetes: {exc.message}"
    host = str(api.configuration.host)
    try:
        version = client.VersionApi(api).get_code(_request_timeout=timeout)
        nodes = client.CoreV1Api(api).list_node(limit=50, _request_timeout=timeout)
    except ApiException as exc:
        if exc.status in (401, 403):
            return "", 0, f"Kubernetes: {host} refused the identity of context {context} ({exc.status}); "\
                          "it needs read-only list access to nodes and pods"  # fmt: skip
        return "", 0, f"Kubernetes: {describe_http_error(exc.status or 0, exc.reason, exc.body)}"
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        return "", 0, f"Kubernetes: cannot reach {host}: {describe_network_error(exc)}"
    finally:
        api.close()
    return str(version.git_version or ""), len(nodes.items or []), None


def _source(kind: str, spec: str, timeout: float) -> str | None:
    """Why a usage or traffic source cannot be read, or None when it answered."""
    if not spec:
        return None
    if spec.startswith(("http://", "https://")):
        try:
            answer = requests.get(spec.rstrip("/") + "/api/v1/query", params={"query": "vector(1)"}, timeout=timeout)
        except requests.RequestException as exc:
            return f"{kind} source {spec}: cannot reach it: {describe_network_error(exc)}"
        if answer.status_code != 200:
            return f"{kind} source {spec}: {describe_http_error(answer.status_code, answer.reason, answer.text)}"
        try:
            ok = answer.json().get("status") == "success"
        except (ValueError, AttributeError):
            ok = False
        return None if ok else f"{kind} source {spec}: the answer is not Prometheus' query API"
    try:
        if kind == "usage":
            if not FileUsageSource(Path(spec).expanduser()).files():
                return f"usage source {spec}: the directory holds no usage CSV file"
        else:
            FileTrafficSource(Path(spec).expanduser()).fetch()
    except CollectorError as exc:
        return f"{kind} source: {exc.message}"
    return None


def check_connection(settings: Settings, *, context: str, kubeconfig: str = "", usage_source: str = "",
                    traffic_source: str = "", timeout: float = CHECK_TIMEOUT_S) -> ConnectionCheck:  # fmt: skip
    """Reach the cluster's API and each given source, as the collector would."""
    path = kubeconfig or settings.k8s.kubeconfig
    version, nodes, problem = _kubernetes(Path(path).expanduser() if path else None, context, timeout)
    problems = [
        p for p in (problem, _source("usage", usage_source, timeout), _source("traffic", traffic_source, timeout)) if p
    ]
    return ConnectionCheck(version, nodes, problems)


def add_cluster(db: Engine, settings: Settings, *, name: str, context: str, region: str, kubeconfig: str = "",
                usage_source: str = "", traffic_source: str = "", actor: Actor, prices: PriceCatalog | None = None,
                timeout: float = CHECK_TIMEOUT_S) -> tuple[Cluster, ConnectionCheck]:  # fmt: skip
    """Register a cluster once its connection test passed; ConnectionFailed (nothing saved) otherwise."""
    who = require(actor, Permission.CLUSTERS)
    name, context, kubeconfig = name.strip(), context.strip(), kubeconfig.strip()
    with Session(db) as session:
        if session.exec(select(Cluster.id).where(Cluster.name == name)).first() is not None:
            raise ClusterError(f"cluster {name} already exists; remove it first or choose another name")
    check = check_connection(settings, context=context, kubeconfig=kubeconfig, usage_source=usage_source.strip(),
                            traffic_source=traffic_source.strip(), timeout=timeout)  # fmt: skip
    if not check.ok:
        raise ConnectionFailed(check)
    cluster = register_cluster(db, name=name, context=context, region=region.strip(), kubeconfig=kubeconfig,
                               usage_source=usage_source.strip(), traffic_source=traffic_source.strip(),
                               prices=prices)  # fmt: skip
    with session_scope(db) as session:
        session.add(AuditEvent(actor=who, action="cluster added", target=f"cluster/{name}",
                               details={"context": context, "region": cluster.region, "server": check.server_version}))  # fmt: skip
    return cluster, check


def removal_preview(db: Engine, name: str) -> ClusterRemoval:
    """What removing `name` would delete and keep (same counts as the removal reports)."""
    with Session(db) as session:
        cid = session.exec(select(Cluster.id).where(Cluster.name == name)).first()
        if cid is None:
            raise ClusterError(f"no cluster named {name!r}")

        def count(table: Any) -> int:
            return int(session.exec(select(func.count()).select_from(table).where(table.cluster_id == cid)).one())

        return ClusterRemoval(
            name, count(Recommendation), count(ScanRun), count(Node), count(Execution), count(CostSaving)
        )


def remove_cluster_as(db: Engine, name: str, *, actor: Actor) -> ClusterRemoval:
    who = require(actor, Permission.CLUSTERS)
    removal = remove_cluster(db, name)
    with session_scope(db) as session:
        session.add(AuditEvent(actor=who, action="cluster removed", target=f"cluster/{name}",
                               details={"summary": removal.summary()}))  # fmt: skip
    return removal


def check_aws(region: str, *, actor: Actor, session: boto3.Session | None = None) -> AwsCheck:
    """The account behind the standard credential chain and whether `region` is enabled for it."""
    require(actor, Permission.CLUSTERS)
    aws = session or boto3.Session()
    # Asked in the session's own region (the target one may not be enabled, or not exist at all).
    config = Config(region_name=aws.region_name or "us-east-1", connect_timeout=CHECK_TIMEOUT_S,
                    read_timeout=CHECK_TIMEOUT_S, retries={"max_attempts": 1})  # fmt: skip
    try:
        with aws_errors("aws:sts"):
            who = aws.client("sts", config=config).get_caller_identity()
        with aws_errors("aws:ec2"):
            listed = aws.client("ec2", config=config).describe_regions()["Regions"]
    except ResponseParserError as exc:  # a proxy or a wrong AWS_ENDPOINT_URL answered
        return AwsCheck(problems=[f"the AWS endpoint did not answer like AWS: {first_meaningful_line(str(exc))}"])
    except CollectorError as exc:
        hint = ""
        if "no usable AWS credentials" in exc.message:  # say what is missing, not only that it failed
            hint = (" (set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the server, "
                    "or give it an instance or pod role)")  # fmt: skip
        return AwsCheck(problems=[f"{exc.source}: {exc.message}{hint}"])
    regions = tuple(sorted(str(r["RegionName"]) for r in listed))
    problems = [] if region in regions else [f"region {region} is not enabled for this account "
                                            f"(enabled: {', '.join(regions) or 'none'})"]  # fmt: skip
    return AwsCheck(str(who.get("Account", "")), str(who.get("Arn", "")), regions, problems)


def engine_stats(db: Engine, cluster_id: int, names: list[str]) -> dict[str, EngineStats]:
    """Per engine: the latest finished scan of the cluster that ran it, and its open savings now."""
    with Session(db) as session:
        runs = session.exec(select(ScanRun).where(ScanRun.cluster_id == cluster_id, col(ScanRun.finished_at).is_not(None))
                            .order_by(col(ScanRun.started_at).desc()).limit(50)).all()  # fmt: skip
        open_savings = dict(session.exec(
            select(Recommendation.engine, func.sum(Recommendation.monthly_savings))
            .where(Recommendation.cluster_id == cluster_id, Recommendation.status == RecStatus.OPEN)
            .group_by(col(Recommendation.engine))).all())  # fmt: skip
    out = {}
    for name in names:
        run = next((r for r in runs if name in (r.counts or {})), None)
        counts: dict[str, Any] = (run.counts or {}).get(name, {}) if run else {}
        out[name] = EngineStats(run.finished_at if run else None, int(counts.get("recommendations", 0)),
                                int(counts.get("skipped", 0)), Decimal(str(counts.get("monthly_savings", "0"))),
                                float(counts.get("seconds", 0.0)), counts.get("error"),
                                Decimal(str(open_savings.get(name) or "0")))  # fmt: skip
    return out
