"""The utilisation chart of a recommendation's detail panel, from the plain JSON evidence its engine
wrote, when the evidence has one.

Two shapes are drawn: a ghost-probe idle verdict lists measured `days` (average and peak CPU per
day, `engines/ghost/idle.py`); a bin-packing drain has the node's requested CPU and memory share
`before` and the share of each node its pods land on `after` (`engines/binpack/report.py`).
Anything else returns None (no chart, never a wrong one). Called by `app.ui.rec_detail.detail`;
plotly is imported only when a figure is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def _pct(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _days(evidence: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The daily CPU rows of an idle verdict, at the top or one level down (the ghost evidence nests it)."""
    for holder in (evidence, *(v for v in evidence.values() if isinstance(v, Mapping))):
        days = holder.get("days")
        if isinstance(days, list) and days and all(isinstance(d, Mapping) and "cpu_avg_percent" in d for d in days):
            return days
    return []


def _daily_figure(days: list[Mapping[str, Any]]) -> Any:
    import plotly.graph_objects as go

    xs = [str(d.get("day", "")) for d in days]
    traces = [go.Scatter(name="average CPU", x=xs, y=[_pct(d.get("cpu_avg_percent")) for d in days], mode="lines+markers",
                         hovertemplate="%{x}<br>average %{y:.1f} %<extra></extra>")]  # fmt: skip
    if any(_pct(d.get("cpu_max_percent")) is not None for d in days):
        traces.append(go.Scatter(name="peak CPU", x=xs, y=[_pct(d.get("cpu_max_percent")) for d in days],
                                 mode="lines", hovertemplate="%{x}<br>peak %{y:.1f} %<extra></extra>"))  # fmt: skip
    figure = go.Figure(traces)
    figure.update_layout(height=260, yaxis_title="CPU %", margin={"t": 10, "b": 10})
    return figure


def _nodes_figure(before: Mapping[str, Any], after: list[Any], node: str) -> Any:
    import plotly.graph_objects as go

    names = [f"{node} (now)"] + [f"{d.get('node')} (after)" for d in after if isinstance(d, Mapping)]
    rows = [before] + [d for d in after if isinstance(d, Mapping)]
    figure = go.Figure([
        go.Bar(name=label, x=names, y=[_pct(r.get(key)) for r in rows],
               hovertemplate=f"%{{x}}<br>{label} %{{y:.1f}} %<extra></extra>")
        for key, label in (("requested_cpu_percent", "CPU requested"), ("requested_memory_percent", "memory requested"))
    ])  # fmt: skip
    figure.update_layout(barmode="group", height=260, yaxis_title="% of allocatable", margin={"t": 10, "b": 10})
    return figure


def utilisation_figure(evidence: Mapping[str, Any] | None) -> Any | None:
    """A Plotly figure of the utilisation in `evidence`, or None when it has none."""
    if not isinstance(evidence, Mapping):
        return None
    days = _days(evidence)
    if days and any(_pct(d.get("cpu_avg_percent")) is not None for d in days):
        return _daily_figure(days)
    before, after = evidence.get("before"), evidence.get("after")
    if isinstance(before, Mapping) and _pct(before.get("requested_cpu_percent")) is not None:
        dests = after.get("destination_nodes") if isinstance(after, Mapping) else None
        return _nodes_figure(before, list(dests or []), str(evidence.get("node") or "node"))
    return None
