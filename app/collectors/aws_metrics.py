"""CloudWatch summaries of EC2 instances via GetMetricData, in batches of up to 500 queries.

Called by `app.collectors.aws.AwsCollector`. Four hourly series per running instance:
CPUUtilization Average and Maximum, NetworkIn and NetworkOut Sum. The p95 is computed from the
hourly averages (what a rightsizing decision should be robust to); network becomes bytes per day
over the hours that actually have data, so a two-day-old instance is not diluted over 14 days.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from engines.snapshot_aws import MetricSummary

MAX_QUERIES = 500  # GetMetricData hard limit per request
PERIOD = 3600
_SERIES = (
    ("cpu", "CPUUtilization", "Average"),
    ("cpumax", "CPUUtilization", "Maximum"),
    ("netin", "NetworkIn", "Sum"),
    ("netout", "NetworkOut", "Sum"),
)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _queries(instance_ids: Sequence[str]) -> list[dict[str, Any]]:
    queries = []
    for index, instance_id in enumerate(instance_ids):
        for key, metric, stat in _SERIES:
            queries.append(
                {
                    "Id": f"{key}_{index}",  # ids must start with a lowercase letter
                    "MetricStat": {
                        "Metric": {
                            "Namespace": "AWS/EC2",
                            "MetricName": metric,
                            "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                        },
                        "Period": PERIOD,
                        "Stat": stat,
                    },
                    "ReturnData": True,
                }
            )
    return queries


def summarise(series: dict[str, list[float]], window_days: int) -> MetricSummary | None:
    """One MetricSummary from the collected hourly values of one instance (None if no data)."""
    cpu, cpu_max = series.get("cpu", []), series.get("cpumax", [])
    net_in, net_out = series.get("netin", []), series.get("netout", [])
    if not (cpu or net_in or net_out):
        return None
    hours = max(len(cpu), len(net_in), len(net_out))
    days = min(hours / 24, float(window_days))

    def per_day(values: list[float]) -> float | None:
        return sum(values) / days if values and days > 0 else None

    return MetricSummary(
        cpu_avg=sum(cpu) / len(cpu) if cpu else None,
        cpu_p95=percentile(cpu, 95) if cpu else None,
        cpu_max=max(cpu_max or cpu) if (cpu_max or cpu) else None,
        network_in_bytes_per_day=per_day(net_in),
        network_out_bytes_per_day=per_day(net_out),
        datapoints=len(cpu),
        window_days=round(days, 4),
    )


def collect_metrics(
    cloudwatch: Any, instance_ids: Sequence[str], days: int, now: datetime | None = None
) -> dict[str, MetricSummary]:
    """instance id -> summary for every instance that has any data in the last `days` days."""
    if not instance_ids:
        return {}
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    queries = _queries(instance_ids)
    values: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    paginator = cloudwatch.get_paginator("get_metric_data")
    for offset in range(0, len(queries), MAX_QUERIES):
        batch = queries[offset : offset + MAX_QUERIES]
        pages = paginator.paginate(MetricDataQueries=batch, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
        for page in pages:
            for result in page.get("MetricDataResults", []):
                key, _, number = str(result["Id"]).partition("_")
                values[int(number)][key].extend(float(v) for v in result.get("Values", []))
    out = {}
    for index, instance_id in enumerate(instance_ids):
        summary = summarise(values[index], days) if index in values else None
        if summary is not None:
            out[instance_id] = summary
    return out
