"""`python -m bench ui [--json] [--quick]`: how long the analyst's pages take with a full database.

Seeds a temporary SQLite DB (bulk inserts, no engines) with 10,000 recommendations (five
clusters, every engine, statuses, namespaces, conflict pairs), 1,000 succeeded executions and
their ledger rows over 90 days (`--quick`: 300 / 30 / 7 days), then measures against baselines
taken in the same run on the same machine:
(a) AppTest run time of Overview, Recommendations and Plan (Plan is reported "not present" when
    pages/plan.py does not exist): the median of warm reruns of each page, signed in as an
    analyst, and its first run in a fresh AppTest (for the Overview every import is in it; the
    other pages come after an Overview run, as they do for a user). Baseline: a bare page with
    one Plotly chart, timed the same way.
(b) The browser's time to the first chart: `cloudoptim ui` on a free port against that DB, in
    Debian's Chromium (Playwright, `executable_path`): sign in through the form (not timed), then
    for each page the clock runs from the click on its navigation link until its title is shown,
    its script run has finished and its first Plotly chart is drawn (a page without a chart: the
    end of its run). A first round warms the server and the browser cache. Baseline: the bare
    page served by `streamlit run`, from `goto` to its chart (second visit).
A script, not a test: it prints numbers and never asserts; BENCHMARKS.md records a real run.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from bench.startup import STREAMLIT_FLAGS, Browser, _free_port, serve
from bench.ui_seed import PASSWORD, USER, seed

BIN = Path(sys.executable).parent
ENTRY = str(resources.files("app") / "streamlit_app.py")
PAGES = (("overview", None), ("recommendations", "../pages/recommendations.py"), ("plan", "../pages/plan.py"))
LINKS = {"recommendations": "Recommendations", "plan": "Plan", "overview": "Overview"}
URLS = {"recommendations": "recommendations", "plan": "plan", "overview": ""}
CHART = ".js-plotly-plot .main-svg"
TARGET_S = 1.5
BASELINE_PAGE = """import plotly.graph_objects as go
import streamlit as st
st.title("Baseline")
st.plotly_chart(go.Figure(go.Bar(x=["a", "b"], y=[1, 2])))
"""


def _present(page: str | None) -> bool:
    if page is None:
        return True
    return (Path(ENTRY).parent / page).resolve().exists()


def _row(measurement: str, seconds: float | None, baseline: str, baseline_s: float | None, **extra: Any) -> dict[str, Any]:
    ratio = round(seconds / baseline_s, 2) if seconds is not None and baseline_s else None
    return {
        "measurement": measurement, "seconds": None if seconds is None else round(seconds, 3), "baseline": baseline,
        "baseline_seconds": None if baseline_s is None else round(baseline_s, 3), "ratio": ratio,
        "target_seconds": TARGET_S, "met": None if seconds is None else seconds < TARGET_S, **extra,
    }  # fmt: skip


def _apptest_times(rounds: int) -> dict[str, tuple[float, float] | None]:
    """(first run, median warm rerun) per page, in this process, against CLOUDOPTIM_DATA_DIR's DB."""
    from streamlit.testing.v1 import AppTest

    from app.db import make_engine
    from app.services.users import sign_in
    from app.settings import AuthSettings, load_settings
    from app.ui.auth import TOKEN_KEY

    engine = make_engine(load_settings().database_url)
    try:
        token = sign_in(engine, USER, PASSWORD, AuthSettings())
    finally:
        engine.dispose()
    out: dict[str, tuple[float, float] | None] = {}
    for name, page in PAGES:
        if not _present(page):
            out[name] = None
            continue
        at = AppTest.from_file(ENTRY, default_timeout=120)
        at.session_state[TOKEN_KEY] = token
        started = time.perf_counter()
        at.run()
        if page is not None:  # the Overview is the default page: its run is not this page's
            started = time.perf_counter()
            at.switch_page(page).run()
        first = time.perf_counter() - started
        title = at.title[0].value if at.title else ""
        if at.exception:
            raise RuntimeError(f"{name} failed under AppTest: {at.exception[0].message}")
        warm = []
        for _ in range(rounds):
            started = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - started)
            if at.exception or (at.title[0].value if at.title else "") != title:
                raise RuntimeError(f"{name}: the rerun did not show the page again ({title!r})")
        out[name] = (first, statistics.median(warm))
    return out


def _apptest_baseline(rounds: int) -> tuple[float, float]:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(BASELINE_PAGE, default_timeout=120)
    started = time.perf_counter()
    at.run()
    first = time.perf_counter() - started
    warm = []
    for _ in range(rounds):
        started = time.perf_counter()
        at.run()
        warm.append(time.perf_counter() - started)
    return first, statistics.median(warm)


