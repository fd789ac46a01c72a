"""Scan benchmark: collection and every registered engine, timed apart, on the sandbox estate and on
a large generated estate.

`python -m bench scan [--only sandbox|large|store] [--quick] [--json]` (bench/__main__.py). Engines
are those of `engines.registry.default_registry(include_installed=False)`, run through the
product's own `app.services.scans.run_engines` (per-engine seconds) with their default settings;
then `app.services.conflicts.link_conflicts` over all of their recommendations, as a scan does.

- sandbox: the embedded sandbox (moto server + local Kubernetes APIs), its clusters registered on a
  throwaway SQLite file; collection is `app.services.collect.collect_cluster`, exactly what a scan
  records as `collect_s` (Kubernetes, EC2/EBS/CloudWatch, usage and traffic files, storing the
  snapshot).
- large: `bench.large_estate` (1,000 nodes, 30,000 pods, 2,000 EC2 instances, 5,000 volumes,
  100,000 traffic edges; a tenth with --quick) built directly as plain data, not through moto or
  the emulator. Its collection time is what the worker pays when it loads a stored snapshot:
  validating the Snapshot from its JSON (`Snapshot.model_validate_json`).

Baseline measured in the same run on the same snapshot: one pass serialising it to JSON
(`model_dump_json`), the floor any engine that reads the whole snapshot pays;
`ratio_to_baseline` = all engines' seconds / that. Peak memory is the process's peak resident set
(VmHWM from /proc/self/status, reset through /proc/self/clear_refs when the part starts; where
that is not possible, `ru_maxrss` since the process started, and the row says so). Targets (large
estate, this 2-core machine): all engines under 10 s, peak under 2 GiB. Nothing is hard-coded.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.pricing import load_price_book
from app.pricing.catalog import PriceCatalog
from app.services.conflicts import link_conflicts, node_instances
from app.services.scans import EngineOutcome, run_engines
from bench.large_estate import FULL, QUICK, large_snapshot
from engines.contract import PriceBook
from engines.registry import default_registry
from engines.snapshot_aws import Snapshot

TARGET_ENGINE_S = 10.0
TARGET_PEAK_MIB = 2048.0
Row = dict[str, Any]


def reset_peak() -> str:
    """Start a new peak-memory window; returns how the peak will be measured."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM (Linux >= 4.0)
        return "VmHWM since the part started"
    except OSError:
        return "ru_maxrss since the process started"


def peak_mib() -> float:
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return round(int(line.split()[1]) / 1024, 1)
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _scan_rows(scenario: str, snapshot: Snapshot, prices: PriceBook, collect_s: float) -> list[Row]:
    """Collection, each engine, then all engines with the conflict linking and the baseline."""
    started = time.perf_counter()
    snapshot.model_dump_json()
    baseline_s = time.perf_counter() - started
    registry = default_registry(include_installed=False)
    cpu_started = time.process_time()  # CPU seconds too: wall time grows when the machine is busy
    outcomes: list[EngineOutcome] = run_engines(snapshot, registry, prices, now=snapshot.collected_at)
    engine_cpu_s = time.process_time() - cpu_started
    started = time.perf_counter()
    linked = link_conflicts([r for o in outcomes for r in o.result.recommendations], node_instances(snapshot))
    link_s = time.perf_counter() - started
    engine_s = sum(o.seconds for o in outcomes)
    rows: list[Row] = [{"scenario": scenario, "part": "collect", "seconds": round(collect_s, 3)}]
    rows += [{"scenario": scenario, "part": f"engine {o.engine}", "seconds": round(o.seconds, 3),
              "recommendations": len(o.result.recommendations), "skipped": len(o.result.skipped),
              "error": o.error or ""} for o in outcomes]  # fmt: skip
    rows.append({
        "scenario": scenario, "part": f"all {len(outcomes)} engines", "seconds": round(engine_s, 3),
        "cpu_seconds": round(engine_cpu_s, 3),
        "recommendations": len(linked), "conflicting": sum(1 for r in linked if r.conflicts_with),
        "link_seconds": round(link_s, 3), "baseline_seconds": round(baseline_s, 3),
        "ratio_to_baseline": round(engine_s / baseline_s, 2) if baseline_s else "",
    })  # fmt: skip
    return rows


