"""Read-only AWS collector: one region of one account -> one `AccountState`.

Called by `app.collectors.snapshot.build_snapshot`. boto3 with the standard credential chain (and
`AWS_ENDPOINT_URL` for the local sandbox, so no endpoint parameter exists here), paginators for
every list, only Describe/List/Get calls. EC2 failures fail the account (`CollectorError` with
source "aws:<region>:<service>"); CloudWatch and the Spot queue lookup degrade to warnings.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from app.collectors.aws_metrics import collect_metrics
from app.collectors.errors import Collected, CollectorError, describe_network_error
from engines.snapshot_aws import AccountState, Instance, SourceError, SpotQueue, Volume, VolumeAttachment

log = logging.getLogger(__name__)

SPOT_WARNING = "EC2 Spot Instance Interruption Warning"
_AUTH_CODES = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "AuthFailure", "InvalidClientTokenId",
               "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId"}  # fmt: skip
_DENIED_CODES = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
# Instances that no longer cost anything are left out of the snapshot.
_GONE_STATES = {"terminated", "shutting-down"}
# AWS writes "User initiated (2019-01-01 00:00:00 GMT)" when an instance is stopped; moto writes UTC.
_TRANSITION_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)")


def state_since(reason: str | None) -> datetime | None:
    """When the instance entered its current state, from DescribeInstances' StateTransitionReason."""
    found = _TRANSITION_TIME.search(reason or "")
    if found is None:
        return None
    return datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def tagged_time(tags: dict[str, str], key: str | None) -> datetime | None:
    """The ISO date or time in tag `key` (the sandbox's intended create date), aware UTC; None if absent or bad."""
    raw = tags.get(key) if key else None
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def cluster_from_tags(tags: dict[str, str]) -> str | None:
    """Which EKS/Kubernetes cluster an instance belongs to, from the tags each provisioner sets."""
    for key in ("eks:cluster-name", "aws:eks:cluster-name", "alpha.eksctl.io/cluster-name"):
        if tags.get(key):
            return tags[key]
    for key in tags:
        if key.startswith("kubernetes.io/cluster/"):
            return key.removeprefix("kubernetes.io/cluster/")
    return None


def _tags(raw: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in raw or [] if "Key" in t}


@contextmanager
def aws_errors(source: str) -> Iterator[None]:
    """Translate botocore failures into a CollectorError that says what an operator must fix."""
    try:
        yield
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise CollectorError(source, f"no usable AWS credentials in the standard chain: {exc}") from exc
    except (CredentialRetrievalError, TokenRetrievalError, SSOError) as exc:
        raise CollectorError(source, f"credentials could not be loaded or refreshed (expired?): {exc}") from exc
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        detail = str(exc.response.get("Error", {}).get("Message", "")) or str(exc)
        if code in _AUTH_CODES:
            message = f"credentials rejected ({code}): expired or invalid; refresh them. {detail}"
        elif code in _DENIED_CODES:
            message = f"permission denied ({code}): {detail}"
        else:
            message = f"{code or 'error'}: {detail}"
        raise CollectorError(source, message) from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        # EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError.
        raise CollectorError(source, f"cannot reach the endpoint: {describe_network_error(exc)} ({exc})") from exc
    except BotoCoreError as exc:
        raise CollectorError(source, f"{type(exc).__name__}: {exc}") from exc


