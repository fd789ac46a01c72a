"""Every page renders with data without Streamlit deprecation warnings (AppTest): the log stays
free of the `use_container_width` notice Streamlit 1.67 prints on every render."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster, Node
from app.pricing import load_price_book
from app.services.scans import scan_and_store
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
PAGES = [
    "overview.py", "recommendations.py", "executions.py", "spot_events.py", "schedules.py", "clusters.py", "engines.py",
    "models.py", "plan.py",
]  # fmt: skip


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def deprecations() -> Iterator[list[str]]:
    # Streamlit's loggers do not propagate to the root logger, so caplog would not see them.
    recorder = _Recorder()
    logger = logging.getLogger("streamlit.deprecation_util")
    logger.addHandler(recorder)
    try:
        yield recorder.messages
    finally:
        logger.removeHandler(recorder)


def _seed(engine: Engine) -> None:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        assert cluster.id is not None
        s.add(Node(cluster_id=cluster.id, name="node-0", instance_type="m5.xlarge", monthly_cost=Decimal("140.16")))
        s.commit()
        cid = cluster.id
    scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)


@pytest.mark.parametrize("page", PAGES)
def test_a_page_with_data_renders_without_deprecation_warnings(engine: Engine, deprecations: list[str], page: str) -> None:
    _seed(engine)
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60))
    at.run()
    at.switch_page(f"../pages/{page}").run()
    if page == "recommendations.py":
        at.session_state["rec_table"] = {"selection": {"rows": [0], "columns": []}}
        at.run()
    assert not at.exception
    assert [m for m in deprecations if "use_container_width" in m or "deprecated" in m.lower()] == []
