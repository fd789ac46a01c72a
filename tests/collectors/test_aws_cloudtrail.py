"""The CloudTrail DetachVolume lookup: the parser on AWS's documented event, one paced and capped
paginated query per region, and every failure returned as a reason instead of raised.

moto (5.2, server mode) does not implement LookupEvents (it answers HTTP 500), so the success
paths run a real botocore cloudtrail client under botocore's `Stubber`, fed responses in the
documented LookupEvents shape whose `CloudTrailEvent` is the CloudTrail record of the AWS EBS User
Guide's DetachVolume example (tests/fixtures/aws-events/README.md). The error paths use the real
error codes through the same Stubber, the real moto server, and a closed local port.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from app.collectors.aws_cloudtrail import PAGE_SIZE, Detach, last_detach_times, parse_detach_event
from sandbox.aws import LocalAws
from tests.collectors.conftest import isolate_aws_env

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events" / "detach-volume.cloudtrail.eventbridge.json"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=90)
FILTER = [{"AttributeKey": "EventName", "AttributeValue": "DetachVolume"}]


def documented_record() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text(encoding="utf-8"))["detail"])


def event(volume_id: str, when: datetime, instance_id: str = "i-0217f7eb3dexample", **extra: Any) -> dict[str, Any]:
    """One LookupEvents event wrapping AWS's documented record, re-addressed to `volume_id` at `when`."""
    record = copy.deepcopy(documented_record())
    record["eventTime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    record["requestParameters"]["volumeId"] = volume_id
    record["responseElements"].update(volumeId=volume_id, instanceId=instance_id)
    record.update(extra)
    return {"EventId": record["eventID"], "EventName": "DetachVolume", "EventTime": when,
            "EventSource": "ec2.amazonaws.com", "CloudTrailEvent": json.dumps(record),
            "Resources": [{"ResourceType": "AWS::EC2::Volume", "ResourceName": volume_id}]}


def client() -> Any:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    return session.client("cloudtrail")


def params(token: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"LookupAttributes": FILTER, "StartTime": START, "EndTime": NOW, "MaxResults": PAGE_SIZE}
    if token:
        out["NextToken"] = token
    return out


class Pacer:
    """A clock that never moves and a sleep that records: pacing is checked without timing."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def clock(self) -> float:
        return 100.0


def test_the_aws_documented_detach_event_gives_its_volume_time_and_instance() -> None:
    record = documented_record()
    wrapped = {"EventName": "DetachVolume", "CloudTrailEvent": json.dumps(record)}
    assert parse_detach_event(wrapped) == (
        "vol-072577c46bexample",
        Detach(detached_at=datetime(2024, 3, 18, 16, 35, 52, tzinfo=UTC), instance_id="i-0217f7eb3dexample"),
    )


def test_a_detach_call_that_failed_is_not_a_detach() -> None:
    failed = event("vol-1", NOW, errorCode="Client.IncorrectState", errorMessage="Volume 'vol-1' is in the 'available' state.")
    assert parse_detach_event(failed) is None


def test_one_paginated_query_serves_every_volume_and_the_newest_detach_wins() -> None:
    ct = client()
    pacer = Pacer()
    with Stubber(ct) as stub:
        stub.add_response("lookup_events", {"Events": [event("vol-a", NOW - timedelta(days=3), "i-new"),
                                                       event("vol-x", NOW - timedelta(days=4))],
                                            "NextToken": "page-2"}, params())
        stub.add_response("lookup_events", {"Events": [event("vol-a", NOW - timedelta(days=30), "i-old"),
                                                       event("vol-b", NOW - timedelta(days=40), "i-b")]},
                          params("page-2"))
        found = last_detach_times(ct, "us-east-1", ["vol-a", "vol-b", "vol-c"], start=START, now=NOW,
                                  sleep=pacer.sleep, clock=pacer.clock)
        stub.assert_no_pending_responses()
    assert found.error is None and found.pages == 2 and not found.truncated
    assert found.detaches == {"vol-a": Detach(NOW - timedelta(days=3), "i-new"),
                              "vol-b": Detach(NOW - timedelta(days=40), "i-b")}
    assert pacer.sleeps == [0.5]  # the second request waits: LookupEvents allows 2 per second


def test_the_lookup_stops_as_soon_as_every_volume_is_found() -> None:
    ct = client()
    with Stubber(ct) as stub:
        stub.add_response("lookup_events", {"Events": [event("vol-a", NOW)], "NextToken": "more"}, params())
        found = last_detach_times(ct, "us-east-1", ["vol-a"], start=START, now=NOW, sleep=Pacer().sleep)
        stub.assert_no_pending_responses()
    assert found.pages == 1 and set(found.detaches) == {"vol-a"} and not found.truncated


def test_the_page_cap_ends_the_lookup_and_says_older_events_were_not_read() -> None:
    ct = client()
    with Stubber(ct) as stub:
        for i, token in enumerate([None, "p2", "p3"]):
            stub.add_response("lookup_events", {"Events": [event("vol-x", NOW)], "NextToken": f"p{i + 2}"},
                              params(token))
        found = last_detach_times(ct, "us-east-1", ["vol-a"], start=START, now=NOW, max_pages=3, sleep=Pacer().sleep)
        stub.assert_no_pending_responses()
    assert found.pages == 3 and found.truncated and found.error is None and found.detaches == {}


def test_no_volume_to_look_up_makes_no_call() -> None:
    ct = client()
    with Stubber(ct) as stub:
        assert last_detach_times(ct, "us-east-1", [], start=START, now=NOW).pages == 0
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "message", "says"), [
    ("AccessDeniedException",
     "User: arn:aws:iam::123456789012:user/analyst is not authorized to perform: cloudtrail:LookupEvents "
     "because no identity-based policy allows the cloudtrail:LookupEvents action", "permission denied"),
    ("UnrecognizedClientException", "The security token included in the request is invalid.",
     "credentials rejected"),
])
def test_a_refused_lookup_returns_the_reason_instead_of_raising(code: str, message: str, says: str) -> None:
    ct = client()
    with Stubber(ct) as stub:
        stub.add_client_error("lookup_events", service_error_code=code, service_message=message,
                              http_status_code=400, expected_params=params())
        found = last_detach_times(ct, "us-east-1", ["vol-a"], start=START, now=NOW)
    assert found.detaches == {} and found.error is not None
    assert found.error.startswith("CloudTrail LookupEvents failed (") and says in found.error and code in found.error


def test_an_error_on_a_later_page_keeps_what_was_found_and_gives_the_reason() -> None:
    ct = client()
    with Stubber(ct) as stub:
        stub.add_response("lookup_events", {"Events": [event("vol-a", NOW)], "NextToken": "p2"}, params())
        stub.add_client_error("lookup_events", service_error_code="ThrottlingException", service_message="Rate exceeded",
                              http_status_code=400, expected_params=params("p2"))
        found = last_detach_times(ct, "us-east-1", ["vol-a", "vol-b"], start=START, now=NOW, sleep=Pacer().sleep)
    assert set(found.detaches) == {"vol-a"} and found.error is not None and "ThrottlingException" in found.error


def test_the_local_aws_without_lookup_events_degrades_to_a_reason(aws_env: LocalAws) -> None:
    found = last_detach_times(boto3.Session(), "us-east-1", ["vol-a"], start=START, now=NOW)
    assert found.detaches == {} and found.error is not None
    assert found.error.startswith("CloudTrail LookupEvents failed (HTTP 500")
    assert "<" not in found.error  # moto's HTML error page is not copied into the reason


def test_an_unreachable_endpoint_degrades_to_a_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int
) -> None:
    isolate_aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    found = last_detach_times(boto3.Session(), "us-east-1", ["vol-a"], start=START, now=NOW)
    assert found.error is not None and "cannot reach the endpoint: connection refused" in found.error
