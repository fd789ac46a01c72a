"""The Overview page (AppTest): empty and seeded, the dashboard (stat cards, trend, savings split,
cost breakdown, top ten with Apply for analysts only), scan now without duplicates, source errors
shown as typed and shortened, and recent scans per cluster with their time split and live status."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster, Node
from app.db.states import ScanStatus
from app.db.tables_recs import ScanRun
from app.db.types import utcnow
from app.ui.format import ZERO_WIDTH_SPACE
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
HTML_500 = (
    "prometheus:http://prom:9090: HTTP 500 from http://prom:9090/api/v1/query: <!DOCTYPE html><html><head>"
    "<title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>"
    + "<p>The server encountered an internal error.</p>" * 50 + "</body></html>"
)


def _run() -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60))
    at.run()
    return at


def _clusters(engine: Engine, *names: str, last_error: str | None = None) -> list[int]:
    ids = []
    with Session(engine) as s:
        for name in names:
            cluster = Cluster(name=name, region="us-east-1", last_error=last_error)
            s.add(cluster)
            s.commit()
            assert cluster.id is not None
            ids.append(cluster.id)
    return ids


def _plain(markdown: str) -> str:
    return markdown.replace("\\", "").replace(ZERO_WIDTH_SPACE, "")


def _recent_scans(at: AppTest) -> list[dict[str, object]]:
    (expander,) = [e for e in at.expander if e.label.startswith("Recent scans")]
    frame = expander.dataframe[0].value
    return [dict(row) for _, row in frame.iterrows()]


def test_overview_on_an_empty_database_explains_how_to_start(engine: Engine) -> None:
    at = _run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert "cloudoptim demo" in at.info[0].value


def test_overview_lists_seeded_clusters_with_their_monthly_cost(engine: Engine) -> None:
    with Session(engine) as s:
        prod = Cluster(name="prod-east", region="us-east-1", monthly_cost=Decimal("1401.60"))
        s.add(prod)
        s.commit()
        s.refresh(prod)
        assert prod.id is not None
        s.add(Node(cluster_id=prod.id, name="ip-10-0-1-1", instance_type="m5.large"))
        s.add(Node(cluster_id=prod.id, name="ip-10-0-1-2", instance_type="m5.large"))
        s.commit()
    at = _run()
    assert not at.exception
    assert [m.value for m in at.metric][:2] == ["1", "$1,401.60"]
    table = at.dataframe[0].value
    assert table.loc[0, "Cluster"] == "prod-east" and table.loc[0, "Nodes"] == 2


def test_three_clicks_on_scan_now_queue_one_scan_per_cluster(engine: Engine) -> None:
    prod, staging = _clusters(engine, "prod-east", "staging-east")
    at = _run()
    at.button(key="scan_now").click().run()
    assert not at.exception
    assert "Queued a scan of prod-east, staging-east" in _plain(at.success[0].value)
    for _ in range(2):
        at.button(key="scan_now").click().run()
    assert "not queued again: prod-east, staging-east" in _plain(at.info[0].value)
    with Session(engine) as s:
        runs = s.exec(select(ScanRun)).all()
    assert sorted((r.cluster_id, r.status, r.trigger) for r in runs) == [
        (prod, "requested", "ui"), (staging, "requested", "ui")
    ]  # fmt: skip


def test_an_error_with_an_emoji_shortcode_is_shown_as_typed(engine: Engine) -> None:
    _clusters(engine, "prod-east", last_error="kubernetes:x: kubeconfig has no context prod")
    at = _run()
    banner = at.warning[0].value
    assert ":x:" not in banner  # Streamlit would draw ❌ for it
    assert _plain(banner) == "**prod-east**: kubernetes:x: kubeconfig has no context prod"


def test_an_html_error_page_is_shortened_with_the_full_text_behind_an_expander(engine: Engine) -> None:
    _clusters(engine, "prod-east", last_error=HTML_500)
    at = _run()
    assert not at.exception
    assert _plain(at.warning[0].value) == (
        "**prod-east**: prometheus:http://prom:9090: HTTP 500 from http://prom:9090/api/v1/query: "
        "500 Internal Server Error"
    )
    assert any(e.label.startswith("Full error text") for e in at.expander)
    assert at.code[0].value == HTML_500
    assert at.dataframe[0].value.loc[0, "Last error"].endswith("500 Internal Server Error")


def test_recent_scans_split_the_time_and_name_old_all_cluster_rows(engine: Engine) -> None:
    (prod,) = _clusters(engine, "prod-east")
    now = utcnow()
    with Session(engine) as s:
        s.add(ScanRun(cluster_id=None, trigger="ui", status=ScanStatus.SUCCEEDED, started_at=now - timedelta(hours=1),
                      finished_at=now - timedelta(hours=1), duration_s=0.5))  # fmt: skip
        s.add(ScanRun(cluster_id=prod, trigger="schedule", status=ScanStatus.PARTIAL, started_at=now,
                      finished_at=now, collect_s=2.5, engine_s=0.75, duration_s=3.25,
                      counts={"binpack": {"recommendations": 4, "seconds": 0.75}},
                      skipped=[{"engine": "binpack", "target": "node/a", "reason": "held by a PDB"}]))  # fmt: skip
        s.commit()
    at = _run()
    assert not at.exception
    newest, old = _recent_scans(at)
    assert (newest["Cluster"], newest["Status"], newest["Trigger"]) == ("prod-east", "partial", "schedule")
    assert (newest["Collect s"], newest["Engines s"], newest["Total s"]) == (2.5, 0.75, 3.25)
    assert (newest["Recommendations"], newest["Skipped"]) == (4, 1)
    assert old["Cluster"] == "all clusters"
    assert "Seconds" not in newest


def test_recent_scans_refresh_while_a_scan_is_pending_and_show_its_result(engine: Engine) -> None:
    (_prod,) = _clusters(engine, "prod-east")
    at = _run()
    at.button(key="scan_now").click().run()
    assert any("refreshes every" in c.value for c in at.caption)
    assert _recent_scans(at)[0]["Status"] == "requested"
    with Session(engine) as s:  # the worker finishes the scan
        run = s.exec(select(ScanRun)).one()
        run.status, run.finished_at, run.duration_s, run.engine_s = ScanStatus.SUCCEEDED, utcnow(), 1.5, 1.0
        run.counts = {"binpack": {"recommendations": 2}}
        s.add(run)
        s.commit()
    at.run()
    assert not any("refreshes every" in c.value for c in at.caption)
    latest = _recent_scans(at)[0]
    assert (latest["Cluster"], latest["Status"], latest["Recommendations"]) == ("prod-east", "succeeded", 2)


def _as_after_a_fragment_rerun(run_ids: list[int]) -> None:
    import streamlit as st

    from app.ui.context import get_engine
    from app.ui.scans import panel, recent_scans_panel

    if not st.session_state.get("page_ran"):
        st.session_state["page_ran"] = True
        panel(get_engine(), run_ids)  # what the fragment runs every few seconds on its own
    else:
        recent_scans_panel(get_engine())  # the page run it asks for


def test_when_a_pending_scan_finishes_the_page_reruns_and_says_how_it_ended(engine: Engine) -> None:
    (prod,) = _clusters(engine, "prod-east")
    with Session(engine) as s:
        run = ScanRun(cluster_id=prod, trigger="ui", status=ScanStatus.SUCCEEDED, finished_at=utcnow(), duration_s=2.0,
                      counts={"binpack": {"recommendations": 3}})  # fmt: skip
        s.add(run)
        s.commit()
        assert run.id is not None
        run_id = run.id
    at = AppTest.from_function(_as_after_a_fragment_rerun, args=([run_id],), default_timeout=60).run()
    assert not at.exception
    assert _plain(at.success[0].value) == "Scan of prod-east succeeded in 2 s: 3 recommendation(s)."
    assert at.expander[0].proto.expanded  # the finished run is in view


def test_open_savings_count_a_node_two_engines_target_once_and_say_why(engine: Engine) -> None:
    from app.db.tables_recs import Recommendation as RecRow

    (prod,) = _clusters(engine, "prod-east")

    def rec(fp: str, eng: str, kind: str, saving: str, links: list[str]) -> RecRow:
        return RecRow(fingerprint=fp, engine=eng, cluster_id=prod, target="node/n1", action_kind=kind,
                      current_monthly_cost=Decimal(saving), projected_monthly_cost=Decimal(0),
                      monthly_savings=Decimal(saving), conflicts_with=links)  # fmt: skip

    with Session(engine) as s:
        s.add(rec("drain", "binpack", "drain-and-remove-node", "140.16", ["spot"]))
        s.add(rec("spot", "spot", "move-to-spot", "90.00", ["drain"]))
        s.add(rec("other", "binpack", "drain-and-remove-node", "10.00", []))
        s.commit()
    at = _run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open savings / month"] == "$150.16"  # not $240.16: node n1 once, at its larger saving
    assert at.dataframe[0].value.loc[0, "Open savings / month"] == "$150.16"
    notes = [_plain(c.value) for c in at.caption if "overlap" in c.value]
    assert notes == ["2 recommendations overlap on 1 target: the total counts each target once, at its largest "
                     "saving, so it is $90.00 lower than the sum"]  # fmt: skip


def test_without_conflicts_the_overview_shows_the_plain_sum_and_no_note(engine: Engine) -> None:
    from app.db.tables_recs import Recommendation as RecRow

    (prod,) = _clusters(engine, "prod-east")
    with Session(engine) as s:
        for fp, saving in (("a", "140.16"), ("b", "90.00")):
            s.add(RecRow(fingerprint=fp, engine="binpack", cluster_id=prod, target=f"node/{fp}",
                         action_kind="drain-and-remove-node", current_monthly_cost=Decimal(saving),
                         projected_monthly_cost=Decimal(0), monthly_savings=Decimal(saving)))  # fmt: skip
        s.commit()
    at = _run()
    assert {m.label: m.value for m in at.metric}["Open savings / month"] == "$230.16"
    assert not any("overlap" in c.value for c in at.caption)


def _frame(at: AppTest, column: str) -> Any:
    """The first table on the page that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _dashboard_seed(engine: Engine) -> int:
    """A cluster with an on-demand and a Spot node, 12 open recs (one cross-az), one applied this
    month with its ledger row measured yesterday."""
    from app.db.tables_recs import CostSaving, Execution
    from app.db.tables_recs import Recommendation as RecRow

    (prod,) = _clusters(engine, "prod-east")
    now = utcnow()
    with Session(engine) as s:
        s.add(Node(cluster_id=prod, name="n-od", instance_type="m5.large", capacity_type="on-demand",
                   monthly_cost=Decimal("70.08")))  # fmt: skip
        s.add(Node(cluster_id=prod, name="n-spot", instance_type="m5.large", capacity_type="spot",
                   monthly_cost=Decimal("25.00")))  # fmt: skip
        for i in range(12):
            s.add(RecRow(fingerprint=f"r{i:02d}", engine="cross-az" if i == 0 else "binpack", cluster_id=prod,
                         target=f"node/n{i:02d}", action_kind="drain-and-remove-node",
                         action={"kind": "drain-and-remove-node", "node": f"n{i:02d}", "moves": []},
                         current_monthly_cost=Decimal(100 + i), projected_monthly_cost=Decimal(0),
                         monthly_savings=Decimal(100 + i), created_at=now - timedelta(days=2)))  # fmt: skip
        done = RecRow(fingerprint="done", engine="binpack", cluster_id=prod, target="node/old",
                      action_kind="drain-and-remove-node", current_monthly_cost=Decimal("40.00"),
                      projected_monthly_cost=Decimal(0), monthly_savings=Decimal("40.00"), status="applied",
                      created_at=now - timedelta(days=3))  # fmt: skip
        s.add(done)
        s.commit()
        execution = Execution(recommendation_id=done.id, cluster_id=prod, fingerprint="done", target="node/old",
                              action_kind="drain-and-remove-node", state="succeeded", requested_by="ana",
                              finished_at=now)  # fmt: skip
        s.add(execution)
        s.commit()
        s.add(CostSaving(execution_id=execution.id, cluster_id=prod, engine="binpack",
                         expected_monthly_savings=Decimal("40.00"), realized_monthly_savings=Decimal("38.50"),
                         period_start=now, measured_at=now))  # fmt: skip
        s.commit()
    return prod


