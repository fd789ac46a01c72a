"""The Settings page edits per-cluster engine settings, validated on save (AppTest)."""

from __future__ import annotations

from importlib import resources

from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.tables_recs import EngineSetting

ENTRY = str(resources.files("app") / "streamlit_app.py")


def _open(engine: Engine) -> AppTest:
    with Session(engine) as s:
        s.add(Cluster(name="prod-east", region="us-east-1"))
        s.commit()
    at = AppTest.from_file(ENTRY, default_timeout=60)
    at.run()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    return at


def test_saving_a_changed_savings_floor_stores_it_for_the_cluster(engine: Engine) -> None:
    at = _open(engine)
    at.number_input(key="prod-east.binpack.savings_floor_monthly_usd").set_value(75.0)
    at.button[0].click().run()
    assert not at.exception and "Saved" in at.success[0].value
    with Session(engine) as s:
        row = s.exec(select(EngineSetting)).one()
    assert row.engine == "binpack" and row.values["savings_floor_monthly_usd"] == "75.0"


def test_an_invalid_value_is_refused_and_nothing_is_stored(engine: Engine) -> None:
    at = _open(engine)
    at.number_input(key="prod-east.binpack.headroom_percent").set_value(150.0)
    at.button[0].click().run()
    assert "headroom_percent" in at.error[0].value
    with Session(engine) as s:
        assert s.exec(select(EngineSetting)).all() == []
