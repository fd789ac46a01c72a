"""The risk curve figure (app/ui/risk_chart.py) drawn from a real rightsizing recommendation's evidence."""

from __future__ import annotations

from typing import Any

from app.ui.risk_chart import risk_curve_figure
from tests.engines.test_rightsizing_helpers import pod, run, snapshot, steady, usage


def evidence() -> dict[str, Any]:
    c, m = steady()
    result = run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)]))
    return result.recommendations[0].evidence


def test_the_figure_has_a_curve_the_current_and_the_recommended_point_per_resource() -> None:
    ev = evidence()
    figure = risk_curve_figure(ev)
    assert figure is not None
    names = [t.name for t in figure.data]
    assert names == ["percentile choices", "current", "recommended"] * 2
    cpu_curve = figure.data[0]
    assert list(cpu_curve.text) == ["p50", "p90", "p95", "p99", "max"]
    assert list(cpu_curve.y) == [p["exceed_share"] * 100 for p in ev["risk_curve"]["cpu"]["points"]]
    memory_chosen = figure.data[5]
    assert memory_chosen.x[0] == ev["risk_curve"]["memory"]["chosen"]["value"] / 2**20  # drawn in MiB
    assert memory_chosen.customdata[0] == f"${float(ev['risk_curve']['memory']['chosen']['monthly_cost']):,.2f}"


def test_evidence_without_a_curve_gives_no_figure() -> None:
    assert risk_curve_figure({}) is None
    assert risk_curve_figure({"risk_curve": "garbage"}) is None
    assert risk_curve_figure({"risk_curve": {"cpu": {"points": [{"label": "p50"}]}}}) is None


def test_malformed_points_are_left_out_rather_than_drawn_wrong() -> None:
    ev = {"risk_curve": {"cpu": {"points": [
        {"label": "p50", "value": 0.2, "exceed_share": 0.5, "monthly_cost": "10.00"},
        {"label": "p90", "value": "NaN", "exceed_share": 0.1, "monthly_cost": "11.00"},
        {"label": "p95", "value": 0.3, "exceed_share": None, "monthly_cost": "12.00"},
    ], "chosen": {"label": "p50", "value": 0.2, "exceed_share": 0.5, "monthly_cost": "10.00"}}}}
    figure = risk_curve_figure(ev)
    assert figure is not None
    assert list(figure.data[0].text) == ["p50"]
    assert [t.name for t in figure.data] == ["percentile choices", "recommended"]