def test_the_stat_cards_show_identified_applied_and_realized_savings(engine: Engine) -> None:
    _dashboard_seed(engine)
    at = _run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open savings / month"] == f"${sum(100 + i for i in range(12)):,.2f}"
    assert metrics["Applied this month"] == "$40.00"
    assert metrics["Realized / month"] == "$38.50"


def test_the_dashboard_draws_the_trend_the_savings_split_and_the_cost_breakdown(engine: Engine) -> None:
    _dashboard_seed(engine)
    at = _run()
    charts = at.get("plotly_chart")
    assert len(charts) == 4  # trend, by engine, by cluster, cost breakdown
    trend = json.loads(charts[0].proto.spec)
    assert [t["name"] for t in trend["data"]] == ["identified", "applied", "realized"]
    assert trend["data"][2]["y"][-1] == 38.5 and trend["data"][1]["y"][-1] == 40.0
    costs = {r["Category"]: r["Monthly cost"] for _, r in _frame(at, "Category").iterrows()}
    assert costs["Compute (on-demand)"] == "$70.08" and costs["Compute (Spot)"] == "$25.00"
    assert costs["Storage (EBS)"] == "not collected"  # no snapshot stored: never a guess
    assert costs["Cross-AZ traffic"] == "$100.00" and costs["Idle instances"] == "not collected"


