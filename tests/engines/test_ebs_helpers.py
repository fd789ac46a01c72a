"""Plain-data builders for the EBS cleanup engine tests: volumes, accounts, snapshots, a scan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.pricing import load_price_book
from engines.contract import PriceBook, ScanContext, ScanResult
from engines.ebs import EbsCleanupEngine, EbsCleanupSettings
from engines.snapshot_aws import AccountState, Snapshot, Volume, VolumeAttachment

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def unattached(
    volume_id: str, volume_type: str = "gp2", size: int = 100, *, days: int | None = 30,
    source: str = "cloudtrail", region: str = "us-east-1", zone: str = "us-east-1a", **extra: Any,
) -> Volume:
    since = None if days is None else NOW - timedelta(days=days, hours=1)
    return Volume(volume_id=volume_id, volume_type=volume_type, size_gb=size, state="available", zone=zone,
                  region=region, create_time=NOW - timedelta(days=400), unattached_since=since,
                  unattached_source=None if days is None else source, **extra)


def attached(volume_id: str, volume_type: str = "gp2", size: int = 100, *, instance: str = "i-0a1b2c3d",
             region: str = "us-east-1", **extra: Any) -> Volume:
    return Volume(volume_id=volume_id, volume_type=volume_type, size_gb=size, state="in-use", zone="us-east-1a",
                  region=region, create_time=NOW - timedelta(days=400),
                  attachments=(VolumeAttachment(instance_id=instance, device="/dev/xvda"),),
                  last_instance_id=instance, **extra)


def snapshot(*volumes: Volume, cloudtrail: str | None = None) -> Snapshot:
    account = AccountState(account_id=ACCOUNT, region="us-east-1", volumes=volumes, cloudtrail=cloudtrail)
    return Snapshot(collected_at=NOW, account=account)


def run(snap: Snapshot, settings: EbsCleanupSettings | None = None, prices: PriceBook | None = None) -> ScanResult:
    ctx = ScanContext(prices=prices or load_price_book(), now=NOW, settings=settings or EbsCleanupSettings())
    return EbsCleanupEngine().scan(snap, ctx)


def skip_reason(result: ScanResult, volume_id: str) -> str:
    reasons = [s.reason for s in result.skipped if s.target == f"volume/{volume_id}"]
    assert len(reasons) == 1, reasons
    return reasons[0]
