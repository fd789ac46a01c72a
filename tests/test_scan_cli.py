"""`cloudoptim scan --sandbox` in a subprocess: JSON rows with the documented keys and the scan
statuses, and bad options refused before any sandbox starts or anything is collected (the other
formats and widths are in test_cli_output.py); in process, the total of two engines that target
the same nodes, counted once per node with the note saying why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from app.db.models import Cluster
from app.pricing import load_price_book
from app.services.pipeline import ClusterScan
from app.services.scans import scan_and_store
from cli.common import Fmt
from cli.scan import _print, scan_total
from engines.binpack import BinPackEngine
from engines.registry import EngineRegistry
from tests.framework.estate import wasteful_snapshot
from tests.test_conflicts import _SpotEveryNode

CLI = [str(Path(sys.executable).parent / "cloudoptim")]
KEYS = {"engine", "cluster", "target", "action", "current_monthly_cost", "projected_monthly_cost",
        "monthly_savings", "risk", "confidence", "rationale", "fingerprint"}  # fmt: skip


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, env=env or os.environ.copy())


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


def test_explain_gives_each_cluster_s_scan_status(explained) -> None:  # type: ignore[no-untyped-def]
    scans = {s["cluster"]: s for s in explained["scans"]}
    assert set(scans) == {"prod-east", "staging-east"}
    assert all(s["status"] == "succeeded" and s["problems"] == [] and s["scan_run_id"] for s in scans.values())


def test_an_unknown_engine_is_a_clear_error() -> None:
    result = run("scan", "--sandbox", "--engine", "nope")
    assert result.returncode == 2 and "unknown engine 'nope'" in result.stderr


def test_an_unknown_cluster_is_a_clear_error() -> None:
    result = run("scan", "--cluster", "nope")
    assert result.returncode == 2 and "unknown cluster nope" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["scan", "--sandbox", "--engine", "nope"], "unknown engine 'nope'"),
        (["scan", "--sandbox", "--cluster", "prod"], "use either --sandbox or --cluster, not both"),
        (["inventory", "--sandbox", "--cluster", "prod"], "use either --sandbox or --cluster, not both"),
        (["inventory", "--cluster", "nope"], "unknown cluster nope (registered: none)"),
        (["scan", "--cluster", "nope", "--engine", "binpack"], "unknown cluster nope"),
        (["inventory", "--sandbox", "--format", "xml"], "'xml' is not one of"),
    ],
)  # fmt: skip
def test_bad_options_are_refused_before_any_work_starts(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "starting a temporary sandbox" not in result.stderr and "collecting" not in result.stderr


def test_bad_settings_are_refused_before_a_sandbox_starts() -> None:
    result = run("inventory", "--sandbox", env={**os.environ, "CLOUDOPTIM_AWS__REGIONS": "us-east-7"})
    assert result.returncode == 2 and "CLOUDOPTIM_AWS__REGIONS" in result.stderr
    assert "starting a temporary sandbox" not in result.stderr


def _two_engine_scan(engine: Engine) -> list[ClusterScan]:
    with Session(engine) as s:
        row = Cluster(name="prod-east", region="us-east-1")
        s.add(row)
        s.commit()
        cid = row.id
    registry = EngineRegistry([BinPackEngine, _SpotEveryNode])
    out = scan_and_store(engine, wasteful_snapshot(), registry, load_price_book(), cluster_id=cid)
    assert out.scan_run_id is not None
    return [ClusterScan("prod-east", out.scan_run_id, out.status, outcomes=out.outcomes)]


def test_the_table_prints_the_total_counting_each_node_once_with_the_note(
    engine: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    results = _two_engine_scan(engine)
    recs = [r for o in results[0].outcomes for r in o.result.recommendations]
    total = scan_total(results)
    assert total.counted < total.gross == sum((r.monthly_savings for r in recs), Decimal(0))
    _print(results, Fmt.table, explain=False)
    out = capsys.readouterr().out
    assert f"Sum of the rows: ${total.gross:,.2f} per month" in out
    assert "Total: " not in out  # the plain sum is not called a total when rows overlap
    assert f"Total counting each target once: ${total.counted:,.2f} per month" in out
    binpack = sum(1 for r in recs if r.engine == "binpack")  # each on a node the Spot engine also targets
    assert total.note and total.note.startswith(f"{2 * binpack} recommendations overlap on {binpack} targets")
    assert total.note in " ".join(out.split())


def test_json_with_explain_gives_the_de_duplicated_total_and_each_row_s_conflicts(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _two_engine_scan(engine)
    _print(results, Fmt.json, explain=True)
    doc = json.loads(capsys.readouterr().out)
    total = scan_total(results)
    assert doc["total"] == {"monthly_savings": str(total.counted), "sum_of_rows": str(total.gross), "note": total.note}
    linked = [r for r in doc["recommendations"] if r["conflicts_with"]]
    binpack = [r for r in doc["recommendations"] if r["engine"] == "binpack"]
    assert binpack and len(linked) == 2 * len(binpack) and {r["engine"] for r in linked} == {"binpack", "test-spot"}
