"""The Streamlit entrypoint renders the Overview page, empty and with clusters (AppTest)."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster, Node

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _run() -> AppTest:
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.run()
    return at


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


def test_scan_now_asks_the_worker_through_the_database(engine: Engine) -> None:
    from sqlmodel import select

    from app.db.tables_recs import ScanRun

    with Session(engine) as s:
        s.add(Cluster(name="prod-east", region="us-east-1", last_error="kubernetes:prod-east: connection refused"))
        s.commit()
    at = _run()
    assert "connection refused" in at.warning[0].value
    at.button(key="scan_now").click().run()
    assert not at.exception
    with Session(engine) as s:
        run = s.exec(select(ScanRun)).one()
    assert (run.status, run.trigger, run.cluster_id) == ("requested", "ui", None)


def test_node_cost_is_broken_down_by_instance_and_capacity_type(engine: Engine) -> None:
    from app.services.overview import node_cost_breakdown

    with Session(engine) as s:
        prod = Cluster(name="prod-east", region="us-east-1")
        s.add(prod)
        s.commit()
        assert prod.id is not None
        for i, (itype, ctype, cost) in enumerate([("m5.large", "on-demand", "70.08"), ("m5.large", "on-demand", "70.08"),
                                                   ("m5.large", "spot", "31.87")]):  # fmt: skip
            s.add(Node(cluster_id=prod.id, name=f"n{i}", instance_type=itype, capacity_type=ctype,
                       monthly_cost=Decimal(cost)))  # fmt: skip
        s.commit()
    rows = {(r["instance_type"], r["capacity_type"]): r for r in node_cost_breakdown(engine)}
    assert rows[("m5.large", "on-demand")]["nodes"] == 2
    assert rows[("m5.large", "on-demand")]["monthly_cost"] == Decimal("140.16")
    assert rows[("m5.large", "spot")]["monthly_cost"] == Decimal("31.87")
    at = _run()
    assert not at.exception
