"""Regenerate the README screenshots from a running `cloudoptim demo` (docs/screenshots/*.png).

Usage: .venv/bin/python scripts/screenshots.py   (starts its own demo on a free port, then stops it)
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.browser import browser_page, screenshot, wait_for_run, wait_for_widgets

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def main() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "CLOUDOPTIM_DATA_DIR": tempfile.mkdtemp(prefix="cloudoptim-shots-")}
    demo = subprocess.Popen([str(Path(sys.executable).parent / "cloudoptim"), "demo", "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        OUT.mkdir(parents=True, exist_ok=True)
        with browser_page(1400, 900) as page:
            page.goto(url)
            wait_for_run(page)
            wait_for_widgets(page, '[data-testid="stDataFrame"] canvas', ".vega-embed")
            page.wait_for_timeout(1000)
            screenshot(page, OUT / "overview.png")
        # Tall enough for the selected recommendation's details and evidence below the table.
        with browser_page(1400, 2100) as page:
            page.goto(f"{url}/recommendations")
            wait_for_run(page)
            wait_for_widgets(page, ".js-plotly-plot .main-svg", '[data-testid="stDataFrame"] canvas')
            box = page.get_by_test_id("stDataFrame").first.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + 15, box["y"] + 52)  # select the top row: its details show
            wait_for_run(page)
            page.get_by_text("Evidence").first.wait_for(timeout=30000)
            page.wait_for_timeout(1000)
            screenshot(page, OUT / "recommendations.png")
        # A rightsizing recommendation: its risk curve (where the chosen request sits) shows.
        with browser_page(1400, 2300) as page:
            page.goto(f"{url}/recommendations")
            wait_for_run(page)
            page.get_by_test_id("stSelectbox").filter(has_text="Engine").click()
            page.get_by_role("option", name="rightsizing", exact=True).click()
            wait_for_run(page)
            wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')
            box = page.get_by_test_id("stDataFrame").first.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + 15, box["y"] + 52)
            wait_for_run(page)
            page.get_by_text("Risk curve").first.wait_for(timeout=30000)
            page.wait_for_timeout(1500)
            screenshot(page, OUT / "rightsizing.png")
        _apply_and_interrupt(env)
        with browser_page(1400, 1600) as page:
            page.goto(f"{url}/executions")
            wait_for_run(page)
            page.get_by_text(re.compile("succeeded|failed|refused")).first.wait_for(timeout=120000)
            page.wait_for_timeout(1000)
            screenshot(page, OUT / "executions.png")
        with browser_page(1400, 1300) as page:
            page.goto(f"{url}/spot-events")
            wait_for_run(page)
            page.get_by_text("handled").first.wait_for(timeout=120000)
            page.wait_for_timeout(1000)
            screenshot(page, OUT / "spot-events.png")
        with browser_page(1400, 1000) as page:
            page.goto(f"{url}/schedules")
            wait_for_run(page)
            wait_for_widgets(page, '[data-testid="stDataFrame"] canvas')  # the table's cells are drawn on a canvas
            page.wait_for_timeout(1500)
            screenshot(page, OUT / "schedules.png")
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=60)


def _apply_and_interrupt(env: dict[str, str]) -> None:
    """Something to show on the Executions, Spot events and Schedules pages: the top consolidation
    and the top office-hours schedule applied through the worker, and one Spot interruption warning."""
    from app.bootstrap import open_database
    from app.services.executions import queue_execution
    from app.services.recommendations import RecFilter, query
    from app.settings import load_settings

    os.environ["CLOUDOPTIM_DATA_DIR"] = env["CLOUDOPTIM_DATA_DIR"]
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
    subprocess.run([cloudoptim, "demo", "--inject", "spot-interruption"], env=env, check=True)


if __name__ == "__main__":
    main()
