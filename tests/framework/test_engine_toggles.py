"""Engines switched off per cluster: the next scan leaves them out, an explicit engine list still
runs them, switching every engine off fails the run with a reason, and only admins may switch."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster
from app.db.states import Role, ScanStatus
from app.db.tables_recs import AuditEvent, ScanRun
from app.pricing import load_price_book
from app.services.access import AccessDenied, Principal
from app.services.engine_toggles import disabled_engines, set_engine_enabled
from app.services.scans import scan_and_store
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot

ADMIN = Principal("ada", Role.ADMIN)


def _cluster(engine: Engine, name: str = "prod-east") -> int:
    with Session(engine) as s:
        c = Cluster(name=name, region="us-east-1")
        s.add(c)
        s.commit()
        assert c.id is not None
        return c.id


def test_a_switched_off_engine_is_left_out_of_the_next_scan_of_that_cluster_only(engine: Engine) -> None:
    cid, other = _cluster(engine), _cluster(engine, "prod-west")
    set_engine_enabled(engine, cid, "binpack", False, actor=ADMIN)
    registry, prices = default_registry(), load_price_book()
    out = scan_and_store(engine, wasteful_snapshot(), registry, prices, cluster_id=cid)
    assert "binpack" not in [o.engine for o in out.outcomes]
    assert [o.engine for o in out.outcomes] == [n for n in registry.names() if n != "binpack"]
    assert disabled_engines(engine, other) == set()
    again = scan_and_store(engine, wasteful_snapshot(), registry, prices, cluster_id=other)
    assert "binpack" in [o.engine for o in again.outcomes]


def test_an_explicit_engine_list_runs_a_switched_off_engine_once(engine: Engine) -> None:
    cid = _cluster(engine)
    set_engine_enabled(engine, cid, "binpack", False, actor=ADMIN)
    out = scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid,
                         engine_names=["binpack"])  # fmt: skip
    assert [o.engine for o in out.outcomes] == ["binpack"]


def test_switching_every_engine_off_fails_the_run_with_the_reason(engine: Engine) -> None:
    cid = _cluster(engine)
    registry = default_registry()
    for name in registry.names():
        set_engine_enabled(engine, cid, name, False, actor=ADMIN)
    out = scan_and_store(engine, wasteful_snapshot(), registry, load_price_book(), cluster_id=cid)
    assert out.status is ScanStatus.FAILED and not out.outcomes
    with Session(engine) as s:
        run = s.exec(select(ScanRun)).one()
    assert run.status == ScanStatus.FAILED and "switched off" in (run.error or "")


def test_switching_back_on_runs_it_again_and_each_switch_is_audited_with_the_user(engine: Engine) -> None:
    cid = _cluster(engine)
    set_engine_enabled(engine, cid, "binpack", False, actor=ADMIN)
    set_engine_enabled(engine, cid, "binpack", True, actor=ADMIN)
    assert disabled_engines(engine, cid) == set()
    with Session(engine) as s:
        actions = [(a.actor, a.action) for a in s.exec(select(AuditEvent).order_by(AuditEvent.id))]  # type: ignore[arg-type]
    assert actions == [("ada", "engine disabled"), ("ada", "engine enabled")]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.ANALYST])
def test_only_an_admin_may_switch_an_engine(engine: Engine, role: Role) -> None:
    cid = _cluster(engine)
    with pytest.raises(AccessDenied, match="admin role"):
        set_engine_enabled(engine, cid, "binpack", False, actor=Principal("val", role))
    assert disabled_engines(engine, cid) == set()
