"""FileUsageSource and FileTrafficSource: formats, resampling onto the query grid, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.collectors.errors import CollectorError
from app.collectors.traffic import FileTrafficSource, TrafficSource
from app.collectors.usage import UsageSource
from app.collectors.usage_file import FileUsageSource

FIXTURES = Path(__file__).parent / "fixtures"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HEADER = "timestamp,namespace,pod,container,cpu_cores,memory_bytes\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_long_format_samples_are_resampled_cpu_as_mean_and_memory_as_peak_per_step(tmp_path: Path) -> None:
    rows = [HEADER]
    # Five one-minute samples inside (T0, T0+5m]: CPU 0.1..0.5, memory peaks at 300 MB in the middle.
    for minute, (cpu, mem) in enumerate([(0.1, 100e6), (0.2, 200e6), (0.3, 300e6), (0.4, 250e6), (0.5, 150e6)], 1):
        ts = (T0 + timedelta(minutes=minute)).isoformat()
        rows.append(f"{ts},shop,web-1,app,{cpu},{int(mem)}\n")
    rows.append(f"{(T0 + timedelta(minutes=15)).timestamp():.0f},shop,web-1,app,1.0,1000\n")  # epoch seconds
    rows.append(f"{(T0 - timedelta(hours=1)).isoformat()},shop,web-1,app,9,9\n")  # before the range: ignored
    rows.append("2026-03-01T12:05:00,shop,web-2,app,0.25,\n")  # naive = UTC; empty memory = missing
    source = FileUsageSource(write(tmp_path / "usage.csv", "".join(rows)))
    assert isinstance(source, UsageSource)

    usage = source.fetch(None, T0, T0 + timedelta(minutes=15), 300)
    web1, web2 = usage
    assert (web1.namespace, web1.pod, web1.container, web1.start, web1.step_seconds) == (
        "shop",
        "web-1",
        "app",
        T0,
        300,
    )
    assert list(web1.cpu_cores) == [None, pytest.approx(0.3), None, 1.0]
    assert web1.memory_bytes == (None, 300e6, None, 1000.0)
    assert web2.cpu_cores == (None, 0.25, None, None) and web2.memory_bytes == (None, None, None, None)
    only = source.fetch([("shop", "web-2", "app")], T0, T0 + timedelta(minutes=15), 300)
    assert [u.pod for u in only] == ["web-2"]


def test_a_koku_metrics_operator_export_is_read_in_cores_and_bytes_at_interval_end(tmp_path: Path) -> None:
    source = FileUsageSource(FIXTURES / "koku-metrics-operator-head.csv")
    start = datetime(2023, 3, 15, 13, 0, tzinfo=UTC)
    (usage,) = source.fetch(None, start, start + timedelta(hours=2), 900)
    assert (usage.namespace, usage.pod, usage.container) == (
        "koku-metrics-operator",
        "koku-metrics-operator",
        "manager",
    )
    assert (usage.workload_kind, usage.workload_name) == ("Deployment", "koku-metrics-operator")
    assert usage.cpu_cores == (None, 0.001758, 0.00139, 0.001333, 0.001345, 0.001663, 0.001379, 0.001327, 0.001361)
    assert usage.memory_bytes[:3] == (None, 45723648.0, 42971136.0)


def test_the_older_kruize_aggregate_without_identity_columns_is_named_after_its_file() -> None:
    source = FileUsageSource(FIXTURES / "tfb_data-head.csv")
    start = datetime(2022, 12, 20, 15, 45, tzinfo=UTC)
    (usage,) = source.fetch(None, start, start + timedelta(minutes=45), 900)
    assert (usage.namespace, usage.pod, usage.container) == ("default", "tfb_data-head", "tfb_data-head")
    assert list(usage.cpu_cores) == [
        None,
        pytest.approx(0.001435335652231),
        pytest.approx(3.0788092471887),
        pytest.approx(3.01536372997012),
    ]
    assert usage.memory_bytes[1] == 1394630656.0


def test_a_directory_reads_every_csv_except_traffic(tmp_path: Path) -> None:
    write(tmp_path / "a.csv", HEADER + f"{T0.isoformat()},ns,a,c,1,1\n")
    write(tmp_path / "b.csv", HEADER + f"{T0.isoformat()},ns,b,c,2,2\n")
    write(tmp_path / "traffic.csv", "namespace,source,destination,bytes_per_day\nns,a,b,10\n")
    usage = FileUsageSource(tmp_path).fetch(None, T0, T0, 300)
    assert [(u.pod, u.cpu_cores) for u in usage] == [("a", (1.0,)), ("b", (2.0,))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEADER + "2026-03-01T12:00:00Z,ns,p,c,0.5,100\n2026-03-01T12:05:00Z,ns,p,c,lots,100\n",
            "line 3: could not convert",
        ),
        (HEADER + "2026-03-01T12:00:00Z,ns,p,c,0.5\n", "line 2: expected 6 fields, found 5"),
        (HEADER + "yesterday,ns,p,c,0.5,100\n", "line 2: time data 'yesterday'"),
        (HEADER + "2026-03-01T12:00:00Z,ns,,c,0.5,100\n", "line 2: empty pod"),
        (HEADER + "2026-03-01T12:00:00Z,ns,p,c,-1,100\n", "line 2: cpu_cores='-1' is not a non-negative number"),
        ("when,where,what\n1,2,3\n", "line 1: unknown CSV header"),
        ("", "line 1: empty file"),
        (HEADER + '2026-03-01T12:00:00Z,ns,"p,c,0.5,100\n', "line 2: unexpected end of data"),
    ],
)
def test_a_malformed_usage_csv_is_reported_with_its_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path / "bad.csv", text)
    with pytest.raises(CollectorError) as info:
        FileUsageSource(tmp_path).fetch(None, T0, T0 + timedelta(hours=1), 300)
    assert info.value.source == f"file:{path}"
    assert expected in info.value.message


def test_a_missing_usage_path_is_reported(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="does not exist"):
        FileUsageSource(tmp_path / "nope").fetch(None, T0, T0, 300)


def test_traffic_edges_are_read_and_repeated_edges_summed(tmp_path: Path) -> None:
    write(
        tmp_path / "traffic.csv",
        "namespace,source,destination,bytes_per_day\n"
        "shop,frontend,checkout,1000\nshop,frontend,checkout,500.5\nshop,checkout,payments,2e9\n",
    )
    source = FileTrafficSource(tmp_path)
    assert isinstance(source, TrafficSource)
    edges = source.fetch()
    assert [(e.source, e.destination, e.bytes_per_day) for e in edges] == [
        ("checkout", "payments", 2e9),
        ("frontend", "checkout", 1500.5),
    ]
    assert source.name == f"file:{tmp_path / 'traffic.csv'}"


def test_no_traffic_file_in_a_directory_means_no_edges_but_a_bad_one_names_the_line(tmp_path: Path) -> None:
    assert FileTrafficSource(tmp_path).fetch() == []
    write(tmp_path / "traffic.csv", "namespace,source,destination,bytes_per_day\nshop,a,b,10\nshop,a,b,many\n")
    with pytest.raises(CollectorError, match="line 3: bytes_per_day"):
        FileTrafficSource(tmp_path).fetch()
    write(tmp_path / "traffic.csv", "namespace,from,to\n")
    with pytest.raises(CollectorError, match="line 1: missing columns source, destination, bytes_per_day"):
        FileTrafficSource(tmp_path).fetch()
