"""`python -m bench binpack [--json] [--quick]`: the bin-packing engine against bounds and baselines.

Scenarios (a) sandbox estate, (b) Alibaba openb trace and held-out subsets of its real node list,
(c) generated clusters up to 5,000 nodes / 100,000 pods, one of them CPU-bound, (d) 100 small
instances solved exactly by CP-SAT. Reports per scenario the node counts before/after, the lower
bound, plan time, and the same for first-fit decreasing run in this process, both as drains under
the engine's rules (`ffd_*`, the baseline the engine must never lose to) and as the textbook
repack from scratch (`ffd_repack_*`). Exits non-zero, naming the scenario, when the engine keeps
more nodes than FFD at no lower cost or costs more than FFD. Results are printed, never
hard-coded; BENCHMARKS.md records a real run.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from bench.baselines import cost_lower_bound, ffd, ffd_drains, lower_bound, solve
from bench.scenarios import Scenario, ScenarioSkipped, alibaba, alibaba_subset, generated, sandbox
from engines.binpack import BinPackEngine, BinPackSettings
from engines.binpack.blockers import assess, removable_nodes
from engines.binpack.model import ClusterModel, build_model
from engines.binpack.planner import plan, restarts_for
from engines.binpack.pricing import node_costs
from engines.binpack.report import pods_by_node
from engines.contract import PriceBook, ScanContext
from engines.snapshot_aws import Snapshot

NOW = datetime(2026, 5, 1, tzinfo=UTC)
# (b)-(d) measure packing, so the money knobs that would hold moves back are switched off there;
# (a) runs with the shipped defaults, as an analyst would.
PACKING = BinPackSettings(
    savings_floor_monthly_usd=Decimal(0),
    disruption_cost_per_pod_usd=Decimal(0),
    max_pods_moved_per_node=100_000,
    allow_replace_node_type=False,
)
FIELDS = (
    "scenario",
    "pods",
    "nodes_before",
    "nodes_after",
    "lower_bound",
    "ratio_to_lower_bound",
    "plan_seconds",
    "ffd_nodes_after",
    "ffd_plan_seconds",
    "ffd_repack_nodes_after",
)
# Per-instance counts; a multi-instance scenario sums them. The first two must be 0.
COUNTS = (
    "instances_more_nodes_than_ffd",
    "instances_costlier_than_ffd",
    "instances_more_nodes_cheaper_than_ffd",
    "instances_more_nodes_than_ffd_repack",
)


def _baselines(model: ClusterModel, settings: BinPackSettings, costs: list[Decimal | None]) -> dict[str, Any]:
    dis = assess(model, settings)
    workloads, _ = pods_by_node(model)
    candidates = removable_nodes(model, dis, settings, costs, workloads)
    removable = np.zeros(model.n_nodes, dtype=bool)
    removable[candidates] = True
    movable = np.array([b is None for b in dis.pod_block], dtype=bool).reshape(-1)
    monthly = np.array([float(c) if c is not None else 0.0 for c in costs])
    t0 = time.perf_counter()
    drains = ffd_drains(model, movable, candidates, monthly, settings.headroom_percent)
    drain_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    base = ffd(model, movable, removable)
    repack_seconds = time.perf_counter() - t0
    kept = np.ones(model.n_nodes, dtype=bool)
    kept[drains.removed] = False
    return {
        "lower_bound": lower_bound(model, removable),
        "ffd_nodes_after": int(kept.sum()),
        "ffd_plan_seconds": round(drain_seconds, 3),
        "ffd_repack_nodes_after": base.nodes_after,
        "ffd_repack_plan_seconds": round(repack_seconds, 3),
        "ffd_repack_unplaced_pods": base.unplaced_pods,
        "_cost_lower_bound": cost_lower_bound(model, removable, monthly),
        "_removable": removable,
        "_movable": movable,
        "_ffd_kept": kept,
        "_ffd_repack_kept": base.kept,
    }


def _cents(costs: list[Decimal | None], kept: np.ndarray) -> int:
    return sum(int(c * 100) for c, k in zip(costs, kept, strict=True) if k and c is not None)


def _compare(row: dict[str, Any], costs: list[Decimal | None], kept: np.ndarray, base: dict[str, Any]) -> None:
    """The per-instance counts of COUNTS, on the removal plan alone (FFD has no replacements)."""
    mine, theirs, repack = (
        _cents(costs, kept),
        _cents(costs, base["_ffd_kept"]),
        _cents(costs, base["_ffd_repack_kept"]),
    )
    more = row["nodes_after"] > row["ffd_nodes_after"]
    row["instances_more_nodes_than_ffd"] = int(more and mine >= theirs)
    row["instances_costlier_than_ffd"] = int(mine > theirs)
    row["instances_more_nodes_cheaper_than_ffd"] = int(more and mine < theirs)
    row["instances_more_nodes_than_ffd_repack"] = int(
        row["nodes_after"] > row["ffd_repack_nodes_after"] and mine >= repack
    )


def measure(sc: Scenario, prices: PriceBook, settings: BinPackSettings) -> dict[str, Any]:
    """Run the engine (or, for unpriced traces, its model+planner) once, timed, then the baselines."""
    cluster = sc.cluster
    t0 = time.perf_counter()
    if sc.priced:
        ctx = ScanContext(prices=prices, now=NOW, settings=settings)
        result = BinPackEngine().scan(Snapshot(collected_at=NOW, cluster=cluster), ctx)
        seconds = time.perf_counter() - t0
        gone = [
            r.target.removeprefix("node/") for r in result.recommendations if r.action.kind == "drain-and-remove-node"
        ]
        extra: dict[str, Any] = {
            "recommendations": len(result.recommendations),
            "skipped": len(result.skipped),
            "monthly_savings_usd": str(sum((r.monthly_savings for r in result.recommendations), Decimal(0))),
        }
        model = build_model(cluster)
        costs = node_costs(model, prices)[0]
    else:
        # No EC2 instance types in the trace, so no prices: every node is worth 1 and the planner
        # minimises the node count. Same model, blockers and planner as the engine.
        model = build_model(cluster)
        dis = assess(model, settings)
        workloads, _ = pods_by_node(model)
        costs = [Decimal(1)] * model.n_nodes
        candidates = removable_nodes(model, dis, settings, costs, workloads)
        movable = np.array([b is None for b in dis.pod_block], dtype=bool).reshape(-1)
        restarts = restarts_for(model.n_nodes, len(model.pods), settings.search_effort)
        the_plan = plan(model, movable, candidates, np.ones(model.n_nodes), settings.headroom_percent, restarts)
        seconds = time.perf_counter() - t0
        gone = [model.nodes[n].name for n in the_plan.removed]
        extra = {
            "recommendations": len(gone),
            "pending_unplaced": len(the_plan.pending_unplaced),
            "pending_on_freed_room": sum(len(v) for v in the_plan.freed_for_pending.values()),
        }
    base = _baselines(model, settings, costs)
    after = model.n_nodes - len(gone)
    row = {
        "scenario": sc.name,
        "pods": int((model.role != 1).sum()),
        "nodes_before": model.n_nodes,
        "nodes_after": after,
        "lower_bound": base["lower_bound"],
        "ratio_to_lower_bound": round(after / base["lower_bound"], 4) if base["lower_bound"] else None,
        "plan_seconds": round(seconds, 3),
        **{k: v for k, v in base.items() if not k.startswith("_") and k != "lower_bound"},
        **extra,
    }
    removed = set(gone)
    kept = np.array([n.name not in removed for n in model.nodes], dtype=bool)
    _compare(row, costs, kept, base)
    row["_kept"] = kept
    row["_base"] = base
    row["_model"] = model
    row["_costs"] = costs
    if sc.priced and base["_cost_lower_bound"]:
        # The engine minimises dollars, not nodes: show the same comparison in monthly cost.
        monthly = [float(c) if c is not None else 0.0 for c in costs]
        after_usd = sum(monthly) - float(extra["monthly_savings_usd"])  # removals and replacements
        row["monthly_cost_after_usd"] = round(after_usd, 2)
        row["cost_lower_bound_usd"] = round(base["_cost_lower_bound"], 2)
        row["cost_ratio_to_lower_bound"] = round(after_usd / base["_cost_lower_bound"], 4)
        row["ffd_monthly_cost_after_usd"] = round(_cents(costs, base["_ffd_kept"]) / 100, 2)
        row["ffd_repack_monthly_cost_after_usd"] = round(_cents(costs, base["_ffd_repack_kept"]) / 100, 2)
    return row


def _summed(name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for many instances: counts and node totals summed, times summed."""
    keys = ("pods", "nodes_before", "nodes_after", "lower_bound", "ffd_nodes_after", "ffd_repack_nodes_after")
    total: dict[str, Any] = {"scenario": name, **{k: sum(int(r[k]) for r in rows) for k in keys}}
    total["ratio_to_lower_bound"] = round(total["nodes_after"] / total["lower_bound"], 4)
    for key in ("plan_seconds", "ffd_plan_seconds", "ffd_repack_plan_seconds"):
        total[key] = round(sum(r[key] for r in rows), 3)
    for key in ("pending_unplaced", "pending_on_freed_room", "ffd_repack_unplaced_pods"):
        if all(key in r for r in rows):
            total[key] = sum(int(r[key]) for r in rows)
    total.update({k: sum(int(r[k]) for r in rows) for k in COUNTS})
    return total


