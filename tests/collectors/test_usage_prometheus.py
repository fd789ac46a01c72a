"""PrometheusUsageSource against a real Prometheus (backfilled with promtool) and against failing servers.

How the equality test is exact: the file holds, for each 5-minute slot t, the mean cores over
(t-5m, t] and the working set at t. The backfill writes the CPU counter every 60 s with a constant
slope equal to that mean inside each slot, and the memory gauge exactly at t. With the source's
rate window equal to the step, `rate(counter[300s])` at t is exactly that slope (Prometheus 2's
closed window holds six samples spanning 300 s; Prometheus 3's left-open one holds five and
extrapolates by exactly one sample interval), and the gauge's value at t is the sample at t. No
slot has a gap, because a gap next to a sample exactly 5 minutes earlier is visible to
Prometheus' lookback but not to the file's (t-5m, t] slot.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from app.collectors.errors import CollectorError
from app.collectors.usage import UsageSource
from app.collectors.usage_file import FileUsageSource
from app.collectors.usage_prometheus import MAX_POINTS, PrometheusUsageSource, chunks
from engines.snapshot_aws import ContainerUsage
from tests.collectors.conftest import StubFactory
from tests.collectors.prom_fixture import running_prometheus

STEP = 300
SLOTS = 36  # three hours of data
SERIES = [
    ("shop", "checkout-7d9f8-abcde", "app"),
    ("shop", "checkout-7d9f8-abcde", "istio-proxy"),
    ("data", "db-0", "postgres"),
]


def make_dataset(t0: datetime) -> dict[tuple[str, str, str], list[tuple[float, float]]]:
    """(cpu cores, memory bytes) for slots t0+1*step .. t0+SLOTS*step, per series."""
    rng = random.Random(7)
    return {
        key: [(round(rng.uniform(0.01, 2.5), 4), float(rng.randint(50_000_000, 2_000_000_000))) for _ in range(SLOTS)]
        for key in SERIES
    }


def as_csv(t0: datetime, data: dict[tuple[str, str, str], list[tuple[float, float]]]) -> str:
    lines = ["timestamp,namespace,pod,container,cpu_cores,memory_bytes"]
    for (ns, pod, cont), values in data.items():
        for i, (cpu, mem) in enumerate(values, 1):
            lines.append(f"{(t0 + timedelta(seconds=i * STEP)).isoformat()},{ns},{pod},{cont},{cpu},{mem:.0f}")
    return "\n".join(lines) + "\n"


def as_openmetrics(t0: datetime, data: dict[tuple[str, str, str], list[tuple[float, float]]]) -> str:
    base = int(t0.timestamp())
    lines = ["# TYPE container_cpu_usage_seconds counter"]
    series = {**data, ("shop", "checkout-7d9f8-abcde", "POD"): data[SERIES[0]]}  # pause container: filtered out
    for (ns, pod, cont), values in series.items():
        labels = f'{{namespace="{ns}",pod="{pod}",container="{cont}"}}'
        counter = 1000.0
        lines.append(f"container_cpu_usage_seconds_total{labels} {counter!r} {base}")
        for tick in range(1, SLOTS * STEP // 60 + 1):
            counter += values[(tick - 1) * 60 // STEP][0] * 60
            lines.append(f"container_cpu_usage_seconds_total{labels} {counter!r} {base + tick * 60}")
    lines.append("# TYPE container_memory_working_set_bytes gauge")
    for (ns, pod, cont), values in series.items():
        labels = f'{{namespace="{ns}",pod="{pod}",container="{cont}"}}'
        for i, (_, mem) in enumerate(values, 1):
            lines.append(f"container_memory_working_set_bytes{labels} {mem:.0f} {base + i * STEP}")
    return "\n".join(lines) + "\n# EOF\n"


def assert_same_usage(left: list[ContainerUsage], right: list[ContainerUsage]) -> None:
    assert [(u.namespace, u.pod, u.container, u.start, u.step_seconds) for u in left] == [
        (u.namespace, u.pod, u.container, u.start, u.step_seconds) for u in right
    ]
    for a, b in zip(left, right, strict=True):
        assert a.memory_bytes == b.memory_bytes
        assert [x is None for x in a.cpu_cores] == [y is None for y in b.cpu_cores]
        assert [x for x in a.cpu_cores if x is not None] == pytest.approx(
            [y for y in b.cpu_cores if y is not None], rel=1e-9
        )


def test_prometheus_returns_the_same_usage_as_the_file_source_for_the_same_data(tmp_path: Path) -> None:
    # Data well in the past (promtool will not write blocks that overlap a live head), on the step grid.
    now = datetime.now(UTC)
    t0 = datetime.fromtimestamp((now - timedelta(hours=8)).timestamp() // STEP * STEP, UTC)
    data = make_dataset(t0)
    usage_csv = tmp_path / "usage.csv"
    usage_csv.write_text(as_csv(t0, data))
    end = t0 + timedelta(seconds=SLOTS * STEP)
    # 11,101 points: more than Prometheus answers in one query, so the source must chunk.
    start = end - timedelta(seconds=(MAX_POINTS + 100) * STEP)

    with running_prometheus(as_openmetrics(t0, data), tmp_path) as url:
        source = PrometheusUsageSource(url, timeout=30)
        assert isinstance(source, UsageSource)
        too_long = requests.get(
            f"{url}/api/v1/query_range",
            timeout=30,
            params={"query": "up", "start": str(start.timestamp()), "end": str(end.timestamp()), "step": str(STEP)},
        )
        assert too_long.status_code == 400 and "11,000 points" in too_long.json()["error"]
        from_prometheus = source.fetch(None, start, end, STEP)
        some = source.fetch([SERIES[2]], start, end, STEP)

    from_file = FileUsageSource(usage_csv).fetch(None, start, end, STEP)
    assert len(from_file) == 3 and len(from_file[0].cpu_cores) == MAX_POINTS + 101
    assert sum(v is not None for v in from_file[0].cpu_cores) == SLOTS
    assert_same_usage(from_prometheus, from_file)
    assert_same_usage(some, [u for u in from_file if u.pod == "db-0"])


def test_long_ranges_are_split_on_the_grid_into_chunks_of_at_most_11000_points() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(seconds=25_000 * 60)
    parts = list(chunks(start, end, 60))
    assert [int((b - a).total_seconds() // 60) + 1 for a, b in parts] == [11_000, 11_000, 3_001]
    assert parts[1][0] == parts[0][1] + timedelta(seconds=60) and parts[-1][1] == end


def test_the_queries_follow_krr_and_restrict_to_the_requested_namespaces() -> None:
    cpu, memory = PrometheusUsageSource("http://prom:9090").queries(300, ["shop", "data"])
    assert cpu == (
        "sum by (namespace, pod, container) (rate(container_cpu_usage_seconds_total"
        '{container!="",container!="POD",namespace=~"data|shop"}[300s]))'
    )
    assert memory.startswith("sum by (namespace, pod, container) (container_memory_working_set_bytes{")


T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_prometheus_answering_500_is_reported_with_its_error(http_stub: StubFactory) -> None:
    stub = http_stub(
        status=500,
        body=json.dumps({"status": "error", "errorType": "internal", "error": "storage is on fire"}).encode(),
    )
    with pytest.raises(CollectorError) as info:
        PrometheusUsageSource(stub.url).fetch(None, T0, T0 + timedelta(hours=1), 300)
    assert info.value.source == f"prometheus:{stub.url}"
    assert "HTTP 500" in info.value.message and "storage is on fire" in info.value.message


def test_a_prometheus_that_times_out_is_reported_within_the_timeout(http_stub: StubFactory) -> None:
    stub = http_stub(delay=3.0)
    started = datetime.now(UTC)
    with pytest.raises(CollectorError) as info:
        PrometheusUsageSource(stub.url, timeout=0.5).fetch(None, T0, T0 + timedelta(hours=1), 300)
    assert "timed out after 0.5s" in info.value.message
    assert datetime.now(UTC) - started < timedelta(seconds=2.5)


def test_an_unreachable_prometheus_and_a_failed_query_are_reported(http_stub: StubFactory, closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(CollectorError, match="connection refused") as info:
        PrometheusUsageSource(url).fetch(None, T0, T0 + timedelta(hours=1), 300)
    assert info.value.source == f"prometheus:{url}"
    stub = http_stub(status=200, body=b'{"status":"error","errorType":"bad_data","error":"parse error"}')
    with pytest.raises(CollectorError, match="bad_data: parse error"):
        PrometheusUsageSource(stub.url).fetch(None, T0, T0 + timedelta(hours=1), 300)
    html = http_stub(status=200, body=b"<html>login</html>", content_type="text/html")
    with pytest.raises(CollectorError, match="did not return JSON"):
        PrometheusUsageSource(html.url).fetch(None, T0, T0 + timedelta(hours=1), 300)
