"""Apply, Dismiss, Snooze and bulk apply on the Recommendations page (AppTest): the confirmation
shows the plan and the guardrail checks, confirming queues one execution as the signed-in user
(also when two sessions confirm), refusals say why, a dismissed recommendation keeps its reason in
the audit log, a snoozed one is hidden until its date, bulk apply queues low-risk rows only, and a
viewer sees none of these controls while the services refuse its crafted requests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.states import ExecutionState, RecStatus, Role, ScanStatus
from app.db.tables_recs import AuditEvent, Execution, ScanRun
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.services.access import AccessDenied, Principal
from app.services.rec_actions import RecActionError, bulk_apply, dismiss_recommendation, snooze_recommendation
from app.ui.rec_detail import TABLE_KEY
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
MOVES = [
    {"namespace": "shop", "pod": "web-1", "to_node": "node-b"},
    {"namespace": "shop", "pod": "web-2", "to_node": None},
]


def _rec(fp: str = "drainfp", target: str = "node/node-a", status: RecStatus = RecStatus.OPEN, **extra: Any) -> RecRow:
    action = extra.pop("action", {"kind": "drain-and-remove-node", "node": "node-a", "instance_id": "i-0abc",
                                  "moves": MOVES})  # fmt: skip
    return RecRow(fingerprint=fp, engine="binpack", target=target, action_kind=action["kind"], action=action,
                  current_monthly_cost=Decimal("70.08"), projected_monthly_cost=Decimal("0"),
                  monthly_savings=Decimal("70.08"), status=status, rationale="Remove node-a.", **extra)  # fmt: skip


def _seed(engine: Engine, *rows: RecRow) -> int:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        assert cluster.id is not None
        for row in rows or (_rec(),):
            row.cluster_id = cluster.id
            s.add(row)
        s.commit()
        return cluster.id


def _open(status: str | None = None, role: str = "analyst") -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), role)
    at.run()
    at.switch_page("../pages/recommendations.py").run()
    if status:
        at.selectbox(key="rec_status").select(status).run()
    at.session_state[TABLE_KEY] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.error, *at.success, *at.info, *at.warning]
    return "\n".join(str(p.value) for p in parts).replace("\\", "")


def _table_text(at: AppTest) -> str:
    return "\n".join(t.value.to_string() for t in at.table).replace("\\", "")


def _executions(engine: Engine) -> list[Execution]:
    with Session(engine) as s:
        return list(s.exec(select(Execution)))


def test_apply_opens_a_confirmation_with_the_plan_and_every_guardrail_check(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.button(key="rec_apply").click().run()
    assert not at.exception
    text = _texts(at)
    assert "cordon node node-a" in text and "evict 2 pod(s) (shop/web-1, shop/web-2)" in text
    assert "terminate i-0abc" in text and "delete Node node-a" in text
    checks = _table_text(at)
    for name in ("status", "fresh", "protected namespaces", "disruption budget", "dry-run setting"):
        assert name in checks
    assert "refused" not in checks
    assert not at.button(key="apply_confirm").disabled
    assert _executions(engine) == []  # opening the confirmation changes nothing


def test_confirming_queues_one_execution_as_the_signed_in_user_and_links_to_the_executions_page(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.button(key="rec_apply").click().run()
    at.button(key="apply_confirm").click().run()
    assert not at.exception
    [row] = _executions(engine)
    assert (row.state, row.fingerprint, row.requested_by, row.dry_run) == (
        ExecutionState.QUEUED,
        "drainfp",
        "analyst",
        False,
    )
    assert any(f"Queued execution {row.id}" in s.value for s in at.success)
    assert "apply_confirm" not in [b.key for b in at.button]  # the dialog closed
    with Session(engine) as s:
        assert s.exec(select(RecRow.status)).one() == RecStatus.APPROVED
    # The approved recommendation is still the one shown (not the next row of the Open list).
    assert "node/node-a" in at.subheader[0].value.replace("\\", "")


def test_two_sessions_confirming_the_same_recommendation_queue_it_once(engine: Engine) -> None:
    _seed(engine)
    first, second = _open(), _open()
    for at in (first, second):
        at.button(key="rec_apply").click().run()
    first.button(key="apply_confirm").click().run()
    second.button(key="apply_confirm").click().run()
    assert not first.exception and not second.exception
    assert len(_executions(engine)) == 1
    assert any("Not queued" in e.value or "already" in e.value for e in [*second.error, *second.info])


def test_a_dry_run_from_the_confirmation_queues_a_dry_run_and_leaves_the_recommendation_open(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.button(key="rec_apply").click().run()
    at.button(key="apply_dry_run").click().run()
    [row] = _executions(engine)
    assert row.dry_run and row.state == ExecutionState.QUEUED
    with Session(engine) as s:
        assert s.exec(select(RecRow.status)).one() == RecStatus.OPEN


def test_a_dismissed_recommendation_keeps_its_reason_and_cannot_be_applied(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.text_input(key="dismiss_reason_drainfp").input("node-a hosts the launch event").run()
    at.button(key="rec_dismiss").click().run()
    assert not at.exception
    assert any("Dismissed" in s.value for s in at.success)
    with Session(engine) as s:
        assert s.exec(select(RecRow.status)).one() == RecStatus.DISMISSED
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "recommendation dismissed")).one()
        assert (audit.actor, audit.details["reason"]) == ("analyst", "node-a hosts the launch event")
    again = _open(status="dismissed")
    assert again.button(key="rec_apply").disabled
    assert "only open recommendations can be applied" in _texts(again)
    assert _executions(engine) == []


def test_dismissing_without_a_reason_is_refused_and_says_so(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.button(key="rec_dismiss").click().run()
    assert any("say why it is dismissed" in e.value for e in at.error)
    with Session(engine) as s:
        assert s.exec(select(RecRow.status)).one() == RecStatus.OPEN


def test_a_move_out_of_a_protected_namespace_is_refused_with_the_pod_named(engine: Engine) -> None:
    action = {
        "kind": "drain-and-remove-node",
        "node": "node-a",
        "moves": [{"namespace": "kube-system", "pod": "dns-1"}],
    }
    _seed(engine, _rec(action=action))
    at = _open()
    assert at.button(key="rec_apply").disabled
    assert "pod kube-system/dns-1 would be evicted and namespace kube-system is protected" in _texts(at)


def test_a_recommendation_a_later_scan_did_not_propose_again_is_stale(engine: Engine) -> None:
    cluster_id = _seed(engine)
    with Session(engine) as s:
        first = ScanRun(cluster_id=cluster_id, status=ScanStatus.SUCCEEDED, counts={"binpack": {"error": None}})
        s.add(first)
        s.commit()
        rec = s.exec(select(RecRow)).one()
        rec.scan_run_id = first.id
        s.add(rec)
        s.add(ScanRun(cluster_id=cluster_id, status=ScanStatus.PARTIAL, counts={"binpack": {"error": None}}))
        s.commit()
    at = _open()
    assert at.button(key="rec_apply").disabled
    assert "stale: scan" in _texts(at) and "did not propose it" in _texts(at)


def test_a_spent_disruption_budget_refuses_the_apply(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__MAX_NODES_DRAINED_PER_HOUR", "0")
    _seed(engine)
    at = _open()
    assert at.button(key="rec_apply").disabled
    assert "0 of 0 node disruption(s) used on prod-east in the last hour" in _texts(at)


def test_the_confirmation_says_when_the_dry_run_setting_is_on(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__DRY_RUN", "true")
    _seed(engine)
    at = _open()
    at.button(key="rec_apply").click().run()
    assert "CLOUDOPTIM_EXECUTOR__DRY_RUN is on: the worker plans and changes nothing" in _table_text(at)


def test_a_drain_outside_the_disruption_window_cannot_be_confirmed_and_says_when_it_opens(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.test_executions_runner import closed_window_now

    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__DISRUPTION_WINDOW", closed_window_now())
    _seed(engine)
    at = _open()
    assert at.button(key="rec_apply").disabled
    assert "runs only inside the disruption window" in _texts(at) and "it next opens" in _texts(at)


def test_the_confirmation_says_when_the_cluster_is_listed_for_dry_runs_only(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__DRY_RUN_CLUSTERS", "prod-east")
    _seed(engine)
    at = _open()
    at.button(key="rec_apply").click().run()
    assert "cluster prod-east is in CLOUDOPTIM_EXECUTOR__DRY_RUN_CLUSTERS" in _table_text(at)


def _node(name: str, risk: str = "low") -> RecRow:
    action = {"kind": "drain-and-remove-node", "node": name, "instance_id": f"i-{name}", "moves": []}
    return _rec(f"fp-{name}", f"node/{name}", action=action, risk=risk)


def test_snooze_hides_a_recommendation_from_open_until_the_date_and_unsnooze_brings_it_back(engine: Engine) -> None:
    _seed(engine, _rec(), _node("node-b"))
    at = _open()
    until = (utcnow() + timedelta(days=3)).date()
    at.date_input(key="snooze_until_drainfp").set_value(until).run()
    at.button(key="rec_snooze").click().run()
    assert not at.exception
    assert f"until {until:%Y-%m-%d}" in _texts(at)
    assert at.dataframe[0].value["Target"].tolist() == ["node/node-b"]  # the open list no longer has it
    with Session(engine) as s:
        row = s.exec(select(RecRow).where(RecRow.fingerprint == "drainfp")).one()
        assert row.status == RecStatus.OPEN and row.snoozed_until is not None
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "recommendation snoozed")).one()
        assert audit.actor == "analyst" and audit.details["until"].startswith(f"{until:%Y-%m-%d}")
    snoozed = _open(status="snoozed")
    assert snoozed.dataframe[0].value["Target"].tolist() == ["node/node-a"]
    snoozed.button(key="rec_unsnooze").click().run()
    assert _open().dataframe[0].value.shape[0] == 2


def test_a_snooze_that_has_passed_shows_the_recommendation_as_open_again(engine: Engine) -> None:
    _seed(engine, _rec(snoozed_until=utcnow() - timedelta(minutes=1)))
    assert _open().dataframe[0].value["Target"].tolist() == ["node/node-a"]


def test_a_snooze_date_in_the_past_is_refused_and_changes_nothing(engine: Engine) -> None:
    _seed(engine)
    with pytest.raises(RecActionError, match="has passed"):
        snooze_recommendation(engine, "drainfp", utcnow() - timedelta(days=1), actor="operator")
    with Session(engine) as s:
        assert s.exec(select(RecRow.snoozed_until)).one() is None


def test_bulk_apply_queues_only_the_low_risk_rows_as_the_signed_in_user(engine: Engine) -> None:
    _seed(engine, _node("node-a"), _node("node-b", risk="high"), _node("node-c"))
    at = _open()
    at.session_state[TABLE_KEY] = {"selection": {"rows": [0, 1, 2], "columns": []}}
    at.run()
    assert "Apply the 2 low-risk of 3 selected" in at.button(key="rec_bulk_apply").label
    assert len(at.get("download_button")) == 2  # an analyst may export (CSV and JSON)
    at.button(key="rec_bulk_apply").click().run()
    assert "node/node-b (risk high)" in _texts(at).replace("\\", "")
    at.button(key="bulk_confirm").click().run()
    assert not at.exception
    queued = sorted((e.fingerprint, e.requested_by, e.state) for e in _executions(engine))
    assert queued == [("fp-node-a", "analyst", "queued"), ("fp-node-c", "analyst", "queued")]
    assert "node/node-b: risk is high" in _texts(at)


def test_bulk_apply_in_the_service_refuses_non_low_rows_with_the_reason(engine: Engine) -> None:
    from app.services.recommendations import RecFilter, query
    from app.settings import ExecutorSettings

    _seed(engine, _node("node-a", risk="medium"))
    outcome = bulk_apply(engine, query(engine, RecFilter()), actor=Principal("ana", Role.ANALYST),
                         executor=ExecutorSettings())  # fmt: skip
    assert outcome.queued == [] and "risk is medium" in outcome.refused[0][1]
    assert _executions(engine) == []


def test_a_viewer_sees_no_apply_dismiss_snooze_bulk_or_export_controls(engine: Engine) -> None:
    _seed(engine, _rec(), _node("node-b"))
    at = _open(role="viewer")
    at.session_state[TABLE_KEY] = {"selection": {"rows": [0, 1], "columns": []}}
    at.run()
    keys = {b.key for b in at.button}
    assert not keys & {"rec_apply", "rec_dismiss", "rec_snooze", "rec_unsnooze", "rec_bulk_apply"}
    assert not at.get("download_button")
    at.session_state[TABLE_KEY] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert not {b.key for b in at.button} & {"rec_apply", "rec_dismiss", "rec_snooze"}
    assert any("need the analyst role" in c.value for c in at.caption)


def test_the_services_refuse_a_viewers_crafted_apply_dismiss_snooze_and_export(engine: Engine) -> None:
    from app.services.executions import queue_execution
    from app.services.recommendations import RecFilter, export

    _seed(engine)
    viewer = Principal("vera", Role.VIEWER)
    with pytest.raises(AccessDenied):
        queue_execution(engine, "drainfp", requested_by=viewer)
    with pytest.raises(AccessDenied):
        dismiss_recommendation(engine, "drainfp", reason="crafted", actor=viewer)
    with pytest.raises(AccessDenied):
        snooze_recommendation(engine, "drainfp", utcnow() + timedelta(days=2), actor=viewer)
    with pytest.raises(AccessDenied):
        export(engine, RecFilter(), "csv", actor=viewer)
    with Session(engine) as s:
        row = s.exec(select(RecRow)).one()
        assert (row.status, row.snoozed_until) == (RecStatus.OPEN, None)
    assert _executions(engine) == []
