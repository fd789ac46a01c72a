"""Spot risk predictions: recorded during a scan, stored, and compared with the interruptions that came.

The scan pipeline calls `scorer_for_scan` (the active uploaded model, else the Advisor prior,
wrapped in a `RecordingScorer`) and, after the scan, `store_predictions`. `cloudoptim models
report` (and later the Models page) call `prediction_report`.

How the comparison is counted (CloudOptim keeps no node history, so this is an estimate):
- a prediction holds from its scan until the scorer's next scan, at most `MAX_GAP_HOURS` (a
  scorer that stops running stops accruing hours); the last one holds until `now`, same cap;
- instances per pool = the Spot nodes of that type and zone in the latest collection (`nodes`
  table), at least one; so hours are "instance-hours" when Spot nodes run there now and
  "pool-hours" (one instance assumed) otherwise: each row says which;
- expected interruptions = sum of p x hours x instances; actual = interruption warnings
  (spot_warnings) in the pool from its first prediction to the end of its last one. A warning's
  pool is the one the handler recorded (`detail.pool`), else the node row of its instance; a
  warning whose pool is unknown is counted in `unplaced`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from scipy.stats import poisson
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db import session_scope
from app.db.models import Cluster, Node, SpotWarning
from app.db.tables_cloud import SpotPrediction
from app.db.types import utcnow
from app.services.spot_models import load_active_scorer
from engines.spot.scorer import FEATURE_NAMES, AdvisorPriorScorer, PoolFeatures, SpotRiskScorer

log = logging.getLogger(__name__)

MAX_GAP_HOURS = 24.0  # scans run hourly to daily; a longer gap means the scorer was not running
INTERRUPTION = "EC2 Spot Instance Interruption Warning"
PoolKey = tuple[str, str, str]  # region, instance type, zone


@dataclass
class RecordingScorer:
    """A `SpotRiskScorer` that remembers what it answered, so the scan's predictions can be stored.

    With a `fallback`, a failing model does not fail the scan: the fallback answers (and its
    answers are recorded under its own name, without the model id).
    """

    inner: SpotRiskScorer
    fallback: SpotRiskScorer | None = None
    records: list[tuple[str, bool, PoolFeatures, float]] = field(default_factory=list)
    error: str | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        scorer, by_inner = self.inner, True
        try:
            out = scorer.p_interruption_hour(pools)
        except Exception as exc:
            if self.fallback is None:
                raise
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("Spot risk model %s failed (%s); %s answers instead", scorer.name, self.error, self.fallback.name)
            scorer, by_inner = self.fallback, False
            out = scorer.p_interruption_hour(pools)
        self.records.extend((scorer.name, by_inner, pool, p) for pool, p in zip(pools, out, strict=True))
        return out


def scorer_for_scan(db: Engine) -> tuple[RecordingScorer, int | None]:
    """The scorer a scan passes as `ctx.models[SPOT_RISK_MODEL]`, and the model id to store with it."""
    model = load_active_scorer(db)
    if model is None:
        return RecordingScorer(AdvisorPriorScorer()), None
    return RecordingScorer(model, fallback=AdvisorPriorScorer()), model.model_id


def store_predictions(db: Engine, scorer: RecordingScorer, *, scan_run_id: int | None, model_id: int | None,
                      now: datetime) -> int:  # fmt: skip
    """Write the scan's predictions, one row per scorer and pool (the last answer wins); returns the count."""
    latest: dict[tuple[str, str, str, str], tuple[bool, PoolFeatures, float]] = {}
    for name, by_inner, pool, p in scorer.records:
        latest[(name, pool.region, pool.instance_type, pool.zone)] = (by_inner, pool, p)
    rows = []
    for (name, region, itype, zone), (by_inner, pool, p) in sorted(latest.items()):
        values = asdict(pool)
        rows.append(SpotPrediction(model_id=model_id if by_inner else None, scorer=name, scan_run_id=scan_run_id,
                                   region=region, instance_type=itype, zone=zone, p_interruption_hour=float(p),
                                   features={n: values[n] for n in FEATURE_NAMES}, predicted_at=now))  # fmt: skip
    if rows:
        with session_scope(db) as session:
            session.add_all(rows)
    return len(rows)


@dataclass(frozen=True)
class PoolComparison:
    """One scorer's predictions for one pool against what happened there."""

    scorer: str
    region: str
    instance_type: str
    zone: str
    predictions: int
    mean_p_hour: float
    hours: float
    instances: int
    hours_basis: str
    expected: float
    actual: int
    first_at: datetime
    until: datetime


@dataclass(frozen=True)
class Calibration:
    """One scorer over all its pools: expected vs actual interruptions, and whether they agree."""

    scorer: str
    pools: int
    expected: float
    actual: int
    ratio: float | None
    p_value: float
    verdict: str


@dataclass(frozen=True)
class PredictionReport:
    rows: list[PoolComparison]
    summary: list[Calibration]
    unplaced: int  # interruption warnings in the window whose pool is unknown


