"""Golden files: the Spot optimizer's whole JSON output (recommendations with action, prices, risk,
confidence, rationale, evidence and fingerprint, then every skip) on fixed snapshots, compared exactly.
Prices come from the shipped price book and the scan time is fixed. After an intended change:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_spot_optimizer_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from engines.contract import ScanResult
from engines.snapshot_aws import Snapshot, SpotPoolHistory
from tests.engines.test_spot_optimizer_helpers import estate, scan
from tests.golden_files import check_golden


def with_history() -> Snapshot:
    """The estate with the account's own record: a noisy pool and a calm one in us-east-1a."""
    return estate((
        SpotPoolHistory(instance_type="r4.xlarge", zone="us-east-1a", interruptions=30, instance_hours=400.0),
        SpotPoolHistory(instance_type="c5.2xlarge", zone="us-east-1a", interruptions=0, instance_hours=2000.0),
    ))  # fmt: skip


SNAPSHOTS: dict[str, tuple[Callable[[], Snapshot], dict[str, Any]]] = {
    "spot-optimizer-estate": (estate, {}),
    "spot-optimizer-history-costly-interruptions": (with_history, {"lost_work_per_pod_usd": Decimal("200")}),
}


def canonical(result: ScanResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    build, settings = SNAPSHOTS[name]
    got = canonical(scan(build(), **settings))
    check_golden(name, got, what="engine output", test_file="tests/engines/test_spot_optimizer_golden.py")


def test_the_output_is_deterministic() -> None:
    assert canonical(scan(with_history())) == canonical(scan(with_history()))
