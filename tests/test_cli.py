"""The `cloudoptim` console script, run in a subprocess as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from app import __version__

CLI = [str(Path(sys.executable).parent / "cloudoptim")]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env or os.environ.copy())


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"cloudoptim {__version__}"


def test_db_upgrade_migrates_then_reports_it_is_current(tmp_path: Path) -> None:
    first = run("db", "upgrade")
    second = run("db", "upgrade")
    assert first.returncode == 0 and "upgraded from empty to" in first.stdout
    assert second.returncode == 0 and "already at revision" in second.stdout
    assert (tmp_path / "data" / "cloudoptim.db").exists()


def test_db_upgrade_works_on_postgresql(settings) -> None:  # type: ignore[no-untyped-def]
    result = run("db", "upgrade")
    assert result.returncode == 0, result.stderr


def test_a_bad_database_url_is_one_clear_line_and_exit_code_2() -> None:
    env = {**os.environ, "CLOUDOPTIM_DB__URL": "postgresql+psycopg://u:pw@127.0.0.1:9/x"}
    result = run("db", "upgrade", env=env)
    assert result.returncode == 2
    assert "cannot open database" in result.stderr and "Traceback" not in result.stderr


def test_clusters_can_be_added_listed_and_removed() -> None:
    assert run("clusters", "add", "prod", "--context", "prod-ctx", "--region", "us-east-1").returncode == 0
    assert "prod\tprod-ctx\tus-east-1" in run("clusters", "list").stdout
    bad = run("clusters", "add", "Prod!", "--context", "c", "--region", "us-east-1")
    assert bad.returncode == 2 and "invalid cluster name" in bad.stderr
    assert run("clusters", "remove", "prod").returncode == 0
    assert "no clusters registered" in run("clusters", "list").stdout


def test_the_worker_starts_logs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "worker"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        assert proc.stderr is not None
        while "worker started" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        assert "worker started" in seen
        second = run("worker")
        assert second.returncode == 2 and "another CloudOptim worker is running" in second.stderr
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[1]
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0
    assert "worker stopped" in out


def test_a_missing_usage_file_is_refused_when_adding_a_cluster(tmp_path: Path) -> None:
    bad = run("clusters", "add", "prod", "--context", "c", "--region", "us-east-1", "--usage", str(tmp_path / "no.csv"))
    assert bad.returncode == 2 and "neither a Prometheus URL nor an existing file" in bad.stderr
    ok = run("clusters", "add", "prod", "--context", "c", "--region", "us-east-1", "--usage", "http://prom:9090")
    assert ok.returncode == 0, ok.stderr


def test_sigterm_to_cloudoptim_ui_stops_the_web_server_too() -> None:
    import socket

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    health = f"http://127.0.0.1:{port}/_stcore/health"
    proc = subprocess.Popen([*CLI, "ui", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(health, timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            raise AssertionError("the UI never answered")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        requests.get(health, timeout=2)
    except requests.ConnectionError:
        return
    raise AssertionError("a Streamlit server is still answering after `cloudoptim ui` was stopped")