def _agreement(expected: float, actual: int) -> tuple[float, str]:
    """Two-sided Poisson test of `actual` against `expected`, with the verdict in words."""
    if expected <= 0.0:
        return (1.0, "no exposure to judge") if actual == 0 else (0.0, "under-predicts: interruptions where none were expected")
    tail = poisson.cdf(actual, expected) if actual < expected else poisson.sf(actual - 1, expected)
    p = float(min(1.0, 2.0 * tail))
    if expected < 1.0 and actual == 0:
        return p, "too little exposure to judge (under one interruption expected)"
    if p >= 0.05:
        return p, "consistent with the interruptions observed"
    return p, "over-predicts (fewer interruptions than expected)" if actual < expected else "under-predicts (more interruptions than expected)"


def _warning_pools(session: Session, start: datetime, end: datetime) -> tuple[dict[PoolKey, list[datetime]], int]:
    warnings = session.exec(select(SpotWarning).where(SpotWarning.detail_type == INTERRUPTION)).all()
    by_instance = {n.instance_id: n for n in session.exec(select(Node).where(col(Node.instance_id).is_not(None))).all()}
    placed: dict[PoolKey, list[datetime]] = {}
    unplaced = 0
    for w in warnings:
        at = w.event_time or w.received_at
        if not start <= at <= end:
            continue
        pool = (w.detail or {}).get("pool") or {}
        itype, zone = pool.get("instance_type"), pool.get("zone")
        node = by_instance.get(w.instance_id)
        if not (itype and zone) and node is not None:
            itype, zone = node.instance_type, node.zone
        if itype and zone:
            placed.setdefault((w.region, str(itype), str(zone)), []).append(at)
        else:
            unplaced += 1
    return placed, unplaced


def prediction_report(db: Engine, *, scorer: str | None = None, since: datetime | None = None,
                      now: datetime | None = None) -> PredictionReport:  # fmt: skip
    """Predicted vs actual interruptions per scorer and pool, then per scorer (see the module doc)."""
    now = now or utcnow()
    with Session(db) as session:
        query = select(SpotPrediction).where(col(SpotPrediction.predicted_at) <= now)
        if scorer is not None:
            query = query.where(SpotPrediction.scorer == scorer)
        if since is not None:
            query = query.where(col(SpotPrediction.predicted_at) >= since)
        preds = session.exec(query.order_by(col(SpotPrediction.predicted_at))).all()
        spot_nodes = Counter(
            (region, itype, zone) for itype, zone, region in session.exec(
                select(Node.instance_type, Node.zone, Cluster.region).join(Cluster)
                .where(Node.capacity_type == "spot")).all())  # fmt: skip
        start = min((p.predicted_at for p in preds), default=now)
        warnings, unplaced = _warning_pools(session, start, now)
    cap = timedelta(hours=MAX_GAP_HOURS)
    scans: dict[str, list[datetime]] = {}
    for p in preds:
        scans.setdefault(p.scorer, []).append(p.predicted_at)
    next_scan = {name: dict(zip(sorted(set(ts)), [*sorted(set(ts))[1:], now], strict=True)) for name, ts in scans.items()}
    # scorer, pool -> (p, hours held, when it was made, until when it held)
    grouped: dict[tuple[str, str, str, str], list[tuple[float, float, datetime, datetime]]] = {}
    for p in preds:
        end = min(next_scan[p.scorer][p.predicted_at], p.predicted_at + cap)
        hours = max((end - p.predicted_at).total_seconds() / 3600, 0.0)
        key = (p.scorer, p.region, p.instance_type, p.zone)
        grouped.setdefault(key, []).append((p.p_interruption_hour, hours, p.predicted_at, end))
    rows = []
    for (name, region, itype, zone), items in sorted(grouped.items()):
        first, until = min(i[2] for i in items), max(i[3] for i in items)
        nodes = spot_nodes.get((region, itype, zone), 0)
        instances = max(nodes, 1)
        basis = f"instance-hours ({nodes} Spot nodes now)" if nodes else "pool-hours (no Spot node there now; one assumed)"
        actual = sum(1 for at in warnings.get((region, itype, zone), []) if first <= at <= until)
        rows.append(PoolComparison(name, region, itype, zone, len(items), sum(i[0] for i in items) / len(items),
                                   sum(i[1] for i in items) * instances, instances, basis,
                                   sum(i[0] * i[1] for i in items) * instances, actual, first, until))  # fmt: skip
    summary = []
    for name in sorted({r.scorer for r in rows}):
        mine = [r for r in rows if r.scorer == name]
        expected, actual = sum(r.expected for r in mine), sum(r.actual for r in mine)
        p_value, verdict = _agreement(expected, actual)
        summary.append(Calibration(name, len(mine), expected, actual, actual / expected if expected > 0 else None,
                                   p_value, verdict))  # fmt: skip
    return PredictionReport(rows, summary, unplaced)
