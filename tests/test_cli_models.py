"""`cloudoptim models ...` end to end: typer's CliRunner on the real command tree and database
(SQLite and PostgreSQL), and one run of the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from app.db.types import utcnow
from app.services.spot_predictions import RecordingScorer, store_predictions
from app.settings import Settings
from cli.main import cli
from engines.spot.scorer import AdvisorPriorScorer
from tests.test_spot_models import POOLS, SCHEMA, _double, logistic, save, training_data

runner = CliRunner()


def models(*args: str) -> Result:
    return runner.invoke(cli, ["models", *args])


def schema_file(tmp_path: Path, schema: object = SCHEMA) -> str:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema))
    return str(path)


def test_a_good_model_is_added_listed_activated_and_deactivated(settings: Settings, tmp_path: Path) -> None:
    added = models("add", str(logistic(tmp_path)), "--name", "lr", "--schema", schema_file(tmp_path), "--by", "ana")
    assert added.exit_code == 0, added.output
    assert "added model lr (id 1" in added.stdout and "cloudoptim models activate 1" in added.stdout
    assert "1\tlr\tready\tPipeline\tprobability\tadvisor_bucket," in models("list").stdout
    activated = models("activate", "1")
    assert activated.exit_code == 0 and "now the Spot risk scorer" in activated.stdout
    assert "1\tlr\tactive\t" in models("list").stdout
    deactivated = models("deactivate", "1")
    assert deactivated.exit_code == 0 and "default scorer is used" in deactivated.stdout
    assert "1\tlr\tready\t" in models("list").stdout


def test_an_untrusted_model_is_rejected_with_exit_code_2_and_cannot_be_activated(settings: Settings, tmp_path: Path) -> None:
    x, y = training_data()
    evil = save(make_pipeline(FunctionTransformer(_double), LogisticRegression(max_iter=2000)).fit(x, y), tmp_path / "e.skops")
    added = models("add", str(evil), "--name", "evil", "--schema", schema_file(tmp_path))
    assert added.exit_code == 2
    assert "model evil rejected (stored as id 1" in added.stderr and "tests.test_spot_models._double" in added.stderr
    assert "1\tevil\trejected: untrusted types in the file" in models("list").stdout
    refused = models("activate", "1")
    assert refused.exit_code == 2 and "was rejected and cannot be activated" in refused.stderr


def test_bad_input_is_one_clear_line_and_exit_code_2(settings: Settings, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{features: }")
    not_json = models("add", str(logistic(tmp_path)), "--name", "lr", "--schema", str(bad_json))
    assert not_json.exit_code == 2 and "--schema:" in not_json.stderr and "is not JSON" in not_json.stderr
    missing = models("add", str(tmp_path / "nope.skops"), "--name", "lr", "--schema", schema_file(tmp_path))
    assert missing.exit_code == 2 and "cannot read the model file" in missing.stderr
    unknown = models("activate", "42")
    assert unknown.exit_code == 2 and "no Spot risk model with id 42" in unknown.stderr
    assert "Traceback" not in not_json.output + missing.output + unknown.output


def test_the_report_prints_predictions_against_interruptions(settings: Settings, engine: Engine) -> None:
    empty = models("report")
    assert empty.exit_code == 0 and "no Spot predictions in the last 30 days" in empty.stdout
    scorer = RecordingScorer(AdvisorPriorScorer())
    scorer.p_interruption_hour(POOLS)
    store_predictions(engine, scorer, scan_run_id=None, model_id=None, now=utcnow() - timedelta(hours=2))
    report = models("report", "--days", "7")
    assert report.exit_code == 0, report.output
    lines = report.stdout.splitlines()
    assert lines[0].startswith("scorer\tregion\ttype\tzone")
    assert any(line.startswith("advisor-prior\tus-east-1\tm5.large\tus-east-1a\t1\t") for line in lines)
    assert "advisor-prior: 2 pools, expected" in report.stdout and "actual 0" in report.stdout


def test_the_console_script_has_the_models_commands(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "cloudoptim")
    result = subprocess.run([exe, "models", "list"], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert "no Spot risk models; the default scorer (Spot Advisor prior) is used" in result.stdout
