"""The per-pool Spot interruption history read from spot_warnings, nodes and stored snapshots, on
SQLite and PostgreSQL (the `engine` fixture runs the migrations on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from app.db import session_scope
from app.db.models import Cluster, Node, SpotWarning, StoredSnapshot
from app.services.spot_history import INTERRUPTION, spot_pool_history
from engines.snapshot_aws import SpotPoolHistory

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _warning(n: int, instance_id: str, *, at: datetime, pool: tuple[str, str] | None = None,
             detail_type: str = INTERRUPTION, status: str = "handled", region: str = "us-east-1") -> SpotWarning:  # fmt: skip
    detail = {"pool": {"instance_type": pool[0], "zone": pool[1]}} if pool else {}
    return SpotWarning(event_id=f"e-{n}", detail_type=detail_type, instance_id=instance_id, region=region,
                       event_time=at, received_at=at, status=status, detail=detail)  # fmt: skip


def _seed(engine: Engine) -> None:
    with session_scope(engine) as session:
        east = Cluster(name="east", region="us-east-1")
        west = Cluster(name="west", region="us-west-2")
        session.add_all([east, west])
        session.flush()
        assert east.id is not None and west.id is not None
        session.add_all([
            Node(cluster_id=east.id, name="spot-a", instance_id="i-a", instance_type="m5.large", zone="us-east-1a",
                 capacity_type="spot"),
            Node(cluster_id=east.id, name="spot-new", instance_id="i-n", instance_type="m5.large", zone="us-east-1a",
                 capacity_type="spot"),
            Node(cluster_id=east.id, name="spot-c", instance_id="i-c", instance_type="c5.large", zone="us-east-1b",
                 capacity_type="spot"),
            Node(cluster_id=east.id, name="od", instance_id="i-od", instance_type="m5.large", zone="us-east-1a"),
            Node(cluster_id=east.id, name="spot-nodate", instance_id="i-x", instance_type="r5.large",
                 zone="us-east-1a", capacity_type="spot"),
            Node(cluster_id=west.id, name="spot-w", instance_id="i-w", instance_type="m5.large", zone="us-west-2a",
                 capacity_type="spot"),
        ])  # fmt: skip
        nodes = [
            {"name": "spot-a", "created_at": (NOW - timedelta(days=90)).isoformat()},  # older than the window
            {"name": "spot-new", "created_at": (NOW - timedelta(hours=10)).isoformat()},
            {"name": "spot-c", "created_at": (NOW - timedelta(hours=48)).isoformat()},
            {"name": "od", "created_at": (NOW - timedelta(days=5)).isoformat()},
            {"name": "spot-nodate"},
        ]
        session.add(StoredSnapshot(cluster_id=east.id, collected_at=NOW, data={"cluster": {"nodes": nodes}}))
        session.add_all([
            _warning(1, "i-gone", at=NOW - timedelta(days=2), pool=("m5.large", "us-east-1a")),
            _warning(2, "i-gone2", at=NOW - timedelta(days=3), pool=("m5.large", "us-east-1a")),
            _warning(3, "i-c", at=NOW - timedelta(days=1)),  # pool from the nodes row
            _warning(4, "i-old", at=NOW - timedelta(days=40), pool=("m5.large", "us-east-1a")),  # outside
            _warning(5, "i-dup", at=NOW - timedelta(days=1), pool=("m5.large", "us-east-1a"), status="ignored"),
            _warning(6, "i-reb", at=NOW - timedelta(days=1), pool=("m5.large", "us-east-1a"),
                     detail_type="EC2 Instance Rebalance Recommendation", status="recorded"),
            _warning(7, "i-unknown", at=NOW - timedelta(days=1)),  # no pool anywhere: left out
            _warning(8, "i-w", at=NOW - timedelta(days=1), region="us-west-2"),
        ])  # fmt: skip


def test_interruptions_and_exposure_hours_are_counted_per_pool_in_the_window(engine: Engine) -> None:
    _seed(engine)
    history = spot_pool_history(engine, "us-east-1", NOW, window_days=30)
    assert history == (
        SpotPoolHistory(instance_type="c5.large", zone="us-east-1b", interruptions=1, instance_hours=48.0),
        SpotPoolHistory(instance_type="m5.large", zone="us-east-1a", interruptions=2, instance_hours=30 * 24 + 10.0),
    )


def test_ignored_warnings_rebalance_recommendations_and_other_regions_do_not_count(engine: Engine) -> None:
    _seed(engine)
    west = spot_pool_history(engine, "us-west-2", NOW)
    assert [(h.instance_type, h.zone, h.interruptions) for h in west] == [("m5.large", "us-west-2a", 1)]
    short = spot_pool_history(engine, "us-east-1", NOW, window_days=1.5)
    m5 = next(h for h in short if h.instance_type == "m5.large")
    assert m5.interruptions == 0 and m5.window_days == 1.5
    assert m5.instance_hours == pytest.approx(36 + 10)


def test_an_empty_database_gives_no_history_and_a_naive_time_is_refused(engine: Engine) -> None:
    assert spot_pool_history(engine, "us-east-1", NOW) == ()
    with pytest.raises(ValueError, match="timezone-aware"):
        spot_pool_history(engine, "us-east-1", NOW.replace(tzinfo=None))