def wait_for_run(page: Any, timeout_ms: int) -> None:
    """Until Streamlit finished the script run (its status widget is gone)."""
    page.wait_for_timeout(100)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def _browser_times(browser: Browser, url: str) -> dict[str, float | None]:
    """Seconds to the first chart of each page in one signed-in tab."""
    page = browser.context.new_page()
    out: dict[str, float | None] = {}
    try:
        page.goto(url)
        page.get_by_label("User name", exact=True).fill(USER)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()  # not timed: argon2 is slow on purpose
        page.locator(CHART).first.wait_for(timeout=120_000)
        wait_for_run(page, 120_000)
        for name, link in LINKS.items():  # the Overview last: reached from Plan by its link too
            if not _present(dict(PAGES)[name]):
                out[name] = None
                continue
            started = time.perf_counter()
            page.get_by_role("link", name=link, exact=True).first.click()
            page.wait_for_url(f"{url}/{URLS[name]}", timeout=60_000)
            page.get_by_role("heading", name=link).first.wait_for(timeout=120_000)
            wait_for_run(page, 120_000)
            if page.locator(CHART).count():  # a page without a chart (an empty plan): the end of its run
                page.locator(CHART).first.wait_for(timeout=120_000)
            out[name] = time.perf_counter() - started
    finally:
        page.close()
    return out


def _baseline_browser(browser: Browser, url: str) -> float:
    page = browser.context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url)
        page.locator(CHART).first.wait_for(timeout=120_000)
        return time.perf_counter() - started
    finally:
        page.close()


def run(quick: bool = False, browser: bool = True) -> list[dict[str, Any]]:
    """Seed, measure, and return one row per measurement (`browser=False` skips part (b))."""
    rounds = 2 if quick else 5
    sizes = {"recommendations": 300, "executions": 30, "ledger_days": 7} if quick else \
        {"recommendations": 10_000, "executions": 1_000, "ledger_days": 90}  # fmt: skip
    saved = {k: v for k, v in os.environ.items() if k.startswith("CLOUDOPTIM_")}
    with tempfile.TemporaryDirectory(prefix="cloudoptim-bench-ui-") as tmp:
        data_dir = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPTIM_")}
        env["CLOUDOPTIM_DATA_DIR"] = str(data_dir)
        for key in saved:
            os.environ.pop(key)
        os.environ["CLOUDOPTIM_DATA_DIR"] = str(data_dir)
        try:
            seeded = seed(data_dir, **sizes)
            base_first, base_warm = _apptest_baseline(rounds)
            pages = _apptest_times(rounds)
        finally:
            os.environ.pop("CLOUDOPTIM_DATA_DIR", None)
            os.environ.update(saved)
        rows = []
        for name, _page in PAGES:
            times = pages[name]
            note = {"note": "not present"} if times is None else {}
            rows.append(_row(f"{name}_apptest_rerun", times[1] if times else None, "bare_page_apptest_rerun",
                             base_warm, **seeded, **note))  # fmt: skip
            rows.append(_row(f"{name}_apptest_first_run", times[0] if times else None, "bare_page_apptest_first_run",
                             base_first, **seeded, **note))  # fmt: skip
        if browser:
            rows += _browser_rows(env, Path(tmp), seeded)
    return rows


def _browser_rows(env: dict[str, str], tmp: Path, seeded: dict[str, int]) -> list[dict[str, Any]]:
    try:
        chrome = Browser()
    except Exception as exc:  # no chromium here: say so instead of failing the other numbers
        return [_row(f"{name}_browser_first_chart", None, "bare_page_browser_first_chart", None, **seeded,
                     note=f"browser not available: {exc}") for name, _ in PAGES]  # fmt: skip
    bare = tmp / "bare.py"
    bare.write_text(BASELINE_PAGE, encoding="utf-8")
    port = _free_port()
    try:
        cmd = [sys.executable, "-m", "streamlit", "run", str(bare), "--server.port", str(port), *STREAMLIT_FLAGS]
        with serve(cmd, env, port) as url:
            _baseline_browser(chrome, url)  # first visit fills the browser cache with Plotly's JavaScript
            baseline = _baseline_browser(chrome, url)
        with serve([str(BIN / "cloudoptim"), "ui", "--port", str(port)], env, port) as url:
            _browser_times(chrome, url)  # warm-up: the server's first script runs import everything
            times = _browser_times(chrome, url)
    finally:
        chrome.close()
    return [_row(f"{name}_browser_first_chart", times.get(name), "bare_page_browser_first_chart", baseline, **seeded,
                 **({"note": "not present"} if times.get(name) is None else {}))
            for name, _ in PAGES]  # fmt: skip
