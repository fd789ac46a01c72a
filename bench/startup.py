"""`python -m bench startup [--json] [--quick]`: how long a user waits for the first page.

Measures, against baselines taken in the same run on the same machine:
(a) the Overview: `cloudoptim ui` on a temporary data dir with a seeded SQLite DB (two clusters,
    nodes, open recommendations, finished scans), opened in Debian's Chromium (Playwright); the
    clock runs from `goto` until the metrics, the clusters grid and the cost chart are drawn.
    "first visit" is the first session of a freshly started server (its first script run pays
    every import) in a browser that has used Streamlit before (its HTTP cache holds the
    JavaScript); "second visit" is a new tab on the same server; "cold browser" is a first visit
    from an empty browser cache. Baseline: a minimal Streamlit page with one metric, one table
    and one chart, served and timed the same way.
    The server's own share is timed without a browser too: on another fresh server, Streamlit's
    script health check (/_stcore/script-health-check) runs the page script once in a real
    session and answers when it ends, so its time is the first script run (every import, the
    database, the queries), then a second run. "server ready" is the time from spawning the
    server until /_stcore/health answers: `cloudoptim ui` migrates and pre-imports the first
    page's modules before it listens (app/ui/serve.py), so it is slower to be ready than a bare page.
(b) `cloudoptim --version` wall time (median of 5 spawns). Baseline: a bare `python -c pass`.
Every server listens on the same port, one after the other, so the browser cache (keyed by
origin) is shared as it is for a returning user. A script, not a test: it prints numbers and
never asserts; BENCHMARKS.md records a real run.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
CHART = '[data-testid="stVegaLiteChart"] svg.marks, [data-testid="stVegaLiteChart"] canvas, .js-plotly-plot .main-svg'
# What "drawn" means: the numbers, the grid (a canvas) and the chart.
DRAWN = ('[data-testid="stMetric"]', '[data-testid="stDataFrame"] canvas', CHART)
STREAMLIT_FLAGS = [
    "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
    "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal",
]  # fmt: skip
HELLO_PAGE = """import streamlit as st
st.title("Hello")
st.metric("Clusters", 2)
st.dataframe([{"cluster": "a", "cost": 1.5}, {"cluster": "b", "cost": 2.5}])
st.vega_lite_chart([{"x": "a", "y": 1}], {"mark": "bar", "encoding": {"x": {"field": "x"}, "y": {"field": "y", "type": "quantitative"}}})
"""
# Visited once first so the browser cache holds every JavaScript chunk either Overview might load.
WARM_UP_PAGE = HELLO_PAGE + "import plotly.graph_objects as go\nst.plotly_chart(go.Figure(go.Bar(x=[1], y=[2])))\n"
SEED = "import sys; from pathlib import Path; from bench.startup import seed; seed(Path(sys.argv[1]))"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(data_dir: Path) -> None:
    """Two clusters with nodes, open recommendations and finished scans, written through the tables."""
    from sqlmodel import Session

    from app.bootstrap import open_database
    from app.db.models import Cluster, Node
    from app.db.tables_recs import Recommendation, ScanRun
    from app.db.types import utcnow
    from app.settings import load_settings

    db = open_database(load_settings(data_dir=data_dir))
    now = utcnow()
    nodes = [("m5.large", "on-demand", "70.08")] * 3 + [("m5.xlarge", "spot", "63.74")]
    with Session(db) as session:
        for c, (name, region) in enumerate([("prod-east", "us-east-1"), ("staging-west", "us-west-2")]):
            cluster = Cluster(name=name, region=region, monthly_cost=Decimal("273.98"), last_scan_at=now)
            session.add(cluster)
            session.flush()
            assert cluster.id is not None
            for i, (itype, ctype, cost) in enumerate(nodes):
                session.add(Node(cluster_id=cluster.id, name=f"ip-10-{c}-0-{i}", instance_type=itype,
                                 capacity_type=ctype, monthly_cost=Decimal(cost), cpu_cores=2, memory_bytes=8 << 30))  # fmt: skip
            run = ScanRun(cluster_id=cluster.id, trigger="cli", status="succeeded", started_at=now - timedelta(minutes=5),
                          finished_at=now, duration_s=1.2, counts={"binpack": {"recommendations": 2}})  # fmt: skip
            session.add(run)
            session.flush()
            for i in range(2):
                session.add(Recommendation(
                    fingerprint=f"bench-{c}-{i}", engine="binpack", cluster_id=cluster.id, target=f"node/ip-10-{c}-0-{i}",
                    action_kind="drain-and-remove-node", current_monthly_cost=Decimal("70.08"),
                    projected_monthly_cost=Decimal("0"), monthly_savings=Decimal("70.08"), scan_run_id=run.id,
                    rationale="Its pods fit on the other nodes.", evidence={"pods_moved": 3},
                ))  # fmt: skip
        session.commit()
    db.dispose()


@contextmanager
def serve(cmd: Sequence[str], env: dict[str, str], port: int) -> Iterator[str]:
    """Start a Streamlit server and yield its URL once /_stcore/health answers."""
    proc = subprocess.Popen(list(cmd), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(cmd[:4])} did not start (exit code {proc.poll()})")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Browser:
    """One Chromium with a persistent context (a returning user's cache) and visits timed in it."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        chromium = shutil.which("chromium")
        if chromium is None:
            raise RuntimeError("Debian chromium is not installed (apt-get install chromium)")
        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        self.context = self._browser.new_context(viewport={"width": 1400, "height": 900})

    def visit(self, url: str, *, cold: bool = False) -> float:
        """Seconds from `goto` until every DRAWN selector is visible, in a new tab."""
        context = self._browser.new_context(viewport={"width": 1400, "height": 900}) if cold else self.context
        page = context.new_page()
        try:
            started = time.perf_counter()
            page.goto(url)
            for selector in DRAWN:
                page.locator(selector).first.wait_for(timeout=120_000)
            return time.perf_counter() - started
        finally:
            page.close()
            if cold:
                context.close()

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()


def time_script_runs(url: str) -> tuple[float, float]:
    """Seconds of the first and of a second server-side script run, through the health check."""
    walls = []
    for _ in range(2):
        started = time.perf_counter()
        answer = requests.get(f"{url}/_stcore/script-health-check", timeout=120)
        walls.append(time.perf_counter() - started)
        if not answer.ok:
            raise RuntimeError(f"the page script failed: {answer.status_code} {answer.text}")
    return walls[0], walls[1]


def _spawn_median(cmd: Sequence[str], times: int = 5) -> float:
    walls = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def _row(measurement: str, seconds: float, baseline: str, baseline_s: float, target_s: float | None) -> dict[str, Any]:
    return {
        "measurement": measurement, "seconds": round(seconds, 3), "baseline": baseline,
        "baseline_seconds": round(baseline_s, 3), "ratio": round(seconds / baseline_s, 2) if baseline_s else None,
        "target_seconds": target_s, "met": None if target_s is None else seconds < target_s,
    }  # fmt: skip


def _visits(browser: Browser, command: Callable[[int], list[str]], env: dict[str, str], port: int,
            rounds: int) -> dict[str, float]:  # fmt: skip
    """Medians over `rounds` fresh servers of the first and second visit and of the first and second
    script run (each on its own server, since either warms the process), then a cold-browser visit."""
    firsts, seconds, script_firsts, script_seconds, readies = [], [], [], [], []
    checked = {**env, "STREAMLIT_SERVER_SCRIPT_HEALTH_CHECK_ENABLED": "true"}
    for _ in range(rounds):
        started = time.perf_counter()
        with serve(command(port), env, port) as url:
            readies.append(time.perf_counter() - started)
            firsts.append(browser.visit(url))
            seconds.append(browser.visit(url))
        with serve(command(port), checked, port) as url:
            first_run, second_run = time_script_runs(url)
        script_firsts.append(first_run)
        script_seconds.append(second_run)
    with serve(command(port), env, port) as url:
        cold = browser.visit(url, cold=True)
    return {
        "first": statistics.median(firsts), "second": statistics.median(seconds), "cold": cold,
        "script_first": statistics.median(script_firsts), "script_second": statistics.median(script_seconds),
        "ready": statistics.median(readies),
    }  # fmt: skip


def run(quick: bool = False, ui_command: Callable[[int], list[str]] | None = None) -> list[dict[str, Any]]:
    """Measure; `ui_command(port)` replaces `cloudoptim ui --port PORT` (to time another tree)."""
    rounds = 1 if quick else 3
    ui = ui_command or (lambda port: [str(BIN / "cloudoptim"), "ui", "--port", str(port)])
    with tempfile.TemporaryDirectory(prefix="cloudoptim-startup-") as tmp:
        data_dir = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPTIM_")}
        env["CLOUDOPTIM_DATA_DIR"] = str(data_dir)
        # Seeded by the Python that serves (it may be another tree, on its own schema revision).
        subprocess.run([sys.executable, "-c", SEED, str(data_dir)], env=env, check=True)
        pages = {}
        for name, text in (("warm_up", WARM_UP_PAGE), ("hello", HELLO_PAGE)):
            pages[name] = Path(tmp) / f"{name}.py"
            pages[name].write_text(text, encoding="utf-8")

        def streamlit(page: Path) -> Callable[[int], list[str]]:
            return lambda port: [sys.executable, "-m", "streamlit", "run", str(page), "--server.port", str(port),
                                 *STREAMLIT_FLAGS]  # fmt: skip

        port = _free_port()
        browser = Browser()
        try:
            with serve(streamlit(pages["warm_up"])(port), env, port) as url:
                browser.visit(url)
            hello = _visits(browser, streamlit(pages["hello"]), env, port, rounds)
            overview = _visits(browser, ui, env, port, rounds)
        finally:
            browser.close()
    rows = [
        _row("overview_first_visit", overview["first"], "hello_first_visit", hello["first"], 2.0),
        _row("overview_second_visit", overview["second"], "hello_second_visit", hello["second"], None),
        _row("overview_first_visit_cold_browser", overview["cold"], "hello_first_visit_cold_browser", hello["cold"],
             None),
        _row("overview_first_script_run", overview["script_first"], "hello_first_script_run", hello["script_first"],
             None),
        _row("overview_second_script_run", overview["script_second"], "hello_second_script_run",
             hello["script_second"], None),
        # `cloudoptim ui` imports the first page's modules before it listens (app/ui/serve.py), so
        # part of the first visit's old wait is here now; reported so that move is visible.
        _row("ui_server_ready", overview["ready"], "hello_server_ready", hello["ready"], None),
    ]  # fmt: skip
    python_pass = _spawn_median([sys.executable, "-c", "pass"])
    version = _spawn_median([str(BIN / "cloudoptim"), "--version"])
    rows.append(_row("cloudoptim_version", version, "python_c_pass", python_pass, 0.5))
    return rows
