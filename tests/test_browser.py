"""The real UI in Debian's Chromium (Playwright): the app serves, signs a user in, navigates and renders data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlmodel import Session

from app.bootstrap import open_database
from app.db.models import Cluster
from app.pricing import load_price_book
from app.services.scans import scan_and_store
from app.services.users import add_user
from app.settings import load_settings
from engines.registry import default_registry
from tests.browser import (
    PASSWORD,
    browser_page,
    chromium_path,
    click_row,
    open_page,
    screenshot,
    sign_in,
    wait_for_widgets,
)
from tests.framework.estate import wasteful_snapshot

pytestmark = pytest.mark.slow


@pytest.fixture
def ui_url(tmp_path: Path) -> Iterator[str]:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/setup.sh --system installs it)")
        pytest.skip("chromium is not installed")
    db = open_database(load_settings())
    with Session(db) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        cid = cluster.id
    scan_and_store(db, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cid)
    add_user(db, "ana", "analyst", PASSWORD, actor="test")
    db.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "cloudoptim"), "ui", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_user_sees_the_cluster_then_opens_its_recommendations(ui_url: str, tmp_path: Path) -> None:
    with browser_page() as page:
        page.goto(ui_url)
        page.get_by_role("heading", name="Sign in to CloudOptim").wait_for(timeout=60000)
        assert page.get_by_test_id("stSidebarNav").count() == 0, "no page is listed before sign-in"
        sign_in(page, ui_url, "ana", PASSWORD)
        assert page.get_by_text("Signed in as ana (analyst)").first.is_visible()
        wait_for_widgets(page, '[data-testid="stMetric"]', '[data-testid="stDataFrame"] canvas')
        # The data grid draws on a canvas, so the metrics carry the checkable text.
        assert page.get_by_test_id("stMetricValue").first.inner_text() == "1"
        assert page.get_by_text("Open savings / month").first.is_visible()
        screenshot(page, tmp_path / "overview.png")
        open_page(page, "Recommendations")
        page.get_by_text("Savings / month").first.wait_for(timeout=60000)
        wait_for_widgets(page, ".js-plotly-plot .main-svg", '[data-testid="stDataFrame"] canvas')
        # Nothing is selected yet, so the detail panel asks for a row instead of guessing one.
        page.get_by_text("Select a recommendation to see its details").first.wait_for(timeout=30000)
        click_row(page, 0)  # the selection column of the top row
        page.get_by_text("Evidence").first.wait_for(timeout=30000)
        assert page.get_by_text("Evidence").count() >= 1
        assert page.get_by_role("heading", name="node/").count() >= 1  # the explained top row
        screenshot(page, tmp_path / "recommendations.png")
    assert (tmp_path / "overview.png").stat().st_size > 10_000
