"""Golden files: the EBS cleanup engine's full JSON output on two small estates, compared exactly.

Every field is pinned (action, prices, risk, confidence, rationale, evidence, fingerprint, then the
skipped entries), so any change in what an analyst reads shows up as a readable diff. The scan time
is fixed and prices come from the shipped price book. After an intended change, regenerate and
review the diff:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_ebs_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from engines.contract import ScanResult
from engines.snapshot_aws import Snapshot
from tests.engines.test_ebs_helpers import attached, run, snapshot, unattached
from tests.golden_files import check_golden

PV_TAGS = {"kubernetes.io/created-for/pvc/name": "data-elasticsearch-0",
           "kubernetes.io/created-for/pvc/namespace": "logging",
           "kubernetes.io/created-for/pv/name": "pvc-4f2a9c1e-elasticsearch",
           "kubernetes.io/cluster/prod-east": "owned"}
DENIED = ("CloudTrail LookupEvents failed (permission denied (AccessDeniedException): User: "
          "arn:aws:iam::123456789012:user/analyst is not authorized to perform: cloudtrail:LookupEvents)")


def estate() -> Snapshot:
    """The sandbox's unattached volumes (sandbox/estate_aws.py UNATTACHED) with their ages known
    three ways, a keep-tagged one, one in an unpriced region, and attached gp2 volumes small,
    medium and large next to an attached gp3 one."""
    return snapshot(
        unattached("vol-0a01jenkins", "gp2", 100, days=200, tags={"Name": "old-jenkins-data", "team": "platform"},
                   last_instance_id="i-0jenkins"),
        unattached("vol-0a02scratch", "gp3", 50, days=30, source="first-seen", tags={"Name": "scratch-analytics"}),
        unattached("vol-0a03migrate", "io1", 200, days=90, source="create-time", iops=3000,
                   tags={"Name": "db-migration-2024", "team": "data"}),
        unattached("vol-0a04logs", "st1", 500, days=400, source="create-time", tags={"Name": "log-archive"}),
        unattached("vol-0a05cold", "sc1", 1000, days=60, tags={"Name": "cold-backups"}, snapshot_id="snap-0c0ld"),
        unattached("vol-0a06new", "gp3", 20, days=2, source="first-seen", tags={"Name": "just-created"}),
        unattached("vol-0a07es", "gp2", 100, days=120, tags=PV_TAGS),
        unattached("vol-0a08keep", "gp2", 500, days=365, tags={"Name": "legal-hold", "cloudoptim.io/keep": "true"}),
        unattached("vol-0a09mars", "gp2", 100, days=50, region="mars-north-1", zone="mars-north-1a"),
        attached("vol-0b01root", "gp2", 8, iops=100),
        attached("vol-0b02data", "gp2", 300, iops=900),
        attached("vol-0b03huge", "gp2", 4000, iops=12000),
        attached("vol-0b04gp3", "gp3", 100, iops=3000, throughput=125),
    )


def no_cloudtrail() -> Snapshot:
    """CloudTrail denied: ages are first-seen lower bounds, and a volume seen for the first time
    this scan is still too young."""
    return snapshot(
        unattached("vol-0c01old", "gp2", 200, days=45, source="first-seen"),
        unattached("vol-0c02young", "gp3", 100, days=0, source="first-seen"),
        unattached("vol-0c03unknown", "gp2", 100, days=None),
        cloudtrail=DENIED,
    )


SNAPSHOTS: dict[str, Callable[[], Snapshot]] = {"ebs-cleanup-estate": estate, "ebs-cleanup-no-cloudtrail": no_cloudtrail}


def canonical(result: ScanResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    check_golden(name, canonical(run(SNAPSHOTS[name]())), what="engine output", test_file="tests/engines/test_ebs_golden.py")


def test_the_estate_golden_covers_every_kind_of_outcome() -> None:
    result = run(estate())
    kinds = {r.action.kind for r in result.recommendations}
    assert kinds == {"snapshot-and-delete-volume", "modify-volume-type"}
    assert {r.evidence.get("unattached_source") for r in result.recommendations} >= {"cloudtrail", "first-seen",
                                                                                    "create-time"}
    skipped = {s.target for s in result.skipped}
    assert skipped == {"volume/vol-0a06new", "volume/vol-0a08keep", "volume/vol-0a09mars", "volume/vol-0b01root",
                       "volume/vol-0b04gp3"}
    assert len(result.recommendations) + len(result.skipped) == len(estate().account.volumes)  # type: ignore[union-attr]
