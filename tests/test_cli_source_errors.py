"""A proxy's whole HTML error page in front of Prometheus or the API server becomes one short line.

A real local HTTP server answers every request with HTTP 500 and an nginx-style HTML page; the
Prometheus source, the Kubernetes collector and the `cloudoptim` commands built on them must
report the status and the first meaningful line, and show the failure in output and exit code.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.collectors.errors import CollectorError, describe_http_error
from app.collectors.k8s import KubernetesCollector
from app.collectors.usage_prometheus import PrometheusUsageSource
from tests.test_cli import write_kubeconfig
from tests.test_cli_data import offline_env

CLI = [str(Path(sys.executable).parent / "cloudoptim")]
PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>500 Internal Server Error</title>\n"
    "<style>body { font-family: sans-serif; color: #333 }</style></head>\n<body>\n"
    "<h1>Internal Server Error</h1>\n"
    "<p>The upstream server at   10.0.0.5:9090\n did not answer &mdash; request id 7f3a.</p>\n"
    "<script>window.trace = {id: '7f3a', spans: [1, 2, 3]};</script>\n"
    + "<!-- padding -->" * 400
    + "<hr><center>nginx/1.25.3</center>\n</body>\n</html>\n"
)
MEANING = "The upstream server at 10.0.0.5:9090 did not answer — request id 7f3a."
SHORT = f"HTTP 500 Internal Server Error: {MEANING}"


@pytest.fixture(scope="module")
def html_500() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = PAGE.encode()
            self.send_response(500)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_helper_keeps_the_status_and_the_first_meaningful_line_of_an_html_page() -> None:
    assert describe_http_error(500, "Internal Server Error", PAGE) == SHORT
    assert describe_http_error(502, "Bad Gateway", "x" * 5000).endswith("x…")
    assert len(describe_http_error(502, "Bad Gateway", "x" * 5000)) < 200
    status = '{"kind": "Status", "message": "etcdserver: request timed out", "code": 500}'
    assert describe_http_error(500, "Internal Server Error", status) == (
        "HTTP 500 Internal Server Error: etcdserver: request timed out"
    )


def test_prometheus_behind_a_failing_proxy_reports_one_short_line(html_500: str) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    with pytest.raises(CollectorError) as err:
        PrometheusUsageSource(html_500, timeout=5).fetch(None, end - timedelta(hours=1), end, 300)
    assert err.value.message == f"{SHORT} (from {html_500}/api/v1/query_range)"


def test_an_api_server_behind_a_failing_proxy_reports_one_short_line(tmp_path: Path, html_500: str) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "proxied", server=html_500)
    with pytest.raises(CollectorError) as err:
        KubernetesCollector(kubeconfig, "proxied", "prod", "us-east-1", timeout=5).collect()
    assert err.value.message == f"listing nodes failed: {SHORT}"


def test_scan_and_inventory_of_a_cluster_whose_sources_all_fail_say_so_and_exit_1(
    tmp_path: Path, html_500: str
) -> None:
    env = offline_env()  # AWS at a closed port: the account source fails too
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "proxied", server=html_500)
    add = subprocess.run([*CLI, "clusters", "add", "prod", "--context", "proxied", "--region", "us-east-1",
                          "--kubeconfig", str(kubeconfig), "--usage", html_500], capture_output=True, text=True,
                         env=env, timeout=60)  # fmt: skip
    assert add.returncode == 0, add.stderr

    scan = subprocess.run([*CLI, "scan", "--cluster", "prod"], capture_output=True, text=True, env=env, timeout=120)
    assert scan.returncode == 1, scan.stdout + scan.stderr
    assert "prod: scan failed" in scan.stderr
    assert f"kubernetes:proxied: listing nodes failed: {SHORT}" in scan.stderr
    assert "error: the scan of prod failed" in scan.stderr
    assert "<" not in scan.stderr and "Traceback" not in scan.stderr
    assert "failed" in scan.stdout and "kubernetes:proxied" in scan.stdout  # the Scans table

    inventory = subprocess.run([*CLI, "inventory", "--cluster", "prod", "--format", "json"], capture_output=True,
                               text=True, env=env, timeout=120)  # fmt: skip
    assert inventory.returncode == 1
    [cluster] = json.loads(inventory.stdout)["clusters"]
    assert cluster["name"] == "prod" and cluster["status"] == "failed" and cluster["nodes"] is None
    assert {"source": "kubernetes:proxied", "message": f"listing nodes failed: {SHORT}"} in cluster["errors"]
    assert "error: could not read cluster prod" in inventory.stderr


def test_inventory_of_an_unknown_cluster_is_an_error_naming_the_registered_ones(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "c")
    env = os.environ.copy()
    subprocess.run([*CLI, "clusters", "add", "prod", "--context", "c", "--region", "us-east-1", "--kubeconfig",
                    str(kubeconfig)], check=True, capture_output=True, env=env, timeout=60)  # fmt: skip
    result = subprocess.run([*CLI, "inventory", "--cluster", "nope", "--format", "json"], capture_output=True,
                            text=True, env=env, timeout=60)  # fmt: skip
    assert result.returncode == 2 and result.stdout == ""
    assert "unknown cluster nope (registered: prod)" in result.stderr