def held_out(prices: PriceBook, count: int, seed: int) -> dict[str, Any]:
    """(b) held-out real node lists: `count` random 30-node subsets of the openb node list with 200
    of its pod specs each (heterogeneous, GPU nodes, CPU-bound), each compared with FFD."""
    rows = [measure(alibaba_subset(seed * 1000 + i, 30, 200), prices, PACKING) for i in range(count)]
    return _summed(f"b-alibaba-subsets-x{count}", rows)


def small_instances(prices: PriceBook, count: int, seed: int, seconds: float) -> dict[str, Any]:
    """Scenario (d): `count` clusters of 3-8 nodes and at most 40 pods; how often the engine's kept
    cost equals the CP-SAT optimum of the same drain-only problem (and of a full repack)."""
    rng = np.random.default_rng(seed)
    singles = ("m5.large", "m5.xlarge", "c5.xlarge", "r5.large")
    rows = []
    solved = matched = repack_solved = repack_matched = optimum_nodes = 0
    for i in range(count):
        n_nodes, n_pods = int(rng.integers(3, 9)), int(rng.integers(8, 41))
        first, second = rng.choice(len(singles), size=2, replace=False)
        types = [(singles[first], 1.0)] if rng.random() < 0.7 else [(singles[first], 0.5), (singles[second], 0.5)]
        util = float(rng.uniform(0.25, 0.6))
        sc = generated(f"d-{i:03d}", n_nodes, n_pods, types, prices, seed * 1000 + i, util, util * 0.8)
        row = measure(sc, prices, PACKING)
        rows.append(row)
        model, base = row["_model"], row["_base"]
        cents = [int(c * 100) if c is not None else 0 for c in row["_costs"]]
        kept_cost = _cents(row["_costs"], row["_kept"])
        for drain_only in (True, False):
            best = solve(model, base["_movable"], base["_removable"], cents, drain_only, seconds)
            if best is None or not best.optimal:
                continue
            if drain_only:
                solved += 1
                matched += int(kept_cost <= best.kept_cost_cents)
                optimum_nodes += best.kept_nodes
            else:
                repack_solved += 1
                repack_matched += int(kept_cost <= best.kept_cost_cents)
    return {
        **_summed(f"d-small-cpsat-x{count}", rows),
        "cpsat_instances": solved,
        "cpsat_matched": matched,
        "cpsat_optimal_nodes_after": optimum_nodes,
        "cpsat_repack_instances": repack_solved,
        "cpsat_repack_matched": repack_matched,
    }


