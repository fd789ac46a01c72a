"""Golden files: the office-hours engine's full JSON output on small snapshots, compared exactly.

Every field is pinned (action with its uptime text, prices, risk, confidence, rationale, evidence,
fingerprint, then the skipped entries), so any change in what an analyst reads shows up as a
readable diff. The scan time is fixed and prices come from the shipped price book. After an
intended change, regenerate and review the diff:

    CLOUDOPTIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/engines/test_office_hours_golden.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from engines.contract import ScanResult
from engines.snapshot import Autoscaler, Namespace
from engines.snapshot_aws import ContainerUsage, Snapshot
from tests.engines.test_office_hours_helpers import (
    Shape,
    job_runs,
    node,
    one_namespace,
    pod,
    run,
    snapshot,
    usage,
    workload,
)
from tests.golden_files import check_golden

STG = "shop-staging"
# Berlin left summer time on Sunday 2026-10-25; this history runs from 2026-10-16 to 2026-10-30.
BERLIN_NOW = datetime(2026, 10, 30, 23, 0, tzinfo=UTC)


def estate() -> Snapshot:
    """An idle staging namespace (Deployment, StatefulSet, nightly CronJob, HPA-managed Deployment,
    an excluded and an already-scheduled Deployment), a dev namespace busy at night, a production
    namespace, kube-system, a QA namespace with three days of history and an unmarked one."""
    quiet, busy_night = Shape(0.30, 0.004), Shape(0.30, 0.004, extra=((-1, 1, 0.3), (-1, 2, 0.3), (-1, 3, 0.3)))
    staging_pods = (
        pod(STG, "web-1", "Deployment", "web", "stg-1"), pod(STG, "web-2", "Deployment", "web", "stg-2"),
        pod(STG, "db-0", "StatefulSet", "db", "stg-1", cpu=1.0, mem_gib=4.0),
        *(pod(STG, f"api-{i}", "Deployment", "api", f"stg-{1 + i % 2}", cpu=0.25, mem_gib=0.5) for i in range(4)),
        pod(STG, "debug-1", "Deployment", "debug", "stg-2", cpu=0.1, mem_gib=0.25),
        pod(STG, "legacy-1", "Deployment", "legacy", "stg-2", cpu=0.1, mem_gib=0.25),
    )  # fmt: skip
    other_pods = (
        pod("batch-dev", "etl-1", "Deployment", "etl", "shared-1"), pod("shop", "front-1", "Deployment", "front", "prod-1"),
        pod("kube-system", "coredns-1", "Deployment", "coredns", "prod-1", cpu=0.1, mem_gib=0.07),
        pod("qa-tools", "runner-1", "Deployment", "runner", "shared-1"), pod("default", "echo-1", "Deployment", "echo", "shared-1"),
    )  # fmt: skip
    workloads = (
        workload("Deployment", STG, "web", 2), workload("StatefulSet", STG, "db", 1, cpu=1.0, mem_gib=4.0),
        workload("CronJob", STG, "report", cpu=0.5, mem_gib=1.0), workload("Deployment", STG, "api", 4, cpu=0.25, mem_gib=0.5),
        workload("Deployment", STG, "debug", 1, labels={"cloudoptim.io/exclude": "true"}),
        workload("Deployment", STG, "legacy", 1, annotations={"cloudoptim.io/schedule-uptime": "Mon-Fri 07:00-19:00 UTC"}),
        workload("Deployment", "batch-dev", "etl", 1), workload("Deployment", "shop", "front", 1),
        workload("Deployment", "kube-system", "coredns", 1), workload("Deployment", "qa-tools", "runner", 1),
        workload("Deployment", "default", "echo", 1),
    )  # fmt: skip
    namespaces = (
        Namespace(name=STG, labels={"environment": "staging"}), Namespace(name="batch-dev", labels={"environment": "dev"}),
        Namespace(name="shop", labels={"environment": "production"}), Namespace(name="kube-system"),
        Namespace(name="qa-tools"), Namespace(name="default"),
    )  # fmt: skip
    series: list[ContainerUsage] = [usage(STG, p.name, quiet, owner=p.owner_name, kind=p.owner_kind or "")
                                    for p in staging_pods]  # fmt: skip
    series += job_runs(STG, "report", 2)
    series += [usage("batch-dev", "etl-1", busy_night, owner="etl"), usage("shop", "front-1", quiet, owner="front"),
               usage("kube-system", "coredns-1", quiet, owner="coredns"),
               usage("qa-tools", "runner-1", quiet, owner="runner", days=3), usage("default", "echo-1", quiet, owner="echo")]  # fmt: skip
    return snapshot(nodes=(node("stg-1"), node("stg-2"), node("prod-1"), node("shared-1")), pods=staging_pods + other_pods,
                    workloads=workloads, namespaces=namespaces, series=tuple(series),
                    hpas=(Autoscaler(name="api", namespace=STG, target_kind="Deployment", target_name="api",
                                     min_replicas=3, max_replicas=6, resources=("cpu",)),))  # fmt: skip


def berlin() -> Snapshot:
    """A Berlin team's namespace working 09:00-17:00 local time over two weeks spanning the end of
    summer time: in UTC its day moves an hour later halfway through the history."""
    return one_namespace("web-dev", Shape(0.4, 0.005, tz="Europe/Berlin"), annotations={"cloudoptim.io/timezone": "Europe/Berlin"},
                         now=BERLIN_NOW)  # fmt: skip


def bad_input() -> Snapshot:
    """NaN, negative and empty series, an unknown timezone annotation, a history with gaps and one
    with a naive start, each in its own non-production namespace."""
    quiet = Shape(0.3, 0.004)
    cases: dict[str, list[ContainerUsage]] = {}
    good = usage("nan-dev", "web-1", quiet, owner="web")
    cases["nan-dev"] = [good.model_copy(update={"cpu_cores": (*good.cpu_cores[:100], math.nan, *good.cpu_cores[101:])})]
    neg = usage("negative-dev", "web-1", quiet, owner="web")
    cases["negative-dev"] = [neg.model_copy(update={"cpu_cores": (-0.2, *neg.cpu_cores[1:])})]
    cases["empty-dev"] = [usage("empty-dev", "web-1", quiet, owner="web").model_copy(update={"cpu_cores": ()})]
    cases["tz-dev"] = [usage("tz-dev", "web-1", quiet, owner="web")]
    gappy = usage("gaps-dev", "web-1", quiet, owner="web")
    cases["gaps-dev"] = [gappy.model_copy(update={"cpu_cores": tuple(v if (i // 288) % 2 else None
                                                                     for i, v in enumerate(gappy.cpu_cores))})]  # fmt: skip
    naive = usage("naive-dev", "web-1", quiet, owner="web")
    cases["naive-dev"] = [naive.model_copy(update={"start": naive.start.replace(tzinfo=None)})]
    cases["nodata-dev"] = []
    pods = tuple(pod(ns, "web-1", "Deployment", "web", "n1") for ns in cases)
    namespaces = tuple(Namespace(name=ns, annotations={"cloudoptim.io/timezone": "Mars/Olympus_Mons"} if ns == "tz-dev" else {})
                       for ns in cases)  # fmt: skip
    return snapshot(nodes=(node("n1"),), pods=pods, workloads=tuple(workload("Deployment", ns, "web", 1) for ns in cases),
                    namespaces=namespaces, series=tuple(u for rows in cases.values() for u in rows))  # fmt: skip


SNAPSHOTS: dict[str, tuple[Callable[[], Snapshot], datetime | None]] = {
    "office-hours-estate": (estate, None),
    "office-hours-berlin-dst": (berlin, BERLIN_NOW),
    "office-hours-bad-input": (bad_input, None),
}


def canonical(result: ScanResult) -> str:
    return json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def scan(name: str) -> ScanResult:
    build, now = SNAPSHOTS[name]
    return run(build(), now=now) if now else run(build())


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
def test_the_engine_output_matches_its_golden_file_exactly(name: str) -> None:
    check_golden(name, canonical(scan(name)), what="engine output", test_file="tests/engines/test_office_hours_golden.py")


def test_the_estate_schedules_every_kind_in_the_idle_staging_namespace_and_nothing_else() -> None:
    result = scan("office-hours-estate")
    got = {(r.action.workload_kind, r.action.workload_name, r.action.replicas_off)  # type: ignore[union-attr]
           for r in result.recommendations}  # fmt: skip
    assert got == {("Deployment", "web", 0), ("StatefulSet", "db", 0), ("CronJob", "report", 0), ("Deployment", "api", 1)}
    assert {s.target for s in result.skipped} == {
        "workload/shop-staging/debug", "workload/shop-staging/legacy", "namespace/batch-dev", "namespace/shop",
        "namespace/kube-system", "namespace/qa-tools", "namespace/default",
    }  # fmt: skip
