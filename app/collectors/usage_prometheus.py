"""Usage history from Prometheus `query_range` (cAdvisor metrics), the way KRR reads it.

Called through the `UsageSource` protocol by `app.collectors.snapshot.build_snapshot`.
CPU:    sum by (namespace,pod,container) (rate(container_cpu_usage_seconds_total{...}[W]))
Memory: sum by (namespace,pod,container) (container_memory_working_set_bytes{...})
The rate window W defaults to the step, so the value at slot t is the mean core usage over
(t - step, t] — the same meaning `usage.UsageGrid` gives file samples. Long ranges are split so no
series exceeds Prometheus' 11,000-points-per-query limit. Failures (HTTP 5xx, timeouts, refused
connections, error bodies) raise `CollectorError(source="prometheus:<url>")`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import requests

from app.collectors.errors import CollectorError, describe_http_error, describe_network_error, first_meaningful_line
from app.collectors.usage import Key, UsageGrid, as_utc, slot_count
from engines.snapshot_aws import ContainerUsage

log = logging.getLogger(__name__)

MAX_POINTS = 11_000  # Prometheus rejects query_range results with more points per series
_CONTAINER_FILTER = 'container!="",container!="POD"'


class PrometheusUsageSource:
    """A Prometheus (or compatible: Thanos, Mimir, AMP behind a proxy) HTTP API."""

    def __init__(
        self,
        url: str,
        timeout: float = 30,
        rate_window_seconds: int | None = None,
        headers: dict[str, str] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.rate_window_seconds = rate_window_seconds
        self.headers = headers or {}
        self.session = session or requests.Session()
        self.name = f"prometheus:{self.url}"

    def queries(self, step_seconds: int, namespaces: Iterable[str] | None = None) -> tuple[str, str]:
        """The CPU and memory PromQL, optionally restricted to some namespaces."""
        selector = _CONTAINER_FILTER
        if namespaces is not None:
            alternatives = "|".join(sorted(re.escape(ns) for ns in set(namespaces)))
            selector += f',namespace=~"{alternatives}"'
        window = self.rate_window_seconds or step_seconds
        cpu = f"sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total{{{selector}}}[{window}s]))"
        memory = f"sum by (namespace, pod, container) (container_memory_working_set_bytes{{{selector}}})"
        return cpu, memory

    def fetch(
        self,
        namespace_pods: Iterable[Key] | None,
        start: datetime,
        end: datetime,
        step_seconds: int,
    ) -> list[ContainerUsage]:
        keys = list(namespace_pods) if namespace_pods is not None else None
        if keys is not None and not keys:
            return []
        grid = UsageGrid(start, end, step_seconds, keys)
        cpu_query, memory_query = self.queries(step_seconds, {k[0] for k in keys} if keys is not None else None)
        for chunk_start, chunk_end in chunks(as_utc(start), as_utc(end), step_seconds):
            for query, is_cpu in ((cpu_query, True), (memory_query, False)):
                for labels, ts, value in self._query_range(query, chunk_start, chunk_end, step_seconds):
                    key = (labels.get("namespace", ""), labels.get("pod", ""), labels.get("container", ""))
                    grid.add(key, ts, value if is_cpu else None, None if is_cpu else value)
        result = grid.result()
        log.info("%s: %d container series", self.name, len(result))
        return result

    def _query_range(
        self, query: str, start: datetime, end: datetime, step_seconds: int
    ) -> Iterator[tuple[dict[str, str], float, float]]:
        params = {"query": query, "start": start.timestamp(), "end": end.timestamp(), "step": step_seconds}
        body = self._get("/api/v1/query_range", params)
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != "matrix":
            raise CollectorError(self.name, f"unexpected query_range answer: {str(body)[:200]}")
        for series in data.get("result") or []:
            labels = {str(k): str(v) for k, v in (series.get("metric") or {}).items()}
            for ts, value in series.get("values") or []:
                yield labels, float(ts), float(value)

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        return prometheus_get(self.session, self.name, self.url + path, params, headers=self.headers,
                              timeout=self.timeout)


def prometheus_get(session: requests.Session, source: str, url: str, params: dict[str, Any], *,
                   headers: dict[str, str] | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """One Prometheus HTTP API call; every failure is a CollectorError of `source` saying why
    (unreachable, timeout, HTTP error with Prometheus' own reason, not JSON, query failed).
    Shared by the usage and the traffic source."""
    try:
        response = session.get(url, params=params, headers=headers, timeout=timeout)
    except requests.Timeout as exc:
        raise CollectorError(source, f"timed out after {timeout:g}s waiting for {url}") from exc
    except requests.RequestException as exc:
        raise CollectorError(source, f"cannot reach {url}: {describe_network_error(exc)}") from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        # Prometheus says why in JSON; a proxy in front of it sends a whole HTML page.
        detail = body.get("error") if isinstance(body, dict) else None
        if isinstance(detail, str) and detail:
            what = f"HTTP {response.status_code}: {first_meaningful_line(detail)}"
        else:
            what = describe_http_error(response.status_code, response.reason, response.text)
        raise CollectorError(source, f"{what} (from {url})")
    if not isinstance(body, dict):
        snippet = first_meaningful_line(response.text)
        raise CollectorError(source, f"{url} did not return JSON" + (f": {snippet}" if snippet else ""))
    if body.get("status") != "success":
        raise CollectorError(source, f"query failed: {body.get('errorType')}: {body.get('error')}")
    return body


def chunks(start: datetime, end: datetime, step_seconds: int) -> Iterator[tuple[datetime, datetime]]:
    """Split [start, end] on the grid into ranges of at most MAX_POINTS points each."""
    total = slot_count(start, end, step_seconds)
    for first in range(0, total, MAX_POINTS):
        last = min(first + MAX_POINTS, total) - 1
        yield (
            start + timedelta(seconds=first * step_seconds),
            start + timedelta(seconds=last * step_seconds),
        )
