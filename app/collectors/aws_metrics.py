"""CloudWatch summaries of EC2 instances via GetMetricData, in batches of up to 500 queries.

Called by `app.collectors.aws.AwsCollector`. Four hourly series per running instance:
CPUUtilization Average and Maximum, NetworkIn and NetworkOut Sum. The p95 is computed from the
hourly averages (what a rightsizing decision should be robust to); network becomes bytes per day
over the hours that actually have data, so a two-day-old instance is not diluted over 14 days.
`daily_metrics` groups the same hourly values by UTC day (the ghost probe's idle days): a day
without any datapoint is left out rather than zero, so stopped periods and gaps are not counted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from engines.snapshot_aws import DailyMetric, MetricSummary

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


Points = dict[str, list[tuple[datetime, float]]]


def daily_metrics(points: Points) -> tuple[DailyMetric, ...]:
    """Per UTC day, oldest first: hours with any datapoint, CPU average/maximum, NetworkIn + NetworkOut."""
    days: dict[date, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    hours: dict[date, set[datetime]] = defaultdict(set)
    for key, series in points.items():
        for when, value in series:
            moment = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
            days[moment.date()][key].append(value)
            hours[moment.date()].add(moment.replace(minute=0, second=0, microsecond=0))
    out = []
    for day in sorted(days):
        values = days[day]
        cpu, peak = values.get("cpu", []), values.get("cpumax", []) or values.get("cpu", [])
        network = values.get("netin", []) + values.get("netout", [])
        out.append(
            DailyMetric(
                day=day,
                hours=len(hours[day]),
                cpu_avg=sum(cpu) / len(cpu) if cpu else None,
                cpu_max=max(peak) if peak else None,
                network_bytes=sum(network) if network else None,
            )
        )
    return tuple(out)


def collect_metrics(
    cloudwatch: Any, instance_ids: Sequence[str], days: int, now: datetime | None = None
) -> dict[str, MetricSummary]:
    """instance id -> summary for every instance that has any data in the last `days` days."""
    if not instance_ids:
        return {}
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=days)
    queries = _queries(instance_ids)
    points: dict[int, Points] = defaultdict(lambda: defaultdict(list))
    paginator = cloudwatch.get_paginator("get_metric_data")
    for offset in range(0, len(queries), MAX_QUERIES):
        batch = queries[offset : offset + MAX_QUERIES]
        pages = paginator.paginate(MetricDataQueries=batch, StartTime=start, EndTime=end, ScanBy="TimestampAscending")
        for page in pages:
            for result in page.get("MetricDataResults", []):
                key, _, number = str(result["Id"]).partition("_")
                stamps, values = result.get("Timestamps", []), result.get("Values", [])
                points[int(number)][key].extend(zip(stamps, (float(v) for v in values), strict=False))
    out = {}
    for index, instance_id in enumerate(instance_ids):
        if index not in points:
            continue
        summary = summarise({k: [v for _, v in series] for k, series in points[index].items()}, days)
        if summary is not None:
            out[instance_id] = summary.model_copy(update={"daily": daily_metrics(points[index])})
    return out