def _counts(snapshot: Snapshot) -> Row:
    cluster, account = snapshot.cluster, snapshot.account
    return {"nodes": len(cluster.nodes) if cluster else 0, "pods": len(cluster.pods) if cluster else 0,
            "instances": len(account.instances) if account else 0, "volumes": len(account.volumes) if account else 0,
            "traffic_edges": len(snapshot.traffic)}  # fmt: skip


def large(quick: bool, seed: int = 7, prices: PriceBook | None = None) -> list[Row]:
    prices = prices or load_price_book()
    measure = reset_peak()
    sizes = QUICK if quick else FULL
    started = time.perf_counter()
    built = large_snapshot(prices, sizes, seed)
    generate_s = time.perf_counter() - started
    blob = built.model_dump_json()
    del built  # the engines get the copy loaded from JSON, as in the worker; keep one in memory
    started = time.perf_counter()
    snapshot = Snapshot.model_validate_json(blob)
    collect_s = time.perf_counter() - started
    name = f"large-{sizes.nodes}n-{sizes.pods}p-{sizes.instances}i-{sizes.volumes}v-{sizes.edges}e"
    rows = _scan_rows(name, snapshot, prices, collect_s)
    rows[0].update({**_counts(snapshot), "generate_seconds": round(generate_s, 3),
                    "snapshot_json_mib": round(len(blob) / 2**20, 1)})  # fmt: skip
    total = rows[-1]
    total.update({"peak_rss_mib": peak_mib(), "peak_measure": measure,
                  "within_targets": total["seconds"] < TARGET_ENGINE_S and peak_mib() < TARGET_PEAK_MIB})  # fmt: skip
    return rows


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The sandbox's AWS endpoint for the collectors' boto3 clients (a process edge), undone after."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def sandbox(quick: bool, prices: PriceCatalog | None = None) -> list[Row]:
    """Every sandbox cluster: collect (timed), then every engine. `quick` changes nothing: the
    sandbox estate has one size."""
    from app.bootstrap import open_database
    from app.services.clusters import register_cluster
    from app.services.collect import collect_cluster
    from app.settings import load_settings
    from sandbox.sandbox import Sandbox

    prices = prices or load_price_book()
    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp,
        Sandbox(Path(tmp) / "sb") as sb,
        _environment({**sb.aws_env, "CLOUDOPTIM_DATA_DIR": str(Path(tmp) / "data")}),
    ):
        settings = load_settings()
        db = open_database(settings)
        for name, info in sb.clusters.items():
            measure = reset_peak()
            row = register_cluster(
                db, name=name, context=info.context, region="us-east-1", kubeconfig=str(sb.kubeconfig_path),
                is_sandbox=True, usage_source=str(sb.usage_path(name)), traffic_source=str(sb.traffic_path(name)),
                replace=True, prices=prices,
            )  # fmt: skip
            started = time.perf_counter()
            snapshot = collect_cluster(db, settings, row, prices)
            collect_s = time.perf_counter() - started
            part = _scan_rows(f"sandbox/{name}", snapshot, prices, collect_s)
            part[0].update({**_counts(snapshot), "source_errors": len(snapshot.errors)})
            part[-1].update({"peak_rss_mib": peak_mib(), "peak_measure": measure})
            rows += part
        db.dispose()
    return rows


def run(quick: bool, only: str = "all", seed: int = 7) -> list[Row]:
    """`only`: sandbox, large, or all (both); the store part is bench/store.py."""
    prices = load_price_book()
    rows: list[Row] = []
    if only in ("all", "sandbox"):
        rows += sandbox(quick, prices)
    if only in ("all", "large"):
        rows += large(quick, seed, prices)
    return rows
