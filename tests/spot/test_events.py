"""Reading SQS bodies as the Spot pipeline's EventBridge events: AWS's own examples (placeholders
tolerated, with a note), and every other body refused with a reason that says what it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.services.spot_events import SpotEvent, SpotEventKind, Unreadable, parse_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"


def example(name: str) -> str:
    return (FIXTURES / f"{name}.eventbridge.json").read_text(encoding="utf-8")


def event(body: str) -> SpotEvent:
    parsed = parse_message(body)
    assert isinstance(parsed, SpotEvent), parsed
    return parsed


def reason(body: str) -> str:
    parsed = parse_message(body)
    assert isinstance(parsed, Unreadable), parsed
    return parsed.reason


def test_the_aws_spot_warning_example_is_read_and_its_placeholder_time_noted() -> None:
    warning = event(example("spot-interruption-warning"))
    assert (warning.kind, warning.instance_id, warning.region) == (
        SpotEventKind.WARNING,
        "i-1234567890abcdef0",
        "us-east-2",
    )
    assert warning.event_id == "12345678-1234-1234-1234-123456789012"
    assert warning.instance_action == "action" and warning.event_time is None
    assert warning.notes == (
        "event time 'yyyy-mm-ddThh:mm:ssZ' is not an ISO 8601 UTC time; the deadline counts "
        "from when the message was received",
    )


def test_the_aws_rebalance_and_state_change_examples_are_read() -> None:
    rebalance = event(example("rebalance-recommendation"))
    assert rebalance.kind is SpotEventKind.REBALANCE and rebalance.instance_id == "i-1234567890abcdef0"
    change = event(example("instance-state-change"))
    assert (change.kind, change.instance_id, change.state) == (SpotEventKind.STATE_CHANGE, "i-abcd1111", "pending")
    assert change.event_time == datetime(2021, 11, 11, 21, 29, 54, tzinfo=UTC) and change.notes == ()


def test_an_instance_id_missing_from_the_detail_is_taken_from_the_resources_arn() -> None:
    doc = json.loads(example("spot-interruption-warning"))
    doc["detail"] = {"instance-action": "terminate"}
    assert event(json.dumps(doc)).instance_id == "i-1234567890abcdef0"


def lambda_envelope() -> str:
    inner = example("spot-interruption-warning")
    return json.dumps({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": inner}]})


@pytest.mark.parametrize(("body", "expected"), [
    (example("spot-interruption-warning")[:150], "not JSON: Unterminated string starting at"),
    ("", "not JSON: Expecting value at character 0 (truncated?)"),
    ("hello", "not JSON: Expecting value at character 0"),
    ("[1, 2]", "not an EventBridge event: the body is a JSON list, not an object"),
    (lambda_envelope(), "a Lambda event envelope (Records from aws:sqs), not an EventBridge event"),
    (json.dumps({"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": "{}"}),
     "an SNS notification envelope"),
    (json.dumps({"id": "1", "source": "aws.ec2", "detail": {}}), "not an EventBridge event: no 'detail-type'"),
    (example("spot-interruption-warning").replace('"aws.ec2"', '"com.example.shop"'),
     "foreign event: source 'com.example.shop'"),
    (example("spot-interruption-warning").replace("EC2 Spot Instance Interruption Warning", "EC2 AMI State Change"),
     "foreign event: EC2 detail type 'EC2 AMI State Change' is not one the Spot pipeline handles"),
    (example("spot-interruption-warning").replace("i-1234567890abcdef0", "not-an-instance"),
     "EC2 Spot Instance Interruption Warning: no EC2 instance id"),
    (example("instance-state-change").replace('"state":"pending"', '"phase":"pending"'),
     "EC2 Instance State-change Notification: no detail.state"),
])  # fmt: skip
def test_bodies_that_are_no_spot_event_are_refused_with_a_reason_saying_what_they_are(body: str, expected: str) -> None:
    assert reason(body).startswith(expected)
