"""Which registered cluster runs an EC2 instance as a node, with live clients kept per cluster.

Called by the Spot handler for every warning: the event names only an instance id, so the
node is found by its providerID (`aws:///us-east-1a/i-0abc`) across every connected cluster.
Clients and an instance -> node index are kept between events, because the first seconds of
the two-minute notice should go to the cordon, not to reading kubeconfigs and listing nodes;
the index is rebuilt on a miss, and a cluster whose API fails is dropped and rebuilt next time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from kubernetes import client
from kubernetes.client import rest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster
from app.services.execution_clients import ec2_client, kubernetes_api_client
from app.settings import Settings
from executor import k8s_util as k

log = logging.getLogger(__name__)
# Drains of many interrupted nodes run at once and share one client per cluster; urllib3's
# default pool (5 x CPUs) would otherwise discard and reopen connections under a burst.
POOL_MAXSIZE = 64


@dataclass
class ClusterClients:
    cluster_id: int
    name: str
    region: str
    api: Any  # kubernetes.client.ApiClient
    core: Any
    apps: Any
    policy: Any
    ec2: Any  # boto3 EC2 client for the cluster's region


@dataclass(frozen=True)
class Located:
    clients: ClusterClients
    node: k.Obj


class ClusterDirectory:
    """Thread-safe: the poller thread locates, drain threads only use the clients."""

    def __init__(self, settings: Settings, db: Engine) -> None:
        self.settings = settings
        self.db = db
        self._lock = threading.Lock()
        self._clients: dict[int, ClusterClients] = {}
        self._index: dict[str, tuple[int, str]] = {}  # instance id -> (cluster id, node name)

    def _connect(self, row: Cluster) -> ClusterClients:
        assert row.id is not None
        api = kubernetes_api_client(self.settings, row)
        api.configuration.connection_pool_maxsize = POOL_MAXSIZE
        api.rest_client = rest.RESTClientObject(api.configuration)  # the pool is sized when it is built
        return ClusterClients(
            row.id,
            row.name,
            row.region,
            api,
            client.CoreV1Api(api),
            client.AppsV1Api(api),
            client.PolicyV1Api(api),
            ec2_client(row.region),
        )

    def _clusters(self, region: str) -> list[Cluster]:
        with Session(self.db) as session:
            rows = list(session.exec(select(Cluster).order_by(Cluster.name)))
        # The event's region first: an instance id is unique per region, and that is where it runs.
        return sorted(rows, key=lambda r: (bool(region) and r.region != region, r.name))

    def _refresh(self, region: str) -> None:
        index: dict[str, tuple[int, str]] = {}
        for row in self._clusters(region):
            assert row.id is not None
            try:
                clients = self._clients.get(row.id) or self._connect(row)
                nodes = k.call_json(clients.core.list_node).get("items") or []
            # ClusterUnavailable or an API error: one unreachable cluster must not hide the others.
            except Exception as exc:
                log.warning("Spot: cannot list the nodes of cluster %s: %s", row.name, exc)
                self._drop(row.id)
                continue
            self._clients[row.id] = clients
            for node in nodes:
                if instance := k.instance_id_of(node):
                    index[instance] = (row.id, str(k.meta(node)["name"]))
        self._index = index

    def _drop(self, cluster_id: int) -> None:
        gone = self._clients.pop(cluster_id, None)
        if gone is not None:
            gone.api.close()

    def refresh(self) -> list[str]:
        """Connect to every registered cluster and index its nodes now (the poller's warm-up, so
        the first warning does not pay for kubeconfig parsing and client set-up); their regions."""
        with self._lock:
            self._refresh("")
            return sorted({c.region for c in self._clients.values()})

    def locate(self, instance_id: str, region: str = "") -> Located | None:
        """The node running `instance_id` and its cluster's clients; None when no cluster has it."""
        with self._lock:
            for attempt in (1, 2):
                if attempt == 2 or instance_id not in self._index:
                    self._refresh(region)
                hit = self._index.get(instance_id)
                if hit is None:
                    return None
                clients = self._clients.get(hit[0])
                if clients is None:
                    continue
                try:
                    node = k.call_json(clients.core.read_node, hit[1])
                except Exception:  # renamed, deleted, or the API failed: rebuild the index once
                    continue
                if k.instance_id_of(node) == instance_id:
                    return Located(clients, node)
            return None

    def close(self) -> None:
        with self._lock:
            for cluster_id in list(self._clients):
                self._drop(cluster_id)
            self._index = {}
