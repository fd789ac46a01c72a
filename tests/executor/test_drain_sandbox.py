"""Drain-and-remove on the demo estate (the full sandbox: moto + a seeded local cluster whose nodes
follow their EC2 instances): a node the binpack engine could empty leaves for good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest

from engines.actions import DrainAndRemoveNode, PodMove
from executor import k8s_util as k
from executor.base import ExecContext, StepRecord
from executor.drain_plan import drain_feasibility, pods_on
from executor.registry import action_for
from sandbox.sandbox import Sandbox
from tests.executor.conftest import make_ctx

CLUSTER = "prod-east"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(Path(tmp_path_factory.mktemp("sb")), reconcile_interval=0.2, node_join_delay=0.5) as sb:
        yield sb


def context(sandbox: Sandbox, steps: list[StepRecord]) -> ExecContext:
    api = sandbox.kube[CLUSTER].api_client()
    m = kubernetes.client
    return make_ctx(steps, ec2=sandbox.aws.client("ec2"), core=m.CoreV1Api(api), apps=m.AppsV1Api(api),
                    policy=m.PolicyV1Api(api), cluster=CLUSTER, verify_wait_s=20.0)


def drainable(ctx: ExecContext) -> str:
    """A node whose workload pods all belong to ReplicaSets (they can run anywhere) and fit the deadline."""
    for node in sorted(k.call_json(ctx.core.list_node)["items"], key=lambda n: k.meta(n)["name"]):
        name = k.meta(node)["name"]
        pods = [p for p in pods_on(ctx, name) if k.skip_reason(p) is None]
        if pods and all((k.controller_of(p) or {}).get("kind") == "ReplicaSet" for p in pods) \
                and drain_feasibility(ctx, name).fits:
            return str(name)
    raise AssertionError(f"no drainable node of ReplicaSet pods in {CLUSTER}")


def test_a_drained_estate_node_is_deleted_its_instance_terminated_and_it_does_not_come_back(sandbox: Sandbox) -> None:
    steps: list[StepRecord] = []
    ctx = context(sandbox, steps)
    name = drainable(ctx)
    instance_id = sandbox.node_instances[CLUSTER][name]
    keys = [k.key_of(p) for p in pods_on(ctx, name) if k.skip_reason(p) is None]
    spec = DrainAndRemoveNode(node=name, instance_id=instance_id,
                              moves=tuple(PodMove(namespace=key.split("/")[0], pod=key.split("/")[1]) for key in keys))
    action = action_for(spec.kind)
    assert action.validate(ctx, spec) == []
    plan = action.plan(ctx, spec)
    result: dict[str, Any] = action.apply(ctx, spec, plan)
    assert sorted(result["evicted"]) == sorted(keys) and result["instance_state"] in ("shutting-down", "terminated")
    assert action.verify(ctx, spec, plan) == []
    sandbox.kube[CLUSTER].wait_reconciled(passes=3)  # the node source saw the instance go
    assert name not in {k.meta(n)["name"] for n in k.call_json(ctx.core.list_node)["items"]}
    assert [s.name for s in steps if s.status == "failed"] == []
