"""What `cloudoptim scan` and `cloudoptim inventory` print, in every format and at any width.

One sandbox (started in this test process) serves the module; its clusters are registered with
`cloudoptim clusters add` in a module data directory, and every command runs as a subprocess
against it, as a user would run them against real clusters.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.sandbox import Sandbox

CLI = [str(Path(sys.executable).parent / "cloudoptim")]
KEYS = {"engine", "cluster", "target", "action", "current_monthly_cost", "projected_monthly_cost",
        "monthly_savings", "risk", "confidence", "rationale", "fingerprint"}  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    with Sandbox(tmp_path_factory.mktemp("sandbox")) as sb:
        data_dir = tmp_path_factory.mktemp("data")
        base = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPTIM_")}
        env = {**base, **sb.aws_env, "CLOUDOPTIM_DATA_DIR": str(data_dir)}
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{s.getsockname()[1]}"
        for name, info in sb.clusters.items():
            add = ["clusters", "add", name, "--context", info.context, "--region", "us-east-1",
                   "--kubeconfig", str(sb.kubeconfig_path), "--traffic", str(sb.traffic_path(name))]  # fmt: skip
            run(*add, "--usage", str(sb.usage_path(name)), env=env, check=True)
            if name == "staging-east":  # the same cluster again, with a Prometheus nobody answers
                add[2] = "staging-no-usage"
                run(*add, "--usage", closed, env=env, check=True)
        yield env


def run(*args: str, env: dict[str, str], columns: int = 200, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300,
                            env={**env, "COLUMNS": str(columns)})  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def records(env: dict[str, str]) -> list[dict[str, Any]]:
    result = run("scan", "--cluster", "prod-east", "--format", "json", env=env, check=True)
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    assert rows, "the wasteful sandbox estate must give consolidation something to do"
    return rows


def test_the_scan_table_at_80_columns_folds_rationales_and_never_truncates_targets(
    env: dict[str, str], records: list[dict[str, Any]]
) -> None:
    out = run("scan", "--cluster", "prod-east", env=env, columns=80, check=True).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in out
    # A target longer than its column (a rightsizing container's) folds onto the next line, whole.
    unwrapped = re.sub(r"\s+", "", out)
    for r in records:
        assert r["target"] in unwrapped and f"${Decimal(r['monthly_savings']):,.2f}" in out
    # A rationale gets a readable width (not a word per line): its lines hold 40+ characters.
    budget = sum(len(r["rationale"]) // 40 + 4 for r in records) + 15
    assert len(lines) <= budget, out


def test_the_scan_table_at_200_columns_puts_each_recommendation_on_its_own_row(
    env: dict[str, str], records: list[dict[str, Any]]
) -> None:
    out = run("scan", "--cluster", "prod-east", env=env, columns=200, check=True).stdout
    assert max(len(line) for line in out.splitlines()) <= 200
    for r in records:
        money = f"${Decimal(r['monthly_savings']):,.2f}"
        assert any(r["target"] in ln and money in ln and r["rationale"][:30] in ln for ln in out.splitlines()), out
    assert "Scans" in out and "succeeded" in out


def test_scan_csv_has_the_documented_columns_and_money_with_two_decimals(env: dict[str, str]) -> None:
    rows = list(csv.DictReader(io.StringIO(run("scan", "--cluster", "prod-east", "--format", "csv", env=env,
                                               check=True).stdout)))  # fmt: skip
    assert rows and set(rows[0]) == KEYS
    for row in rows:
        for col in ("current_monthly_cost", "projected_monthly_cost", "monthly_savings"):
            assert re.fullmatch(r"-?\d+\.\d\d", row[col]), row[col]


def test_scan_yaml_parses_back_to_the_json_rows(env: dict[str, str], records: list[dict[str, Any]]) -> None:
    rows = yaml.safe_load(run("scan", "--cluster", "prod-east", "--format", "yaml", env=env, check=True).stdout)
    assert {r["fingerprint"] for r in rows} == {r["fingerprint"] for r in records}
    assert set(rows[0]) >= KEYS


def test_a_scan_with_a_failed_source_is_a_partial_warning_with_exit_0(env: dict[str, str]) -> None:
    result = run("scan", "--cluster", "staging-no-usage", env=env, check=True)
    assert "warning: staging-no-usage: scan partial" in result.stderr
    assert re.search(r"  prometheus:http://127\.0\.0\.1:\d+: cannot reach .*connection refused", result.stderr)
    assert "partial" in result.stdout and "prometheus:" in result.stdout  # the Scans table


def test_inventory_csv_has_one_row_per_cluster_and_per_account(env: dict[str, str]) -> None:
    result = run("inventory", "--cluster", "prod-east", "--cluster", "staging-east", "--format", "csv", env=env,
                 check=True)  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["kind"], r["name"]) for r in rows if r["kind"] == "cluster"] == [("cluster", "prod-east"),
                                                                                ("cluster", "staging-east")]  # fmt: skip
    [account] = [r for r in rows if r["kind"] == "account"]
    assert account["region"] == "us-east-1" and account["name"] == account["account_id"]
    assert all(r["status"] == "succeeded" for r in rows if r["kind"] == "cluster")
    assert all(re.fullmatch(r"\d+\.\d\d", r["monthly_cost"]) for r in rows)


def test_inventory_yaml_is_the_json_report(env: dict[str, str]) -> None:
    as_json = json.loads(run("inventory", "--cluster", "prod-east", "--format", "json", env=env, check=True).stdout)
    as_yaml = yaml.safe_load(run("inventory", "--cluster", "prod-east", "--format", "yaml", env=env, check=True).stdout)
    assert as_yaml == as_json and as_json["clusters"][0]["status"] == "succeeded"


def test_the_inventory_table_fits_80_columns_without_folding_names_or_numbers(env: dict[str, str]) -> None:
    report = json.loads(run("inventory", "--cluster", "prod-east", "--format", "json", env=env, check=True).stdout)
    [cluster], [account] = report["clusters"], report["accounts"]
    out = run("inventory", "--cluster", "prod-east", env=env, columns=80, check=True).stdout
    assert max(len(line) for line in out.splitlines()) <= 80 and "…" not in out
    [cluster_row] = [ln.split() for ln in out.splitlines() if ln.startswith("prod-east ")]
    assert cluster_row == ["prod-east", "us-east-1", "succeeded", str(cluster["nodes"]), str(cluster["pods"]),
                           f"${Decimal(cluster['monthly_cost']):,.2f}"]  # fmt: skip
    [account_row] = [ln.split() for ln in out.splitlines() if ln.startswith(f"{account['account_id']} ")]
    assert account_row == [account["account_id"], "us-east-1", str(account["instances"]),
                           str(account["instances_outside_clusters"]), str(account["volumes"]),
                           str(account["unattached_volumes"]), f"${Decimal(account['monthly_cost']):,.2f}"]  # fmt: skip
