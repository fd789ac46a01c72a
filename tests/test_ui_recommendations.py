"""The Recommendations page (AppTest): totals, filters, rationale and evidence, skipped reasons."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.pricing import load_price_book
from app.services.scans import scan_and_store
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _seed(engine: Engine) -> Decimal:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        cid = cluster.id
    out = scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    return sum((r.monthly_savings for r in out.recommendations), Decimal(0))


def _open() -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.run()
    at.switch_page("../pages/recommendations.py").run()
    return at


def test_without_recommendations_the_page_says_how_to_scan(engine: Engine) -> None:
    at = _open()
    assert not at.exception
    assert "cloudoptim scan" in at.info[0].value


def test_the_page_totals_the_savings_and_explains_the_top_row(engine: Engine) -> None:
    total = _seed(engine)
    at = _open()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Savings / month"] == f"${total:,.2f}"
    assert at.dataframe[0].value.shape[0] == int(metrics["Recommendations"])
    assert at.subheader[0].value.startswith(("drain-and-remove-node", "replace-node-type"))
    assert at.json  # evidence and action spec are shown


def test_a_filter_that_matches_nothing_says_so(engine: Engine) -> None:
    _seed(engine)
    at = _open()
    at.selectbox(key="rec_status").select("dismissed").run()
    assert not at.exception
    assert at.metric[0].value == "0"
    assert any("No recommendation matches" in i.value for i in at.info)
