"""`cloudoptim worker` as a real process with its execution thread: at start-up it fails the drain a
dead worker left running (uncordoning the node), then applies an approved recommendation against
the local Kubernetes API within seconds, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import kubernetes.client
from sqlalchemy import Engine, update
from sqlmodel import Session

from app.db.models import Cluster
from app.db.states import ExecutionState
from app.db.tables_recs import Execution
from app.db.types import utcnow
from app.services import executions as svc
from engines.actions import DrainAndRemoveNode
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import node, workload
from tests.test_executions_seed import add_cluster, add_rec, scale_spec
from tests.waiting import wait_until


def test_the_worker_recovers_a_dead_drain_then_applies_a_queued_execution_and_stops_on_sigterm(
    engine: Engine, tmp_path: Path
) -> None:
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
        k8s.put_many([workload("Deployment", "web", 3, namespace="shop"), node("node-a", unschedulable=True)])
        cid = add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", "prod")))
        with Session(engine) as s:
            s.exec(update(Cluster).values(last_scan_at=utcnow()))  # no scheduled scan at start-up
            dead = Execution(cluster_id=cid, cluster_name="prod", action_kind="drain-and-remove-node",
                             action=DrainAndRemoveNode(node="node-a").model_dump(mode="json"), owner="gone:1",
                             state=ExecutionState.RUNNING, pre_image={"unschedulable": False},
                             steps=[{"name": "cordon", "status": "succeeded", "detail": "", "at": utcnow().isoformat(),
                                     "response": {}}])  # fmt: skip
            s.add(dead)
            s.commit()
            dead_id = dead.id
        assert dead_id is not None
        log = tmp_path / "worker.log"
        with log.open("w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=dict(os.environ), stderr=out, stdout=out)
        try:
            recovered = wait_until(lambda: (v := svc.get_execution(engine, dead_id)) and v.finished and v, timeout=60)
            assert recovered.reason == ("the worker stopped during step cordon; "
                                        "node node-a was left cordoned and is uncordoned")  # fmt: skip
            core = kubernetes.client.CoreV1Api(k8s.api_client())
            assert not core.read_node("node-a").spec.unschedulable

            fp = add_rec(engine, "c" * 24, scale_spec(), cluster_id=cid)
            queued = svc.queue_execution(engine, fp, requested_by="ana").execution
            done = wait_until(lambda: (v := svc.get_execution(engine, queued.id)) and v.finished and v, timeout=60)
            assert done.state is ExecutionState.SUCCEEDED, done.reason
            assert done.owner is not None and done.owner.endswith(f":{proc.pid}")
            apps = kubernetes.client.AppsV1Api(k8s.api_client())
            assert apps.read_namespaced_deployment("web", "shop").spec.replicas == 1
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
    assert proc.returncode == 0, log.read_text()
