"""`cloudoptim scan --sandbox` in a subprocess: JSON rows with the documented keys, other formats,
and clear errors for unknown engines or clusters."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

CLI = [str(Path(sys.executable).parent / "cloudoptim")]
KEYS = {"engine", "cluster", "target", "action", "current_monthly_cost", "projected_monthly_cost",
        "monthly_savings", "risk", "confidence", "rationale", "fingerprint"}  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def explained() -> dict[str, list[dict[str, object]]]:
    result = run("scan", "--sandbox", "--engine", "binpack", "--format", "json", "--explain")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_json_rows_carry_every_documented_key_with_money_as_decimal_strings(explained) -> None:  # type: ignore[no-untyped-def]
    rows = explained["recommendations"]
    assert rows, "the wasteful sandbox estate must give consolidation something to do"
    for row in rows:
        assert set(row) >= KEYS
        assert Decimal(row["monthly_savings"]) == Decimal(row["current_monthly_cost"]) - Decimal(row["projected_monthly_cost"])
        assert Decimal(row["monthly_savings"]) > 0
    assert {row["cluster"] for row in rows} <= {"prod-east", "staging-east"}
    assert len({row["fingerprint"] for row in rows}) == len(rows)


def test_explain_lists_skipped_targets_with_reasons(explained) -> None:  # type: ignore[no-untyped-def]
    skipped = explained["skipped"]
    assert skipped and all(s["reason"] and s["target"] for s in skipped)


def test_csv_and_yaml_formats_parse_back() -> None:
    as_csv = run("scan", "--sandbox", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert rows and set(rows[0]) == KEYS
    as_yaml = run("scan", "--sandbox", "--format", "yaml")
    assert as_yaml.returncode == 0 and set(yaml.safe_load(as_yaml.stdout)[0]) >= KEYS


def test_an_unknown_engine_is_a_clear_error() -> None:
    result = run("scan", "--sandbox", "--engine", "nope")
    assert result.returncode == 2 and "unknown engine 'nope'" in result.stderr


def test_an_unknown_cluster_is_a_clear_error() -> None:
    result = run("scan", "--cluster", "nope")
    assert result.returncode == 2 and "unknown cluster nope" in result.stderr
