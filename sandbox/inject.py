"""Inject a real-shaped Spot interruption warning into a running sandbox from another process.

`cloudoptim demo --inject spot-interruption` calls this with the AWS endpoint the running demo
recorded; the event goes through moto's EventBridge rule into the Spot SQS queue, exactly as AWS
would deliver it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3

from sandbox.estate_aws import spot_interruption_entry


def running_spot_nodes(env: dict[str, str]) -> list[str]:
    """Running Spot instances that are cluster nodes, ordered by cluster then node name."""
    ec2 = _client("ec2", env)
    found = ec2.describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["running"]},
        {"Name": "tag-key", "Values": ["eks:cluster-name"]},
    ])  # fmt: skip
    # moto does not implement the instance-lifecycle filter, so Spot is picked here.
    instances = [i for r in found["Reservations"] for i in r["Instances"] if i.get("InstanceLifecycle") == "spot"]
    def tag(inst: dict[str, Any], key: str) -> str:
        return next((t["Value"] for t in inst.get("Tags", []) if t["Key"] == key), "")

    # Deterministic choice (moto stamps seeded instances with the same launch second).
    instances.sort(key=lambda i: (tag(i, "eks:cluster-name") != "prod-east", tag(i, "eks:cluster-name"), tag(i, "Name")))
    return [i["InstanceId"] for i in instances]


def inject_spot_interruption(env: dict[str, str], instance_id: str | None = None) -> dict[str, Any]:
    if instance_id is None:
        candidates = running_spot_nodes(env)
        if not candidates:
            raise RuntimeError("the sandbox has no running Spot node to interrupt")
        instance_id = candidates[0]
    account = str(_client("sts", env).get_caller_identity()["Account"])
    entry = spot_interruption_entry(instance_id, account, datetime.now(UTC))
    resp = _client("events", env).put_events(Entries=[entry])
    if resp.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge rejected the event: {resp['Entries']}")
    return {"instance_id": instance_id, "event_id": resp["Entries"][0].get("EventId")}


def _client(service: str, env: dict[str, str]) -> Any:
    kwargs: dict[str, Any] = {
        "endpoint_url": env["AWS_ENDPOINT_URL"],
        "region_name": env.get("AWS_DEFAULT_REGION", "us-east-1"),
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }
    return boto3.session.Session().client(service, **kwargs)  # type: ignore[call-overload]
