"""Read-only Kubernetes collector: one kubeconfig context -> one `ClusterState`.

Called by `app.collectors.snapshot.build_snapshot` (worker scans, the demo). It uses the official
client with a per-context ApiClient (never the global config), only `list_*` verbs, pages every
list with limit/continue, and asks for raw JSON so 5,000-node clusters are not slowed down by
model deserialisation. Failures become `CollectorError(source="kubernetes:<context>")`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from app.collectors import k8s_workloads as kw
from app.collectors.errors import Collected, CollectorError, describe_http_error, describe_network_error
from app.collectors.k8s_convert import Obj, items, m, node_from_api, pod_from_api, pv_zone, service_from_api
from engines.snapshot import ClusterState
from engines.snapshot_aws import SourceError

log = logging.getLogger(__name__)
T = TypeVar("T")


class _ListFailedError(CollectorError):
    """A list call failed; `status` is the HTTP status when the server answered."""

    def __init__(self, source: str, message: str, status: int | None) -> None:
        super().__init__(source, message)
        self.status = status


class KubernetesCollector:
    """Collects nodes, pods, workloads, PDBs, HPAs, namespaces, Services and OOM events of one cluster."""

    def __init__(
        self,
        kubeconfig: Path | None,
        context: str,
        cluster_name: str,
        region: str,
        *,
        page_size: int = 500,
        timeout: float = 10,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.context = context
        self.cluster_name = cluster_name
        self.region = region
        self.page_size = page_size
        self.timeout = timeout
        self.source = f"kubernetes:{context}"
        self._host = "the API server"

    # -- client -------------------------------------------------------------------------------

    def api_client(self) -> Any:
        where = str(self.kubeconfig) if self.kubeconfig else "the default kubeconfig"
        if self.kubeconfig is not None and not self.kubeconfig.exists():
            raise CollectorError(self.source, f"kubeconfig {self.kubeconfig} does not exist")
        path = str(self.kubeconfig) if self.kubeconfig else None
        try:
            contexts, _active = config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
        except (ConfigException, OSError, ValueError) as exc:
            raise CollectorError(self.source, f"cannot read {where}: {exc}") from exc
        names = sorted(str(c.get("name")) for c in contexts or [])
        if self.context not in names:
            raise CollectorError(
                self.source,
                f"context {self.context!r} not found in {where}; available: {', '.join(names) or 'none'}",
            )
        # Our own Configuration object: the process-wide default is never read or written, and a
        # single retry keeps an unreachable server from stalling a scan for minutes.
        cfg = type.__call__(client.Configuration)
        cfg.retries = urllib3.Retry(total=1, backoff_factor=0.2, raise_on_status=False)
        try:
            api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=self.context, persist_config=False, client_configuration=cfg
            )
        except (ConfigException, OSError, ValueError) as exc:
            raise CollectorError(self.source, f"context {self.context!r} is unusable: {exc}") from exc
        self._host = str(cfg.host)
        return api

    # -- listing ------------------------------------------------------------------------------

    def _page(self, what: str, call: Callable[..., Any], token: str | None) -> Obj:
        try:
            response = call(
                limit=self.page_size, _continue=token, _preload_content=False, _request_timeout=self.timeout
            )
            body = json.loads(response.data)
        except ApiException as exc:
            raise _ListFailedError(self.source, self._api_message(what, exc), exc.status) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            reason = describe_network_error(exc)
            raise _ListFailedError(self.source, f"cannot reach {self._host} : {reason}", None) from exc
        except ValueError as exc:
            raise _ListFailedError(self.source, f"listing {what} returned invalid JSON: {exc}", None) from exc
        if not isinstance(body, dict):
            raise _ListFailedError(self.source, f"listing {what} returned {type(body).__name__}, not a list", None)
        return body

    def _api_message(self, what: str, exc: ApiException) -> str:
        status = exc.status
        if status == 401:
            return f"{self._host} rejected the credentials (401 Unauthorized): expired or invalid token or certificate"
        if status == 403:
            return f"forbidden to list {what} (403): the identity lacks the read-only 'list' permission"
        # The body may be a proxy's whole HTML error page: only its first meaningful line is kept.
        return f"listing {what} failed: {describe_http_error(status or 0, exc.reason, exc.body)}"

    def list_all(self, what: str, call: Callable[..., Any]) -> list[Obj]:
        """Every object of one list call, following continue tokens; duplicates dropped."""
        out: list[Obj] = []
        seen: set[tuple[str, str]] = set()
        token: str | None = None
        restarted = False
        while True:
            try:
                body = self._page(what, call, token)
            except _ListFailedError as exc:
                # 410 Gone: the continue token expired mid-list; start over once from a fresh snapshot.
                if exc.status == 410 and token and not restarted:
                    log.info("%s: continue token for %s expired, listing again", self.source, what)
                    out, seen, token, restarted = [], set(), None, True
                    continue
                raise
            for obj in items(body.get("items")):
                key = (str(m(obj, "metadata", "namespace") or ""), str(m(obj, "metadata", "name")))
                if key not in seen:
                    seen.add(key)
                    out.append(obj)
            token = m(body, "metadata", "continue") or None
            if not token:
                return out

    def _optional(self, what: str, calls: list[Callable[..., Any]], warnings: list[SourceError]) -> list[Obj]:
        """List a resource the scan can live without: 403/404 become a warning, not a failure."""
        for index, call in enumerate(calls):
            try:
                return self.list_all(what, call)
            except _ListFailedError as exc:
                if exc.status == 404 and index + 1 < len(calls):
                    continue  # try the older API version
                if exc.status in (403, 404):
                    warnings.append(SourceError(source=self.source, message=exc.message, degraded=True))
                    return []
                raise
        return []

    # -- collect ------------------------------------------------------------------------------

    def collect(self) -> Collected[ClusterState]:
        """List everything and convert it; raises CollectorError if the cluster cannot be read."""
        api = self.api_client()
        try:
            return self._collect(api)
        finally:
            api.close()

    def _collect(self, api: Any) -> Collected[ClusterState]:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        warnings: list[SourceError] = []
        nodes_raw = self.list_all("nodes", core.list_node)
        pods_raw = self.list_all("pods", core.list_pod_for_all_namespaces)
        namespaces = self._optional("namespaces", [core.list_namespace], warnings)
        replica_sets = self._optional("replicasets", [apps.list_replica_set_for_all_namespaces], warnings)
        jobs = self._optional("jobs", [client.BatchV1Api(api).list_job_for_all_namespaces], warnings)
        kinds: list[tuple[kw.WorkloadKind, Callable[..., Any]]] = [
            ("Deployment", apps.list_deployment_for_all_namespaces),
            ("StatefulSet", apps.list_stateful_set_for_all_namespaces),
            ("DaemonSet", apps.list_daemon_set_for_all_namespaces),
        ]
        workloads_raw = [
            (kind, o) for kind, call in kinds for o in self._optional(kind.lower() + "s", [call], warnings)
        ]
        pvcs = self._optional(
            "persistentvolumeclaims", [core.list_persistent_volume_claim_for_all_namespaces], warnings
        )
        pvs = self._optional("persistentvolumes", [core.list_persistent_volume], warnings)
        pdbs = self._optional(
            "poddisruptionbudgets", [client.PolicyV1Api(api).list_pod_disruption_budget_for_all_namespaces], warnings
        )
        hpa_calls = [
            client.AutoscalingV2Api(api).list_horizontal_pod_autoscaler_for_all_namespaces,
            client.AutoscalingV1Api(api).list_horizontal_pod_autoscaler_for_all_namespaces,
        ]
        hpas = self._optional("horizontalpodautoscalers", hpa_calls, warnings)
        events = self._optional("events", [core.list_event_for_all_namespaces], warnings)
        services = self._optional("services", [core.list_service_for_all_namespaces], warnings)

        zones_by_pv = {str(m(pv, "metadata", "name")): z for pv in pvs if (z := pv_zone(pv))}
        pvc_zones = {
            (str(m(c, "metadata", "namespace")), str(m(c, "metadata", "name"))): zones_by_pv[vol]
            for c in pvcs
            if (vol := str(m(c, "spec", "volumeName") or "")) in zones_by_pv
        }
        owners = kw.owner_map(replica_sets, jobs)
        state = ClusterState(
            name=self.cluster_name,
            region=self.region,
            nodes=tuple(self._convert("Node", nodes_raw, lambda o: node_from_api(o, self.region), warnings)),
            pods=tuple(self._convert("Pod", pods_raw, lambda o: pod_from_api(o, owners, pvc_zones), warnings)),
            workloads=tuple(
                w
                for kind, o in workloads_raw
                for w in self._convert(kind, [o], partial(kw.workload_from_api, kind), warnings)
            ),
            pdbs=tuple(self._convert("PodDisruptionBudget", pdbs, kw.pdb_from_api, warnings)),
            hpas=tuple(self._convert("HorizontalPodAutoscaler", hpas, kw.hpa_from_api, warnings)),
            namespaces=tuple(self._convert("Namespace", namespaces, kw.namespace_from_api, warnings)),
            events=tuple(e for e in self._convert("Event", events, kw.event_from_api, warnings) if e is not None),
            services=tuple(self._convert("Service", services, service_from_api, warnings)),
        )
        log.info(
            "%s: %d nodes, %d pods, %d workloads, %d warnings",
            self.source,
            len(state.nodes),
            len(state.pods),
            len(state.workloads),
            len(warnings),
        )
        return Collected(state, tuple(warnings))

    def _convert(self, kind: str, objs: list[Obj], fn: Callable[[Obj], T], warnings: list[SourceError]) -> list[T]:
        """Convert each object; one malformed object is skipped with a warning, never a crash."""
        out: list[T] = []
        for obj in objs:
            try:
                out.append(fn(obj))
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                ns, name = m(obj, "metadata", "namespace"), m(obj, "metadata", "name")
                ref = f"{ns}/{name}" if ns else str(name)
                log.warning("%s: skipped %s %s: %s", self.source, kind, ref, exc)
                warnings.append(SourceError(source=self.source, message=f"skipped {kind} {ref}: {exc}", degraded=True))
        return out
