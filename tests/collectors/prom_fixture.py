"""A real Prometheus for tests: backfill OpenMetrics with promtool, serve it on a free loopback port.

Debian's `prometheus` package provides both binaries (scripts/setup.sh installs it for CI). Missing
binaries fail the test under CI=true and skip it, with the reason, elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from tests.collectors.conftest import free_port


def require_prometheus() -> tuple[str, str]:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    reason = "prometheus and promtool are not installed (apt-get install -y prometheus)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI requires a real Prometheus: {reason}")
    pytest.skip(reason)


def backfill(promtool: str, openmetrics: str, workdir: Path) -> Path:
    """Write the OpenMetrics text and turn it into TSDB blocks; returns the TSDB directory."""
    source, tsdb = workdir / "data.om", workdir / "tsdb"
    source.write_text(openmetrics if openmetrics.endswith("# EOF\n") else openmetrics + "# EOF\n")
    done = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"promtool backfill failed ({done.returncode}): {done.stderr[-2000:]}")
    return tsdb


@contextmanager
def running_prometheus(openmetrics: str, workdir: Path) -> Iterator[str]:
    """Backfill, start Prometheus on that TSDB, wait until ready, yield its URL, stop it (SIGTERM)."""
    prometheus, promtool = require_prometheus()
    tsdb = backfill(promtool, openmetrics, workdir)
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1m\nscrape_configs: []\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                "--storage.tsdb.retention.time=100y",  # backfilled blocks must stay inside retention
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prometheus not ready after 60 s: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
