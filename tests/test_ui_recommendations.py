"""The Recommendations page (AppTest): totals of what is on offer, filters (status, namespace,
minimum saving), sorting and paging in SQL, the detail of the selected row only, evidence as
labelled tables, related recommendations that select each other, readable column widths,
skipped reasons, and the CSV / JSON exports of the whole filtered view."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from importlib import resources
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.states import RecStatus
from app.db.tables_recs import Recommendation as RecRow
from app.db.tables_recs import ScanRun
from app.pricing import load_price_book
from app.services.conflicts import SavingRow, savings_total
from app.services.recommendations import (
    PAGE_SIZE,
    RecFilter,
    export,
    filtered_totals,
    page,
    query,
    render,
    status_totals,
)  # fmt: skip
from app.services.scans import scan_and_store
from app.ui.rec_detail import TABLE_KEY
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _seed(engine: Engine) -> Decimal:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        cid = cluster.id
    out = scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    # Every engine's recommendations, each target counted once where two engines propose a change to it.
    return savings_total(SavingRow(r.fingerprint, r.monthly_savings, r.conflicts_with) for r in out.recommendations).counted


def _rec(fp: str, target: str, savings: str, status: RecStatus = RecStatus.OPEN,
         action_kind: str = "drain-and-remove-node", **extra: Any) -> RecRow:  # fmt: skip
    return RecRow(fingerprint=fp, engine="binpack", target=target, action_kind=action_kind,
                  current_monthly_cost=Decimal(savings), projected_monthly_cost=Decimal("0"),
                  monthly_savings=Decimal(savings), status=status, rationale=f"Remove {target}.", **extra)  # fmt: skip


def _seed_rows(engine: Engine, *rows: RecRow) -> None:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        for row in rows:
            row.cluster_id = cluster.id
            s.add(row)
        s.commit()


def _open() -> AppTest:
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60))
    at.run()
    at.switch_page("../pages/recommendations.py").run()
    assert not at.exception
    return at


def _select(at: AppTest, row: int) -> None:
    at.session_state[TABLE_KEY] = {"selection": {"rows": [row], "columns": []}}
    at.run()
    assert not at.exception


def _plain(markdown: str) -> str:
    return markdown.replace("\\", "").replace("\u200b", "")


def test_without_recommendations_the_page_says_how_to_scan(engine: Engine) -> None:
    at = _open()
    assert "cloudoptim scan" in at.info[0].value


def test_the_page_totals_the_open_savings_and_explains_the_selected_row(engine: Engine) -> None:
    total = _seed(engine)
    at = _open()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Open savings / month"] == f"${total:,.2f}"
    assert at.dataframe[0].value.shape[0] == int(metrics["Open recommendations"])
    _select(at, 0)
    assert _plain(at.subheader[0].value).startswith(("drain-and-remove-node", "replace-node-type"))
    assert any(t.value.columns.tolist() == ["Measure", "Before", "After"] for t in at.table)


def test_with_no_row_selected_the_detail_panel_asks_for_a_selection(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    assert not at.subheader
    assert any("Select a recommendation to see its details" in i.value for i in at.info)


def test_the_status_filter_lists_every_recommendation_status_and_snoozed(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    assert at.selectbox(key="rec_status").options == ["Open", "Snoozed", "Approved", "Applied", "Dismissed",
                                                      "Obsolete", "All"]  # fmt: skip


def test_with_all_statuses_the_headline_counts_only_open_recommendations(engine: Engine) -> None:
    _seed_rows(engine, _rec("a", "node/a", "100.00"), _rec("b", "node/b", "50.00", RecStatus.OBSOLETE),
               _rec("c", "node/c", "25.00", RecStatus.DISMISSED))  # fmt: skip
    at = _open()
    at.selectbox(key="rec_status").select("All").run()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Open recommendations"], metrics["Open savings / month"]) == ("1", "$100.00")
    assert at.dataframe[0].value.shape[0] == 3
    by_status = next(_plain(c.value) for c in at.caption if c.value.startswith("By status"))
    assert "open 1 ($100.00/month)" in by_status and "obsolete 1 ($50.00/month)" in by_status


def test_a_filter_that_matches_nothing_says_so(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.selectbox(key="rec_status").select("dismissed").run()
    assert not at.exception
    assert at.metric[0].label == "Dismissed recommendations" and at.metric[0].value == "0"
    assert any("No recommendation matches" in i.value for i in at.info)


def test_evidence_is_a_labelled_table_with_units_and_the_raw_json_behind_an_expander(engine: Engine) -> None:
    evidence = {"node": "node/a", "before": {"cost_monthly_usd": "70.08", "requested_memory_bytes": 3 * 2**30,
                                             "requested_cpu_percent": 42.5},
                "after": {"removed": True, "cost_monthly_usd": "0.00"}}  # fmt: skip
    _seed_rows(engine, _rec("a", "node/a", "70.08", evidence=evidence))
    at = _open()
    _select(at, 0)
    comparison = at.table[0].value
    rows = {_plain(r["Measure"]): (_plain(r["Before"]), _plain(r["After"])) for _, r in comparison.iterrows()}
    assert rows["Cost"] == ("$70.08 / month", "$0.00 / month")
    assert rows["Requested memory"] == ("3.00 GiB", "—")
    assert rows["Requested CPU (%)"] == ("42.5 %", "—")
    assert any(e.label == "Evidence as JSON" for e in at.expander)
    assert at.json[0].value == json.dumps(evidence)


def test_a_related_recommendation_is_a_button_that_selects_it(engine: Engine) -> None:
    _seed_rows(engine, _rec("drain", "node/a", "100.00", related=["swap"]),
               _rec("swap", "node/b", "40.00", depends_on=["drain"], related=["drain"],
                    action_kind="replace-node-type"))  # fmt: skip
    at = _open()
    _select(at, 0)
    assert _plain(at.subheader[0].value) == "drain-and-remove-node · node/a"
    button = at.button(key="rel_rel_swap")
    assert _plain(button.label).startswith("replace-node-type · node/b")
    button.click().run()
    assert _plain(at.subheader[0].value) == "replace-node-type · node/b"
    assert at.session_state[TABLE_KEY]["selection"]["rows"] == [1]  # the table selects it too
    assert _plain(at.button(key="rel_dep_drain").label).startswith("drain-and-remove-node · node/a")


def test_a_conflicting_recommendation_of_another_engine_is_a_button_that_selects_it(engine: Engine) -> None:
    spot = _rec("spot", "node/a", "30.00", action_kind="move-to-spot", conflicts_with=["drain"])
    spot.engine = "spot-optimizer"
    _seed_rows(engine, _rec("drain", "node/a", "100.00", conflicts_with=["spot"]), spot)
    at = _open()
    _select(at, 0)
    assert any("Conflicts with" in m.value for m in at.markdown)
    button = at.button(key="rel_conf_spot")
    assert _plain(button.label).startswith("move-to-spot · node/a")
    button.click().run()
    assert _plain(at.subheader[0].value) == "move-to-spot · node/a"
    assert _plain(at.button(key="rel_conf_drain").label).startswith("drain-and-remove-node · node/a")


def test_a_related_recommendation_hidden_by_the_filters_is_still_shown(engine: Engine) -> None:
    _seed_rows(engine, _rec("drain", "node/a", "100.00", related=["old"]),
               _rec("old", "node/z", "10.00", RecStatus.OBSOLETE, related=["drain"]))  # fmt: skip
    at = _open()
    _select(at, 0)
    at.button(key="rel_rel_old").click().run()
    assert _plain(at.subheader[0].value) == "drain-and-remove-node · node/z"
    assert any("hidden by the current filters" in c.value for c in at.caption)


def test_the_query_returns_the_links_between_recommendations(engine: Engine) -> None:
    _seed_rows(engine, _rec("drain", "node/a", "100.00", related=["swap"]),
               _rec("swap", "node/b", "40.00", depends_on=["drain"], related=["drain"]))  # fmt: skip
    swap = next(r for r in query(engine, RecFilter()) if r.fingerprint == "swap")
    assert (swap.depends_on, swap.related) == (["drain"], ["drain"])


def test_columns_have_widths_so_status_and_skip_reasons_stay_readable(engine: Engine) -> None:
    _seed_rows(engine, _rec("a", "node/a", "70.08"))
    reason = "node b was kept: pod shop/db-0 has a PersistentVolume in us-east-1a and no other node there " * 2
    with Session(engine) as s:
        s.add(ScanRun(cluster_id=s.exec(select(Cluster.id)).one(), status="succeeded", skipped=[{"engine": "binpack", "target": "node/b", "reason": reason}]))
        s.commit()
    at = _open()
    columns = json.loads(at.dataframe[0].proto.columns)
    shown = at.dataframe[0].value.columns
    assert {"Status", "Target", "Action"} <= set(shown) and all("width" in columns[c] for c in shown)
    skipped = next(e for e in at.expander if e.label.startswith("Skipped"))
    assert skipped.dataframe[0].value.loc[0, "Reason"] == reason  # the whole reason, for the grid to wrap
    assert skipped.dataframe[0].proto.row_height > 64  # tall enough for the grid to wrap text
    assert json.loads(skipped.dataframe[0].proto.columns)["Reason"]["width"] == "large"


def test_two_engines_on_one_node_count_once_at_the_larger_saving_with_a_note(engine: Engine) -> None:
    _seed_rows(engine, _rec("drain", "node/n1", "140.16", conflicts_with=["spot"]),
               RecRow(fingerprint="spot", engine="spot", target="node/n1", action_kind="move-to-spot",
                      current_monthly_cost=Decimal("140.16"), projected_monthly_cost=Decimal("50.16"),
                      monthly_savings=Decimal("90.00"), rationale="Move n1 to Spot.", conflicts_with=["drain"]),
               _rec("other", "node/n2", "10.00"))  # fmt: skip
    at = _open()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Open recommendations"], metrics["Open savings / month"]) == ("3", "$150.16")
    assert metrics["Open savings / year"] == "$1,801.92"
    assert at.dataframe[0].value.shape[0] == 3  # every row is still listed
    notes = [_plain(c.value) for c in at.caption if "overlap" in c.value]
    assert notes == ["2 recommendations overlap on 1 target: the total counts each target once, at its largest "
                     "saving, so it is $90.00 lower than the sum"]  # fmt: skip


def test_a_conflict_with_a_row_the_filters_hide_does_not_lower_the_total(engine: Engine) -> None:
    _seed_rows(engine, _rec("drain", "node/n1", "140.16", conflicts_with=["spot"]),
               RecRow(fingerprint="spot", engine="spot", target="node/n1", action_kind="move-to-spot",
                      current_monthly_cost=Decimal("90.00"), projected_monthly_cost=Decimal(0),
                      monthly_savings=Decimal("90.00"), conflicts_with=["drain"]))  # fmt: skip
    at = _open()
    at.selectbox(key="rec_engine").select("spot").run()
    assert {m.label: m.value for m in at.metric}["Open savings / month"] == "$90.00"
    assert not any("overlap" in c.value for c in at.caption)
    assert query(engine, RecFilter(engine="spot"))[0].conflicts_with == ["drain"]


def test_the_csv_export_writes_money_with_two_decimals() -> None:
    records = [{"engine": "binpack", "target": "node/a", "current_monthly_cost": Decimal("70.1"),
                "projected_monthly_cost": Decimal("0"), "monthly_savings": Decimal("70.1000")}]  # fmt: skip
    (row,) = csv.DictReader(io.StringIO(render(records, "csv")))
    assert (row["current_monthly_cost"], row["projected_monthly_cost"], row["monthly_savings"]) == (
        "70.10", "0.00", "70.10"
    )  # fmt: skip


def _many(engine: Engine, n: int) -> None:
    """`n` open rows with savings n..1 (row i saves n - i), every third in namespace shop."""
    _seed_rows(engine, *(_rec(f"fp{i:03d}", f"workload/{'shop' if i % 3 == 0 else 'web'}/w{i:03d}",
                              f"{n - i}.00", namespace="shop" if i % 3 == 0 else "web") for i in range(n)))  # fmt: skip


def test_page_two_shows_rows_51_to_100_and_the_count_of_all_matching_rows(engine: Engine) -> None:
    _many(engine, 120)
    first = page(engine, RecFilter(), number=2)
    assert (first.total, first.first, first.last, first.pages) == (120, 51, 100, 3)
    assert [r.fingerprint for r in first.rows] == [f"fp{i:03d}" for i in range(50, 100)]
    at = _open()
    assert at.dataframe[0].value.shape[0] == 50  # one page, never all rows
    at.number_input(key="rec_page").set_value(2).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert table["Target"].tolist()[0] == "workload/web/w050" and table.shape[0] == 50
    assert any("Rows 51–100 of 120" in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Open recommendations"] == "120"


def test_a_page_past_the_last_shows_the_last_page_and_says_so(engine: Engine) -> None:
    _many(engine, 60)
    at = _open()
    at.number_input(key="rec_page").set_value(9).run()
    assert at.dataframe[0].value.shape[0] == 10
    assert any("only 2 page(s)" in c.value for c in at.caption)


def test_the_namespace_and_minimum_saving_filters_narrow_the_rows_and_the_totals(engine: Engine) -> None:
    _many(engine, 30)  # shop rows: i = 0, 3, ..., 27 saving 30, 27, ..., 3
    at = _open()
    assert at.selectbox(key="rec_namespace").options == ["All", "shop", "web"]
    at.selectbox(key="rec_namespace").select("shop").run()
    at.number_input(key="rec_min_saving").set_value(20.0).run()
    assert not at.exception
    assert at.dataframe[0].value["Target"].tolist() == ["workload/shop/w000", "workload/shop/w003",
                                                        "workload/shop/w006", "workload/shop/w009"]  # fmt: skip
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Open recommendations"], metrics["Open savings / month"]) == ("4", "$102.00")


def test_sorting_by_engine_and_by_risk_is_done_in_the_query(engine: Engine) -> None:
    high = _rec("h", "node/h", "1.00", risk="high")
    spot = _rec("s", "node/s", "5.00")
    spot.engine = "ghost-probe"
    _seed_rows(engine, _rec("a", "node/a", "9.00"), high, spot)
    assert [r.fingerprint for r in query(engine, RecFilter(), sort="risk")] == ["h", "a", "s"]
    assert [r.fingerprint for r in query(engine, RecFilter(), sort="engine")] == ["a", "h", "s"]
    at = _open()
    at.selectbox(key="rec_sort").select("risk").run()
    assert at.dataframe[0].value["Target"].tolist() == ["node/h", "node/a", "node/s"]


def test_the_csv_and_json_exports_hold_every_filtered_row_not_just_the_page(engine: Engine) -> None:
    _many(engine, 90)
    flt = RecFilter(namespace="web", min_savings=Decimal("10.00"))
    expected = query(engine, flt)
    assert len(expected) > PAGE_SIZE  # more than one page
    rows = list(csv.DictReader(io.StringIO(export(engine, flt, "csv", actor="analyst"))))
    assert [r["fingerprint"] for r in rows] == [r.fingerprint for r in expected]
    assert rows[0]["monthly_savings"] == f"{expected[0].monthly_savings:.2f}"
    doc = json.loads(export(engine, flt, "json", actor="analyst"))
    assert [d["fingerprint"] for d in doc] == [r.fingerprint for r in expected]
    assert doc[-1]["monthly_savings"] == str(expected[-1].monthly_savings) and doc[0]["cluster"] == "prod-east"
    assert json.loads(export(engine, RecFilter(namespace="nowhere"), "json", actor="analyst")) == []


def test_totals_in_sql_match_the_totals_of_the_loaded_rows(engine: Engine) -> None:
    _seed(engine)
    everything = query(engine, RecFilter(status=None))
    in_sql = filtered_totals(engine, RecFilter(status=None))
    loaded = status_totals(everything)
    assert {str(s): (t.count, t.monthly_savings) for s, t in loaded.items()} == {
        s: (t.count, t.monthly_savings) for s, t in in_sql.items()
    }


def test_a_new_filter_starts_again_on_the_first_page(engine: Engine) -> None:
    _many(engine, 120)
    at = _open()
    at.number_input(key="rec_page").set_value(3).run()
    at.selectbox(key="rec_namespace").select("web").run()
    assert not at.exception and not at.warning
    assert at.number_input(key="rec_page").value == 1
    assert any("Rows 1–50 of 80" in c.value for c in at.caption)