def _skipped(name: str, why: str) -> dict[str, Any]:
    print(f"[bench binpack] {name}: skipped: {why}", file=sys.stderr)
    return {**dict.fromkeys(FIELDS), "scenario": name, "skipped": why}


def check(rows: list[dict[str, Any]]) -> list[str]:
    """The promise "never worse than FFD", per scenario: no instance keeps more nodes than FFD's
    drain plan at no lower cost, and none costs more. Returns what is broken (empty when kept)."""
    broken = []
    for row in rows:
        for key in ("instances_more_nodes_than_ffd", "instances_costlier_than_ffd"):
            if row.get(key):
                broken.append(f"{row['scenario']}: {key} = {row[key]}, must be 0")
    return broken


def run(quick: bool, only: str, seed: int) -> list[dict[str, Any]]:
    from app.pricing import load_price_book

    prices = load_price_book()
    rows: list[dict[str, Any]] = []

    def log(row: dict[str, Any]) -> None:
        rows.append({k: v for k, v in row.items() if not k.startswith("_")})
        print(f"[bench binpack] {row['scenario']}: done", file=sys.stderr)

    if "a" in only:
        try:
            for sc in sandbox(seed):
                log(measure(sc, prices, BinPackSettings()))
        except ScenarioSkipped as exc:
            rows.append(_skipped("a-sandbox", str(exc)))
    if "b" in only:
        try:
            log(measure(alibaba(seed=seed), prices, PACKING))
            log(held_out(prices, 20 if quick else 100, seed))
        except ScenarioSkipped as exc:
            rows.append(_skipped("b-alibaba-openb", str(exc)))
    if "c" in only:
        sizes = [(100, 2_000), (500, 10_000)] if quick else [(100, 2_000), (1_000, 20_000), (5_000, 100_000)]
        for n_nodes, n_pods in sizes:
            name = f"c-generated-{n_nodes}n-{n_pods}p"
            log(measure(generated(name, n_nodes, n_pods, [("m5.xlarge", 1.0)], prices, seed), prices, PACKING))
        mixed = [("m5.xlarge", 0.5), ("m5.2xlarge", 0.3), ("r5.xlarge", 0.2)]
        n_nodes, n_pods = (300, 6_000) if quick else (2_000, 40_000)
        name = f"c-generated-mixed-{n_nodes}n-{n_pods}p"
        log(measure(generated(name, n_nodes, n_pods, mixed, prices, seed), prices, PACKING))
        # CPU-bound: CPU-heavy pods (65 % of CPU, 10 % of memory) on general-purpose m5 nodes.
        m5 = [("m5.large", 0.4), ("m5.xlarge", 0.3), ("m5.2xlarge", 0.3)]
        n_nodes, n_pods = (200, 1_000) if quick else (1_000, 5_000)
        name = f"c-generated-cpu-bound-{n_nodes}n-{n_pods}p"
        log(measure(generated(name, n_nodes, n_pods, m5, prices, seed, cpu_util=0.65, mem_util=0.1), prices, PACKING))
    if "d" in only:
        log(small_instances(prices, 20 if quick else 100, seed, 10.0))
    broken = check(rows)
    if broken:
        # Fail loudly, with every row, so the broken run is still readable.
        print(json.dumps(rows, indent=2), file=sys.stderr)
        raise SystemExit("[bench binpack] engine worse than first-fit decreasing: " + "; ".join(broken))
    return rows
