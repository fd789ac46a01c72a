"""Shared fixtures of the executor tests: a local AWS (moto server) emptied for every test, an
ExecContext that records its steps, and a fake clock for deadline tests (no real waiting)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from executor.base import ExecContext, StepRecord
from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes


@pytest.fixture(scope="module")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def local_k8s() -> Iterator[LocalKubernetes]:
    """A fresh local Kubernetes API per test, its reconciler fast (controllers, scheduler, PDB status)."""
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
        yield k8s


@pytest.fixture
def ec2(local_aws: LocalAws) -> Any:
    """A fresh EC2 client on an empty moto (event hooks of one test never leak into the next).

    One attempt only: botocore's own retries would hide the errors the tests inject.
    """
    local_aws.reset()
    return local_aws.boto3_session().client("ec2", endpoint_url=local_aws.endpoint_url,
                                            config=Config(retries={"total_max_attempts": 1}))


@dataclass
class FakeClock:
    """monotonic() and sleep() for ExecContext: sleeping advances time at once."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_ctx(steps: list[StepRecord], *, ec2: Any = None, core: Any = None, apps: Any = None, policy: Any = None,
             clock: FakeClock | None = None, cluster: str = "test", **knobs: Any) -> ExecContext:
    """An ExecContext recording into `steps`, polling fast; `knobs` set deadline fields."""
    ctx = ExecContext(cluster=cluster, region="us-east-1", core=core, apps=apps, policy=policy, ec2=ec2,
                      record=steps.append, poll_interval_s=0.05)
    if clock is not None:
        ctx.sleep, ctx.monotonic = clock.sleep, clock.monotonic
    for name, value in knobs.items():
        setattr(ctx, name, value)
    return ctx


def inject_error(client: Any, operation: str, code: str, *, times: int = 1,
                 when: Callable[[dict[str, Any]], bool] = lambda _params: True) -> list[dict[str, Any]]:
    """Make the next `times` calls of `operation` (those `when` accepts) fail with the AWS error
    `code` before they are sent; every other call reaches moto. Returns the failed calls' params.

    moto cannot produce throttling or a capacity shortage, so this plays AWS's part (a botocore
    `before-parameter-build` hook on this one client: it sees the call's own parameters), never
    the code under test's.
    """
    failed: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        if len(failed) < times and when(params):
            failed.append(params)
            error: Any = {"Error": {"Code": code, "Message": f"injected {code}"},
                          "ResponseMetadata": {"HTTPStatusCode": 503 if "Limit" in code else 400}}
            raise ClientError(error, operation)

    client.meta.events.register(f"before-parameter-build.ec2.{operation}", hook)
    return failed


def rewrite_response(client: Any, operation: str, change: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    """Edit `operation`'s parsed responses (e.g. a snapshot still `pending`); returns the undo."""
    def hook(parsed: dict[str, Any], **_: Any) -> None:
        change(parsed)

    event = f"after-call.ec2.{operation}"
    client.meta.events.register(event, hook)
    return lambda: client.meta.events.unregister(event, hook)
