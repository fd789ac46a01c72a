"""Fixtures of the Spot pipeline tests: one seeded sandbox (moto server + local Kubernetes APIs) per
module, its clusters registered in the test database, the process pointed at its AWS, and a
factory that starts the worker's Spot poller with chosen Spot settings and stops it after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import QuarantinedMessage, SpotWarning
from app.services.clusters import register_cluster
from app.settings import Settings
from background.spot_poller import SpotPoller
from sandbox.sandbox import Sandbox
from tests.waiting import wait_until

FINISHED = ("handled", "failed", "recorded", "ignored")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(Path(tmp_path_factory.mktemp("spot")), reconcile_interval=0.2, node_join_delay=0.5) as sb:
        yield sb


@pytest.fixture
def spot_env(sandbox: Sandbox, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox with its clusters registered, boto3 pointed at it and an empty Spot queue."""
    for key, value in sandbox.aws_env.items():
        monkeypatch.setenv(key, value)
    for name, info in sandbox.clusters.items():
        register_cluster(
            engine,
            name=name,
            context=info.context,
            region="us-east-1",
            kubeconfig=str(sandbox.kubeconfig_path),
            is_sandbox=True,
            replace=True,
        )
    empty_queue(sandbox)  # an earlier test's leftovers (PurgeQueue is allowed once a minute only)
    return sandbox


def empty_queue(sandbox: Sandbox) -> None:
    sqs = sandbox.aws.client("sqs")
    while messages := sqs.receive_message(QueueUrl=sandbox.spot_queue_url, MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            sqs.delete_message(QueueUrl=sandbox.spot_queue_url, ReceiptHandle=m["ReceiptHandle"])


def spot_settings(settings: Settings, queue_url: str, **spot: Any) -> Settings:
    return settings.model_copy(update={
        "aws": settings.aws.model_copy(update={"spot_queue_url": queue_url}),
        "spot": settings.spot.model_copy(update={"poll_wait_s": 1, **spot}),
    })  # fmt: skip


@pytest.fixture
def start_poller(spot_env: Sandbox, settings: Settings, engine: Engine) -> Iterator[Callable[..., SpotPoller]]:
    started: list[SpotPoller] = []

    def start(queue_url: str | None = None, client: Any = None, **spot: Any) -> SpotPoller:
        poller = SpotPoller(
            spot_settings(settings, queue_url or spot_env.spot_queue_url, **spot), engine, client=client
        )
        assert poller.start()
        started.append(poller)
        wait_until(poller.ready.is_set, timeout=30)
        return poller

    yield start
    for poller in started:
        assert poller.stop(timeout=30)


def row_of(engine: Engine, event_id: str) -> SpotWarning | None:
    with Session(engine) as session:
        return session.exec(select(SpotWarning).where(SpotWarning.event_id == event_id)).first()


def finished_row(engine: Engine, event_id: str, timeout: float = 60) -> SpotWarning:
    return wait_until(lambda: (r := row_of(engine, event_id)) is not None and r.status in FINISHED and r, timeout)


def quarantined(engine: Engine) -> list[QuarantinedMessage]:
    with Session(engine) as session:
        return list(session.exec(select(QuarantinedMessage).order_by(QuarantinedMessage.id)))


def queue_empty(sandbox: Sandbox) -> bool:
    attrs = sandbox.aws.client("sqs").get_queue_attributes(
        QueueUrl=sandbox.spot_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0
