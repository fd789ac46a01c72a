"""The Audit log tab of the Settings and users page (`pages/admin.py`).

Filters (actor, action, target text, date range) and the page number go to `app.services.audit`,
which filters, counts and pages in SQL; only one page of rows reaches the browser. The CSV and
JSON downloads export every row the filters match, built only when the button is clicked.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from app.services.access import Principal
from app.services.audit import (
    PAGE_SIZE,
    AuditFilter,
    AuditFilterError,
    AuditRow,
    audit_choices,
    audit_page,
    export_csv,
    export_json,
)
from app.ui.format import md_escape

EVERYONE, EVERY_ACTION = "(everyone)", "(every action)"


def _details(row: AuditRow) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(row.details.items()))[:300]


def _frame(rows: list[AuditRow]) -> pd.DataFrame:
    return pd.DataFrame([{"When (UTC)": f"{r.at:%Y-%m-%d %H:%M:%S}", "Actor": r.actor, "Action": r.action,
                          "Target": r.target, "Execution": r.execution_id, "Details": _details(r)} for r in rows])  # fmt: skip


def _date(value: object) -> date | None:
    return value if isinstance(value, date) else None


def _filters(db: Engine, who: Principal) -> AuditFilter:
    actors, actions = audit_choices(db, actor=who)
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 1, 1])
    actor = c1.selectbox("Actor", [EVERYONE, *actors], key="audit_actor")
    action = c2.selectbox("Action", [EVERY_ACTION, *actions], key="audit_action")
    target = c3.text_input("Target contains", key="audit_target", placeholder="e.g. user/ or node-a")
    since = c4.date_input("From", value=None, key="audit_since")
    until = c5.date_input("To", value=None, key="audit_until")
    return AuditFilter(actor="" if actor == EVERYONE else str(actor), action="" if action == EVERY_ACTION else str(action),
                       target=target, since=_date(since), until=_date(until))  # fmt: skip


def audit_tab(db: Engine, who: Principal) -> None:
    st.subheader("Audit log")
    st.caption("Every change, by whom; newest first. Dates are UTC days, both ends included.")
    found = _filters(db, who)
    page_no = int(st.number_input("Page", min_value=1, value=1, step=1, key="audit_page"))
    try:
        page = audit_page(db, found, page_no, actor=who)
    except AuditFilterError as exc:
        st.error(md_escape(exc))
        return
    if not page.rows:
        st.info("No audit row matches these filters." if page.total == 0 and found != AuditFilter()
                else "The audit log is empty.")  # fmt: skip
        return
    st.dataframe(_frame(page.rows), hide_index=True, width="stretch")
    first = (page.page - 1) * PAGE_SIZE + 1
    st.caption(f"Rows {first}–{first + len(page.rows) - 1} of {page.total} (page {page.page} of {page.pages}).")
    d1, d2, _ = st.columns([1, 1, 4])
    d1.download_button("Export CSV", data=lambda: export_csv(db, found, actor=who), file_name="audit.csv",
                       mime="text/csv", key="audit_csv", on_click="ignore")  # fmt: skip
    d2.download_button("Export JSON", data=lambda: export_json(db, found, actor=who), file_name="audit.json",
                       mime="application/json", key="audit_json", on_click="ignore")  # fmt: skip
