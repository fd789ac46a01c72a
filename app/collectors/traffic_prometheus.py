"""Workload-to-workload traffic from Prometheus (Istio's standard metrics by default).

Called through the `TrafficSource` protocol by `app.collectors.snapshot.build_snapshot`; chosen by
`app.services.collect.traffic_source` when a cluster's traffic source is an http(s) URL. One
instant query (`/api/v1/query`) of `promql` with `{window}` replaced by `window`, by default
(app.settings.DEFAULT_TRAFFIC_PROMQL; B likewise with istio_response_bytes_sum)

    (A + B) or A or B, A = sum by (source_workload, source_workload_namespace, destination_workload,
        destination_workload_namespace) (increase(istio_request_bytes_sum{reporter="source"}[1d]))

i.e. the bytes each client workload sent and received over the window; each value is scaled to
bytes per day (x 1 day / window). `increase` over the window, not `rate` x 86400: both give the
same number over a day, but `increase` reads as "bytes in the window". Other meshes work with
their own query and label names (e.g. Linkerd's tcp_write_bytes_total with deployment,
namespace, dst_deployment, dst_namespace), set in `TrafficSettings`.

An empty answer is an error, not "no traffic": a mesh that is not installed, a misspelt metric or
a retention shorter than the window all return nothing, and that must not look like a cluster
without cross-zone traffic. Failures raise `CollectorError(source="prometheus-traffic:<url>")`.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import datetime
from typing import Any

import requests

from app.collectors.errors import CollectorError
from app.collectors.usage_prometheus import prometheus_get
from app.settings import DEFAULT_TRAFFIC_PROMQL
from engines.snapshot_aws import TrafficEdge

log = logging.getLogger(__name__)

DEFAULT_PROMQL = DEFAULT_TRAFFIC_PROMQL
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
DAY_S = 86400


def duration_seconds(text: str) -> float:
    """A Prometheus duration ("1d", "1h30m") in seconds; ValueError when it is not one."""
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a Prometheus duration (for example 1d or 12h)")
    return float(sum(int(n) * _UNITS[u] for n, u in parts))


class PrometheusTrafficSource:
    """Bytes per day between workloads, from one PromQL instant query."""

    def __init__(
        self,
        url: str,
        promql: str = DEFAULT_PROMQL,
        window: str = "1d",
        *,
        labels: tuple[str, str, str, str] = (
            "source_workload",
            "source_workload_namespace",
            "destination_workload",
            "destination_workload_namespace",
        ),
        at: datetime | None = None,
        timeout: float = 30,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.window = window
        self.window_s = duration_seconds(window)
        self.query = promql.replace("{window}", window)
        self.labels = labels
        self.at = at
        self.timeout = timeout
        self.session = session or requests.Session()
        self.name = f"prometheus-traffic:{self.url}"

    def fetch(self) -> list[TrafficEdge]:
        params: dict[str, Any] = {"query": self.query}
        if self.at is not None:
            params["time"] = self.at.timestamp()
        data = self._get("/api/v1/query", params).get("data")
        if not isinstance(data, dict) or data.get("resultType") != "vector":
            raise CollectorError(self.name, f"the traffic query must return an instant vector, got: {str(data)[:200]}")
        series = [s for s in data.get("result") or [] if isinstance(s, dict)]
        if not series:
            raise CollectorError(self.name, f"the traffic query returned no series over the last {self.window} "
                                            f"(is the service mesh exporting these metrics?): {self.query}")
        src, src_ns, dst, dst_ns = self.labels
        totals: dict[tuple[str, str, str, str], float] = {}
        unlabelled = 0
        for item in series:
            metric = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
            key = (metric.get(src_ns, ""), metric.get(src, ""), metric.get(dst, ""), metric.get(dst_ns, ""))
            try:
                value = float((item.get("value") or [0, "nan"])[1])
            except (TypeError, ValueError, IndexError):
                value = math.nan
            if not all(key[:3]) or not math.isfinite(value) or value < 0:
                unlabelled += 1
                continue
            totals[key] = totals.get(key, 0.0) + value * DAY_S / self.window_s
        if not totals:
            raise CollectorError(self.name, f"none of the {len(series)} series carries the labels {', '.join(self.labels)} "
                                            "with a finite value: set the traffic label settings to the query's labels")
        if unlabelled:
            log.warning("%s: %d series without %s/%s/%s or a finite value were left out",
                        self.name, unlabelled, src_ns, src, dst)
        edges = [
            TrafficEdge(namespace=ns, source=s, destination=d, bytes_per_day=v, destination_namespace=dns or None)
            for (ns, s, d, dns), v in sorted(totals.items())
        ]
        log.info("%s: %d traffic edges", self.name, len(edges))
        return edges

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return prometheus_get(self.session, self.name, self.url + path, params, timeout=self.timeout)
