"""Golden files: the bin-packing engine's full JSON output on two small snapshots, compared exactly.

Every field is pinned (recommendations with action, prices, risk, confidence, rationale, evidence,
depends_on/related and fingerprint, then the skipped entries), so any change in what an analyst
would read shows up as a readable diff. The scan time is fixed and prices come from the shipped
price book. After an intended change, regenerate and review the diff before committing:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_binpack_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from app.pricing import load_price_book
from engines.binpack import BinPackEngine, BinPackSettings
from engines.contract import ScanContext, ScanResult
from engines.snapshot import DisruptionBudget, LabelSelector
from engines.snapshot_aws import Snapshot
from tests.engines.test_binpack_helpers import NOW, cluster, daemon, node, pod
from tests.framework.estate import wasteful_snapshot
from tests.golden_files import check_golden


def mixed_snapshot() -> Snapshot:
    """Six nodes that exercise every kind of output: a drain onto a node that is itself replaced
    (depends_on), an empty node, a nodeSelector no other node satisfies, a PodDisruptionBudget, a
    do-not-disrupt pod and a pending pod asking for a label no node has."""
    zone_b = {"topology.kubernetes.io/zone": "us-east-1b"}
    web = LabelSelector(match_labels={"app": "web"})
    nodes = [
        node("big", "m5.4xlarge"),
        node("other", "m5.xlarge"),
        node("idle", "m5.xlarge"),
        node("db", "m5.xlarge", zone="us-east-1b"),
        node("web-a", "m5.xlarge"),
        node("pinned", "m5.large"),
    ]
    pods = [daemon(f"ds-{n.name}", n.name) for n in nodes]
    pods += [
        pod("job-1", "big", 3.0, 10),
        pod("job-2", "big", 3.0, 10),
        pod("other-1", "other", 3.5, 12),
        pod("db-0", "db", 1.5, 6, namespace="shop", owner="StatefulSet", node_selector=zone_b),
        pod("web-1", "web-a", 0.5, 1, labels={"app": "web"}),
        pod("web-2", "web-a", 0.5, 1, labels={"app": "web"}),
        pod("cron-1", "pinned", 0.5, 1, annotations={"karpenter.sh/do-not-disrupt": "true"}),
        pod("gpu-job-1", None, 0.5, 1, namespace="ml", node_selector={"accelerator": "nvidia-a100"}),
    ]
    pdb = DisruptionBudget(name="web", namespace="default", selector=web, max_unavailable="1")
    return Snapshot(collected_at=NOW, cluster=cluster(nodes, pods, pdbs=(pdb,)))


SNAPSHOTS: dict[str, Callable[[], Snapshot]] = {
    "binpack-wasteful-estate": wasteful_snapshot,
    "binpack-mixed-cluster": mixed_snapshot,
}


def canonical(result: ScanResult) -> str:
    """Sorted keys, two-space indent, one trailing newline: stable text for exact comparison."""
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def run(snapshot: Snapshot) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=BinPackSettings())
    return BinPackEngine().scan(snapshot, ctx)


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    got = canonical(run(SNAPSHOTS[name]()))
    check_golden(name, got, what="engine output", test_file="tests/engines/test_binpack_golden.py")


def test_golden_output_is_deterministic_and_covers_links_and_skips() -> None:
    first, second = run(mixed_snapshot()), run(mixed_snapshot())
    assert canonical(first) == canonical(second)
    assert any(r.depends_on for r in first.recommendations)
    assert any("needs node label" in s.reason for s in first.skipped)
