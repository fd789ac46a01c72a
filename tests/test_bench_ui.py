"""Smoke test of `python -m bench ui --quick --json`: every measurement row with its baseline and
the seeded sizes, and a seed that writes the rows it says. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from bench.__main__ import main
from bench.ui import PAGES
from bench.ui_seed import seed

KEYS = {"measurement", "seconds", "baseline", "baseline_seconds", "ratio", "target_seconds", "met",
        "recommendations", "executions", "ledger_rows", "days"}  # fmt: skip


def test_the_seed_writes_recommendations_executions_and_ledger_rows(tmp_path: Path) -> None:
    from app.bootstrap import open_database
    from app.db.tables_recs import CostSaving, Execution, Recommendation
    from app.settings import load_settings

    counts = seed(tmp_path / "data", recommendations=120, executions=20, ledger_days=3)
    assert counts == {"recommendations": 120, "executions": 20, "ledger_rows": 20, "days": 3}
    db = open_database(load_settings(data_dir=tmp_path / "data"))
    with Session(db) as s:
        assert s.exec(select(func.count()).select_from(Recommendation)).one() == 120
        assert s.exec(select(func.count()).select_from(Execution).where(Execution.state == "succeeded")).one() == 20
        assert s.exec(select(func.count()).select_from(CostSaving)).one() == 20
        linked = s.exec(select(Recommendation.conflicts_with).where(Recommendation.fingerprint == "bench-000020")).one()
        assert linked == ["bench-000021"]  # a conflict pair, as scans link them
    db.dispose()


@pytest.mark.slow
def test_the_quick_mode_prints_a_row_per_page_and_measure_with_its_baseline(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--quick", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["measurement"] for r in rows]
    for page, _ in PAGES:
        assert f"{page}_apptest_rerun" in names and f"{page}_apptest_first_run" in names
        assert f"{page}_browser_first_chart" in names
    for row in rows:
        assert set(row) >= KEYS
        assert row["recommendations"] == 300 and row["days"] == 7
        assert row["baseline"].startswith("bare_page_")
        if row["seconds"] is None:
            assert row["note"]  # "not present" or why the browser is not available
        else:
            assert row["seconds"] > 0 and row["ratio"] is not None
    overview = next(r for r in rows if r["measurement"] == "overview_apptest_rerun")
    assert overview["seconds"] is not None and overview["baseline_seconds"] > 0
