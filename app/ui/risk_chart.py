"""The rightsizing risk curve as a Plotly figure: how often usage would have gone over each choice.

`app/ui/rec_detail.py` calls `risk_curve_figure(rec.evidence)` for a rightsizing recommendation
and draws the figure when it is not None. The evidence is the plain JSON the rightsizing engine
writes (`engines/rightsizing/report.py`): per resource a list of points {label, value,
exceed_share, monthly_cost}, the chosen point and the current one. One panel per resource: x is
the request (cores, MiB), y the share of observed samples above it (CPU throttling, memory OOM
at the limit), the hover the monthly cost of that choice. plotly is imported when a figure is
built, as in `app/ui/charts.py`, so pages that draw no chart do not pay for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import plotly.graph_objects as go

MIB = 2**20
PANELS = (("cpu", "CPU request (cores)", "throttling risk"), ("memory", "memory request (MiB)", "OOM risk"))


def _point(raw: Any, scale: float) -> tuple[str, float, float, str] | None:
    """(label, x, y in percent, cost text), or None for a malformed point (it is left out, not drawn wrong)."""
    if not isinstance(raw, Mapping):
        return None
    try:
        value = float(raw["value"]) / scale
        share = float(raw["exceed_share"]) * 100
        cost = Decimal(str(raw.get("monthly_cost", "0")))
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return None
    if not (math.isfinite(value) and math.isfinite(share)) or not cost.is_finite():
        return None
    return str(raw.get("label", "")), value, share, f"${cost:,.2f}"


def _panel(curve: Mapping[str, Any], scale: float) -> tuple[list[tuple[str, float, float, str]], Any, Any]:
    raw_points = curve.get("points")
    points = [p for p in (_point(r, scale) for r in raw_points) if p is not None] if isinstance(raw_points, list) else []
    return sorted(points, key=lambda p: p[1]), _point(curve.get("chosen"), scale), _point(curve.get("current"), scale)


def risk_curve_figure(evidence: Mapping[str, Any]) -> go.Figure | None:
    """The risk curve of one recommendation, or None when its evidence holds no usable curve."""
    curves = evidence.get("risk_curve") if isinstance(evidence, Mapping) else None
    if not isinstance(curves, Mapping):
        return None
    panels = []
    for key, x_title, risk in PANELS:
        curve = curves.get(key)
        if not isinstance(curve, Mapping):
            continue
        scale = MIB if key == "memory" else 1.0
        points, chosen, current = _panel(curve, scale)
        if points or chosen:
            panels.append((key, x_title, risk, points, chosen, current, bool(curve.get("held"))))
    if not panels:
        return None

    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=len(panels), subplot_titles=[
        f"{key.upper() if key == 'cpu' else 'Memory'}: {risk}" + (" (kept: HPA)" if held else "")
        for key, _, risk, _, _, _, held in panels])
    hover = "%{text}<br>%{x:.3f}<br>%{y:.2f}% of samples above<br>%{customdata} / month<extra></extra>"
    for col, (_key, x_title, _risk, points, chosen, current, _held) in enumerate(panels, start=1):
        if points:
            figure.add_trace(go.Scatter(
                x=[p[1] for p in points], y=[p[2] for p in points], text=[p[0] for p in points],
                customdata=[p[3] for p in points], mode="lines+markers+text", textposition="top center",
                name="percentile choices", legendgroup="curve", showlegend=col == 1, hovertemplate=hover,
                line={"color": "#4C78A8"}), row=1, col=col)
        for point, name, symbol, color in ((current, "current", "diamond", "#888888"),
                                           (chosen, "recommended", "star", "#E45756")):
            if point is None:
                continue
            figure.add_trace(go.Scatter(
                x=[point[1]], y=[point[2]], text=[f"{name}: {point[0]}"], customdata=[point[3]], mode="markers",
                marker={"symbol": symbol, "size": 14, "color": color}, name=name, legendgroup=name,
                showlegend=col == 1, hovertemplate=hover), row=1, col=col)
        figure.update_xaxes(title_text=x_title, row=1, col=col)
        figure.update_yaxes(title_text="% of samples above" if col == 1 else None, rangemode="tozero", row=1, col=col)
    figure.update_layout(height=340, margin={"t": 50, "b": 10}, legend={"orientation": "h", "y": -0.25})
    return figure
