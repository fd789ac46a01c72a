"""Scan runs: recommendations stored once per fingerprint, obsolete ones marked, runs recorded,
per-cluster engine settings validated on save and load."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster
from app.db.tables_recs import EngineSetting, ScanRun
from app.db.tables_recs import Recommendation as RecRow
from app.pricing import load_price_book
from app.services.engine_settings import EngineSettingsError, load_engine_settings, save_engine_settings
from app.services.scans import scan_and_store
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot


def _cluster(engine: Engine) -> int:
    with Session(engine) as s:
        c = Cluster(name="prod-east", region="us-east-1")
        s.add(c)
        s.commit()
        assert c.id is not None
        return c.id


def test_a_scan_stores_recommendations_and_a_scan_run_with_counts(engine: Engine) -> None:
    cid = _cluster(engine)
    out = scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    with Session(engine) as s:
        rows = s.exec(select(RecRow)).all()
        run = s.exec(select(ScanRun)).one()
    assert rows and len(rows) == len(out.recommendations)
    assert all(r.monthly_savings == r.current_monthly_cost - r.projected_monthly_cost for r in rows)
    assert run.status == "succeeded" and run.finished_at is not None and run.duration_s is not None
    binpack = [r for r in rows if r.engine == "binpack"]
    assert binpack and run.counts["binpack"]["recommendations"] == len(binpack)
    assert Decimal(run.counts["binpack"]["monthly_savings"]) == sum(r.monthly_savings for r in binpack)
    assert sum(c["recommendations"] for c in run.counts.values()) == len(rows)


def test_a_recommendation_seen_twice_is_updated_not_duplicated(engine: Engine) -> None:
    cid = _cluster(engine)
    for _ in range(2):
        scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    with Session(engine) as s:
        rows = s.exec(select(RecRow)).all()
        runs = s.exec(select(ScanRun)).all()
    assert len(runs) == 2
    assert len({r.fingerprint for r in rows}) == len(rows)
    assert {r.scan_run_id for r in rows} == {runs[1].id}


def test_a_recommendation_that_disappears_is_marked_obsolete(engine: Engine) -> None:
    cid = _cluster(engine)
    scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    cluster = wasteful_snapshot().cluster
    assert cluster is not None
    tidy = wasteful_snapshot().model_copy(update={"cluster": cluster.model_copy(update={"nodes": cluster.nodes[:1], "pods": ()})})
    scan_and_store(engine, tidy, default_registry(), load_price_book(), cluster_id=cid)
    with Session(engine) as s:
        statuses = {r.target: r.status for r in s.exec(select(RecRow)).all()}
    assert "obsolete" in statuses.values()


def test_invalid_engine_settings_are_refused_on_save_and_nothing_is_written(engine: Engine) -> None:
    cid = _cluster(engine)
    binpack = default_registry().get("binpack")
    field = next(iter(binpack.Settings.model_fields))
    with pytest.raises(EngineSettingsError, match="binpack settings submitted are invalid"):
        save_engine_settings(engine, cid, binpack, {field: {"not": "valid"}})
    with Session(engine) as s:
        assert s.exec(select(EngineSetting)).all() == []


def test_corrupt_stored_settings_fail_that_engine_only_and_the_run_records_why(engine: Engine) -> None:
    cid = _cluster(engine)
    binpack = default_registry().get("binpack")
    field = next(iter(binpack.Settings.model_fields))
    with Session(engine) as s:
        s.add(EngineSetting(cluster_id=cid, engine="binpack", values={field: {"not": "valid"}}))
        s.commit()
    with pytest.raises(EngineSettingsError):
        load_engine_settings(engine, cid, binpack)
    out = scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    assert out.outcomes[0].error and "stored for cluster" in out.outcomes[0].error
    with Session(engine) as s:
        run = s.exec(select(ScanRun)).one()
    # The other engines ran: the run is partial, and says which engine failed and why.
    assert run.status == "partial" and run.error and "binpack" in run.error
    assert all(o.error is None for o in out.outcomes[1:])
