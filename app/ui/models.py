"""The Models page's pieces: the stored Spot risk models, the upload form (a skops file and its
feature schema, as fields or as JSON), activate/deactivate, and predictions vs actual
interruptions per pool as a Plotly chart.

Validation (size, skops trusted types, schema, trial prediction) is app.services.spot_models';
a rejected upload is stored with its reason and shown here. Writes need Permission.UPLOADS in
the service; the widgets are drawn for admins only. Used by pages/models.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.db.types import utcnow
from app.services.access import Principal
from app.services.spot_models import (
    MAX_MODEL_BYTES,
    OUTPUTS,
    ModelError,
    ModelView,
    activate_model,
    add_model,
    deactivate_model,
)
from app.services.spot_predictions import PredictionReport, prediction_report
from app.ui.context import get_prices
from app.ui.format import md_escape, when
from engines.spot.scorer import FEATURE_NAMES, FEATURES

NOTICE_KEY = "models_notice"
MAX_MB = MAX_MODEL_BYTES // 2**20


def state_of(m: ModelView) -> str:
    return "active" if m.active else ("rejected" if m.validation_error else "ready")


def model_rows(models: list[ModelView]) -> list[dict[str, Any]]:
    return [
        {
            "Id": m.id, "Name": m.name, "State": state_of(m), "Reason": m.validation_error or "",
            "Estimator": m.estimator, "Output": m.output, "Features": ", ".join(m.features),
            "Uploaded by": m.uploaded_by, "Uploaded": when(m.uploaded_at), "SHA-256": m.sha256[:12],
        }  # fmt: skip
        for m in models
    ]


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(md_escape(text), icon=":material/task_alt:" if kind == "success" else ":material/error:")


def _schema(features: list[str], output: str, text: str) -> Any:
    """The JSON text when given (ValueError naming the JSON problem), else the fields."""
    if text.strip():
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the schema is not JSON: {exc}") from exc
    return {"features": features, "output": output}


def upload_form(db: Engine, who: Principal) -> None:
    with st.form("model_upload", clear_on_submit=False):
        st.subheader("Upload a model")
        name = st.text_input("Name", key="model_name", help="unique; shown as the scorer of its predictions")
        upload = st.file_uploader(f"skops file (up to {MAX_MB} MiB)", type=["skops"], key="model_file",
                                  max_upload_size=MAX_MB, help="a scikit-learn estimator saved with skops.io.dump")  # fmt: skip
        features = st.multiselect("Features, in the order the model was trained on", list(FEATURE_NAMES),
                                  default=list(FEATURE_NAMES), key="model_features",
                                  help="; ".join(f"{k}: {v}" for k, v in FEATURES.items()))  # fmt: skip
        output = st.selectbox("Output", OUTPUTS, key="model_output",
                              help="probability: a classifier's predict_proba of class 1 (interrupted within the "
                                   "hour); p_interruption_hour: a regressor's hourly probability")  # fmt: skip
        text = st.text_area("Or the schema as JSON (overrides the fields)", key="model_schema_json",
                            placeholder='{"features": ["advisor_bucket", ...], "output": "probability"}')  # fmt: skip
        submitted = st.form_submit_button("Validate and store", type="primary")
    if not submitted:
        return
    if upload is None:
        st.error("Choose a skops file to upload.", icon=":material/error:")
        return
    if upload.size > MAX_MODEL_BYTES:
        st.error(f"{md_escape(upload.name)} is over {MAX_MB} MiB, the limit; nothing was stored.", icon=":material/error:")
        return
    try:
        schema = _schema(list(features), str(output), text)
        row = add_model(db, upload.getvalue(), name=name.strip(), schema=schema, actor=who, prices=get_prices())
    except (ValueError, PermissionError) as exc:  # ModelError is a ValueError: empty, too big, name taken
        st.error(f"Not stored: {md_escape(exc)}", icon=":material/error:")
        return
    if row.validation_error:
        st.error(f"Model {md_escape(row.name)} was rejected: {md_escape(row.validation_error)}. It is kept (id {row.id}) "
                 "so the reason stays visible, and cannot be activated.", icon=":material/gpp_bad:")  # fmt: skip
    else:
        st.success(f"Model {md_escape(row.name)} passed validation ({md_escape(row.meta.get('estimator', ''))}); "
                   "activate it below to make it the Spot risk scorer.", icon=":material/task_alt:")  # fmt: skip


def _switch(db: Engine, model_id: int, on: bool, who: Principal) -> None:
    # A button callback: the notice shows on the rerun.
    try:
        view = activate_model(db, model_id, actor=who) if on else deactivate_model(db, model_id, actor=who)
    except (ModelError, PermissionError) as exc:
        st.session_state[NOTICE_KEY] = ("error", str(exc))
        return
    st.session_state[NOTICE_KEY] = ("success", f"{view.name} is now the Spot risk scorer." if on else
                                    f"{view.name} deactivated; scans use the default scorer (Spot Advisor prior).")  # fmt: skip


def switch_section(db: Engine, models: list[ModelView], who: Principal) -> None:
    st.subheader("Activate or deactivate")
    by_id = {m.id: m for m in models}
    chosen = by_id[int(st.selectbox("Model", list(by_id), format_func=lambda i: f"{by_id[i].name} ({state_of(by_id[i])})",
                                    key="model_switch_id"))]  # fmt: skip
    a, d, _ = st.columns([1, 1, 3])
    a.button("Activate", key="model_activate", type="primary", disabled=chosen.active or bool(chosen.validation_error),
             on_click=_switch, args=(db, chosen.id, True, who),
             help="A rejected model cannot be activated" if chosen.validation_error else None)  # fmt: skip
    d.button("Deactivate", key="model_deactivate", disabled=not chosen.active, on_click=_switch,
             args=(db, chosen.id, False, who))  # fmt: skip


def prediction_chart(report: PredictionReport, scorer: str) -> Any:
    import plotly.graph_objects as go

    rows = [r for r in report.rows if r.scorer == scorer]
    pools = [f"{r.instance_type} {r.zone}" for r in rows]
    figure = go.Figure([
        go.Bar(name="expected interruptions", x=pools, y=[r.expected for r in rows],
               hovertext=[f"{r.predictions} predictions, mean p/hour {r.mean_p_hour:.5f}, {r.hours:.0f} {r.hours_basis}"
                          for r in rows]),
        go.Bar(name="actual interruptions", x=pools, y=[r.actual for r in rows]),
    ])  # fmt: skip
    figure.update_layout(barmode="group", height=340, margin={"t": 30, "b": 10}, yaxis_title="interruptions",
                         legend={"orientation": "h"})  # fmt: skip
    return figure


def prediction_section(db: Engine, days: int) -> None:
    report = prediction_report(db, since=utcnow() - timedelta(days=days))
    if not report.rows:
        st.info(f"No Spot predictions in the last {days} days: each scan stores the scorer's predictions, "
                "and interruption warnings are counted against them.", icon=":material/info:")  # fmt: skip
        return
    scorers = [c.scorer for c in report.summary]
    scorer = str(st.selectbox("Scorer", scorers, key="model_report_scorer"))
    summary = next(c for c in report.summary if c.scorer == scorer)
    ratio = "n/a" if summary.ratio is None else f"{summary.ratio:.2f}"
    st.caption(md_escape(f"{summary.pools} pools: expected {summary.expected:.2f} interruptions, actual {summary.actual} "
                         f"(actual/expected {ratio}, Poisson p={summary.p_value:.3f}): {summary.verdict}"))  # fmt: skip
    st.plotly_chart(prediction_chart(report, scorer), width="stretch", key="model_prediction_chart")
    if report.unplaced:
        st.warning(f"{report.unplaced} interruption warning(s) could not be placed in a pool and are not counted.")
