"""Widgets of the Plan page: cluster picker, the paged tick list, the projected plan, Save/Apply.

Used by `pages/plan.py` only. The chosen fingerprints live in `st.session_state[CHOSEN]` (so they
survive paging and filtering); each tick box has the stable key `plan_pick_<engine>_<fingerprint>`
and a label that starts with the step's group ("Consolidation: node/…", "Rightsizing: workload/…").
Save and Apply run in button callbacks and leave their outcome in `st.session_state[OUTCOME]`, so
a rerun never repeats them. The services check the role again; the page only hides controls.
"""

from __future__ import annotations

from decimal import Decimal

import streamlit as st
from sqlalchemy import Engine

from app.services.access import AccessDenied, Permission, Principal
from app.services.plan import (
    PAGE_SIZE,
    ClusterChoice,
    PlanError,
    PlanPreview,
    apply_plan,
    candidate_engines,
    engine_rerun,
    list_candidates,
    plan_clusters,
    preview_plan,
    recent_plans,
    save_plan,
)
from app.ui.context import get_prices, get_registry
from app.ui.format import md_escape, usd, when

CHOSEN = "plan_chosen"  # fingerprint -> label, for the cluster in CHOSEN_FOR
CHOSEN_FOR = "plan_chosen_for"
PREVIEW = "plan_preview"  # (cluster id, fingerprints) -> PlanPreview of the current selection
OUTCOME = "plan_outcome"  # ("success" | "error", message) of the last Save/Apply
PICK_PREFIX = "plan_pick_"
ALL = "All engines"
EXECUTIONS_PAGE = "../pages/executions.py"


def cluster_picker(db: Engine) -> ClusterChoice | None:
    clusters = plan_clusters(db)
    if not clusters:
        return None
    by_id = {c.id: c for c in clusters}
    # The name only: a keyed selectbox keeps the labels it first showed, so a count would go stale.
    chosen = st.selectbox("Cluster", list(by_id), key="plan_cluster", format_func=lambda cid: by_id[cid].name)
    return by_id.get(chosen) if chosen is not None else None


def selection(cluster_id: int) -> dict[str, str]:
    """The chosen fingerprints of this cluster (another cluster's choice is dropped)."""
    if st.session_state.get(CHOSEN_FOR) != cluster_id:
        clear_selection()
        st.session_state[CHOSEN_FOR] = cluster_id
    chosen: dict[str, str] = st.session_state.setdefault(CHOSEN, {})
    return chosen


def clear_selection() -> None:
    st.session_state[CHOSEN] = {}
    st.session_state.pop(PREVIEW, None)
    for key in [k for k in st.session_state if str(k).startswith(PICK_PREFIX)]:
        del st.session_state[key]