class AwsCollector:
    """Collects EC2 instances, EBS volumes, CloudWatch summaries and the Spot warning queue."""

    def __init__(
        self,
        region: str,
        session: boto3.Session | None = None,
        metrics_days: int = 14,
        *,
        page_size: int = 500,
        created_tag: str | None = None,
    ) -> None:
        """`created_tag`: a tag holding each resource's real create date (ISO), which then replaces
        LaunchTime/CreateTime and a stopped instance's stop time. Only for the sandbox, whose moto
        stamps everything "now"; never set it for a real account."""
        self.region = region
        self.created_tag = created_tag
        self.session = session or boto3.Session()
        self.metrics_days = metrics_days
        self.page_size = max(5, min(page_size, 500))  # the API range shared by both Describe calls
        # Short timeouts and few retries: a dead endpoint must fail a scan in seconds, not minutes.
        self._config = Config(
            region_name=region, connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
        )

    def source(self, service: str) -> str:
        return f"aws:{self.region}:{service}"

    def _client(self, service: str) -> Any:
        with aws_errors(self.source(service)):
            return self.session.client(service, config=self._config)  # type: ignore[call-overload]

    def collect(self) -> Collected[AccountState]:
        """Read the region; raises CollectorError when STS or EC2 cannot be read."""
        warnings: list[SourceError] = []
        with aws_errors(self.source("sts")):
            account_id = str(self._client("sts").get_caller_identity()["Account"])
        instances = self.instances()
        volumes = self.volumes()
        running = [i.instance_id for i in instances if i.state == "running"]
        try:
            with aws_errors(self.source("cloudwatch")):
                metrics = collect_metrics(self._client("cloudwatch"), running, self.metrics_days)
            instances = [i.model_copy(update={"metrics": metrics.get(i.instance_id)}) for i in instances]
        except CollectorError as exc:
            log.warning("%s", exc)
            warnings.append(exc.as_source_error())
        try:
            groups = self.target_groups()
            instances = [i.model_copy(update={"target_groups": groups.get(i.instance_id, ())}) for i in instances]
        except CollectorError as exc:
            log.warning("%s", exc)
            warnings.append(exc.as_source_error())
        spot_queue = None
        try:
            spot_queue = self.spot_queue()
        except CollectorError as exc:
            log.warning("%s", exc)
            warnings.append(exc.as_source_error())
        state = AccountState(
            account_id=account_id,
            region=self.region,
            instances=tuple(instances),
            volumes=tuple(volumes),
            spot_queue=spot_queue,
        )
        log.info("aws:%s: %d instances, %d volumes", self.region, len(state.instances), len(state.volumes))
        return Collected(state, tuple(warnings))

    def instances(self) -> list[Instance]:
        out: list[Instance] = []
        with aws_errors(self.source("ec2")):
            pages = (
                self._client("ec2")
                .get_paginator("describe_instances")
                .paginate(PaginationConfig={"PageSize": self.page_size})
            )
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for raw in reservation.get("Instances", []):
                        state = str(raw.get("State", {}).get("Name", "unknown"))
                        if state in _GONE_STATES:
                            continue
                        out.append(self._instance(raw, state))
        return out

    def _instance(self, raw: dict[str, Any], state: str) -> Instance:
        tags = _tags(raw.get("Tags"))
        created = tagged_time(tags, self.created_tag)
        since = state_since(raw.get("StateTransitionReason")) if state == "stopped" else None
        return Instance(
            instance_id=raw["InstanceId"],
            instance_type=raw["InstanceType"],
            state=state,
            zone=str(raw.get("Placement", {}).get("AvailabilityZone", "")),
            region=self.region,
            lifecycle="spot" if raw.get("InstanceLifecycle") == "spot" else "on-demand",
            launch_time=created or raw.get("LaunchTime"),
            tags=tags,
            private_dns_name=raw.get("PrivateDnsName") or None,
            cluster=cluster_from_tags(tags),
            platform="Windows" if str(raw.get("Platform", "")).lower() == "windows" else "Linux",
            network_interfaces=tuple(
                str(n["NetworkInterfaceId"]) for n in raw.get("NetworkInterfaces", []) if n.get("NetworkInterfaceId")
            ),
            public_ip=raw.get("PublicIpAddress") or None,
            state_since=(created if state == "stopped" and created else since),
        )

    def target_groups(self) -> dict[str, tuple[str, ...]]:
        """instance id -> ARNs of the ELBv2 target groups it is registered in (instance targets only)."""
        found: dict[str, list[str]] = defaultdict(list)
        with aws_errors(self.source("elbv2")):
            elbv2 = self._client("elbv2")
            for page in elbv2.get_paginator("describe_target_groups").paginate(
                PaginationConfig={"PageSize": min(self.page_size, 400)}  # the API's PageSize maximum
            ):
                for group in page.get("TargetGroups", []):
                    if group.get("TargetType", "instance") != "instance":
                        continue  # ip and lambda targets do not name an instance id
                    arn = str(group["TargetGroupArn"])
                    health = elbv2.describe_target_health(TargetGroupArn=arn)
                    for target in health.get("TargetHealthDescriptions", []):
                        instance_id = str(target.get("Target", {}).get("Id", ""))
                        if instance_id.startswith("i-") and arn not in found[instance_id]:
                            found[instance_id].append(arn)
        return {k: tuple(sorted(v)) for k, v in found.items()}

    def volumes(self) -> list[Volume]:
        out: list[Volume] = []
        with aws_errors(self.source("ec2")):
            pages = (
                self._client("ec2")
                .get_paginator("describe_volumes")
                .paginate(PaginationConfig={"PageSize": self.page_size})
            )
            for page in pages:
                for raw in page.get("Volumes", []):
                    out.append(
                        Volume(
                            volume_id=raw["VolumeId"],
                            volume_type=str(raw.get("VolumeType", "gp2")),
                            size_gb=int(raw.get("Size", 0)),
                            state=str(raw.get("State", "unknown")),
                            zone=str(raw.get("AvailabilityZone", "")),
                            region=self.region,
                            iops=raw.get("Iops"),
                            throughput=raw.get("Throughput"),
                            create_time=tagged_time(_tags(raw.get("Tags")), self.created_tag) or raw.get("CreateTime"),
                            attachments=tuple(
                                VolumeAttachment(
                                    instance_id=a["InstanceId"],
                                    device=a.get("Device"),
                                    state=a.get("State", "attached"),
                                )
                                for a in raw.get("Attachments", [])
                                if a.get("InstanceId")
                            ),
                            tags=_tags(raw.get("Tags")),
                            snapshot_id=raw.get("SnapshotId") or None,
                        )
                    )
        return out

    def spot_queue(self) -> SpotQueue:
        """EventBridge rules matching Spot interruption warnings, and the SQS queue they target."""
        rule_names: list[str] = []
        queue_url: str | None = None
        with aws_errors(self.source("events")):
            events = self._client("events")
            for page in events.get_paginator("list_rules").paginate():
                for rule in page.get("Rules", []):
                    try:
                        pattern = json.loads(rule.get("EventPattern") or "{}")
                    except ValueError:
                        continue  # a rule we cannot parse cannot be ours
                    if SPOT_WARNING not in (pattern.get("detail-type") or []):
                        continue
                    rule_names.append(str(rule["Name"]))
                    targets = events.list_targets_by_rule(Rule=rule["Name"]).get("Targets", [])
                    arns = [str(t["Arn"]) for t in targets if str(t.get("Arn", "")).startswith("arn:aws:sqs:")]
                    if arns and queue_url is None:
                        queue_url = self._queue_url(arns[0])
        return SpotQueue(queue_url=queue_url, rule_names=tuple(rule_names))

    def _queue_url(self, arn: str) -> str:
        # arn:aws:sqs:<region>:<account>:<name>
        _, _, _, region, account, name = arn.split(":", 5)
        with aws_errors(self.source("sqs")):
            sqs = self.session.client("sqs", config=self._config.merge(Config(region_name=region)))
            return str(sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
