"""What the ghost probe needs from AwsCollector, against the local AWS API (moto server over HTTP):
target groups, network interfaces, stop times, per-day CloudWatch values and the sandbox's create tag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.collectors.aws import AwsCollector, state_since, tagged_time
from app.pricing import load_price_book
from engines.contract import ScanContext
from engines.ghost import GhostProbeEngine, GhostProbeSettings
from engines.snapshot_aws import Snapshot
from sandbox import estate_aws
from sandbox.aws import LocalAws
from sandbox.estate import CREATED_TAG, DEFAULT_SEED, default_now
from tests.collectors.conftest import StubFactory
from tests.collectors.test_aws_collector import recording_session, run, tag_spec

CREATED = CREATED_TAG


def vpc(aws: LocalAws) -> str:
    return str(aws.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"])  # moto's default VPC


def test_instances_registered_in_target_groups_are_found_across_pages(aws_env: LocalAws) -> None:
    web, lonely = run(aws_env, 2)
    elbv2 = aws_env.client("elbv2")
    arns = []
    for n in range(7):
        group = elbv2.create_target_group(Name=f"tg-{n}", Protocol="HTTP", Port=80, VpcId=vpc(aws_env))
        arns.append(group["TargetGroups"][0]["TargetGroupArn"])
    elbv2.register_targets(TargetGroupArn=arns[0], Targets=[{"Id": web}])
    elbv2.register_targets(TargetGroupArn=arns[6], Targets=[{"Id": web, "Port": 8080}])
    ips = elbv2.create_target_group(Name="by-ip", Protocol="HTTP", Port=80, VpcId=vpc(aws_env), TargetType="ip")
    elbv2.register_targets(TargetGroupArn=ips["TargetGroups"][0]["TargetGroupArn"], Targets=[{"Id": "10.0.0.9"}])

    operations: list[tuple[str, dict[str, Any]]] = []
    result = AwsCollector("us-east-1", session=recording_session(operations), page_size=5).collect()
    instances = {i.instance_id: i for i in result.value.instances}
    assert instances[web].target_groups == tuple(sorted([arns[0], arns[6]]))
    assert instances[lonely].target_groups == ()
    # Paginated with the collector's page size (moto itself answers with one page; AWS pages at 400).
    assert [p.get("PageSize") for name, p in operations if name == "DescribeTargetGroups"] == [5]
    assert sum(1 for name, _ in operations if name == "DescribeTargetHealth") == 7  # not for the ip group
    assert result.warnings == ()


def test_network_interfaces_platform_and_public_ip_come_from_describe_instances(aws_env: LocalAws) -> None:
    (instance,) = run(aws_env)
    ec2 = aws_env.client("ec2")
    raw = ec2.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    got = next(i for i in AwsCollector("us-east-1").collect().value.instances if i.instance_id == instance)
    assert got.network_interfaces == tuple(n["NetworkInterfaceId"] for n in raw["NetworkInterfaces"])
    assert len(got.network_interfaces) == 1 and got.network_interfaces[0].startswith("eni-")
    assert got.public_ip == raw.get("PublicIpAddress") and got.platform == "Linux"


def test_a_stopped_instance_carries_the_time_it_was_stopped(aws_env: LocalAws) -> None:
    stopped, running = run(aws_env, 2)
    before = datetime.now(UTC).replace(microsecond=0)
    aws_env.client("ec2").stop_instances(InstanceIds=[stopped])
    instances = {i.instance_id: i for i in AwsCollector("us-east-1").collect().value.instances}
    assert instances[stopped].state == "stopped"
    since = instances[stopped].state_since
    assert since is not None and since.tzinfo is not None and since >= before - timedelta(seconds=1)
    assert instances[running].state_since is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("User initiated (2019-01-01 00:00:00 GMT)", datetime(2019, 1, 1, tzinfo=UTC)),
        ("Server.ScheduledStop (2023-07-14 22:10:05 UTC)", datetime(2023, 7, 14, 22, 10, 5, tzinfo=UTC)),
        ("", None),
        ("User initiated", None),
        (None, None),
    ],
)
def test_the_stop_time_is_read_from_the_state_transition_reason(reason: str | None, expected: datetime | None) -> None:
    assert state_since(reason) == expected


def test_hourly_cloudwatch_values_become_utc_days_and_a_gap_day_is_absent(aws_env: LocalAws) -> None:
    (instance,) = run(aws_env)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=4)  # four full days before today; the second has no data at all
    dims = [{"Name": "InstanceId", "Value": instance}]
    data = []
    for hour in range(4 * 24):
        ts = start + timedelta(hours=hour, minutes=30)
        if ts.date() == (start + timedelta(days=1)).date() or (ts.date() == (start + timedelta(days=2)).date()
                                                                and ts.hour >= 6):  # fmt: skip
            continue
        cpu = 2.0 if ts.date() != start.date() else 40.0
        data += [
            {"MetricName": "CPUUtilization", "Dimensions": dims, "Timestamp": ts, "Value": cpu, "Unit": "Percent"},
            {"MetricName": "NetworkIn", "Dimensions": dims, "Timestamp": ts, "Value": 1000.0, "Unit": "Bytes"},
            {"MetricName": "NetworkOut", "Dimensions": dims, "Timestamp": ts, "Value": 500.0, "Unit": "Bytes"},
        ]
    cloudwatch = aws_env.client("cloudwatch")
    for offset in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[offset : offset + 500])

    instances = {i.instance_id: i for i in AwsCollector("us-east-1", metrics_days=14).collect().value.instances}
    metrics = instances[instance].metrics
    assert metrics is not None
    got = [(d.day, d.hours, d.cpu_avg, d.cpu_max, d.network_bytes) for d in metrics.daily]
    first, third, fourth = start.date(), (start + timedelta(days=2)).date(), (start + timedelta(days=3)).date()
    assert got == [
        (first, 24, 40.0, 40.0, 24 * 1500.0),
        (third, 6, 2.0, 2.0, 6 * 1500.0),
        (fourth, 24, 2.0, 2.0, 24 * 1500.0),
    ]
    assert metrics.datapoints == 54  # the summary still counts every hour


def test_the_sandbox_create_tag_replaces_moto_launch_create_and_stop_times(aws_env: LocalAws) -> None:
    old, fresh = run(aws_env, tags={CREATED: "2019-03-04"})[0], run(aws_env)[0]
    ec2 = aws_env.client("ec2")
    ec2.stop_instances(InstanceIds=[old])
    volume = ec2.create_volume(Size=8, AvailabilityZone="us-east-1b", TagSpecifications=tag_spec("volume", **{
        CREATED: "2024-01-02"}))["VolumeId"]  # fmt: skip

    plain = {i.instance_id: i for i in AwsCollector("us-east-1").collect().value.instances}
    account = AwsCollector("us-east-1", created_tag=CREATED).collect().value
    instances = {i.instance_id: i for i in account.instances}
    volumes = {v.volume_id: v for v in account.volumes}
    assert instances[old].launch_time == datetime(2019, 3, 4, tzinfo=UTC)
    assert instances[old].state_since == datetime(2019, 3, 4, tzinfo=UTC)
    assert volumes[volume].create_time == datetime(2024, 1, 2, tzinfo=UTC)
    assert instances[fresh].launch_time == plain[fresh].launch_time  # no tag: moto's own time is kept
    moto_time = plain[old].launch_time
    assert moto_time is not None and moto_time.year >= 2025  # option unset: the tag is ignored


def test_a_bad_create_tag_is_ignored_rather_than_guessed() -> None:
    assert tagged_time({CREATED: "last tuesday"}, CREATED) is None
    assert tagged_time({CREATED: "2020-05-06T07:08:09+02:00"}, CREATED) == datetime(2020, 5, 6, 5, 8, 9, tzinfo=UTC)
    assert tagged_time({CREATED: "2020-05-06"}, None) is None


def test_denied_target_groups_keep_the_instances_and_report_a_warning(
    aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, http_stub: StubFactory
) -> None:
    (instance,) = run(aws_env)
    body = (
        b'<ErrorResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"><Error><Type>Sender</Type>'
        b"<Code>AccessDenied</Code><Message>not authorized to perform: elasticloadbalancing:DescribeTargetGroups"
        b"</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    stub = http_stub(status=403, body=body, content_type="text/xml")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2", stub.url)  # only ELBv2 is denied
    result = AwsCollector("us-east-1").collect()
    assert [i.instance_id for i in result.value.instances] == [instance]
    assert result.value.instances[0].target_groups == ()
    assert [w.source for w in result.warnings] == ["aws:us-east-1:elbv2"]
    assert "permission denied (AccessDenied)" in result.warnings[0].message


def test_the_sandbox_standalone_estate_gives_the_ghost_probe_every_kind_of_verdict(aws_env: LocalAws) -> None:
    """Seed the sandbox's standalone instances (as `Sandbox` does), collect them the sandbox way and
    scan: idle boxes are stopped, the one behind a target group only with halved confidence, the
    one with CloudWatch gaps with its gaps counted, the Auto Scaling group's and the busy one kept,
    and the long-stopped one proposed for termination."""
    now = default_now()
    ec2 = aws_env.client("ec2")
    subnets = estate_aws.seed_network(ec2)
    ids = estate_aws.seed_standalone(ec2, subnets, DEFAULT_SEED, now)
    asg_instance = estate_aws.seed_owners(ec2, aws_env.client("elbv2"), aws_env.client("autoscaling"), subnets,
                                          ids, now)  # fmt: skip
    estate_aws.put_metrics(aws_env.client("cloudwatch"), ids, DEFAULT_SEED, now)

    collected = AwsCollector("us-east-1", created_tag=CREATED_TAG).collect()
    assert collected.warnings == ()
    snapshot = Snapshot(collected_at=now, account=collected.value)
    result = GhostProbeEngine().scan(snapshot, ScanContext(prices=load_price_book(), now=now,
                                                           settings=GhostProbeSettings()))  # fmt: skip
    recs = {r.target.removeprefix("instance/"): r for r in result.recommendations}
    skips = {s.target.removeprefix("instance/"): s.reason for s in result.skipped}
    by_name = {v: k for k, v in ids.items()}
    assert {by_name[i]: r.action.kind for i, r in recs.items()} == {
        "bastion": "stop-instance", "legacy-reporting": "stop-instance", "ci-runner-old": "stop-instance",
        "legacy-web": "stop-instance", "qa-box": "stop-instance", "jenkins-2019": "terminate-instance",
    }  # fmt: skip
    web = recs[ids["legacy-web"]]
    assert web.risk == "high" and web.confidence < 0.5 < recs[ids["ci-runner-old"]].confidence
    assert [":targetgroup/legacy-web-tg/" in arn for arn in web.evidence["target_groups"]] == [True]
    window = recs[ids["qa-box"]].evidence["window"]
    assert window["days_without_data"] >= 3 and window["measured_days"] <= 11
    assert "Auto Scaling group queue-workers" in skips[asg_instance]
    assert "is in use" in skips[ids["etl-worker"]]
    jenkins = recs[ids["jenkins-2019"]]
    assert jenkins.evidence["stopped_days"] >= 1899 and jenkins.current_monthly_cost == Decimal("3.00")
