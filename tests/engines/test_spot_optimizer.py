"""The Spot optimizer engine on plain data and the shipped price files: what moves, what stays and why."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from decimal import Decimal

from app.pricing import files, load_price_book
from engines.actions import MoveToSpot, ReplaceNodeType
from engines.snapshot_aws import Snapshot, SpotPoolHistory
from engines.spot import PodNeeds, Pool
from engines.spot.scorer import SPOT_RISK_MODEL, AdvisorPriorScorer, PoolFeatures
from engines.spot_optimizer import rank_replacements
from tests.engines.test_binpack_helpers import NOW, cluster, node, pod
from tests.engines.test_spot_optimizer_helpers import estate, reasons, scan

GIB = 2**30


def _moves(result_recs: Sequence[object]) -> dict[str, MoveToSpot]:
    return {r.action.node: r.action for r in result_recs if isinstance(r.action, MoveToSpot)}  # type: ignore[attr-defined]


def test_a_web_group_moves_to_a_diversified_low_risk_set_priced_from_the_shipped_files() -> None:
    result = scan(estate())
    web = {r.target: r for r in result.recommendations if r.target.startswith("node/web-")}
    assert set(web) == {"node/web-0", "node/web-1", "node/web-2"}
    rec = web["node/web-0"]
    assert isinstance(rec.action, MoveToSpot) and rec.action.from_type == "m5.xlarge"
    assert len(set(rec.action.to_types)) >= 4
    rows = {row["instance_type"]: row for row in rec.evidence["set"]}
    assert all(row["advisor_bucket"] == 0 for row in rows.values())  # web preset: <5 % only
    # Figures match the shipped files read directly (not through the price book).
    with files.locate(files.ONDEMAND, None).open(encoding="utf-8") as fh:
        table = {(r["region"], r["instance_type"]): r for r in csv.DictReader(fh)}
    advisor = json.loads(files.locate(files.SPOT_ADVISOR, None).read_text(encoding="utf-8"))
    m5 = advisor["spot_advisor"]["us-east-1"]["Linux"]["m5.xlarge"]
    assert rec.evidence["current_type_advisor"]["savings_percent"] == m5["s"] == 66
    assert rec.evidence["current_type_advisor"]["bucket"] == m5["r"]
    assert rec.current_monthly_cost == (Decimal(table[("us-east-1", "m5.xlarge")]["price_per_hour_usd"]) * 730)
    first = rows[rec.action.to_types[0]]
    assert Decimal(first["spot_hourly"]) == Decimal(table[("us-east-1", first["instance_type"])]["spot_avg_price_per_hour_usd"])
    expected = Decimal(first["spot_hourly"]) + Decimal(first["interruption_cost_hourly"])
    assert Decimal(first["expected_hourly"]) == expected
    assert rec.projected_monthly_cost == (expected * 730).quantize(Decimal("0.01"))
    assert rec.monthly_savings == Decimal(rec.evidence["savings_monthly_usd"]) > 0
    assert rec.evidence["scorer"] == "advisor-prior"


def test_nodes_of_one_zone_prefer_different_types_so_the_group_is_never_one_pool() -> None:
    moves = _moves(scan(estate()).recommendations)
    assert moves["web-0"].to_types[0] != moves["web-1"].to_types[0]  # both in us-east-1a
    assert set(moves["web-0"].to_types) == set(moves["web-1"].to_types)


def test_batch_pods_take_the_wider_preset_and_the_risk_says_so() -> None:
    rec = next(r for r in scan(estate()).recommendations if r.target == "node/batch-0")
    assert rec.evidence["preset_max_bucket"] == 3
    assert max(row["advisor_bucket"] for row in rec.evidence["set"]) > 0
    assert rec.risk in ("medium", "high")


def test_blocked_nodes_keep_on_demand_and_the_skip_names_the_reason() -> None:
    why = reasons(scan(estate()))
    assert "stateful" in why["node/db-0"]
    assert "300 s to drain" in why["node/slow-0"] and "90 s" in why["node/slow-0"]
    assert "allows no disruption" in why["node/pdb-0"]
    assert "requires on-demand capacity" in why["node/pinned-0"]
    assert "cloudoptim.io/spot: never on its namespace" in why["node/never-0"]
    assert "unknown instance type 'x9.huge'" in why["node/odd-0"]
    assert "below the high-risk bucket" in why["node/spot-calm"]


def test_a_region_missing_from_the_advisor_feed_is_skipped_with_the_reason() -> None:
    state = cluster([node("n-0", "c6g.2xlarge")], [pod("web-1", "n-0")])
    state = state.model_copy(update={"region": "ap-southeast-6", "nodes": tuple(
        n.model_copy(update={"region": "ap-southeast-6", "zone": "ap-southeast-6a"}) for n in state.nodes)})
    result = scan(Snapshot(collected_at=NOW, cluster=state))
    assert result.recommendations == []
    assert "ap-southeast-6" in reasons(result)["node/n-0"] and "Spot Advisor" in reasons(result)["node/n-0"]


def test_an_empty_snapshot_is_a_skip_not_a_crash() -> None:
    result = scan(Snapshot(collected_at=NOW))
    assert result.recommendations == [] and "no cluster" in result.skipped[0].reason


def test_the_accounts_own_interruptions_push_a_pool_out_of_the_web_preset() -> None:
    first = _moves(scan(estate()).recommendations)["web-0"].to_types[0]
    noisy = (SpotPoolHistory(instance_type=first, zone="us-east-1a", interruptions=40, instance_hours=200.0),)
    result = scan(estate(noisy))
    moved = _moves(result.recommendations)["web-0"]
    assert first not in moved.to_types
    rec = next(r for r in result.recommendations if r.target == "node/web-0")
    assert any(line.startswith(f"{first}: scored interruption rate") for line in rec.evidence["left_out_for_risk"])


class _FlatModel:
    name = "flat-model"

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        return [0.00001 for _ in pools]


class _BrokenModel:
    name = "broken"

    def p_interruption_hour(self, pools: Sequence[PoolFeatures]) -> list[float]:
        return [2.0 for _ in pools]


def test_an_analysts_model_replaces_the_default_scorer_and_a_broken_one_falls_back() -> None:
    rec = next(r for r in scan(estate(), {SPOT_RISK_MODEL: _FlatModel()}).recommendations if r.target == "node/web-0")
    assert rec.evidence["scorer"] == "flat-model"
    assert {row["p_interruption_hour"] for row in rec.evidence["set"]} == {"0.0000100000"}
    rec = next(r for r in scan(estate(), {SPOT_RISK_MODEL: _BrokenModel()}).recommendations if r.target == "node/web-0")
    assert rec.evidence["scorer"] == "advisor-prior" and "broken" in rec.evidence["scorer_note"]


def test_a_risky_spot_node_gets_a_safer_spot_type_when_interruptions_are_expensive() -> None:
    result = scan(estate(), lost_work_per_pod_usd=Decimal("200"))
    rec = next(r for r in result.recommendations if r.target == "node/spot-risky")
    assert isinstance(rec.action, ReplaceNodeType) and rec.action.capacity_type == "spot"
    assert rec.action.from_type == "m5.xlarge" and rec.action.to_type != "m5.xlarge"
    assert all(row["advisor_bucket"] < 4 for row in rec.evidence["set"])
    assert rec.monthly_savings >= 0
    # With the default $1 a pod the safer types cost more than the risk they remove: a skip says so.
    assert "cheapest safer type" in reasons(scan(estate()))["node/spot-risky"]


def test_the_interruption_pipeline_can_rank_replacements_with_the_engines_scorer() -> None:
    needs = PodNeeds(cpu_millicores=2600, memory_bytes=9 * GIB, pods=12, architecture="amd64")
    prices = load_price_book()
    ranking = rank_replacements(prices, "us-east-1", needs, zone="us-east-1a", interruption_cost=Decimal("12"),
                                count=3, avoid=[Pool("m5.xlarge", "us-east-1a")], scorer=AdvisorPriorScorer())  # fmt: skip
    assert len(ranking.types) == 3 and "m5.xlarge" not in ranking.types
    assert [r.expected_hourly for r in ranking.ranked] == sorted(r.expected_hourly for r in ranking.ranked)
