"""Charts for the pages, built from plain rows (no pandas frame in between).

The Overview's node-cost chart is a Vega-Lite spec (st.vega_lite_chart, light in the browser);
its dashboard charts (savings trend, savings by cluster, cost breakdown) and the Recommendations
page use Plotly (hover details). plotly.graph_objects is imported when a chart is drawn, instead
of plotly.express, which imports pandas and narwhals.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.services.dashboard import CostLine, TrendPoint


def stacked_bars(
    rows: Iterable[Mapping[str, Any]], *, x: str, y: str, color: str, y_title: str, title: str | None = None,
    height: int = 320, hover: str | None = None,
) -> Any:  # fmt: skip
    """A stacked bar chart: one trace per `color` value, bars summed per `x`."""
    import plotly.graph_objects as go

    sums: dict[str, dict[str, float]] = {}
    extra: dict[str, dict[str, Any]] = {}
    xs: list[str] = []
    for row in rows:
        key, series = str(row[x]), str(row[color])
        if key not in xs:
            xs.append(key)
        sums.setdefault(series, {})
        sums[series][key] = sums[series].get(key, 0.0) + float(row[y])
        if hover:
            extra.setdefault(series, {})[key] = extra.get(series, {}).get(key, 0) + row[hover]
    figure = go.Figure(
        [
            go.Bar(
                name=series, x=[k for k in xs if k in values], y=[values[k] for k in xs if k in values],
                customdata=[extra[series][k] for k in xs if k in values] if hover else None,
                hovertemplate=(f"%{{x}}<br>{series}<br>%{{y:$,.2f}}" + (f"<br>{hover}: %{{customdata}}" if hover else "")
                               + "<extra></extra>"),
            )  # fmt: skip
            for series, values in sums.items()
        ]
    )
    figure.update_layout(barmode="stack", height=height, title=title, yaxis_title=y_title, legend_title_text=color,
                         margin={"t": 40 if title else 10, "b": 10})  # fmt: skip
    return figure


def node_cost_chart(breakdown: list[dict[str, object]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(rows, Vega-Lite spec): monthly node cost per cluster, stacked by instance and capacity type."""
    rows = [
        {"cluster": str(r["cluster"]), "instance_type": f"{r['instance_type']} ({r['capacity_type']})",
         "monthly_cost": float(Decimal(str(r["monthly_cost"]))), "nodes": r["nodes"]}  # fmt: skip
        for r in breakdown
    ]
    spec = {
        "title": "Node cost by instance type",
        "height": 300,
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": "cluster", "type": "nominal", "title": None, "axis": {"labelAngle": 0}},
            "y": {"field": "monthly_cost", "type": "quantitative", "aggregate": "sum", "title": "$ / month"},
            "color": {"field": "instance_type", "type": "nominal", "title": "instance type"},
            "tooltip": [
                {"field": "cluster", "type": "nominal"},
                {"field": "instance_type", "type": "nominal", "title": "instance type"},
                {"field": "nodes", "type": "quantitative", "aggregate": "sum"},
                {"field": "monthly_cost", "type": "quantitative", "aggregate": "sum", "title": "$ / month", "format": "$,.2f"},
            ],
        },
    }  # fmt: skip
    return rows, spec


def savings_chart(rows: Iterable[Mapping[str, Any]]) -> Any:
    """Monthly savings per engine, stacked by cluster."""
    return stacked_bars(rows, x="engine", y="savings", color="cluster", y_title="$ / month", height=280)


def savings_trend_chart(points: Sequence[TrendPoint]) -> Any:
    """Cumulative monthly savings per day: identified, applied and realized, one line each."""
    import plotly.graph_objects as go

    days = [p.day.isoformat() for p in points]
    series = (("identified", [float(p.identified) for p in points]), ("applied", [float(p.applied) for p in points]),
              ("realized", [float(p.realized) for p in points]))  # fmt: skip
    figure = go.Figure([go.Scatter(name=name, x=days, y=ys, mode="lines",
                                   hovertemplate=f"%{{x}}<br>{name}<br>%{{y:$,.2f}} / month<extra></extra>")
                        for name, ys in series])  # fmt: skip
    figure.update_layout(height=300, yaxis_title="$ / month (cumulative)", legend_title_text="savings",
                         margin={"t": 10, "b": 10}, hovermode="x unified")  # fmt: skip
    return figure


def savings_by_cluster_chart(rows: Iterable[Mapping[str, Any]]) -> Any:
    """Monthly savings per cluster, stacked by engine."""
    return stacked_bars(rows, x="cluster", y="savings", color="engine", y_title="$ / month", height=280)


def cost_breakdown_chart(lines: Sequence[CostLine]) -> Any:
    """The estate's monthly cost per category; categories not collected are left out of the bars
    (the table beside it says so)."""
    import plotly.graph_objects as go

    known = [line for line in lines if line.monthly_cost is not None]
    figure = go.Figure([go.Bar(x=[float(line.monthly_cost or 0) for line in known], y=[line.category for line in known],
                               orientation="h", text=[f"${line.monthly_cost:,.2f}" for line in known],
                               hovertemplate="%{y}<br>%{x:$,.2f} / month<extra></extra>")])  # fmt: skip
    figure.update_layout(height=280, xaxis_title="$ / month", margin={"t": 10, "b": 10},
                         yaxis={"autorange": "reversed"})  # fmt: skip
    return figure
