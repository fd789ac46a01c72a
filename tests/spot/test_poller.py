"""The Spot poller under bad input and bad days: malformed and foreign messages are quarantined and
deleted while real warnings keep being handled, an SQS outage backs off and recovers without the
thread dying, a PDB that never allows eviction is named in `feasibility` and the drain still ends
before the deadline, and with no queue configured nothing is started."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import boto3
import kubernetes.client
from sqlalchemy import Engine

from app.settings import Settings
from background.spot_poller import SpotPoller
from sandbox import spot_lab
from sandbox.sandbox import Sandbox
from tests.spot.conftest import finished_row, quarantined, queue_empty
from tests.waiting import wait_until

CLUSTER = "prod-east"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws-events"


def test_malformed_and_foreign_messages_are_quarantined_and_deleted_and_the_poller_carries_on(
    spot_env: Sandbox, engine: Engine, start_poller: Callable[..., SpotPoller]
) -> None:
    warning = (FIXTURES / "spot-interruption-warning.eventbridge.json").read_text(encoding="utf-8")
    bodies = {
        "truncated": warning[:120],
        "lambda": json.dumps({"Records": [{"messageId": "m-1", "eventSource": "aws:sqs", "body": warning}]}),
        "foreign": warning.replace("EC2 Spot Instance Interruption Warning", "EC2 AMI State Change"),
        "text": "hello from a misconfigured producer",
    }
    ids = {name: spot_lab.send_raw(spot_env, body) for name, body in bodies.items()}
    poller = start_poller()
    rows = wait_until(lambda: len(q := quarantined(engine)) == len(bodies) and q)
    by_id = {r.message_id: r for r in rows}
    assert by_id[ids["truncated"]].reason.startswith("not JSON: Unterminated string")
    assert by_id[ids["truncated"]].body == bodies["truncated"]
    assert by_id[ids["lambda"]].reason.startswith("a Lambda event envelope (Records from aws:sqs)")
    assert by_id[ids["foreign"]].reason.startswith("foreign event: EC2 detail type 'EC2 AMI State Change'")
    assert by_id[ids["text"]].reason.startswith("not JSON")
    assert {r.queue_url for r in rows} == {spot_env.spot_queue_url}
    assert wait_until(lambda: queue_empty(spot_env))
    # Still polling: a real warning after the garbage is handled.
    instance_id, node = spot_lab.launch_spot_node(spot_env, CLUSTER)
    spot_lab.put_pods(spot_env, CLUSTER, node, "after-garbage", 2)
    row = finished_row(engine, spot_lab.put_event(spot_env, instance_id))
    assert row.status == "handled" and poller.alive and poller.errors == 0


def test_a_pdb_that_blocks_eviction_is_named_in_feasibility_and_the_drain_ends_before_the_deadline(
    spot_env: Sandbox, engine: Engine, start_poller: Callable[..., SpotPoller]
) -> None:
    instance_id, node = spot_lab.launch_spot_node(spot_env, CLUSTER, zone="us-east-1c")
    free = spot_lab.put_pods(spot_env, CLUSTER, node, "free", 3)
    held = spot_lab.put_pods(spot_env, CLUSTER, node, "held", 2, pdb={"minAvailable": 2})
    # A margin of 114 s leaves about 5 s of the notice for the drain: the test need not wait 105 s.
    start_poller(drain_margin_s=114)
    row = finished_row(engine, spot_lab.put_event(spot_env, instance_id))

    assert row.feasibility is not None and row.feasibility.startswith("does not fit in the")
    assert "PodDisruptionBudget spot-lab/held allows 0 disruptions now" in row.feasibility
    assert "draining every other pod first" in row.feasibility
    assert row.status == "failed" and row.message.startswith("drain incomplete at the deadline: pod spot-lab/held-")
    assert row.handled_in_notice is False and row.drained_at is None
    assert row.replacement_launched_at is not None  # the replacement is launched regardless
    assert sorted(row.detail["evicted"]) == free  # what could be drained was drained
    assert row.deadline_at is not None and row.detail["drain_ended_at"] < row.deadline_at.isoformat()
    core = kubernetes.client.CoreV1Api(spot_env.kube[CLUSTER].api_client())
    left = {p.metadata.name for p in core.list_namespaced_pod("spot-lab", field_selector=f"spec.nodeName={node}").items}
    assert {h.split("/")[1] for h in held} <= left
    assert core.read_node(node).spec.unschedulable is True  # a node about to be taken is never uncordoned


def test_a_deleted_queue_backs_off_with_a_capped_wait_and_the_poller_recovers_when_it_is_back(
    spot_env: Sandbox, engine: Engine, start_poller: Callable[..., SpotPoller]
) -> None:
    sqs = spot_env.aws.client("sqs")
    url = sqs.create_queue(QueueName="cloudoptim-spot-outage")["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    poller = start_poller(queue_url=url, error_backoff_max_s=1.5)
    wait_until(lambda: poller.errors >= 3, timeout=30)
    assert poller.alive and poller.backoff_s == 1.5  # 1 s, then doubled, capped at 1.5 s
    assert sqs.create_queue(QueueName="cloudoptim-spot-outage")["QueueUrl"] == url
    sqs.send_message(QueueUrl=url, MessageBody="not json")
    wait_until(lambda: poller.errors == 0 and poller.received == 1, timeout=30)
    # The batch is recorded on a batch thread after the receive returns.
    assert wait_until(lambda: quarantined(engine), timeout=30)[-1].queue_url == url


def test_an_unreachable_endpoint_is_retried_without_ending_the_thread(
    spot_env: Sandbox, start_poller: Callable[..., SpotPoller]
) -> None:
    dead = boto3.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1").client(
        "sqs", endpoint_url="http://127.0.0.1:9"
    )  # the discard port: nothing listens
    poller = start_poller(client=dead, error_backoff_max_s=1.0)
    wait_until(lambda: poller.errors >= 2, timeout=60)
    assert poller.alive and poller.received == 0


def test_without_a_queue_url_the_poller_is_not_started(settings: Settings, engine: Engine) -> None:
    poller = SpotPoller(settings, engine)
    assert poller.start() is False
    assert not poller.alive and poller.stop(timeout=1)
