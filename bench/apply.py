"""Apply benchmark: time from Apply to verified for a 20-pod consolidation, against the same work
done directly with the clients.

`python -m bench apply [--json] [--quick]`. Each run starts a fresh local Kubernetes API and
empties local AWS (moto): node-a (an m5.large instance) runs 20 pods of one Deployment, node-b
has room for them. The product path: a drain-and-remove-node recommendation row as a scan stores
it, `queue_execution` (what the Apply button and `cloudoptim apply` call), the worker's
ExecutionRunner thread (its one-second poll) claiming it, re-validating, planning, checking the
budget, draining through the Eviction API, terminating the instance, deleting the Node and
verifying that the 20 replacements run elsewhere, every step recorded on a fresh SQLite file;
the clock stops when the execution row reads succeeded. The baseline, measured in the same
process on the same setup: cordon, one Eviction per pod, wait until the 20 replacements run on
node-b, TerminateInstances, delete the Node, with the kubernetes and boto3 clients and nothing
else, polling as often as the executor does (ExecContext.poll_interval_s). Reported: medians
(and spread) of both, the ratio, and where the product's time goes (pickup, drain). Nothing is
hard-coded; BENCHMARKS.md records a real run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes.client
from sqlalchemy import Engine
from sqlmodel import Session

from app.bootstrap import open_database
from app.db.models import Cluster
from app.db.tables_recs import Recommendation
from app.services import executions as svc
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from engines.actions import DrainAndRemoveNode, PodMove
from executor.base import ExecContext
from sandbox.aws import LocalAws
from sandbox.k8s_emulator import LocalKubernetes

PODS = 20
NS = "shop"
POLL_S = ExecContext.poll_interval_s  # the executor's own wait between checks


def _node(name: str, instance_id: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                  "node.kubernetes.io/instance-type": "m5.large",
                                                  "topology.kubernetes.io/zone": "us-east-1a"}},
            "spec": {"providerID": f"aws:///us-east-1a/{instance_id}"},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}  # fmt: skip


def _deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
            "spec": {"replicas": PODS, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}  # fmt: skip


def _running(core: Any, node: str | None = None, *, off: str | None = None) -> list[str]:
    pods = core.list_namespaced_pod(NS).items
    return sorted(p.metadata.name for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp
                  and (node is None or p.spec.node_name == node) and (off is None or p.spec.node_name != off))  # fmt: skip


def _wait(what: str, check: Any, timeout: float = 120.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench apply: {what} not reached within {timeout:.0f} s")
        time.sleep(interval)
    return value


def _setup(k8s: LocalKubernetes, aws: LocalAws) -> tuple[Any, Any, list[str], list[str]]:
    """node-a with the 20 pods, then node-b (so the scheduler put them all on node-a)."""
    aws.reset()
    ec2 = aws.client("ec2")
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId="ami-12345678", InstanceType="m5.large",
                                                       MinCount=2, MaxCount=2)["Instances"]]  # fmt: skip
    core = kubernetes.client.CoreV1Api(k8s.api_client())
    k8s.put_many([_node("node-a", ids[0]), _deployment()])
    pods = _wait("20 pods on node-a", lambda: (p := _running(core, "node-a")) and len(p) == PODS and p)
    k8s.put(_node("node-b", ids[1]))
    return core, ec2, ids, pods


def _product(settings: Settings, engine: Engine, k8s: LocalKubernetes, aws: LocalAws, run: int) -> dict[str, float]:
    core, _ec2, ids, pods = _setup(k8s, aws)
    kubeconfig = k8s.write_kubeconfig(settings.data_dir / f"kubeconfig-{run}", context="prod")
    spec = DrainAndRemoveNode(
        node="node-a", instance_id=ids[0], moves=tuple(PodMove(namespace=NS, pod=p, to_node="node-b") for p in pods)
    )
    action = spec.model_dump(mode="json")
    fingerprint = f"bench-apply-{run:04d}".ljust(24, "0")
    with Session(engine) as session:
        cluster = Cluster(name=f"prod-{run}", region="us-east-1", context="prod", kubeconfig_path=str(kubeconfig))
        session.add(cluster)
        session.flush()
        session.add(Recommendation(fingerprint=fingerprint, engine="binpack", cluster_id=cluster.id, target="node node-a",
                                   action_kind=spec.kind, action=action, current_monthly_cost=Decimal("70.08"),
                                   projected_monthly_cost=Decimal(0), monthly_savings=Decimal("70.08")))  # fmt: skip
        session.commit()
    runner = ExecutionRunner(settings, engine, owner=f"bench:{os.getpid()}")  # the worker's poll interval
    runner.start()
    try:
        start = time.perf_counter()
        queued = svc.queue_execution(engine, fingerprint, requested_by="bench").execution
        done = _wait("the execution's end", lambda: (v := svc.get_execution(engine, queued.id)) and v.finished and v)
        elapsed = time.perf_counter() - start
    finally:
        runner.stop(30)
    if done.state != "succeeded":
        raise RuntimeError(f"bench apply: execution {done.id} ended {done.state}: {done.reason}")
    assert done.started_at is not None and done.finished_at is not None
    results = [s.response["result"] for s in done.steps if s.name == "apply" and "result" in (s.response or {})]
    drain = float(results[-1].get("drain_s", 0.0)) if results else 0.0
    assert len(_running(core, off="node-a")) == PODS
    return {"total": elapsed, "pickup": (done.started_at - queued.created_at).total_seconds(), "drain": drain}


def _direct(k8s: LocalKubernetes, aws: LocalAws) -> float:
    core, ec2, ids, pods = _setup(k8s, aws)
    start = time.perf_counter()
    core.patch_node("node-a", {"spec": {"unschedulable": True}})
    for pod in pods:
        body = kubernetes.client.V1Eviction(metadata=kubernetes.client.V1ObjectMeta(name=pod, namespace=NS))
        core.create_namespaced_pod_eviction(pod, NS, body)
    _wait("the replacements on node-b", lambda: not _running(core, "node-a") and len(_running(core, "node-b")) == PODS,
          interval=POLL_S)  # fmt: skip
    ec2.terminate_instances(InstanceIds=[ids[0]])
    core.delete_node("node-a")
    return time.perf_counter() - start


def run(*, quick: bool = False) -> list[dict[str, Any]]:
    runs = 2 if quick else 5
    product: list[dict[str, float]] = []
    direct: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-apply-") as tmp, LocalAws() as aws:
        os.environ.update(aws.env())  # process edge: the executor's boto3 client reads it
        settings = Settings(data_dir=Path(tmp))
        engine = open_database(settings)
        try:
            for i in range(runs):  # alternate, so a slower stretch of the machine hits both alike
                with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
                    product.append(_product(settings, engine, k8s, aws, i))
                with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
                    direct.append(_direct(k8s, aws))
        finally:
            engine.dispose()
    total = [p["total"] for p in product]
    med = statistics.median

    return [{
        "scenario": f"consolidation, {PODS} pods", "runs": runs,
        "apply_to_verified_median_s": round(med(total), 3), "apply_min_s": round(min(total), 3),
        "apply_max_s": round(max(total), 3), "pickup_median_s": round(med(p["pickup"] for p in product), 3),
        "drain_median_s": round(med(p["drain"] for p in product), 3),
        "direct_client_median_s": round(med(direct), 3), "direct_min_s": round(min(direct), 3),
        "direct_max_s": round(max(direct), 3), "ratio_apply_to_direct": round(med(total) / med(direct), 2),
    }]  # fmt: skip
