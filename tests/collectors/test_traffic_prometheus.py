"""PrometheusTrafficSource against a real Prometheus backfilled with Istio byte counters, and its errors.

The backfill writes each `istio_*_bytes_sum` counter every 5 minutes for 26 hours, growing at a
constant rate, so `increase(...[1d])` at the last sample is exactly a day of bytes (Prometheus
extrapolates a window that its samples cover to within one interval).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.collectors.errors import CollectorError
from app.collectors.traffic import FileTrafficSource, TrafficSource
from app.collectors.traffic_prometheus import PrometheusTrafficSource, duration_seconds
from app.services.collect import traffic_source
from app.settings import TrafficSettings
from engines.snapshot_aws import TrafficEdge
from tests.collectors.prom_fixture import running_prometheus
from tests.engines.test_crossaz_helpers import scan, service, snapshot, workload

GIB = 2**30
STEP = 300
HOURS = 26
# (reporter, source ns, source, destination ns, destination, request GiB/day, response GiB/day)
SERIES = [
    ("source", "shop", "web", "shop", "api", 40.0, 160.0),
    ("source", "shop", "web", "identity", "auth", 5.0, 55.0),
    ("source", "shop", "api", "shop", "db", 1.5, 0.5),
    # The server-side proxy reports the same web -> api requests again: must not be counted twice.
    ("destination", "shop", "web", "shop", "api", 40.0, 160.0),
]


def as_openmetrics(t0: datetime) -> str:
    base = int(t0.timestamp())
    lines = []
    for metric, column in (("istio_request_bytes_sum", 5), ("istio_response_bytes_sum", 6)):
        lines.append(f"# TYPE {metric} unknown")
        for row in SERIES:
            labels = (f'{{reporter="{row[0]}",source_workload_namespace="{row[1]}",source_workload="{row[2]}",'
                      f'destination_workload_namespace="{row[3]}",destination_workload="{row[4]}"}}')
            per_step = float(row[column]) * GIB / 86400 * STEP  # type: ignore[arg-type]
            for tick in range(HOURS * 3600 // STEP + 1):
                lines.append(f"{metric}{labels} {1000 + tick * per_step!r} {base + tick * STEP}")
    return "\n".join(lines) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> object:
    now = datetime.now(UTC)
    t0 = datetime.fromtimestamp((now - timedelta(hours=HOURS + 6)).timestamp() // STEP * STEP, UTC)
    end = t0 + timedelta(hours=HOURS)
    with running_prometheus(as_openmetrics(t0), tmp_path_factory.mktemp("prom")) as url:
        yield url, end


def test_istio_byte_counters_become_bytes_per_day_per_workload_pair(prometheus: tuple[str, datetime]) -> None:
    url, end = prometheus
    source = PrometheusTrafficSource(url, at=end)
    assert isinstance(source, TrafficSource)
    edges = source.fetch()
    got = {(e.namespace, e.source, e.destination_namespace, e.destination): e.bytes_per_day for e in edges}
    assert set(got) == {("shop", "web", "shop", "api"), ("shop", "web", "identity", "auth"), ("shop", "api", "shop", "db")}
    assert got[("shop", "web", "shop", "api")] == pytest.approx(200 * GIB, rel=1e-6)
    assert got[("shop", "web", "identity", "auth")] == pytest.approx(60 * GIB, rel=1e-6)
    assert got[("shop", "api", "shop", "db")] == pytest.approx(2 * GIB, rel=1e-6)


def test_a_shorter_window_is_scaled_to_a_day(prometheus: tuple[str, datetime]) -> None:
    url, end = prometheus
    edges = PrometheusTrafficSource(url, window="2h", at=end).fetch()
    web_api = next(e for e in edges if (e.source, e.destination) == ("web", "api"))
    assert web_api.bytes_per_day == pytest.approx(200 * GIB, rel=1e-6)


def test_the_prometheus_edges_drive_the_engine_to_the_same_saving_as_the_file_numbers(
    prometheus: tuple[str, datetime]
) -> None:
    url, end = prometheus
    edges = PrometheusTrafficSource(url, at=end).fetch()
    parts = [workload("web", "abc"), workload("api", "abc"), workload("auth", "abc", namespace="identity")]
    result = scan(snapshot(parts, [service("api"), service("auth", namespace="identity")], edges))
    file_like = [TrafficEdge(namespace="shop", source="web", destination="api", bytes_per_day=200 * GIB)]
    expected = scan(snapshot(parts, [service("api")], file_like))
    api = next(r for r in result.recommendations if r.target == "service/shop/api")
    assert api.monthly_savings == expected.recommendations[0].monthly_savings
    assert {r.target for r in result.recommendations} == {"service/shop/api", "service/identity/auth"}


def test_a_query_that_returns_nothing_is_an_error_not_an_estate_without_traffic(
    prometheus: tuple[str, datetime]
) -> None:
    url, end = prometheus
    before = PrometheusTrafficSource(url, at=end - timedelta(days=30))
    with pytest.raises(CollectorError, match="the traffic query returned no series over the last 1d"):
        before.fetch()
    cilium = PrometheusTrafficSource(url, "sum by (source, destination) (increase(hubble_flow_bytes_total[{window}]))",
                                     at=end)
    with pytest.raises(CollectorError, match="returned no series"):
        cilium.fetch()


def test_series_without_the_configured_labels_are_a_clear_error(prometheus: tuple[str, datetime]) -> None:
    url, end = prometheus
    source = PrometheusTrafficSource(url, at=end, labels=("src", "src_ns", "dst", "dst_ns"))
    with pytest.raises(CollectorError, match="none of the 3 series carries the labels src, src_ns, dst, dst_ns"):
        source.fetch()


def test_a_bad_query_and_an_unreachable_server_are_collector_errors(
    prometheus: tuple[str, datetime], closed_port: int
) -> None:
    url, _ = prometheus
    with pytest.raises(CollectorError, match="HTTP 400"):
        PrometheusTrafficSource(url, "sum by (", window="1d").fetch()
    with pytest.raises(CollectorError, match="cannot reach"):
        PrometheusTrafficSource(f"http://127.0.0.1:{closed_port}", timeout=2).fetch()


def test_an_http_traffic_source_is_prometheus_with_the_traffic_settings_and_a_path_is_a_file(tmp_path: Path) -> None:
    settings = TrafficSettings(window="6h", destination_label="destination_service_name")
    chosen = traffic_source("http://prom:9090/", settings)
    assert isinstance(chosen, PrometheusTrafficSource)
    assert chosen.name == "prometheus-traffic:http://prom:9090" and chosen.window_s == 6 * 3600
    assert "[6h]" in chosen.query and chosen.labels[2] == "destination_service_name"
    assert traffic_source(str(tmp_path)) is not None and traffic_source("") is None


def test_prometheus_durations_are_parsed_and_nonsense_is_refused() -> None:
    assert duration_seconds("1d") == 86400 and duration_seconds("1h30m") == 5400
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        duration_seconds("yesterday")


def test_the_traffic_file_may_name_the_destination_namespace_like_the_prometheus_labels(tmp_path: Path) -> None:
    path = tmp_path / "traffic.csv"
    path.write_text("namespace,source,destination,bytes_per_day,destination_namespace\n"
                    "shop,web,auth,100,identity\nshop,web,api,10,\nshop,web,api,5,shop\n")
    edges = FileTrafficSource(path).fetch()
    assert [(e.source, e.destination, e.destination_namespace, e.bytes_per_day) for e in edges] == [
        ("web", "api", None, 15.0), ("web", "auth", "identity", 100.0)]
