"""Plain-data builders for the ghost-probe tests: instances, daily CloudWatch values, volumes, a scan."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from app.pricing import load_price_book
from engines.contract import ScanContext, ScanResult
from engines.ghost import GhostProbeEngine, GhostProbeSettings
from engines.snapshot_aws import (
    AccountState,
    DailyMetric,
    Instance,
    MetricSummary,
    Snapshot,
    SourceError,
    Volume,
    VolumeAttachment,
)
from tests.engines.test_binpack_helpers import NOW

REGION = "us-east-1"


def days(
    count: int = 14,
    *,
    cpu: float = 1.5,
    network_mb: float = 0.5,
    hours: int = 24,
    skip: tuple[int, ...] = (),
    busy: tuple[int, ...] = (),
) -> tuple[DailyMetric, ...]:
    """`count` days ending today (NOW's date), oldest first; `skip` = days ago without data, `busy` = days ago at 70 %."""
    today: date = NOW.date()
    out = []
    for ago in range(count - 1, -1, -1):
        if ago in skip:
            continue
        load = 70.0 if ago in busy else cpu
        out.append(
            DailyMetric(
                day=today - timedelta(days=ago),
                hours=hours,
                cpu_avg=load,
                cpu_max=load * 2,
                network_bytes=network_mb * 1e6 * hours / 24,
            )
        )
    return tuple(out)


def instance(
    iid: str = "i-0ghost0001",
    itype: str = "m5.large",
    *,
    state: str = "running",
    daily: tuple[DailyMetric, ...] | None = None,
    age_days: int = 200,
    tags: dict[str, str] | None = None,
    **fields: Any,
) -> Instance:
    metrics = MetricSummary(daily=days() if daily is None else daily, window_days=14)
    return Instance(
        instance_id=iid,
        instance_type=itype,
        state=state,
        zone="us-east-1a",
        region=fields.pop("region", REGION),
        launch_time=fields.pop("launch_time", NOW - timedelta(days=age_days)),
        tags={"Name": iid.removeprefix("i-0")} if tags is None else tags,
        metrics=metrics if state == "running" else None,
        network_interfaces=fields.pop("network_interfaces", (f"eni-{iid[2:]}",)),
        **fields,
    )


def root(iid: str, size: int = 30, vtype: str = "gp2", vid: str | None = None, **fields: Any) -> Volume:
    return Volume(
        volume_id=vid or f"vol-{iid[2:]}",
        volume_type=vtype,
        size_gb=size,
        state="in-use",
        zone="us-east-1a",
        region=fields.pop("region", REGION),
        attachments=(VolumeAttachment(instance_id=iid, device="/dev/xvda"),),
        **fields,
    )


def snapshot(
    instances: list[Instance],
    volumes: list[Volume] | None = None,
    *,
    nodes: tuple[str, ...] = (),
    errors: tuple[SourceError, ...] = (),
) -> Snapshot:
    vols = [root(i.instance_id) for i in instances] if volumes is None else volumes
    account = AccountState(
        account_id="123456789012",
        region=REGION,
        instances=tuple(instances),
        volumes=tuple(vols),
        cluster_node_instances=nodes,
    )
    return Snapshot(collected_at=NOW, account=account, errors=errors)


def scan(snap: Snapshot, now: datetime = NOW, **settings: Any) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=now, settings=GhostProbeSettings(**settings))
    return GhostProbeEngine().scan(snap, ctx)


def reasons(result: ScanResult) -> dict[str, str]:
    return {s.target: s.reason for s in result.skipped}
