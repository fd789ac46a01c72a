"""`python -m bench binpack [--json] [--quick]`: the bin-packing engine against bounds and baselines.

Scenarios (a) sandbox estate, (b) Alibaba openb trace, (c) generated clusters up to 5,000 nodes /
100,000 pods, (d) 100 small instances solved exactly by CP-SAT. Reports per scenario the node
counts before/after, the lower bound, plan time, and the same for first-fit-decreasing run in this
process. Results are printed, never hard-coded; BENCHMARKS.md records a real run.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np

from bench.baselines import cost_lower_bound, ffd, lower_bound, solve
from bench.scenarios import Scenario, ScenarioSkipped, alibaba, generated, sandbox
from engines.binpack import BinPackEngine, BinPackSettings
from engines.binpack.blockers import assess, removable_nodes
from engines.binpack.model import ClusterModel, build_model
from engines.binpack.planner import plan
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
)


def _baselines(model: ClusterModel, settings: BinPackSettings, costs: list[Decimal | None]) -> dict[str, Any]:
    dis = assess(model, settings)
    workloads, _ = pods_by_node(model)
    removable = np.zeros(model.n_nodes, dtype=bool)
    removable[removable_nodes(model, dis, settings, costs, workloads)] = True
    movable = np.array([b is None for b in dis.pod_block], dtype=bool).reshape(-1)
    t0 = time.perf_counter()
    base = ffd(model, movable, removable)
    ffd_seconds = time.perf_counter() - t0
    monthly = np.array([float(c) if c is not None else 0.0 for c in costs])
    cost_lb = cost_lower_bound(model, removable, monthly)
    return {
        "lower_bound": lower_bound(model, removable),
        "_cost_lower_bound": cost_lb,
        "ffd_nodes_after": base.nodes_after,
        "ffd_plan_seconds": round(ffd_seconds, 3),
        "ffd_unplaced_pods": base.unplaced_pods,
        "_removable": removable,
        "_movable": movable,
        "_ffd_kept": base.kept,
    }


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
        removed = len(gone)
        extra: dict[str, Any] = {
            "_removed": gone,
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
        the_plan = plan(model, movable, candidates, np.ones(model.n_nodes), settings.headroom_percent)
        seconds = time.perf_counter() - t0
        removed = len(the_plan.removed)
        extra = {
            "_removed": [model.nodes[n].name for n in the_plan.removed],
            "recommendations": removed,
            "pending_unplaced": len(the_plan.pending_unplaced),
        }
    base = _baselines(model, settings, costs)
    after = model.n_nodes - removed
    row = {
        "scenario": sc.name,
        "pods": int((model.role != 1).sum()),
        "nodes_before": model.n_nodes,
        "nodes_after": after,
        "lower_bound": base["lower_bound"],
        "ratio_to_lower_bound": round(after / base["lower_bound"], 4) if base["lower_bound"] else None,
        "plan_seconds": round(seconds, 3),
        "ffd_nodes_after": base["ffd_nodes_after"],
        "ffd_plan_seconds": base["ffd_plan_seconds"],
        "ffd_unplaced_pods": base["ffd_unplaced_pods"],
        **extra,
    }
    if sc.priced and base["_cost_lower_bound"]:
        # The engine minimises dollars, not nodes: show the same comparison in monthly cost.
        monthly = [float(c) if c is not None else 0.0 for c in costs]
        kept = sum(monthly) - float(extra["monthly_savings_usd"])  # removals and replacements
        ffd_kept = sum(c for c, k in zip(monthly, base["_ffd_kept"], strict=True) if k)
        row["monthly_cost_after_usd"] = round(kept, 2)
        row["cost_lower_bound_usd"] = round(base["_cost_lower_bound"], 2)
        row["cost_ratio_to_lower_bound"] = round(kept / base["_cost_lower_bound"], 4)
        row["ffd_monthly_cost_after_usd"] = round(ffd_kept, 2)
    return row


def small_instances(prices: PriceBook, count: int, seed: int, seconds: float) -> dict[str, Any]:
    """Scenario (d): `count` clusters of 3-8 nodes and at most 40 pods; how often the engine's kept
    cost equals the CP-SAT optimum of the same drain-only problem (and of a full repack)."""
    rng = np.random.default_rng(seed)
    singles = ("m5.large", "m5.xlarge", "c5.xlarge", "r5.large")
    totals = dict.fromkeys(("pods", "nodes_before", "nodes_after", "lower_bound", "ffd_nodes_after"), 0)
    plan_s = ffd_s = 0.0
    solved = matched = repack_solved = repack_matched = optimum_nodes = more_nodes = costlier = 0
    for i in range(count):
        n_nodes, n_pods = int(rng.integers(3, 9)), int(rng.integers(8, 41))
        first, second = rng.choice(len(singles), size=2, replace=False)
        types = [(singles[first], 1.0)] if rng.random() < 0.7 else [(singles[first], 0.5), (singles[second], 0.5)]
        util = float(rng.uniform(0.25, 0.6))
        sc = generated(f"d-{i:03d}", n_nodes, n_pods, types, prices, seed * 1000 + i, util, util * 0.8)
        row = measure(sc, prices, PACKING)
        for key in totals:
            totals[key] += int(row[key])
        plan_s += row["plan_seconds"]
        ffd_s += row["ffd_plan_seconds"]
        more_nodes += int(row["nodes_after"] > row["ffd_nodes_after"])
        model = build_model(sc.cluster)
        costs = node_costs(model, prices)[0]
        cents = [int(c * 100) if c is not None else 0 for c in costs]
        base = _baselines(model, PACKING, costs)
        gone = set(row["_removed"])
        kept_cost = sum(c for n, c in zip(model.nodes, cents, strict=True) if n.name not in gone)
        costlier += int(kept_cost > sum(c for c, k in zip(cents, base["_ffd_kept"], strict=True) if k))
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
        "scenario": f"d-small-cpsat-x{count}",
        **totals,
        "ratio_to_lower_bound": round(totals["nodes_after"] / totals["lower_bound"], 4),
        "plan_seconds": round(plan_s, 3),
        "ffd_plan_seconds": round(ffd_s, 3),
        "cpsat_instances": solved,
        "cpsat_matched": matched,
        "cpsat_optimal_nodes_after": optimum_nodes,
        "cpsat_repack_instances": repack_solved,
        "cpsat_repack_matched": repack_matched,
        "instances_more_nodes_than_ffd": more_nodes,
        "instances_costlier_than_ffd": costlier,
    }


def _skipped(name: str, why: str) -> dict[str, Any]:
    print(f"[bench binpack] {name}: skipped: {why}", file=sys.stderr)
    return {**dict.fromkeys(FIELDS), "scenario": name, "skipped": why}


def run(quick: bool, only: str, seed: int) -> list[dict[str, Any]]:
    from app.pricing import load_price_book

    prices = load_price_book()
    rows: list[dict[str, Any]] = []

    def log(row: dict[str, Any]) -> None:
        rows.append(row)
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
    if "d" in only:
        log(small_instances(prices, 20 if quick else 100, seed, 10.0))
    return rows
