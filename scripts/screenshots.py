"""Regenerate the README screenshots from a running `cloudoptim demo` (docs/screenshots/*.png).

Usage: .venv/bin/python scripts/screenshots.py   (starts its own demo on a free port and data
directory, signs in as the demo's admin with the password its banner prints, then stops it)

Every page of the app is shot: overview, plan (a consolidation and a rightsizing ticked),
recommendations (the top row explained), rightsizing (its risk curve), executions, spot-events,
schedules, clusters, engines (with a passed and a failed upload), models and admin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import (
    Demo,
    browser_page,
    click_row,
    open_page,
    running_demo,
    screenshot,
    sign_in,
    wait_for_run,
    wait_for_widgets,
)
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
FIXTURES = ROOT / "tests" / "browser_fixtures"


@contextmanager
def admin_page(demo: Demo, height: int) -> Iterator[Page]:
    with browser_page(1400, height) as page:
        sign_in(page, demo.url, "admin", demo.admin_password)
        yield page


def _settle(page: Page, ms: int = 1200) -> None:
    wait_for_run(page)
    page.wait_for_timeout(ms)  # charts animate in


def _engine_filter(page: Page, engine: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="Engine").click()
    page.get_by_role("option", name=engine, exact=True).click()
    wait_for_run(page)


def shoot_browsing_pages(demo: Demo) -> None:
    with admin_page(demo, 900) as page:
        wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')
        _settle(page)
        screenshot(page, OUT / "overview.png")
    # Tall enough for the selected recommendation's details and evidence below the table.
    with admin_page(demo, 2100) as page:
        open_page(page, "Recommendations")
        wait_for_widgets(page, ".js-plotly-plot .main-svg", '[data-testid="stDataFrame"] canvas')
        click_row(page, 0)
        page.get_by_text("Evidence").first.wait_for(timeout=30000)
        _settle(page)
        screenshot(page, OUT / "recommendations.png")
    # A rightsizing recommendation: its risk curve (where the chosen request sits) shows.
    with admin_page(demo, 2300) as page:
        open_page(page, "Recommendations")
        _engine_filter(page, "rightsizing")
        wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')
        click_row(page, 0)
        page.get_by_text("Risk curve").first.wait_for(timeout=30000)
        _settle(page, 1500)
        screenshot(page, OUT / "rightsizing.png")
    # A plan of a consolidation and a rightsizing, with its projected delta (not applied).
    with admin_page(demo, 1500) as page:
        open_page(page, "Plan")
        # Each engine's list is short; the ticks persist across the filter, so the plan shows below.
        for engine, label in (("binpack", "drain and remove node"), ("rightsizing", "/Deployment/")):
            _engine_filter(page, engine)
            box = page.get_by_test_id("stCheckbox").filter(has_text=label).first
            box.locator("label").first.click()
            wait_for_run(page)
        wait_for_widgets(page, '[data-testid="stMetric"]')
        _settle(page)
        screenshot(page, OUT / "plan.png")


def shoot_operating_pages(demo: Demo) -> None:
    _apply_and_interrupt(demo)
    with admin_page(demo, 1600) as page:
        open_page(page, "Executions")
        page.get_by_role("heading", name=re.compile(r"Execution \d+: (succeeded|failed|refused)")).first.wait_for(
            timeout=120000
        )
        _settle(page)
        screenshot(page, OUT / "executions.png")
    with admin_page(demo, 1300) as page:
        open_page(page, "Spot events")
        page.get_by_text("handled").first.wait_for(timeout=120000)
        _settle(page)
        screenshot(page, OUT / "spot-events.png")
    with admin_page(demo, 1000) as page:
        open_page(page, "Schedules")
        wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')  # the table's cells are drawn on a canvas
        _settle(page, 1500)
        screenshot(page, OUT / "schedules.png")


def shoot_admin_pages(demo: Demo) -> None:
    with admin_page(demo, 1400) as page:
        open_page(page, "Clusters and nodes")
        _settle(page)
        screenshot(page, OUT / "clusters.png")
    with admin_page(demo, 2600) as page:
        open_page(page, "Engines")
        for module in ("quiet_nodes.py", "env_snoop.py"):  # a valid and a hostile upload, to show both reports
            page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(FIXTURES / module))
            page.get_by_text(module).first.wait_for(timeout=30000)
            page.get_by_role("button", name="Upload engine").click()
            wait_for_run(page)

        def reported() -> bool:
            open_page(page, "Engines")
            expanders = page.get_by_test_id("stExpander")
            return bool(expanders.filter(has_text="quiet-nodes: passed").count()
                        and expanders.filter(has_text="env-snoop: failed").count())  # fmt: skip

        wait_until(reported, timeout=240, interval=3)
        _settle(page)
        screenshot(page, OUT / "engines.png")
    with admin_page(demo, 1300) as page:
        open_page(page, "Models")
        _settle(page)
        screenshot(page, OUT / "models.png")
    with admin_page(demo, 1100) as page:
        open_page(page, "Settings and users")
        _settle(page)
        screenshot(page, OUT / "admin.png")


def _apply_and_interrupt(demo: Demo) -> None:
    """Something to show on the Executions, Spot events and Schedules pages: the top consolidation
    and the top office-hours schedule applied through the worker, and one Spot interruption warning."""
    from app.bootstrap import open_database
    from app.services.executions import queue_execution
    from app.services.recommendations import RecFilter, query
    from app.settings import load_settings

    os.environ["CLOUDOPTIM_DATA_DIR"] = str(demo.data_dir)
    db = open_database(load_settings())
    recs = query(db, RecFilter())
    drains = [r for r in recs if r.action == "drain-and-remove-node"]
    if drains:
        queue_execution(db, drains[0].fingerprint, requested_by="screenshots")
    # The office-hours engine's top schedule, so the Schedules page has a workload to show.
    schedules = [r for r in recs if r.engine == "office-hours"]
    if schedules:
        queue_execution(db, schedules[0].fingerprint, requested_by="screenshots")
    db.dispose()
    cloudoptim = str(Path(sys.executable).parent / "cloudoptim")
    subprocess.run([cloudoptim, "demo", "--inject", "spot-interruption"], env=demo.env, check=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with running_demo(Path(tempfile.mkdtemp(prefix="cloudoptim-shots-")) / "data") as demo:
        shoot_browsing_pages(demo)
        shoot_operating_pages(demo)
        shoot_admin_pages(demo)
    print(f"screenshots written to {OUT}")


if __name__ == "__main__":
    main()
