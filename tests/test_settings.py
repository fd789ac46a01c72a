"""Settings: environment overrides with the CLOUDOPTIM_ prefix and clear errors naming the variable,
for every setting, through the real command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from app.db import DatabaseError, make_engine
from app.pricing.files import known_regions
from app.settings import Settings, SettingsError, check_regions, ensure_data_dir, load_settings

CLI = [str(Path(sys.executable).parent / "cloudoptim")]


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'cloudoptim.db'}"


def test_nested_environment_variables_override_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_DB__URL", "postgresql+psycopg://u@db.example:5432/co")
    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__DRY_RUN", "true")
    monkeypatch.setenv("CLOUDOPTIM_AWS__REGIONS", '["eu-west-1","us-east-1"]')
    settings = load_settings()
    assert settings.database_url == "postgresql+psycopg://u@db.example:5432/co"
    assert settings.executor.dry_run is True
    assert settings.aws.regions == ["eu-west-1", "us-east-1"]


@pytest.mark.parametrize(
    "url, fragment",
    [("mysql://u@h/db", "unsupported database"), ("not a url", "not a database URL"),
     ("postgresql+psycopg2://u@h/db", "psycopg 3")],
)  # fmt: skip
def test_a_bad_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch, url: str, fragment: str) -> None:
    monkeypatch.setenv("CLOUDOPTIM_DB__URL", url)
    with pytest.raises(SettingsError, match="CLOUDOPTIM_DB__URL") as err:
        load_settings()
    assert fragment in str(err.value)


def test_a_bad_number_names_the_nested_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES", "soon")
    with pytest.raises(SettingsError, match="CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES"):
        load_settings()


def test_an_unreachable_database_gives_a_clear_error_without_the_password() -> None:
    with pytest.raises(DatabaseError) as err:
        make_engine("postgresql+psycopg://user:secret@127.0.0.1:9/co")
    assert "cannot open database" in str(err.value) and "secret" not in str(err.value)
    assert "CLOUDOPTIM_DB__URL" in str(err.value)


def test_a_list_setting_takes_a_comma_separated_value_or_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_AWS__REGIONS", "us-east-1, eu-west-1")
    monkeypatch.setenv("CLOUDOPTIM_EXECUTOR__PROTECTED_NAMESPACES", '["kube-system", "payments"]')
    settings = load_settings()
    assert settings.aws.regions == ["us-east-1", "eu-west-1"]
    assert settings.executor.protected_namespaces == ["kube-system", "payments"]


def test_a_region_missing_from_the_price_catalog_is_refused_with_close_matches() -> None:
    settings = load_settings(aws={"regions": ["us-east-1", "us-east-7"]})
    with pytest.raises(SettingsError, match="CLOUDOPTIM_AWS__REGIONS") as err:
        check_regions(settings, known_regions(None))
    assert "'us-east-7'" in str(err.value) and "did you mean us-east-2, us-east-1" in str(err.value)


def test_a_mistyped_variable_name_is_an_error_that_suggests_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDOPTIM_AWS__REGION", "us-east-1")
    with pytest.raises(SettingsError, match=r"CLOUDOPTIM_AWS__REGION: not a setting \(did you mean CLOUDOPTIM_AWS__REGIONS\?\)"):
        load_settings()


def test_an_unusable_data_dir_is_named_when_something_needs_to_write_there() -> None:
    settings = load_settings(data_dir=Path("/proc/forbidden"))
    with pytest.raises(SettingsError, match="CLOUDOPTIM_DATA_DIR: /proc/forbidden is not a usable directory"):
        ensure_data_dir(settings)


# One bad value per setting, given through the environment to the real command line. Every
# setting must have a row (see the test below), so a new setting cannot skip this check.
BAD_VALUES = [
    ("CLOUDOPTIM_DATA_DIR", "/proc/forbidden", "is not a usable directory"),
    ("CLOUDOPTIM_DATA_DIR", "{file}", "exists and is not a directory"),
    ("CLOUDOPTIM_LOG_LEVEL", "loud", "is not a logging level"),
    ("CLOUDOPTIM_DB__URL", "mysql://u@h/db", "unsupported database"),
    ("CLOUDOPTIM_DB__BUSY_TIMEOUT_MS", "-1", "greater than or equal to 0"),
    ("CLOUDOPTIM_DB__ECHO", "perhaps", "valid boolean"),
    ("CLOUDOPTIM_DB", "{not json", "not valid JSON"),
    ("CLOUDOPTIM_AWS__REGIONS", '["nowhere-1"]', "'nowhere-1' is not an AWS region"),
    ("CLOUDOPTIM_AWS__REGIONS", "us-east-7", "did you mean us-east-2, us-east-1"),
    ("CLOUDOPTIM_AWS__REGIONS", '["us-east-1"', "not a JSON list"),
    ("CLOUDOPTIM_AWS__REGIONS", "", "at least 1 item"),
    ("CLOUDOPTIM_AWS__SPOT_QUEUE_URL", "spot-queue", "is not an http(s) URL"),
    ("CLOUDOPTIM_K8S__KUBECONFIG", "/nowhere/config", "/nowhere/config is not a file"),
    ("CLOUDOPTIM_K8S__PAGE_SIZE", "0", "greater than or equal to 1"),
    ("CLOUDOPTIM_K8S__REQUEST_TIMEOUT_S", "inf", "finite number"),
    ("CLOUDOPTIM_EXECUTOR__DRY_RUN", "maybe", "valid boolean"),
    ("CLOUDOPTIM_EXECUTOR__DRAIN_TIMEOUT_S", "1", "greater than or equal to 10"),
    ("CLOUDOPTIM_EXECUTOR__MAX_NODES_DRAINED_PER_HOUR", "-1", "greater than or equal to 0"),
    ("CLOUDOPTIM_EXECUTOR__AWS_WAIT_TIMEOUT_S", "0", "greater than 0"),
    ("CLOUDOPTIM_EXECUTOR__DISRUPTION_WINDOW", "weekends", "for example 'sat,sun 00:00-06:00'"),
    ("CLOUDOPTIM_EXECUTOR__DISRUPTION_WINDOW", "sat 25:00-26:00", "is not a time of day"),
    ("CLOUDOPTIM_EXECUTOR__DISRUPTION_WINDOW_TIMEZONE", "Mars/Base", "is not an IANA timezone"),
    ("CLOUDOPTIM_EXECUTOR__DRY_RUN_CLUSTERS", '["prod"', "not a JSON list"),
    ("CLOUDOPTIM_EXECUTOR__NODE_JOIN_TIMEOUT_S", "nan", "finite number"),
    ("CLOUDOPTIM_SPOT__REBALANCE_POLICY", "sometimes", "'act', 'record' or 'act-high-risk'"),
    ("CLOUDOPTIM_SPOT__REBALANCE_ACT_MIN_BUCKET", "5", "less than or equal to 4"),
    ("CLOUDOPTIM_SPOT__DRAIN_MARGIN_S", "-1", "greater than or equal to 0"),
    ("CLOUDOPTIM_SPOT__POOL_AVOID_MINUTES", "-5", "greater than or equal to 0"),
    ("CLOUDOPTIM_SPOT__REPLACEMENT_TYPES", "0", "greater than or equal to 1"),
    ("CLOUDOPTIM_SPOT__POLL_WAIT_S", "30", "less than or equal to 20"),
    ("CLOUDOPTIM_SPOT__ERROR_BACKOFF_MAX_S", "0", "greater than 0"),
    ("CLOUDOPTIM_WORKER__LOG_FORMAT", "xml", "'text' or 'json'"),
    ("CLOUDOPTIM_WORKER__LIVENESS_FILE", "/tmp", "is a directory"),
    ("CLOUDOPTIM_WORKER__REALIZED_CHECK_MINUTES", "0", "greater than or equal to 1"),
    ("CLOUDOPTIM_EXECUTOR__PROTECTED_NAMESPACES", "kube-system,Kube_Public", "'Kube_Public' is not a namespace name"),
    ("CLOUDOPTIM_PRICING__SPOT_ADVISOR_URL", "ftp://example.com/feed", "is not an http(s) URL"),
    ("CLOUDOPTIM_PRICING__DOWNLOAD_TIMEOUT_S", "0", "greater than 0"),
    ("CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES", "soon", "valid integer"),
    ("CLOUDOPTIM_TRAFFIC__PROMQL", "  ", "the traffic PromQL must not be empty"),
    ("CLOUDOPTIM_TRAFFIC__WINDOW", "yesterday", "is not a Prometheus duration"),
    ("CLOUDOPTIM_TRAFFIC__TIMEOUT_S", "0", "greater than 0"),
    ("CLOUDOPTIM_TRAFFIC__SOURCE_LABEL", "source workload", "is not a Prometheus label name"),
    ("CLOUDOPTIM_TRAFFIC__SOURCE_NAMESPACE_LABEL", "9ns", "is not a Prometheus label name"),
    ("CLOUDOPTIM_TRAFFIC__DESTINATION_LABEL", "dst-workload", "is not a Prometheus label name"),
    ("CLOUDOPTIM_TRAFFIC__DESTINATION_NAMESPACE_LABEL", "", "is not a Prometheus label name"),
    ("CLOUDOPTIM_WORKER__POLL_INTERVAL_S", "nan", "finite number"),
    ("CLOUDOPTIM_WORKER__STOP_TIMEOUT_S", "-1", "greater than or equal to 0"),
    ("CLOUDOPTIM_UI__HOST", " ", "is not a host name or address"),
    ("CLOUDOPTIM_UI__PORT", "70000", "less than or equal to 65535"),
    ("CLOUDOPTIM_AUTH__SESSION_IDLE_MINUTES", "0", "greater than or equal to 1"),
    ("CLOUDOPTIM_AUTH__SESSION_MAX_HOURS", "a day", "valid integer"),
    ("CLOUDOPTIM_AUTH__MAX_FAILED_LOGINS", "0", "greater than or equal to 1"),
    ("CLOUDOPTIM_AUTH__LOCKOUT_MINUTES", "-5", "greater than or equal to 1"),
    ("CLOUDOPTIM_AUTH__OIDC", "maybe", "valid boolean"),
    ("CLOUDOPTIM_AUTH__OIDC_DEFAULT_ROLE", "root", "'viewer', 'analyst' or 'admin'"),
    ("CLOUDOPTIM_WORKER__SCAN_INTERVAL", "5", "not a setting (did you mean CLOUDOPTIM_WORKER__SCAN_INTERVAL_MINUTES?)"),
]  # fmt: skip


def _setting_variables() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            names |= {f"CLOUDOPTIM_{name.upper()}__{s.upper()}" for s in sub.model_fields}
        else:
            names.add(f"CLOUDOPTIM_{name.upper()}")
    return names


def test_the_table_of_bad_values_covers_every_setting() -> None:
    assert _setting_variables() - {var for var, _value, _fragment in BAD_VALUES} == set()


@pytest.mark.parametrize("var, value, fragment", BAD_VALUES, ids=[f"{v}={x}" for v, x, _ in BAD_VALUES])
def test_a_bad_value_is_one_line_naming_the_variable_never_a_traceback(
    tmp_path: Path, var: str, value: str, fragment: str
) -> None:
    (tmp_path / "a-file").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPTIM_")}
    env |= {"CLOUDOPTIM_DATA_DIR": str(tmp_path / "data"), var: value.replace("{file}", str(tmp_path / "a-file"))}
    result = subprocess.run([*CLI, "clusters", "list"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith(f"error: invalid settings: {var}: ") and fragment in lines[0], lines[0]
