"""The Executions page (AppTest): filters, the live refresh only while something is active, the
chosen execution's plan, step log and reason, Rollback and Cancel, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.states import ExecutionKind, ExecutionState, RecStatus
from app.db.tables_recs import Execution
from app.db.tables_recs import Recommendation as RecRow
from app.db.types import utcnow
from app.services.execution_reports import executions_csv
from app.services.executions import list_executions, queue_execution
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
PLAN = {"summary": "drain node-a", "steps": ["cordon node node-a", "evict 2 pods", "terminate i-0abc"],
        "reversible": True, "disrupts_nodes": 1}  # fmt: skip
STEPS = [{"name": "cordon", "status": "succeeded", "detail": "node node-a cordoned", "at": "2026-01-01T10:00:00+00:00"},
         {"name": "evict", "status": "succeeded", "detail": "2 pods evicted", "at": "2026-01-01T10:00:05+00:00"}]  # fmt: skip


def _seed(engine: Engine, *specs: tuple[str, str, str]) -> dict[str, int]:
    """One recommendation per (fingerprint, action kind, cluster) and its queued execution; fp -> execution id."""
    ids = {}
    with Session(engine) as s:
        clusters: dict[str, int] = {}
        for fp, kind, cluster in specs:
            if cluster not in clusters:
                row = Cluster(name=cluster, region="us-east-1")
                s.add(row)
                s.commit()
                clusters[cluster] = int(row.id or 0)
            s.add(RecRow(fingerprint=fp, engine="binpack", target=f"node/{fp}", action_kind=kind,
                         action={"kind": kind, "node": fp}, current_monthly_cost=Decimal("10"),
                         projected_monthly_cost=Decimal("0"), monthly_savings=Decimal("10"),
                         cluster_id=clusters[cluster]))  # fmt: skip
        s.commit()
    for fp, _kind, _cluster in specs:
        ids[fp] = queue_execution(engine, fp, requested_by="ana").execution.id
    return ids


def _set(engine: Engine, execution_id: int, **values: Any) -> None:
    with Session(engine) as s:
        row = s.get_one(Execution, execution_id)
        for key, value in values.items():
            setattr(row, key, value)
        s.add(row)
        s.commit()


def _succeed(engine: Engine, execution_id: int, **extra: Any) -> None:
    now = utcnow()
    _set(engine, execution_id, state=ExecutionState.SUCCEEDED, plan=PLAN, steps=STEPS, started_at=now - timedelta(seconds=12),
         finished_at=now, result={"message": "node node-a removed"}, **extra)  # fmt: skip


def _open(execution: int | None = None) -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60))
    at.run()
    if execution is not None:
        at.query_params["execution"] = str(execution)
    at.switch_page("../pages/executions.py").run()
    assert not at.exception
    return at


def _text(at: AppTest) -> str:
    parts = [*at.markdown, *at.caption, *at.error, *at.success, *at.info, *at.warning, *at.subheader]
    return "\n".join(str(p.value) for p in parts).replace("\\", "")


def test_without_executions_the_page_says_how_to_apply_one(engine: Engine) -> None:
    at = _open()
    assert "click Apply" in at.info[0].value


def test_the_filters_narrow_the_list_by_state_cluster_and_action(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"), ("b", "replace-node-type", "prod-east"),
                ("c", "drain-and-remove-node", "staging"))  # fmt: skip
    _succeed(engine, ids["a"])
    at = _open()
    assert at.dataframe[0].value.shape[0] == 3
    at.selectbox(key="exec_state").select(ExecutionState.SUCCEEDED).run()
    assert at.dataframe[0].value["ID"].tolist() == [ids["a"]]
    at.selectbox(key="exec_state").select("All").run()
    at.selectbox(key="exec_cluster").select("staging").run()
    assert at.dataframe[0].value["ID"].tolist() == [ids["c"]]
    at.selectbox(key="exec_cluster").select("All").run()
    at.selectbox(key="exec_action").select("replace-node-type").run()
    assert at.dataframe[0].value["ID"].tolist() == [ids["b"]]
    at.selectbox(key="exec_kind").select(ExecutionKind.ROLLBACK).run()
    assert any("No execution matches" in i.value for i in at.info)


def test_the_page_refreshes_only_while_an_execution_is_queued_or_running(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"))
    at = _open()
    assert "1 execution(s) queued or running: this page refreshes every 2 s" in _text(at)
    _succeed(engine, ids["a"])
    at.run()
    assert "refreshes every" not in _text(at)


def test_a_linked_execution_shows_its_plan_step_log_and_result(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"), ("b", "drain-and-remove-node", "prod-east"))
    _succeed(engine, ids["a"])
    at = _open(execution=ids["a"])  # not the newest: the link names it
    text = _text(at)
    assert f"Execution {ids['a']}: succeeded" in text
    assert "cordon node node-a" in text and "node node-a removed" in text
    steps = next(d.value for d in at.dataframe if "Step" in d.value.columns)
    assert steps["Step"].tolist() == ["cordon", "evict"] and steps["Detail"].tolist()[1] == "2 pods evicted"


def test_a_failed_execution_shows_its_reason(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"))
    _set(engine, ids["a"], state=ExecutionState.FAILED, finished_at=utcnow(),
         reason="evict failed: PodDisruptionBudget shop/web allows 0 disruptions")  # fmt: skip
    at = _open()
    assert "PodDisruptionBudget shop/web allows 0 disruptions" in _text(at)
    assert "exec_rollback_" + str(ids["a"]) not in [b.key for b in at.button]


def test_rollback_of_a_reversible_apply_queues_its_own_execution(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"))
    _succeed(engine, ids["a"])
    at = _open()
    at.button(key=f"exec_rollback_{ids['a']}").click().run()
    assert not at.exception
    rollback = next(v for v in list_executions(engine) if v.kind is ExecutionKind.ROLLBACK)
    assert (rollback.rollback_of, rollback.state, rollback.requested_by) == (ids["a"], ExecutionState.QUEUED, "admin")
    assert f"Queued rollback execution {rollback.id}" in _text(at)


def test_cancel_withdraws_a_queued_execution_and_reopens_the_recommendation(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"))
    at = _open()
    at.button(key=f"exec_cancel_{ids['a']}").click().run()
    assert not at.exception
    with Session(engine) as s:
        assert s.get_one(Execution, ids["a"]).state == ExecutionState.CANCELLED
        assert s.exec(select(RecRow.status)).one() == RecStatus.OPEN
    assert f"Cancelled execution {ids['a']}" in _text(at)
    assert f"exec_cancel_{ids['a']}" not in [b.key for b in at.button]


def test_the_csv_export_has_one_line_per_execution_with_its_plan_and_duration(engine: Engine) -> None:
    ids = _seed(engine, ("a", "drain-and-remove-node", "prod-east"), ("b", "replace-node-type", "prod-east"))
    _succeed(engine, ids["a"])
    rows = list(csv.DictReader(io.StringIO(executions_csv(list_executions(engine)))))
    by_id = {int(r["id"]): r for r in rows}
    assert set(by_id) == set(ids.values())
    done = by_id[ids["a"]]
    assert (done["state"], done["duration_s"], done["last_step"]) == ("succeeded", "12.0", "evict: succeeded")
    assert done["plan"] == "cordon node node-a | evict 2 pods | terminate i-0abc"
    assert by_id[ids["b"]]["state"] == "queued" and by_id[ids["b"]]["duration_s"] == ""
    at = _open()
    assert at.get("download_button")
