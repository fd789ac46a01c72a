"""Recording Spot risk predictions during a scan and comparing them with the interruptions that came."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db import session_scope
from app.db.models import Cluster, Node, SpotWarning
from app.db.tables_cloud import SpotPrediction
from app.services.spot_models import SkopsRiskScorer, activate_model, add_model
from app.services.spot_predictions import (
    INTERRUPTION,
    RecordingScorer,
    prediction_report,
    scorer_for_scan,
    store_predictions,
)
from engines.spot.scorer import AdvisorPriorScorer, PoolFeatures
from tests.test_spot_models import POOLS, SCHEMA, logistic, training_data

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FixedScorer:
    """Plain test data: a fixed hourly probability per instance type."""

    p_by_type: dict[str, float] = field(default_factory=dict)
    name: str = "fixed"

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        return [self.p_by_type[p.instance_type] for p in pools]


def pool(itype: str, zone: str) -> PoolFeatures:
    return PoolFeatures("us-east-1", itype, zone, 3, 60, 2, 8.0, 0, 0.4)


M5, C5 = pool("m5.large", "us-east-1a"), pool("c5.xlarge", "us-east-1b")


def test_a_scan_without_an_active_model_scores_with_the_advisor_prior(engine: Engine) -> None:
    scorer, model_id = scorer_for_scan(engine)
    assert scorer.name == "advisor-prior" and model_id is None
    assert scorer.p_interruption_hour(POOLS) == AdvisorPriorScorer().p_interruption_hour(POOLS)


def test_predictions_are_stored_once_per_pool_per_scan_with_the_model_id(engine: Engine, tmp_path: Path) -> None:
    row = add_model(engine, logistic(tmp_path), name="lr", schema=SCHEMA, uploaded_by="ana")
    assert row.id is not None
    activate_model(engine, row.id)
    scorer, model_id = scorer_for_scan(engine)
    assert scorer.name == "lr" and model_id == row.id
    first = scorer.p_interruption_hour(POOLS)
    again = scorer.p_interruption_hour([POOLS[0]])  # the engine may score a pool twice in one scan
    assert store_predictions(engine, scorer, scan_run_id=None, model_id=model_id, now=T0) == 2
    with Session(engine) as session:
        rows = session.exec(select(SpotPrediction).order_by(SpotPrediction.instance_type)).all()
    assert [(r.instance_type, r.zone, r.scorer, r.model_id) for r in rows] == [
        ("c5.xlarge", "us-east-1b", "lr", row.id), ("m5.large", "us-east-1a", "lr", row.id)]  # fmt: skip
    assert rows[1].p_interruption_hour == pytest.approx(again[0]) and rows[0].p_interruption_hour == pytest.approx(first[1])
    assert rows[1].features["advisor_bucket"] == 3 and rows[1].features["observed_hours"] == 300.0
    assert rows[1].predicted_at == T0


def test_a_model_failing_during_the_scan_falls_back_to_the_default_and_says_so(engine: Engine) -> None:
    x, y = training_data()
    three_features = LogisticRegression(max_iter=2000).fit(x[:, :3], y)  # fed eight: predict raises
    broken = SkopsRiskScorer("broken", 1, three_features, tuple(SCHEMA["features"]), "probability")
    scorer = RecordingScorer(broken, fallback=AdvisorPriorScorer())
    assert scorer.p_interruption_hour(POOLS) == AdvisorPriorScorer().p_interruption_hour(POOLS)
    assert scorer.error is not None and "features" in scorer.error
    store_predictions(engine, scorer, scan_run_id=None, model_id=1, now=T0)
    with Session(engine) as session:
        rows = session.exec(select(SpotPrediction)).all()
    assert {(r.scorer, r.model_id) for r in rows} == {("advisor-prior", None)}


def _seed_estate_and_warnings(engine: Engine) -> None:
    """Two Spot m5.large nodes now; interruptions: one recorded by the handler, one found through the
    node table, one in another pool, one before the window and one whose pool nobody knows."""
    with session_scope(engine) as session:
        cluster = Cluster(name="prod", region="us-east-1", context="prod")
        session.add(cluster)
        session.flush()
        assert cluster.id is not None
        for i in range(2):
            session.add(Node(cluster_id=cluster.id, name=f"n{i}", instance_id=f"i-m5{i}", instance_type="m5.large",
                             zone="us-east-1a", capacity_type="spot"))  # fmt: skip
        warnings = [
            ("e1", "i-old", T0 + timedelta(minutes=30), {"pool": {"instance_type": "m5.large", "zone": "us-east-1a"}}),
            ("e2", "i-m50", T0 + timedelta(hours=2, minutes=5), {}),
            ("e3", "i-c5", T0 + timedelta(hours=1), {"pool": {"instance_type": "c5.xlarge", "zone": "us-east-1b"}}),
            ("e4", "i-m51", T0 - timedelta(days=2), {}),
            ("e5", "i-gone", T0 + timedelta(hours=1), {}),
        ]
        for event_id, instance, at, detail in warnings:
            session.add(SpotWarning(event_id=event_id, detail_type=INTERRUPTION, instance_id=instance,
                                    region="us-east-1", event_time=at, received_at=at, detail=detail))  # fmt: skip
        session.add(SpotWarning(event_id="r1", detail_type="EC2 Instance Rebalance Recommendation", instance_id="i-m50",
                                region="us-east-1", event_time=T0, received_at=T0))  # fmt: skip


def _scan(engine: Engine, at: datetime, p_by_type: dict[str, float], pools: list[PoolFeatures]) -> None:
    scorer = RecordingScorer(FixedScorer(p_by_type))
    scorer.p_interruption_hour(pools)
    store_predictions(engine, scorer, scan_run_id=None, model_id=None, now=at)


def test_the_report_compares_expected_with_actual_interruptions_per_pool_and_scorer(engine: Engine) -> None:
    _seed_estate_and_warnings(engine)
    for hour in range(3):  # hourly scans at 08:00, 09:00, 10:00; the report runs at 11:00
        _scan(engine, T0 + timedelta(hours=hour), {"m5.large": 0.25, "c5.xlarge": 0.5}, [M5, C5])
    report = prediction_report(engine, now=T0 + timedelta(hours=3))
    by_type = {r.instance_type: r for r in report.rows}
    m5, c5 = by_type["m5.large"], by_type["c5.xlarge"]
    assert (m5.predictions, m5.instances, m5.hours, m5.actual) == (3, 2, 6.0, 2)
    assert m5.expected == pytest.approx(0.25 * 3 * 2) and "instance-hours (2 Spot nodes now)" in m5.hours_basis
    assert (c5.instances, c5.hours, c5.actual) == (1, 3.0, 1) and c5.expected == pytest.approx(1.5)
    assert "pool-hours" in c5.hours_basis
    assert report.unplaced == 1  # i-gone: no pool in its row, no node with its id
    (summary,) = report.summary
    assert (summary.scorer, summary.pools, summary.actual) == ("fixed", 2, 3)
    assert summary.expected == pytest.approx(3.0) and summary.ratio == pytest.approx(1.0)
    assert summary.verdict == "consistent with the interruptions observed"


def test_a_scorer_expecting_far_more_interruptions_than_came_is_called_over_predicting(engine: Engine) -> None:
    for hour in range(10):
        _scan(engine, T0 + timedelta(hours=hour), {"m5.large": 0.9}, [M5])
    (summary,) = prediction_report(engine, now=T0 + timedelta(hours=10)).summary
    assert summary.actual == 0 and summary.expected == pytest.approx(9.0)
    assert summary.p_value < 0.05 and summary.verdict.startswith("over-predicts")


def test_a_prediction_holds_at_most_a_day_and_the_report_filters_by_scorer_and_window(engine: Engine) -> None:
    _scan(engine, T0, {"m5.large": 0.01}, [M5])
    _scan(engine, T0 + timedelta(days=3), {"m5.large": 0.01}, [M5])
    now = T0 + timedelta(days=3, hours=2)
    (row,) = prediction_report(engine, now=now).rows
    assert row.hours == pytest.approx(24.0 + 2.0)  # the three-day gap counts one day
    (recent,) = prediction_report(engine, since=T0 + timedelta(days=1), now=now).rows
    assert recent.predictions == 1 and recent.hours == pytest.approx(2.0)
    assert prediction_report(engine, scorer="advisor-prior", now=now).rows == []
    assert prediction_report(engine, now=now).summary[0].verdict.startswith("too little exposure")