def test_the_top_ten_lists_the_biggest_savings_and_an_analyst_applies_one_from_there(engine: Engine) -> None:
    from app.db.tables_recs import Execution

    _dashboard_seed(engine)
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), "analyst")
    at.run()
    top = at.dataframe(key="overview_top").value
    assert top.shape[0] == 10 and top["Target"].tolist()[0] == "node/n11"
    at.session_state["overview_top"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    at.button(key="overview_apply").click().run()
    at.button(key="apply_confirm").click().run()
    assert not at.exception
    with Session(engine) as s:
        queued = s.exec(select(Execution).where(Execution.state == "queued")).one()
    assert (queued.fingerprint, queued.requested_by) == ("r11", "analyst")


def test_a_viewer_sees_the_top_ten_without_apply(engine: Engine) -> None:
    _dashboard_seed(engine)
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), "viewer")
    at.run()
    assert not at.exception
    assert _frame(at, "Risk").shape[0] == 10
    at.session_state["overview_top"] = {"selection": {"rows": [0], "columns": []}}
    at.run()
    assert "overview_apply" not in {b.key for b in at.button}


def test_the_trend_adds_up_daily_points_in_sql(engine: Engine) -> None:
    from app.services.dashboard import savings_trend

    _dashboard_seed(engine)
    points = savings_trend(engine, days=5)
    assert len(points) == 5 and points[-1].day == utcnow().date()
    assert points[-1].identified == sum((Decimal(100 + i) for i in range(12)), Decimal("40.00"))
    assert points[-4].identified == Decimal("40.00")  # three days ago: the one applied since
    assert points[-3].identified == points[-1].identified  # nothing new after two days ago
    assert (points[-2].applied, points[-1].applied, points[-1].realized) == (Decimal(0), Decimal("40.00"),
                                                                            Decimal("38.50"))


def test_storage_is_every_snapshot_volume_priced_from_the_price_book_and_unknown_types_are_named(
    engine: Engine,
) -> None:
    from app.db.models import StoredSnapshot
    from app.pricing import load_price_book
    from app.services.dashboard import cost_breakdown

    (prod,) = _clusters(engine, "prod-east")
    volumes = [{"volume_id": "vol-1", "region": "us-east-1", "volume_type": "gp3", "size_gb": 100},
               {"volume_id": "vol-2", "region": "us-east-1", "volume_type": "gp3", "size_gb": 20},
               {"volume_id": "vol-3", "region": "us-east-1", "volume_type": "floppy", "size_gb": 1}]  # fmt: skip
    with Session(engine) as s:
        s.add(StoredSnapshot(cluster_id=prod, collected_at=utcnow(), data={"account": {"volumes": volumes}}))
        s.commit()
    storage = next(line for line in cost_breakdown(engine) if line.category == "Storage (EBS)")
    assert storage.monthly_cost == 120 * load_price_book().ebs_gb_month("us-east-1", "gp3")
    assert storage.note == "2 volume(s); 1 without a price are not in the sum"
