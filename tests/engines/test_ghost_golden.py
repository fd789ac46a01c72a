"""Golden files: the ghost-probe engine's whole JSON output on two small accounts, compared exactly.

Every field is pinned (action, prices, risk, confidence, rationale, evidence with every signal and
day, fingerprint, then the skipped entries), so any change an analyst would read shows up as a
readable diff. The scan time is fixed and prices come from the shipped price book. After an
intended change, regenerate and review the diff:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_ghost_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest

from engines.contract import ScanResult
from engines.snapshot_aws import DailyMetric, Snapshot, SourceError
from tests.engines.test_binpack_helpers import NOW
from tests.engines.test_ghost_helpers import days, instance, root, scan, snapshot
from tests.golden_files import check_golden

TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/legacy-web/6d0ecf831eec9f09"


def account_snapshot() -> Snapshot:
    """An account like the sandbox's: idle boxes (one behind a load balancer, one with a CloudWatch
    gap, one with an owner and a public IP), a busy one, a long-stopped and a recently stopped one,
    and instances owned by a cluster, an Auto Scaling group or Karpenter, or opted out."""
    gap = days(skip=(2, 3, 4, 9))
    gap = (DailyMetric(day=gap[0].day, hours=5, cpu_avg=0.8, cpu_max=1.2, network_bytes=2e5), *gap[1:])
    instances = [
        instance("i-0a1ci000runner01", "c5.xlarge", age_days=150, tags={"Name": "ci-runner-old"}),
        instance("i-0a2bastion00001", "t3.micro", age_days=410, public_ip="3.80.12.7",
                 tags={"Name": "bastion", "team": "platform"}),
        instance("i-0a3legacyweb001", "m5.large", age_days=260, target_groups=(TG,),
                 tags={"Name": "legacy-web", "environment": "staging"}),
        instance("i-0a4reporting01", "m5.large", age_days=260, daily=gap, tags={"Name": "legacy-reporting"}),
        instance("i-0a5etlworker01", "m5.xlarge", age_days=95, daily=days(cpu=62.0, network_mb=9000.0),
                 tags={"Name": "etl-worker", "team": "data"}),
        instance("i-0a6jenkins2019", "t3.medium", state="stopped", age_days=1900,
                 state_since=NOW - timedelta(days=1500), tags={"Name": "jenkins-2019", "team": "platform"}),
        instance("i-0a7paused00001", "m5.large", state="stopped", age_days=300, state_since=NOW - timedelta(days=3),
                 tags={"Name": "paused-batch"}),
        instance("i-0a8node0000001", "m5.xlarge", tags={"Name": "prod-east-node"}),
        instance("i-0a9asgworker01", "c5.large", tags={"Name": "queue-worker", "aws:autoscaling:groupName": "workers"}),
        instance("i-0b0karpenter01", "m5.large", tags={"karpenter.sh/nodepool": "default"}),
        instance("i-0b1keepme00001", "t3.small", tags={"Name": "dr-standby", "cloudoptim.io/keep": "true"}),
    ]  # fmt: skip
    volumes = [root(i.instance_id) for i in instances]
    volumes.append(root("i-0a6jenkins2019", size=200, vtype="gp3", vid="vol-0jenkinsdata0001", iops=3000))
    return snapshot(instances, volumes, nodes=("i-0a8node0000001",))


def bad_input_snapshot() -> Snapshot:
    """What a half-broken collection looks like: CloudWatch down, an unknown type and region, a
    Windows box, a Spot instance, a stopped one without a stop time, naive timestamps, no launch time."""
    instances = [
        instance("i-0c1blind000001", daily=()),
        instance("i-0c2unknowntype", "x9z.huge"),
        instance("i-0c3otherregion", region="eu-nowhere-9"),
        instance("i-0c4windows0001", platform="Windows"),
        instance("i-0c5spot0000001", lifecycle="spot"),
        instance("i-0c6stopped0001", state="stopped"),
        instance("i-0c7naive000001", state="stopped", state_since=(NOW - timedelta(days=45)).replace(tzinfo=None)),
        instance("i-0c8nolaunch001", launch_time=None, tags={}),
        instance("i-0c9stopping001", state="stopping"),
    ]
    volumes = [root(i.instance_id, region=i.region) for i in instances if i.instance_id != "i-0c8nolaunch001"]
    error = SourceError(source="aws:us-east-1:cloudwatch", message="permission denied (AccessDenied): no GetMetricData")
    return snapshot(instances, volumes, errors=(error,))


SNAPSHOTS: dict[str, Callable[[], Snapshot]] = {
    "ghost-probe-account": account_snapshot,
    "ghost-probe-bad-input": bad_input_snapshot,
}


def canonical(result: ScanResult) -> str:
    """Sorted keys, two-space indent, one trailing newline: stable text for exact comparison."""
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    got = canonical(scan(SNAPSHOTS[name]()))
    check_golden(name, got, what="engine output", test_file="tests/engines/test_ghost_golden.py")


def test_golden_output_is_deterministic_and_covers_stop_terminate_and_every_kind_of_skip() -> None:
    first, second = scan(account_snapshot()), scan(account_snapshot())
    assert canonical(first) == canonical(second)
    kinds = {r.evidence["instance_id"]: r.action.kind for r in first.recommendations}
    assert kinds == {
        "i-0a1ci000runner01": "stop-instance",
        "i-0a2bastion00001": "stop-instance",
        "i-0a3legacyweb001": "stop-instance",
        "i-0a4reporting01": "stop-instance",
        "i-0a6jenkins2019": "terminate-instance",
    }
    assert len(first.skipped) == 6
    bad = scan(bad_input_snapshot())
    # A naive stop time is read as UTC and a missing launch time only costs the age signal.
    assert [r.target for r in bad.recommendations] == ["instance/i-0c7naive000001", "instance/i-0c8nolaunch001"]
    assert len(bad.skipped) == 7
