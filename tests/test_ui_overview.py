"""The Overview page (AppTest): empty and seeded, scan now without duplicates, source errors shown
as typed and shortened, and recent scans per cluster with their time split and live status."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from importlib import resources

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
