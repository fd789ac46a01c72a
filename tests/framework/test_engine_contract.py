"""Every registered engine honours the contract: documented, described settings, pure, safe on
empty input, deterministic, never negative savings, unique fingerprints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.pricing import load_price_book
from engines.contract import Engine, ScanContext
from engines.registry import default_registry
from tests.framework.estate import NOW, empty_snapshots, wasteful_snapshot

ENGINES = list(default_registry())


def _ctx(engine: Engine[Any]) -> ScanContext[Any]:
    return ScanContext(prices=load_price_book(), now=NOW, settings=engine.Settings())


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_the_engine_has_a_docstring_a_title_and_a_kebab_case_name(engine: Engine[Any]) -> None:
    assert (type(engine).__doc__ or "").strip()
    assert engine.title.strip()
    assert engine.name == engine.name.lower() and " " not in engine.name and "_" not in engine.name


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_every_settings_field_is_described(engine: Engine[Any]) -> None:
    fields = engine.Settings.model_fields
    assert fields, "an engine must expose at least one setting"
    undocumented = [name for name, f in fields.items() if not (f.description or "").strip()]
    assert undocumented == []


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
@pytest.mark.parametrize("snapshot", empty_snapshots(), ids=["no-cluster", "empty-cluster"])
def test_an_empty_snapshot_gives_no_recommendation_and_no_error(engine: Engine[Any], snapshot) -> None:  # type: ignore[no-untyped-def]
    assert engine.scan(snapshot, _ctx(engine)).recommendations == []


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_output_is_deterministic(engine: Engine[Any]) -> None:
    first = engine.scan(wasteful_snapshot(), _ctx(engine)).model_dump_json()
    second = engine.scan(wasteful_snapshot(), _ctx(engine)).model_dump_json()
    assert first == second


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_savings_are_never_negative_but_for_reliability_changes_and_fingerprints_are_unique(
    engine: Engine[Any],
) -> None:
    recs = engine.scan(wasteful_snapshot(), _ctx(engine)).recommendations
    assert all(r.monthly_savings >= 0 or r.purpose == "reliability" for r in recs)
    assert len({r.fingerprint for r in recs}) == len(recs)
    assert all(r.engine == engine.name and r.rationale for r in recs)


def test_the_wasteful_estate_gives_the_binpack_engine_something_to_do() -> None:
    engine = default_registry().get("binpack")
    recs = engine.scan(wasteful_snapshot(), _ctx(engine)).recommendations
    assert recs and sum(r.monthly_savings for r in recs) > 0


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_links_name_other_recommendations_of_the_same_scan(engine: Engine[Any]) -> None:
    recs = engine.scan(wasteful_snapshot(), _ctx(engine)).recommendations
    prints = {r.fingerprint for r in recs}
    for rec in recs:
        assert set(rec.depends_on) <= set(rec.related) <= prints - {rec.fingerprint}
        assert len(rec.related) == len(set(rec.related))


def test_the_fingerprint_ignores_links_prices_and_words() -> None:
    from engines.actions import DrainAndRemoveNode
    from engines.contract import Recommendation

    base = Recommendation(
        engine="e", cluster="c", target="node/a", action=DrainAndRemoveNode(node="a"),
        current_monthly_cost=Decimal("10"), projected_monthly_cost=Decimal("0"), rationale="r",
    )  # fmt: skip
    other = base.model_copy(
        update={"depends_on": ["x"], "related": ["x", "y"], "rationale": "s", "current_monthly_cost": Decimal("11")}
    )
    assert other.fingerprint == base.fingerprint
    assert base.depends_on == [] and base.related == []
    assert "depends_on" in Recommendation.model_fields and Recommendation.model_fields["related"].description
