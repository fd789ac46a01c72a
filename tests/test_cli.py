"""The `cloudoptim` console script, run in a subprocess as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from app import __version__
from app.settings import Settings

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


def _without(var: str, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != var}, **extra}


def write_kubeconfig(path: Path, *contexts: str, server: str = "http://127.0.0.1:9") -> Path:
    """A real kubeconfig file with one context (and cluster) per name, all on `server`."""
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": contexts[0],
        "clusters": [{"name": c, "cluster": {"server": server}} for c in contexts],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
    }))  # fmt: skip
    return path


def test_clusters_can_be_added_listed_and_removed(tmp_path: Path) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", "prod-ctx"))
    added = run("clusters", "add", "prod", "--context", "prod-ctx", "--region", "us-east-1", "--kubeconfig", kubeconfig)
    assert added.returncode == 0, added.stderr
    assert "prod\tprod-ctx\tus-east-1" in run("clusters", "list").stdout
    bad = run("clusters", "add", "Prod!", "--context", "prod-ctx", "--region", "us-east-1", "--kubeconfig", kubeconfig)
    assert bad.returncode == 2 and "invalid cluster name" in bad.stderr
    removed = run("clusters", "remove", "prod")
    assert removed.returncode == 0
    assert removed.stdout.strip() == "removed prod: 0 recommendations, 0 scan runs deleted; 0 executions kept"
    assert "no clusters registered" in run("clusters", "list").stdout


def test_reusing_a_cluster_name_is_refused_unless_replace_is_given(tmp_path: Path) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", "old-ctx", "new-ctx"))
    base = ["clusters", "add", "prod", "--region", "us-east-1", "--kubeconfig", kubeconfig]
    assert run(*base, "--context", "old-ctx").returncode == 0
    again = run(*base, "--context", "new-ctx")
    assert again.returncode == 2 and "cluster prod already exists (context old-ctx); pass --replace" in again.stderr
    assert "prod\told-ctx" in run("clusters", "list").stdout
    replaced = run(*base, "--context", "new-ctx", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "prod\tnew-ctx" in run("clusters", "list").stdout


def test_clusters_add_refuses_what_would_only_fail_at_the_first_scan(tmp_path: Path) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", "prod-ctx"))
    base = ["clusters", "add", "prod"]
    missing_file = run(*base, "--context", "prod-ctx", "--region", "us-east-1", "--kubeconfig", str(tmp_path / "nope"))
    assert missing_file.returncode == 2 and f"kubeconfig {tmp_path / 'nope'} does not exist" in missing_file.stderr
    missing_context = run(*base, "--context", "prod-ctxx", "--region", "us-east-1", "--kubeconfig", kubeconfig)
    assert missing_context.returncode == 2
    assert "context 'prod-ctxx' not found" in missing_context.stderr and "prod-ctx" in missing_context.stderr
    region = run(*base, "--context", "prod-ctx", "--region", "us-east-7", "--kubeconfig", kubeconfig)
    assert region.returncode == 2
    assert "--region: unknown AWS region 'us-east-7'" in region.stderr and "did you mean us-east-2" in region.stderr
    no_default = run(*base, "--context", "prod-ctx", "--region", "us-east-1", env=_without("KUBECONFIG", HOME=str(tmp_path)))
    assert no_default.returncode == 2 and "default kubeconfig" in no_default.stderr
    assert "no clusters registered" in run("clusters", "list").stdout


def test_error_text_is_printed_literally_not_as_markup_or_emoji(tmp_path: Path) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", "prod-ctx"))
    result = run("clusters", "add", "prod", "--context", ":x:[bold]ctx[/]", "--region", "us-east-1",
                 "--kubeconfig", kubeconfig)  # fmt: skip
    assert result.returncode == 2
    assert "context ':x:[bold]ctx[/]' not found" in result.stderr, result.stderr


def test_db_current_on_a_missing_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "not-yet" / "data"
    result = run("db", "current", env={**os.environ, "CLOUDOPTIM_DATA_DIR": str(data_dir)})
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "not-yet").exists()
    assert run("db", "upgrade").returncode == 0
    current = run("db", "current")
    assert current.returncode == 0 and current.stdout.startswith("current: ") and "empty" not in current.stdout


def test_importing_the_cli_loads_none_of_the_heavy_core() -> None:
    # --version and --help must not pay for settings, the DB, pricing, collectors or engines.
    heavy = ("sqlalchemy", "sqlmodel", "alembic", "pydantic", "pydantic_settings", "kubernetes", "boto3",
             "botocore", "requests", "scipy", "rich", "yaml", "engines", "sandbox", "background")  # fmt: skip
    code = f"import sys, cli.main; print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("scan", "inventory", "demo", "ui", "worker", "db", "data", "clusters"):
        assert f" {command} " in result.stdout


def test_the_worker_starts_logs_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([*CLI, "worker"], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        seen = ""
        assert proc.stderr is not None
        while "worker started" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.readline()
        assert "worker started" in seen
        second = run("worker", "--no-wait")
        assert second.returncode == 2 and "another CloudOptim worker is running" in second.stderr
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[1]
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0
    assert "worker stopped" in out


def _read_until(proc: subprocess.Popen[str], text: str, timeout: float = 60) -> str:
    assert proc.stderr is not None
    deadline, seen = time.monotonic() + timeout, ""
    while text not in seen and time.monotonic() < deadline and proc.poll() is None:
        seen += proc.stderr.readline()
    assert text in seen, seen
    return seen


def test_a_second_worker_waits_as_a_standby_and_takes_over_when_the_first_stops(settings: Settings) -> None:
    # On SQLite the lock is a file lock, on PostgreSQL an advisory lock held by a session.
    first = subprocess.Popen([*CLI, "worker"], stderr=subprocess.PIPE, text=True)
    second: subprocess.Popen[str] | None = None
    try:
        _read_until(first, "worker started")
        second = subprocess.Popen([*CLI, "worker"], stderr=subprocess.PIPE, text=True)
        _read_until(second, "waiting as a standby")
        assert second.poll() is None  # still waiting, running no job
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        _read_until(second, "worker started")  # the lock ended with the first worker: the standby runs
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()


def test_a_standby_worker_stops_on_sigterm_while_it_waits() -> None:
    first = subprocess.Popen([*CLI, "worker"], stderr=subprocess.PIPE, text=True)
    try:
        _read_until(first, "worker started")
        second = subprocess.Popen([*CLI, "worker"], stderr=subprocess.PIPE, text=True)
        try:
            _read_until(second, "waiting as a standby")
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0
            assert "worker stopped while waiting for the lock" in (second.communicate(timeout=10)[1] or "")
        finally:
            second.kill() if second.poll() is None else None
        assert first.poll() is None  # the running worker is untouched
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        first.kill() if first.poll() is None else None


def test_a_missing_usage_file_is_refused_when_adding_a_cluster(tmp_path: Path) -> None:
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", "c"))
    base = ["clusters", "add", "prod", "--context", "c", "--region", "us-east-1", "--kubeconfig", kubeconfig]
    bad = run(*base, "--usage", str(tmp_path / "no.csv"))
    assert bad.returncode == 2 and "neither a Prometheus URL nor an existing file" in bad.stderr
    ok = run(*base, "--usage", "http://prom:9090")
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
