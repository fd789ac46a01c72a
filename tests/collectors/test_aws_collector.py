"""AwsCollector against the local AWS API (moto server via AWS_ENDPOINT_URL, real boto3 over HTTP)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from app.collectors.aws import AwsCollector, cluster_from_tags
from app.collectors.errors import CollectorError
from sandbox.aws import LocalAws
from tests.collectors.conftest import StubFactory

AMI = "ami-12345678"


def tag_spec(resource: str, **tags: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]


def run(aws: LocalAws, count: int = 1, *, spot: bool = False, tags: dict[str, str] | None = None) -> list[str]:
    kwargs: dict[str, Any] = {}
    if spot:
        kwargs["InstanceMarketOptions"] = {"MarketType": "spot"}
    if tags:
        kwargs["TagSpecifications"] = tag_spec("instance", **tags)
    reply = aws.client("ec2").run_instances(
        ImageId=AMI,
        MinCount=count,
        MaxCount=count,
        InstanceType="m5.large",
        Placement={"AvailabilityZone": "us-east-1b"},
        **kwargs,
    )
    return [i["InstanceId"] for i in reply["Instances"]]


def recording_session(operations: list[tuple[str, dict[str, Any]]]) -> boto3.Session:
    """A default-chain session that records every operation it sends (for read-only/batch checks)."""
    session = boto3.Session()

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        operations.append((model.name, params))

    session.events.register("provide-client-params.*.*", record)
    return session


def test_instances_and_volumes_come_with_tags_lifecycle_cluster_and_attachments_across_pages(aws_env: LocalAws) -> None:
    on_demand = [run(aws_env, tags={"team": "web", "eks:cluster-name": "prod-east"})[0] for _ in range(7)]
    spot = [run(aws_env, spot=True, tags={"kubernetes.io/cluster/staging-east": "owned"})[0] for _ in range(5)]
    gone = run(aws_env)[0]
    ec2 = aws_env.client("ec2")
    ec2.terminate_instances(InstanceIds=[gone])
    volume = ec2.create_volume(
        Size=100, AvailabilityZone="us-east-1b", VolumeType="gp3", TagSpecifications=tag_spec("volume", owner="db")
    )["VolumeId"]
    ec2.attach_volume(VolumeId=volume, InstanceId=on_demand[0], Device="/dev/sdf")
    loose = ec2.create_volume(Size=20, AvailabilityZone="us-east-1a")["VolumeId"]

    operations: list[tuple[str, dict[str, Any]]] = []
    result = AwsCollector("us-east-1", session=recording_session(operations), page_size=5).collect()
    account = result.value
    assert account.account_id == "123456789012" and account.region == "us-east-1"
    instances = {i.instance_id: i for i in account.instances}
    assert set(instances) == set(on_demand + spot)  # the terminated one costs nothing and is left out
    first = instances[on_demand[0]]
    assert (first.instance_type, first.zone, first.state, first.lifecycle) == (
        "m5.large",
        "us-east-1b",
        "running",
        "on-demand",
    )
    assert first.tags == {"team": "web", "eks:cluster-name": "prod-east"} and first.cluster == "prod-east"
    assert first.launch_time is not None and first.launch_time.tzinfo is not None
    assert all(instances[i].lifecycle == "spot" and instances[i].cluster == "staging-east" for i in spot)
    assert sum(1 for name, _ in operations if name == "DescribeInstances") == 3  # 12 reservations, 5 per page
    volumes = {v.volume_id: v for v in account.volumes}
    assert volumes[volume].attachments[0].instance_id == on_demand[0]
    assert volumes[volume].attachments[0].device == "/dev/sdf"
    assert (volumes[volume].size_gb, volumes[volume].volume_type, volumes[volume].tags) == (100, "gp3", {"owner": "db"})
    assert volumes[loose].state == "available" and volumes[loose].attachments == ()


def test_cloudwatch_hourly_data_becomes_cpu_average_p95_maximum_and_network_bytes_per_day(aws_env: LocalAws) -> None:
    instance = run(aws_env)[0]
    idle = run(aws_env)[0]
    cloudwatch = aws_env.client("cloudwatch")
    start = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=49)
    cpu = [10.0] * 45 + [90.0, 90.0, 90.0]
    dims = [{"Name": "InstanceId", "Value": instance}]
    data = []
    for hour, value in enumerate(cpu):
        ts = start + timedelta(hours=hour)
        data += [
            {"MetricName": "CPUUtilization", "Dimensions": dims, "Timestamp": ts, "Value": value, "Unit": "Percent"},
            {"MetricName": "NetworkIn", "Dimensions": dims, "Timestamp": ts, "Value": 1e6, "Unit": "Bytes"},
            {"MetricName": "NetworkOut", "Dimensions": dims, "Timestamp": ts, "Value": 3e6, "Unit": "Bytes"},
        ]
    for offset in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[offset : offset + 500])

    instances = {i.instance_id: i for i in AwsCollector("us-east-1").collect().value.instances}
    metrics = instances[instance].metrics
    assert metrics is not None
    assert metrics.datapoints == 48 and metrics.window_days == 2.0
    assert metrics.cpu_avg == pytest.approx(15.0) and metrics.cpu_max == 90.0
    assert metrics.cpu_p95 == pytest.approx(90.0 - 80.0 * 0.35)  # linear interpolation between the 45th/46th
    assert metrics.network_in_bytes_per_day == pytest.approx(24e6)
    assert metrics.network_out_bytes_per_day == pytest.approx(72e6)
    assert instances[idle].metrics is None


def test_metrics_of_130_instances_are_fetched_in_batches_of_at_most_500_queries(aws_env: LocalAws) -> None:
    ids = run(aws_env, 130)
    aws_env.client("cloudwatch").put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "InstanceId", "Value": ids[-1]}],
                "Timestamp": datetime.now(UTC) - timedelta(hours=3),
                "Value": 42.0,
            }
        ],
    )
    operations: list[tuple[str, dict[str, Any]]] = []
    account = AwsCollector("us-east-1", session=recording_session(operations)).collect().value
    batches = [len(params["MetricDataQueries"]) for name, params in operations if name == "GetMetricData"]
    assert batches == [500, 20]
    last = next(i for i in account.instances if i.instance_id == ids[-1])
    assert last.metrics is not None and last.metrics.cpu_avg == 42.0


def test_the_spot_interruption_queue_is_found_through_its_eventbridge_rule(aws_env: LocalAws) -> None:
    queue_url = aws_env.client("sqs").create_queue(QueueName="spot-warnings")["QueueUrl"]
    arn = aws_env.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    events = aws_env.client("events")
    events.put_rule(
        Name="spot-to-sqs",
        EventPattern=json.dumps({"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]}),
    )
    events.put_targets(Rule="spot-to-sqs", Targets=[{"Id": "q", "Arn": arn["Attributes"]["QueueArn"]}])
    events.put_rule(
        Name="state-changes",
        EventPattern=json.dumps({"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]}),
    )
    spot_queue = AwsCollector("us-east-1").collect().value.spot_queue
    assert spot_queue is not None
    assert spot_queue.rule_names == ("spot-to-sqs",) and spot_queue.queue_url == queue_url


def test_the_collector_only_calls_read_apis(aws_env: LocalAws) -> None:
    run(aws_env, 2)
    aws_env.client("events").put_rule(
        Name="r", EventPattern=json.dumps({"detail-type": ["EC2 Spot Instance Interruption Warning"]})
    )
    operations: list[tuple[str, dict[str, Any]]] = []
    AwsCollector("us-east-1", session=recording_session(operations)).collect()
    names = {name for name, _ in operations}
    assert {"GetCallerIdentity", "DescribeInstances", "DescribeVolumes", "GetMetricData", "ListRules"} <= names
    assert all(name.startswith(("Describe", "List", "Get")) for name in names), names


def test_an_unreachable_endpoint_is_reported_with_the_region_and_service(
    aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(CollectorError) as info:
        AwsCollector("us-east-1").collect()
    assert info.value.source == "aws:us-east-1:sts"
    assert "cannot reach the endpoint: connection refused" in info.value.message


def test_missing_credentials_are_reported_not_raised(aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(CollectorError) as info:
        AwsCollector("us-east-1").collect()
    assert info.value.source == "aws:us-east-1:sts" and "no usable AWS credentials" in info.value.message


def test_expired_credentials_are_reported_as_such(
    aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, http_stub: StubFactory
) -> None:
    body = (
        b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        b"<Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message>"
        b"</Error><RequestId>1</RequestId></ErrorResponse>"
    )
    stub = http_stub(status=400, body=body, content_type="text/xml")
    monkeypatch.setenv("AWS_ENDPOINT_URL", stub.url)
    with pytest.raises(CollectorError) as info:
        AwsCollector("us-east-1").collect()
    assert info.value.source == "aws:us-east-1:sts"
    assert "credentials rejected (ExpiredToken)" in info.value.message and "expired" in info.value.message


def test_a_cloudwatch_outage_keeps_the_instances_and_reports_a_warning(
    aws_env: LocalAws, monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    instance = run(aws_env)[0]
    # botocore's per-service endpoint variable: only CloudWatch points at a dead port.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDWATCH", f"http://127.0.0.1:{closed_port}")
    result = AwsCollector("us-east-1").collect()
    assert [i.instance_id for i in result.value.instances] == [instance]
    assert result.value.instances[0].metrics is None
    assert [w.source for w in result.warnings] == ["aws:us-east-1:cloudwatch"]
    assert "connection refused" in result.warnings[0].message


@pytest.mark.parametrize(
    ("tags", "cluster"),
    [
        ({"eks:cluster-name": "a"}, "a"),
        ({"aws:eks:cluster-name": "b"}, "b"),
        ({"kubernetes.io/cluster/c": "owned"}, "c"),
        ({"Name": "bastion"}, None),
    ],
)
def test_the_cluster_of_an_instance_comes_from_the_tags_its_provisioner_sets(
    tags: dict[str, str], cluster: str | None
) -> None:
    assert cluster_from_tags(tags) == cluster
