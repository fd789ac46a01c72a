"""`cloudoptim data info` and `data refresh` run as a user would, with no network (as in CI here).

The Spot Advisor URL points at a closed local port and the Price List API at a closed local
endpoint, so "offline" is real and fast.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from app.pricing.files import PRICE_FILES, shipped_dir

CLI = [str(Path(sys.executable).parent / "cloudoptim")]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: connections are refused


def offline_env(**extra: str) -> dict[str, str]:
    port = _closed_port()
    return {
        **os.environ, "CLOUDOPTIM_PRICING__SPOT_ADVISOR_URL": f"http://127.0.0.1:{port}/spot-advisor-data.json",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        **extra,
    }  # fmt: skip


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env=env or os.environ.copy())


def test_data_info_lists_every_shipped_price_file_with_its_checksum() -> None:
    shipped = sorted(p.name for p in shipped_dir().iterdir() if p.suffix in (".csv", ".json"))
    assert sorted(PRICE_FILES) == shipped
    result = run("data", "info")
    assert result.returncode == 0, result.stderr
    for name in shipped:
        [line] = [ln for ln in result.stdout.splitlines() if ln.startswith(f"{name}: ")]
        assert "(shipped" in line and "sha256=" in line and "DIFFERS" not in line
    assert "ebs-iops-throughput-prices.csv" in result.stdout
    assert "regions with on-demand prices: 36" in result.stdout


def test_data_refresh_offline_says_in_one_line_per_source_that_the_shipped_copy_stays(tmp_path: Path) -> None:
    env = offline_env()
    result = run("data", "refresh", env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        "warning: spot-advisor-data.json: not refreshed: download failed: connection refused; "
        "the shipped copy stays in use",
        f"warning: ec2-ondemand-prices.csv: not refreshed: Price List API failed: cannot reach "
        f"{env['AWS_ENDPOINT_URL']}/; the shipped copy stays in use",
        "error: nothing was refreshed; the price data in use is unchanged",
    ]
    assert not (tmp_path / "data" / "pricing" / "spot-advisor-data.json").exists()


def test_data_refresh_spot_only_offline_fails_without_a_traceback() -> None:
    result = run("data", "refresh", "--spot-only", env=offline_env())
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 2


def test_data_info_names_a_refreshed_copy_when_one_is_in_use(tmp_path: Path) -> None:
    pricing = tmp_path / "data" / "pricing"
    pricing.mkdir(parents=True)
    (pricing / "spot-advisor-data.json").write_bytes((shipped_dir() / "spot-advisor-data.json").read_bytes())
    result = run("data", "info")
    assert result.returncode == 0, result.stderr
    [line] = [ln for ln in result.stdout.splitlines() if ln.startswith("spot-advisor-data.json: ")]
    assert str(pricing / "spot-advisor-data.json") in line and "(refreshed " in line