def candidate_picker(db: Engine, cluster: ClusterChoice, chosen: dict[str, str], editable: bool) -> None:
    """Filters, one page of open recommendations (tick boxes for planners) and paging."""
    f1, f2, f3 = st.columns([2, 3, 1])
    engine = f1.selectbox("Engine", [ALL, *candidate_engines(db, cluster.id)], key="plan_engine")
    search = f2.text_input("Target contains", key="plan_search", placeholder="node/…, workload/…")
    page_no = int(f3.number_input("Page", min_value=1, step=1, key="plan_page"))
    wanted = None if engine == ALL else engine
    found = list_candidates(db, cluster.id, engine=wanted, search=search, page=page_no - 1)
    pages = max(1, -(-found.total // PAGE_SIZE))
    if page_no > pages:  # past the end after a filter narrowed the list: show the last page
        page_no = pages
        found = list_candidates(db, cluster.id, engine=wanted, search=search, page=page_no - 1)
    st.caption(f"{found.total} open recommendation(s), page {page_no} of {pages}, largest saving first")
    if not found.rows:
        st.info("No open recommendation matches. Change the filters, or scan the cluster again.")
        return
    if not editable:
        st.dataframe([{"group": r.group.title, "engine": r.engine, "target": r.target, "action": r.action_kind,
                       "saving / month": usd(r.monthly_savings), "risk": r.risk} for r in found.rows],
                     hide_index=True, width="stretch")  # fmt: skip
        return
    for row in found.rows:
        label = (f"{row.group.title}: {row.target} · {row.action_kind.replace('-', ' ')} · "
                 f"{usd(row.monthly_savings)}/month ({row.engine}, {row.risk} risk)")  # fmt: skip
        ticked = st.checkbox(md_escape(label), value=row.fingerprint in chosen, key=f"{PICK_PREFIX}{row.engine}_{row.fingerprint}")
        if ticked:
            chosen[row.fingerprint] = label
        else:
            chosen.pop(row.fingerprint, None)


def current_preview(db: Engine, cluster: ClusterChoice, chosen: dict[str, str], who: Principal) -> PlanPreview | None:
    """The projection of the current selection, computed once per selection."""
    if not chosen:
        return None
    key = (cluster.id, tuple(sorted(chosen)))
    cached = st.session_state.get(PREVIEW)
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    prices = get_prices()
    try:
        preview = preview_plan(db, cluster.id, list(chosen), actor=who, prices=prices,
                               rerun=engine_rerun(db, cluster.id, get_registry(), prices))  # fmt: skip
    except (PlanError, AccessDenied) as exc:
        st.error(md_escape(exc))
        return None
    st.session_state[PREVIEW] = (key, preview)
    return preview


def _signed(amount: Decimal) -> str:
    return f"-{usd(-amount)}" if amount < 0 else f"+{usd(amount)}"


def preview_panel(preview: PlanPreview) -> None:
    """The ordered steps, their conflicts, the projected delta against the naive sum, and what
    could not be simulated."""
    sim = preview.simulation
    c1, c2, c3 = st.columns(3)
    if sim is not None:
        c1.metric("Projected monthly delta", usd(sim.delta), help="Estate cost per month before minus after, from "
                  "the engines re-run on the stored snapshot with the steps applied in order")  # fmt: skip
        c2.metric("Sum of the chosen rows", usd(sim.naive_sum))
        c3.metric("Difference from the sum", _signed(sim.delta - sim.naive_sum),
                  help="Projected delta minus the sum of the chosen rows' own savings")  # fmt: skip
        st.caption(f"Estate now {usd(sim.before.total)}/month (nodes {usd(sim.before.nodes)}, other instances "
                   f"{usd(sim.before.instances)}, volumes {usd(sim.before.volumes)}); after the plan "
                   f"{usd(sim.after.total)}/month.")  # fmt: skip
    else:
        st.warning(md_escape(preview.problem or "the plan could not be simulated"))
    labels = {s.fingerprint: f"step {s.step + 1} ({s.target})" for s in preview.steps}
    for conflict in preview.conflicts:
        st.error(md_escape(f"Conflict: {labels[conflict.first]} and {labels[conflict.second]}: {conflict.reason}. "
                           "Untick one of them."), icon=":material/warning:")  # fmt: skip
    st.dataframe(
        [{"step": s.step + 1, "group": s.group.title, "engine": s.engine, "target": s.target, "action": s.action_kind,
          "row saving": usd(s.row_saving), "simulated saving": usd(s.effect) if s.effect is not None else "—",
          "outcome": s.outcome.value if s.outcome else "not simulated", "note": s.note} for s in preview.steps],
        hide_index=True, width="stretch",
    )  # fmt: skip
    if sim is not None:
        missing = sim.unsimulated
        if missing:
            st.warning(md_escape(
                f"{len(missing)} step(s) are not in the projected delta: "
                + "; ".join(f"step {e.step + 1}: {e.outcome.value} ({e.note})" for e in missing)
                + f". Their engines estimate {usd(sim.unsimulated_estimate)}/month more for the ones that could not "
                  "be simulated."))  # fmt: skip
        for note in sim.notes:
            st.info(md_escape(note), icon=":material/info:")
        for item in sim.after.unpriced[:5]:
            st.caption(md_escape(f"unpriced (left out): {item}"))


def _save(db: Engine, preview: PlanPreview, who: Principal) -> None:
    try:
        saved = save_plan(db, preview, actor=who)
    except (PlanError, AccessDenied) as exc:
        st.session_state[OUTCOME] = ("error", str(exc))
        return
    st.session_state[OUTCOME] = ("success", f"Plan #{saved.id} saved as a draft ({len(saved.fingerprints)} steps).")


def _apply(db: Engine, cluster_id: int, fingerprints: list[str], who: Principal) -> None:
    prices = get_prices()
    try:
        saved, executions = apply_plan(db, cluster_id, fingerprints, actor=who, prices=prices,
                                       rerun=engine_rerun(db, cluster_id, get_registry(), prices))  # fmt: skip
    except (PlanError, AccessDenied) as exc:
        st.session_state[OUTCOME] = ("error", str(exc))
        return
    clear_selection()
    st.session_state[OUTCOME] = ("success", f"Plan #{saved.id} applied: executions "
                                 f"{', '.join(f'#{e}' for e in executions)} queued in this order; the worker runs "
                                 "each after the one before it succeeded.")  # fmt: skip


def plan_actions(db: Engine, preview: PlanPreview, who: Principal) -> None:
    """Save (planners) and Apply (appliers; disabled while a conflict stands), then their outcome."""
    c1, c2, c3 = st.columns([1, 1, 4])
    if who.can(Permission.PLAN):
        c1.button("Save plan", key="plan_save", on_click=_save, args=(db, preview, who))
    if who.can(Permission.APPLY):
        c2.button("Apply plan", key="plan_apply", type="primary", disabled=bool(preview.conflicts),
                  on_click=_apply, args=(db, preview.cluster_id, preview.fingerprints, who),
                  help="Queue one execution per step, run strictly in this order")  # fmt: skip
    c3.button("Clear selection", key="plan_clear", on_click=clear_selection)


def outcome() -> None:
    found = st.session_state.pop(OUTCOME, None)
    if not found:
        return
    kind, message = found
    if kind == "success":
        st.success(md_escape(message), icon=":material/check_circle:")
        st.page_link(EXECUTIONS_PAGE, label="Open the Executions page", icon=":material/play_circle:")
    else:
        st.error(md_escape(message))


def recent_plans_panel(db: Engine, cluster_id: int) -> None:
    plans = recent_plans(db, cluster_id)
    st.subheader("Recent plans")
    if not plans:
        st.caption("No plan was saved or applied for this cluster yet.")
        return
    st.dataframe([{"plan": p.id, "state": p.state.value, "steps": len(p.fingerprints),
                   "projected delta / month": usd(p.projected_monthly_delta), "sum of rows": usd(p.naive_sum),
                   "conflicts": p.conflicts, "not simulated": p.unsimulated, "by": p.created_by,
                   "created": when(p.created_at), "applied": when(p.applied_at) if p.applied_at else "—"}
                  for p in plans], hide_index=True, width="stretch")  # fmt: skip
