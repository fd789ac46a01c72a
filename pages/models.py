"""Models page: the Spot risk models (skops) with their validation result, the upload form and
activate/deactivate for admins, and predictions vs actual interruptions."""

from __future__ import annotations

import streamlit as st

from app.services.access import Permission
from app.services.spot_models import list_models
from app.ui.auth import principal
from app.ui.context import get_engine
from app.ui.models import model_rows, prediction_section, show_notice, switch_section, upload_form

st.title("Models")
db, who = get_engine(), principal()
show_notice()
models = list_models(db)
active = next((m for m in models if m.active), None)
st.caption(f"Spot risk scorer in use: {active.name if active else 'the default (Spot Advisor prior)'}.")
if models:
    st.dataframe(model_rows(models), hide_index=True, width="stretch", key="models_table",
                 column_config={"Reason": st.column_config.TextColumn(width="large")})  # fmt: skip
else:
    st.info("No Spot risk model has been uploaded; scans use the Spot Advisor prior.", icon=":material/info:")
if who.can(Permission.UPLOADS):
    if models:
        switch_section(db, models, who)
    upload_form(db, who)

st.subheader("Predictions vs actual interruptions")
days = int(st.selectbox("Window", [7, 30, 90], index=1, format_func=lambda d: f"last {d} days", key="model_report_days"))
prediction_section(db, days)
