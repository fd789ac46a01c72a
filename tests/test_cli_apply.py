"""`cloudoptim apply` and `cloudoptim executions ...` run as a user would (a subprocess), on SQLite and
PostgreSQL; `--wait` is followed against a real execution runner and the local Kubernetes API."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.db.states import ExecutionState, RecStatus
from app.services import executions as svc
from app.settings import Settings
from background.execution_runner import ExecutionRunner
from sandbox.k8s_emulator import LocalKubernetes
from tests.executor.k8s_objects import workload
from tests.test_executions_seed import add_cluster, add_rec, scale_spec

CLI = [str(Path(sys.executable).parent / "cloudoptim")]
FP = "feedc0ffee0123456789abcd"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, env=env)


@pytest.fixture
def fp(engine: Engine) -> str:
    return add_rec(engine, FP, cluster_id=add_cluster(engine))


def test_apply_queues_the_recommendation_as_the_os_user_and_a_second_apply_finds_it(engine: Engine, fp: str) -> None:
    first = run("apply", fp[:10], "--format", "json")
    second = run("apply", fp, "--format", "json")

    assert first.returncode == 0, first.stderr
    shown = json.loads(first.stdout)
    assert (shown["state"], shown["fingerprint"], shown["requested_by"], shown["kind"]) == (
        "queued", fp, getpass.getuser(), "apply")
    assert f"queued execution {shown['id']}: scale-replicas deployment shop/web" in first.stderr
    assert second.returncode == 0 and json.loads(second.stdout)["id"] == shown["id"]
    assert f"execution {shown['id']} of this recommendation is already queued" in second.stderr


def test_apply_of_an_unknown_or_dismissed_recommendation_is_bad_input(engine: Engine) -> None:
    add_rec(engine, "d" * 24, status=RecStatus.DISMISSED)
    unknown, dismissed, bad_format = run("apply", "0" * 24), run("apply", "d" * 24), run("apply", "d" * 24, "--format", "yaml")
    assert [r.returncode for r in (unknown, dismissed, bad_format)] == [2, 2, 2]
    assert "no recommendation has fingerprint" in unknown.stderr
    assert "is dismissed, not open" in dismissed.stderr and "Traceback" not in dismissed.stderr
    assert "--format: 'yaml' is not one of table, json" in bad_format.stderr


def test_executions_list_show_and_cancel(engine: Engine, fp: str) -> None:
    other = add_rec(engine, "b" * 24, cluster_id=add_cluster(engine, "dev"))
    a = svc.queue_execution(engine, fp, requested_by="ana").execution
    b = svc.queue_execution(engine, other, requested_by="bob", dry_run=True).execution

    listed = run("executions", "list", "--format", "json")
    on_dev = run("executions", "list", "--cluster", "dev", "--state", "queued", "--format", "json")
    shown = run("executions", "show", str(a.id), "--format", "json")
    table = run("executions", "list")
    cancelled = run("executions", "cancel", str(b.id))

    assert [e["id"] for e in json.loads(listed.stdout)] == [b.id, a.id]
    assert [e["id"] for e in json.loads(on_dev.stdout)] == [b.id]
    assert json.loads(shown.stdout)["target"] == "deployment shop/web" and shown.returncode == 0
    assert table.returncode == 0 and "queued (dry run)" in table.stdout and "deployment shop/web" in table.stdout
    assert cancelled.returncode == 0 and f"execution {b.id} cancelled" in cancelled.stderr
    assert svc.get_execution(engine, b.id).state is ExecutionState.CANCELLED  # type: ignore[union-attr]


def test_executions_bad_input_exits_2_with_one_line(engine: Engine, fp: str) -> None:
    queued = svc.queue_execution(engine, fp, requested_by="ana").execution
    missing, bad_state, not_done = (run("executions", "show", "999"), run("executions", "list", "--state", "done"),
                                    run("executions", "rollback", str(queued.id)))  # fmt: skip
    assert [r.returncode for r in (missing, bad_state, not_done)] == [2, 2, 2]
    assert "no execution 999" in missing.stderr
    assert "--state: 'done' is not one of queued, running" in bad_state.stderr
    assert f"execution {queued.id} cannot be rolled back: it is queued" in not_done.stderr


@pytest.fixture
def live(engine: Engine, settings: Settings, tmp_path: Path) -> Iterator[tuple[LocalKubernetes, int]]:
    """A cluster on the local Kubernetes API and a running execution runner (the worker's thread)."""
    with LocalKubernetes(reconcile_interval=0.1, node_join_delay=0.3) as k8s:
        k8s.put(workload("Deployment", "web", 3, namespace="shop"))
        cid = add_cluster(engine, "prod", kubeconfig=str(k8s.write_kubeconfig(tmp_path / "kubeconfig", "prod")))
        runner = ExecutionRunner(settings, engine, owner="test-host:1")
        runner.start()
        yield k8s, cid
        assert runner.stop(10)


def test_apply_wait_prints_each_step_and_a_rollback_wait_undoes_it(engine: Engine, live: tuple[LocalKubernetes, int]) -> None:
    fp = add_rec(engine, FP, scale_spec(), cluster_id=live[1])

    applied = run("apply", fp, "--wait", "--format", "json")

    assert applied.returncode == 0, applied.stderr
    done = json.loads(applied.stdout)
    assert (done["state"], done["result"]) == ("succeeded", {"replicas": 1, "from": 3})
    for line in ("validate", "plan", "scale Deployment shop/web", "verify"):
        assert f"succeeded  {line}" in applied.stderr

    rolled = run("executions", "rollback", str(done["id"]), "--wait", "--format", "json")
    assert rolled.returncode == 0, rolled.stderr
    assert (json.loads(rolled.stdout)["kind"], json.loads(rolled.stdout)["state"]) == ("rollback", "succeeded")
    assert svc.get_execution(engine, done["id"]).state is ExecutionState.ROLLED_BACK  # type: ignore[union-attr]


def test_apply_wait_exits_1_when_the_worker_refuses_a_stale_recommendation(
    engine: Engine, live: tuple[LocalKubernetes, int]
) -> None:
    live[0].put(workload("Deployment", "web", 5, namespace="shop"))
    fp = add_rec(engine, FP, scale_spec(), cluster_id=live[1])

    result = run("apply", fp, "--wait", "--dry-run")

    assert result.returncode == 1
    assert "refused: stale: Deployment shop/web runs 5 replicas, the plan expected 3" in result.stderr
    assert "refused" in result.stdout and "Traceback" not in result.stderr

