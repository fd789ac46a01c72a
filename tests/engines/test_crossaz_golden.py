"""Golden files: the cross-AZ engine's whole JSON output, compared exactly.

Every field is pinned (recommendations with action, prices, risk, confidence, rationale, evidence
and fingerprint, then the skipped entries). The scan time is fixed and prices come from the
shipped price book. After an intended change, regenerate and review the diff before committing:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_crossaz_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from engines.contract import ScanResult
from engines.snapshot_aws import Snapshot
from tests.engines.test_crossaz_helpers import edge, mixed_estate, scan, service, snapshot, workload
from tests.golden_files import check_golden


def bad_input() -> Snapshot:
    """A traffic matrix that names nothing the cluster has, in an unknown region's cluster."""
    parts = [workload("web", "ab")]
    edges = [edge("ghost-client", "web", 5), edge("web", "missing", 4), edge("web", "web", 1, namespace="other")]
    return snapshot(parts, [service("web")], edges)


SNAPSHOTS: dict[str, Callable[[], Snapshot]] = {
    "cross-az-mixed-cluster": mixed_estate,
    "cross-az-unknown-names": bad_input,
}


def canonical(result: ScanResult) -> str:
    """Sorted keys, two-space indent, one trailing newline: stable text for exact comparison."""
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    got = canonical(scan(SNAPSHOTS[name]()))
    check_golden(name, got, what="engine output", test_file="tests/engines/test_crossaz_golden.py")


def test_the_same_snapshot_gives_the_same_output_twice() -> None:
    assert canonical(scan(mixed_estate())) == canonical(scan(mixed_estate()))
