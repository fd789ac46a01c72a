"""The Spot events page's widgets: the warnings table, one warning's timeline, the quarantined
messages, and the sandbox's "inject an interruption" control.

The injection runs `cloudoptim demo --inject spot-interruption --instance-id ID` as a short
subprocess: the running demo's sandbox endpoints are known to the CLI (its state file), and the
core never imports the sandbox. The event then travels like a real one (EventBridge rule, SQS
queue, the worker's Spot poller), so the page shows it only once the worker has recorded it.
Used by pages/spot_events.py.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import streamlit as st

from app.services.spot_views import QuarantinedView, SpotNodeView, SpotWarningView
from app.ui.format import md_escape, short_error

INJECT_TIMEOUT_S = 60
NOTICE_KEY = "spot_notice"


def _clock(view: SpotWarningView, at: Any) -> str:
    if at is None:
        return "—"
    after = view.seconds_to(at)
    return f"{at:%H:%M:%S} (+{after:g} s)" if after is not None else f"{at:%H:%M:%S}"


def warning_rows(views: list[SpotWarningView]) -> list[dict[str, Any]]:
    return [
        {
            "ID": v.id,
            "Kind": v.kind,
            "Cluster": v.cluster or "",
            "Node": v.node or "",
            "Instance": v.instance_id,
            "Status": v.status.value,
            "Event time": f"{v.event_time:%Y-%m-%d %H:%M:%S}" if v.event_time else "—",
            "Received": _clock(v, v.received_at),
            "Cordoned": _clock(v, v.cordoned_at),
            "Replacement launched": _clock(v, v.replacement_launched_at),
            "Drained": _clock(v, v.drained_at),
            "Deadline": _clock(v, v.deadline_at),
            "In notice": v.in_notice,
        }  # fmt: skip
        for v in views
    ]


def timeline(view: SpotWarningView) -> None:
    """One warning: every step with its time, seconds after the event and before the deadline."""
    st.subheader(f"{view.kind.capitalize()} of {md_escape(view.node or view.instance_id)}: handled inside the "
                 f"notice: {view.in_notice}")  # fmt: skip
    st.caption(md_escape(f"event {view.event_id} · instance {view.instance_id} · status {view.status.value}"
                         + (f" · replacement {view.replacement_instance_id}" if view.replacement_instance_id else "")))  # fmt: skip
    st.table([{"Step": t.step, "At (UTC)": f"{t.at:%H:%M:%S.%f}"[:-3] if t.at else "not reached",
               "After the event (s)": "—" if t.after_event_s is None else f"{t.after_event_s:g}",
               "Before the deadline (s)": "—" if t.before_deadline_s is None else f"{t.before_deadline_s:g}"}
              for t in view.timeline], hide_index=True)  # fmt: skip
    if view.feasibility:
        st.info(md_escape(f"Drain feasibility: {view.feasibility}"), icon=":material/timer:")
    if view.message:
        st.caption(md_escape(short_error(view.message, 400)))


def quarantine_rows(views: list[QuarantinedView]) -> list[dict[str, Any]]:
    return [{"Received": f"{q.received_at:%Y-%m-%d %H:%M:%S}", "Message id": q.message_id, "Reason": q.reason,
             "Body": short_error(q.body, 200)} for q in views]  # fmt: skip


def inject_interruption(instance_id: str) -> tuple[bool, str]:
    """Ask the running demo to send a Spot interruption warning for `instance_id`; (ok, what happened)."""
    cmd = [sys.executable, "-m", "cli", "demo", "--inject", "spot-interruption", "--instance-id", instance_id]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=INJECT_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False, f"the injection did not answer within {INJECT_TIMEOUT_S} s"
    text = (done.stdout if done.returncode == 0 else done.stderr or done.stdout).strip()
    return done.returncode == 0, text.removeprefix("error: ") or f"exit code {done.returncode}"


def _inject(options: dict[str, SpotNodeView], key: str) -> None:
    choice = options.get(str(st.session_state.get(key)))
    if choice is None:
        st.session_state[NOTICE_KEY] = (False, "choose a Spot node first")
        return
    st.session_state[NOTICE_KEY] = inject_interruption(choice.instance_id)


def inject_panel(nodes: list[SpotNodeView]) -> None:
    """Choose a sandbox Spot node and send its interruption warning through the demo's queue."""
    with st.expander("Sandbox: inject a Spot interruption", expanded=True, icon=":material/bolt:"):
        notice = st.session_state.pop(NOTICE_KEY, None)
        if notice:
            ok, text = notice
            if ok:
                st.success(md_escape(f"{text}. The worker's Spot poller picks it up within seconds; this page "
                                     "shows it once it is recorded."), icon=":material/send:")  # fmt: skip
            else:
                st.error(md_escape(f"Not injected: {text}"), icon=":material/error:")
        if not nodes:
            st.caption("No Spot node in the sandbox clusters' latest scan.")
            return
        options = {n.label: n for n in nodes}
        st.selectbox("Spot node", list(options), key="spot_inject_node")
        st.button("Inject interruption", key="spot_inject", on_click=_inject, args=(options, "spot_inject_node"),
                  icon=":material/bolt:", help="Sends an 'EC2 Spot Instance Interruption Warning' for this "
                  "instance into the sandbox's EventBridge bus, as AWS would two minutes before reclaiming it.")  # fmt: skip
