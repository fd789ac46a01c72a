"""Apply and Dismiss on the Recommendations page (AppTest): the confirmation shows the plan and the
guardrail checks, confirming queues one execution (also when two sessions confirm), refusals say
why, and a dismissed recommendation keeps its reason in the audit log and cannot be applied."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.states import ExecutionState, RecStatus, ScanStatus
from app.db.tables_recs import AuditEvent, Execution, ScanRun
from app.db.tables_recs import Recommendation as RecRow
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


def _open(status: str | None = None) -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60))
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


def test_confirming_queues_one_execution_as_the_ui_and_links_to_the_executions_page(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.button(key="rec_apply").click().run()
    at.button(key="apply_confirm").click().run()
    assert not at.exception
    [row] = _executions(engine)
    assert (row.state, row.fingerprint, row.requested_by, row.dry_run) == (
        ExecutionState.QUEUED,
        "drainfp",
        "ui",
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
        assert (audit.actor, audit.details["reason"]) == ("ui", "node-a hosts the launch event")
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
