"""The Engines page's upload section: upload a .py engine module, see each upload's state and
validation report, and enable or disable the ones that passed.

`upload_section(db)` is called by pages/engines.py under its "Uploaded engines" header. The
checks and the sandbox are app.services.engine_uploads' (the worker validates in a subprocess);
this widget only shows the outcome: the reason when an upload is refused or fails, the report
(each check, the limits, whether the network was isolated) in an expander. Upload and
enable/disable are drawn for admins only (`can(Permission.UPLOADS)`); the service refuses the rest.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from sqlalchemy import Engine

from app.db.states import UploadState
from app.services.access import Permission, Principal
from app.services.engine_uploads import (
    MAX_BYTES,
    UploadRefused,
    UploadView,
    list_uploads,
    set_upload_enabled,
    upload_engine,
)
from app.services.upload_reports import ValidationReport
from app.ui.auth import can, principal
from app.ui.format import md_escape, when, yes_no

NOTICE_KEY = "engine_upload_notice"
_STATE_ICON = {UploadState.PENDING: "⏳", UploadState.VALIDATING: "⚙️", UploadState.PASSED: "✅", UploadState.FAILED: "❌"}


def upload_rows(uploads: list[UploadView]) -> list[dict[str, Any]]:
    return [
        {
            "Name": u.name, "State": u.state.value, "Enabled": yes_no(u.enabled), "File": u.filename,
            "SHA-256": u.sha256, "Size (bytes)": u.size_bytes, "Uploaded by": u.uploaded_by,
            "Uploaded": when(u.uploaded_at), "Validated": when(u.validated_at), "Reason": u.reason,
        }  # fmt: skip
        for u in uploads
    ]


def _notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        kind, text = notice
        getattr(st, kind)(md_escape(text), icon=":material/task_alt:" if kind == "success" else ":material/error:")


def _upload_form(db: Engine, who: Principal) -> None:
    with st.form("engine_upload", clear_on_submit=False):
        upload = st.file_uploader(
            f"Engine module (.py, up to {MAX_BYTES // 1024} KiB)", type=["py"], key="engine_upload_file",
            help="One subclass of engines.uploaded.DecisionEngine with name, title, a documented Settings model "
                 "and scan(); it is validated in a sandboxed subprocess before it can be enabled.",
        )  # fmt: skip
        submitted = st.form_submit_button("Upload engine", type="primary")
    if not submitted:
        return
    if upload is None:
        st.error("Choose a .py file to upload.", icon=":material/error:")
        return
    try:
        outcome = upload_engine(db, upload.name, upload.getvalue(), actor=who)
    except (UploadRefused, PermissionError) as exc:
        st.error(f"Upload refused, nothing was stored: {md_escape(exc)}", icon=":material/error:")
        return
    if outcome.state is UploadState.FAILED:
        st.error(f"{md_escape(outcome.message)}. It is kept as failed so the reason stays visible; fix it and "
                 "upload it again.", icon=":material/gpp_bad:")  # fmt: skip
    else:
        st.success(md_escape(outcome.message), icon=":material/task_alt:")


def _switch(db: Engine, name: str, on: bool, who: Principal) -> None:
    # A button callback: the notice shows on the rerun.
    try:
        set_upload_enabled(db, name, on, actor=who)
    except (UploadRefused, PermissionError) as exc:
        st.session_state[NOTICE_KEY] = ("error", str(exc))
        return
    st.session_state[NOTICE_KEY] = ("success", f"{name} is enabled: the next scans run it in the sandbox." if on
                                    else f"{name} is disabled.")  # fmt: skip


def _report(report: ValidationReport | None, state: UploadState) -> None:
    if report is None:
        st.caption("Waiting for the worker to validate it in the sandbox." if state in
                   (UploadState.PENDING, UploadState.VALIDATING) else "No report.")  # fmt: skip
        return
    st.dataframe([{"Check": c.name, "Passed": yes_no(c.passed), "Message": c.message} for c in report.checks],
                 hide_index=True, width="stretch")  # fmt: skip
    facts = [f"Ran on: {report.snapshot}" if report.snapshot else "",
             f"Network isolated: {yes_no(bool(report.network_isolated))} ({report.network})" if report.network else "",
             f"Filesystem: {report.filesystem}" if report.filesystem else "",
             f"Processes: {report.processes}" if report.processes else "",
             f"Exit: {report.exit}" if report.exit else "",
             f"Duration: {report.duration_s:.2f} s" if report.duration_s is not None else "",
             f"Recommendations returned: {report.output_count}" if report.output_count is not None else ""]  # fmt: skip
    st.markdown("\n".join(f"- {md_escape(f)}" for f in facts if f))
    if report.limits:
        st.caption(md_escape("Limits: " + "; ".join(f"{k} {v}" for k, v in report.limits)))
    if report.stderr_tail.strip():
        st.code(report.stderr_tail[-1000:], language="text")


def upload_section(db: Engine) -> None:
    """Draw the upload form (admins), the uploads table and one expander per upload."""
    who = principal()
    admin = can(Permission.UPLOADS)
    _notice()
    if admin:
        _upload_form(db, who)
    else:
        st.caption("Admins upload engine modules and enable them once they passed validation.")
    uploads = list_uploads(db)
    if not uploads:
        st.info("No engine module uploaded yet.", icon=":material/info:")
        return
    st.dataframe(upload_rows(uploads), hide_index=True, width="stretch", key="engine_uploads_table")
    for u in uploads:
        label = f"{u.name}: {u.state.value}{', enabled' if u.enabled else ''}{f' ({u.reason})' if u.reason else ''}"
        with st.expander(f"{_STATE_ICON.get(u.state, '')} {md_escape(label)}"):  # escaped: a "~" would strike through
            st.caption(md_escape(f"{u.filename}, SHA-256 {u.sha256}, uploaded by {u.uploaded_by} {when(u.uploaded_at)}"))
            _report(u.report, u.state)
            if admin:
                on, off, _ = st.columns([1, 1, 3])
                on.button("Enable", key=f"engine_upload_enable_{u.id}", type="primary",
                          disabled=u.enabled or u.state is not UploadState.PASSED, on_click=_switch,
                          args=(db, u.name, True, who),
                          help=None if u.state is UploadState.PASSED else "Only a module that passed can be enabled")  # fmt: skip
                off.button("Disable", key=f"engine_upload_disable_{u.id}", disabled=not u.enabled, on_click=_switch,
                           args=(db, u.name, False, who))  # fmt: skip
