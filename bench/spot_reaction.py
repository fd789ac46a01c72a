"""`python -m bench spot-reaction [--json] [--quick]`: how fast the worker reacts to Spot warnings.

One sandbox (moto server + local Kubernetes APIs), 50 fresh Spot nodes (10 with `--quick`) in
prod-east: most run 2 pods, two run 10 and two run 50 (one of each behind PodDisruptionBudgets
that allow one disruption at a time). For each node one Spot interruption warning goes through
moto's EventBridge (`put_events`) and its rule into the SQS queue, where the worker's own
`SpotPoller` (long polling, the real handler, SQLite), in its own process as in `cloudoptim
worker` (bench/spot_child.py), picks it up. Reported from the spot_warnings
rows: p50/p95/p99/max of event put -> node cordoned and event put -> replacement launched, the
drain time of the 10- and 50-pod nodes and whether every drain ended inside the notice.

Baselines measured in the same run, on the same queue and nodes before the worker starts:
the raw SQS latency (put -> received by a bare long-poll loop, the floor any consumer has) and
an NTH-style consumer (AWS Node Termination Handler's queue mode: receive every 2 s without long
polling, then cordon). Ratios are baseline p50/p99 over ours. Results are measured, never typed
in; BENCHMARKS.md records a real run.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes.client
from sqlmodel import Session, col, select

from app.bootstrap import open_database
from app.db.models import SpotWarning
from app.services.clusters import register_cluster
from app.settings import load_settings
from sandbox import spot_lab
from sandbox.sandbox import Sandbox

CLUSTER = "prod-east"
NTH_POLL_S = 2.0
TIMEOUT_S = 180.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _summary(metric: str, values: list[float]) -> dict[str, Any]:
    return {"metric": metric, "n": len(values), "p50_s": round(statistics.median(values), 3),
            "p95_s": round(_pct(values, 0.95), 3), "p99_s": round(_pct(values, 0.99), 3),
            "max_s": round(max(values), 3)}  # fmt: skip


def _put_all(sb: Sandbox, instances: list[str], gap_s: float = 0.0) -> dict[str, tuple[str, float]]:
    """Send one warning per instance; event id -> (instance, wall time just before the put)."""
    sent = {}
    for instance in instances:
        began = time.time()
        sent[spot_lab.put_event(sb, instance)] = (instance, began)
        if gap_s:
            time.sleep(gap_s)
    return sent


def _raw_sqs(sb: Sandbox, instances: list[str]) -> list[float]:
    """put -> received by a bare long-poll consumer (deleted at once, nothing else done)."""
    sqs, url, seen = sb.aws.client("sqs"), sb.spot_queue_url, {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                seen[json.loads(m["Body"])["id"]] = time.time()
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    sent = _put_all(sb, instances, gap_s=0.05)
    _wait(lambda: len(seen) >= len(sent))
    stop.set()
    thread.join(5)
    return [seen[e] - began for e, (_i, began) in sent.items()]


def _nth_style(sb: Sandbox, nodes: dict[str, str]) -> list[float]:
    """NTH queue mode: every 2 s a short receive (no long poll), then cordon; uncordoned after."""
    sqs, url = sb.aws.client("sqs"), sb.spot_queue_url
    core = kubernetes.client.CoreV1Api(sb.kube[CLUSTER].api_client())
    cordoned: dict[str, float] = {}
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                for m in messages:
                    body = json.loads(m["Body"])
                    core.patch_node(nodes[body["detail"]["instance-id"]], {"spec": {"unschedulable": True}})
                    cordoned[body["id"]] = time.time()
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            stop.wait(NTH_POLL_S)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    sent = _put_all(sb, list(nodes), gap_s=0.05)
    _wait(lambda: len(cordoned) >= len(sent))
    stop.set()
    thread.join(5)
    for node in nodes.values():
        core.patch_node(node, {"spec": {"unschedulable": None}})
    return [cordoned[e] - began for e, (_i, began) in sent.items()]


def _wait(done: Any, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the benchmark did not finish in time")
        time.sleep(0.05)


def _estate(sb: Sandbox, count: int) -> tuple[dict[str, str], dict[str, str]]:
    """Fresh Spot nodes with their pods; (instance -> node, instance -> scenario label)."""
    joined = spot_lab.launch_spot_nodes(sb, CLUSTER, count, zone="us-east-1a")
    joined += spot_lab.launch_spot_nodes(sb, CLUSTER, 4, zone="us-east-1b")
    nodes, labels = dict(joined), {}
    big = joined[-4:]
    shapes = [(10, None), (10, 5), (50, None), (50, 10)]  # (pods, of them behind a PDB allowing 1 disruption)
    for (instance, node), (pods, guarded) in zip(big, shapes, strict=True):
        free = pods - (guarded or 0)
        spot_lab.put_pods(sb, CLUSTER, node, f"free-{node[:14]}", free)
        if guarded:
            spot_lab.put_pods(sb, CLUSTER, node, f"pdb-{node[:14]}", guarded, pdb={"minAvailable": guarded - 1})
        labels[instance] = f"{pods} pods" + (f", {guarded} behind a PDB" if guarded else "")
    for i, (instance, node) in enumerate(joined[:-4]):
        spot_lab.put_pods(sb, CLUSTER, node, f"small-{i:02d}", 2)
        labels[instance] = "2 pods"
    return nodes, labels


def run(quick: bool = False) -> list[dict[str, Any]]:
    logging.getLogger().setLevel(logging.WARNING)
    small = 6 if quick else 46
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(Path(tmp) / "sb", reconcile_interval=0.2, node_join_delay=0.5) as sb,
    ):
        os.environ.update(sb.aws_env)  # process edge: the poller's boto3 clients reach the sandbox
        os.environ["CLOUDOPTIM_DATA_DIR"] = str(Path(tmp) / "data")
        nodes, labels = _estate(sb, small)
        rows = [_summary("put -> received, bare SQS long poll (baseline)", _raw_sqs(sb, list(nodes)))]
        rows.append(_summary(f"put -> cordoned, NTH-style {NTH_POLL_S:.0f} s poll (baseline)", _nth_style(sb, nodes)))
        rows += _cloudoptim(sb, nodes, labels, Path(tmp))
    return rows + _ratios(rows)


def _cloudoptim(sb: Sandbox, nodes: dict[str, str], labels: dict[str, str], tmp: Path) -> list[dict[str, Any]]:
    base = load_settings()
    settings = base.model_copy(update={"aws": base.aws.model_copy(update={"spot_queue_url": sb.spot_queue_url})})
    db = open_database(settings)
    for name, info in sb.clusters.items():
        register_cluster(
            db,
            name=name,
            context=info.context,
            region="us-east-1",
            kubeconfig=str(sb.kubeconfig_path),
            is_sandbox=True,
            replace=True,
        )
    # The poller runs in its own process, as in `cloudoptim worker` (see bench/spot_child.py).
    child = subprocess.Popen([sys.executable, "-m", "bench.spot_child"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "CLOUDOPTIM_AWS__SPOT_QUEUE_URL": sb.spot_queue_url})  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    if child.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the Spot poller process did not start (exit code {child.wait()})")
    started = datetime.now(UTC)
    sent = _put_all(sb, list(nodes), gap_s=0.05)  # the baselines' pace

    def finished() -> list[SpotWarning]:
        with Session(db) as session:
            rows = list(session.exec(select(SpotWarning).where(col(SpotWarning.received_at) >= started)))
        return rows if sum(r.status in ("handled", "failed") for r in rows) >= len(sent) else []

    _wait(lambda: bool(finished()))
    rows = {r.event_id: r for r in finished()}
    child.stdin.close()
    child.wait(60)
    db.dispose()
    cordon = [c.timestamp() - t for e, (_i, t) in sent.items() if (c := rows[e].cordoned_at)]
    launch = [at.timestamp() - t for e, (_i, t) in sent.items() if (at := rows[e].replacement_launched_at)]
    put_to_received = [rows[e].received_at.timestamp() - t for e, (_i, t) in sent.items()]
    handling = [c.timestamp() - r.received_at.timestamp() for r in rows.values() if (c := r.cordoned_at)]
    out = [_summary("put -> cordoned, CloudOptim", cordon), _summary("put -> replacement launched, CloudOptim", launch),
           _summary("put -> received, CloudOptim poller", put_to_received),
           _summary("received -> cordoned, CloudOptim handler", handling)]  # fmt: skip
    in_notice = sum(bool(r.handled_in_notice) for r in rows.values())
    out.append({"metric": "drains finished inside the notice", "n": len(rows), "count": in_notice})
    for event_id, (instance, put_at) in sent.items():
        row = rows[event_id]
        if labels[instance] != "2 pods":
            out.append(
                {
                    "metric": f"drain, {labels[instance]}",
                    "n": 1,
                    "drain_s": row.detail.get("drain_s"),
                    "status": row.status,
                    "in_notice": row.handled_in_notice,
                    "put_to_drained_s": round(row.drained_at.timestamp() - put_at, 3) if row.drained_at else None,
                }
            )
    return out


def _ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {r["metric"]: r for r in rows}
    ours = by["put -> cordoned, CloudOptim"]
    out = []
    for name in (m for m in by if "baseline" in m):
        base = by[name]
        out.append(
            {
                "metric": f"ratio {name.split(',')[1].strip()} / CloudOptim cordon",
                "n": base["n"],
                "p50_ratio": round(base["p50_s"] / ours["p50_s"], 2),
                "p99_ratio": round(base["p99_s"] / ours["p99_s"], 2),
            }
        )
    return out
