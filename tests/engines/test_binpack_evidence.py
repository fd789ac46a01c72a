"""Binpack evidence keeps what the snapshot measures (`before`) apart from what the plan projects
(`after`), names the unit of every number, stays plain JSON, and the rationale reads the same numbers."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from app.pricing import load_price_book
from engines.actions import DrainAndRemoveNode, ReplaceNodeType
from engines.binpack import BinPackEngine, BinPackSettings
from engines.contract import Recommendation, ScanContext, ScanResult
from engines.snapshot import ClusterState
from engines.snapshot_aws import Snapshot
from tests.engines.test_binpack_golden import mixed_snapshot
from tests.engines.test_binpack_helpers import NOW, cluster, daemon, node, pod, scan
from tests.framework.estate import wasteful_snapshot

UNITS = ("_cpu_cores", "_bytes", "_percent", "_pods")
UNITLESS = {"plan_position", "plan_size", "disruption_score"}  # ordinals and a score, not quantities
MONEY = ("_monthly_usd", "_hourly_usd")


def filled_cluster() -> ClusterState:
    """Node "big" runs 4 pods (a DaemonSet pod and 3 jobs too big to move) and receives the 2 pods of
    "other", which is drained; "big" is then replaced by a smaller type sized for all 6."""
    nodes = [node("big", "m5.4xlarge"), node("other", "m5.xlarge")]
    pods = [daemon("ds-big", "big"), daemon("ds-other", "other")]
    pods += [pod(f"job-{i}", "big", 1.0, 4) for i in range(1, 4)]
    pods += [pod("other-1", "other", 1.75, 6), pod("other-2", "other", 1.75, 6)]
    return cluster(nodes, pods)


def _scan_snapshot(snapshot: Snapshot) -> ScanResult:
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=BinPackSettings())
    return BinPackEngine().scan(snapshot, ctx)


def every_recommendation() -> list[Recommendation]:
    recs = scan(filled_cluster()).recommendations
    recs += _scan_snapshot(mixed_snapshot()).recommendations
    recs += _scan_snapshot(wasteful_snapshot()).recommendations
    return recs


def _pair(result: ScanResult) -> tuple[Recommendation, Recommendation]:
    by_target = {r.target: r for r in result.recommendations}
    return by_target["node/other"], by_target["node/big"]


def test_a_node_that_runs_4_pods_and_receives_2_moved_pods_shows_4_before_and_6_after() -> None:
    _drain, rec = _pair(scan(filled_cluster()))
    assert isinstance(rec.action, ReplaceNodeType)
    before, after = rec.evidence["before"], rec.evidence["after"]
    assert (before["pods"], after["pods"]) == (4, 6)
    assert (before["workload_pods"], after["workload_pods"]) == (3, 5)
    assert before["daemonset_pods"] == after["daemonset_pods"] == 1
    assert rec.evidence["received_pods"] == 2 and rec.evidence["received_from"] == ["other"]
    # Before is the snapshot alone: 0.1 CPU of DaemonSet and 3 jobs of 1 CPU, on the m5.4xlarge.
    assert before["requested_cpu_cores"] == 3.1 and before["instance_type"] == "m5.4xlarge"
    assert before["allocatable_estimated"] is False and before["removed"] is False
    assert before["cost_monthly_usd"] == str(rec.current_monthly_cost)
    # After adds the 2 pods of 1.75 CPU moved in by the drain, on the new type at its new price.
    assert after["requested_cpu_cores"] == 6.6 and after["instance_type"] == rec.action.to_type
    assert after["capacity_type"] == rec.action.capacity_type
    assert after["allocatable_estimated"] is True and after["removed"] is False
    assert after["cost_monthly_usd"] == str(rec.projected_monthly_cost)
    assert after["requested_cpu_percent"] == round(100 * 6.6 / after["allocatable_cpu_cores"], 1)
    assert rec.evidence["savings_monthly_usd"] == str(rec.monthly_savings)


def test_the_drain_onto_that_node_projects_its_6_pods_on_the_destination() -> None:
    drain, rec = _pair(scan(filled_cluster()))
    [landing] = drain.evidence["after"]["destination_nodes"]
    assert landing["node"] == "big" and landing["moved_pods"] == 2
    assert landing["pods"] == rec.evidence["after"]["pods"] == 6
    # Projected on big's current type (15.89 allocatable cores), before any replacement.
    assert landing["requested_cpu_percent"] == round(100 * 6.6 / rec.evidence["before"]["allocatable_cpu_cores"], 1)


def test_a_drained_node_shows_its_pods_before_and_zero_pods_after_once_removed() -> None:
    drain, _rec = _pair(scan(filled_cluster()))
    assert isinstance(drain.action, DrainAndRemoveNode)
    before, after = drain.evidence["before"], drain.evidence["after"]
    assert before["removed"] is False and (before["pods"], before["workload_pods"]) == (3, 2)
    assert before["cost_monthly_usd"] == str(drain.current_monthly_cost) == "140.16"
    assert after["removed"] is True
    assert after["pods"] == after["workload_pods"] == after["daemonset_pods"] == 0
    assert after["cost_monthly_usd"] == "0.00" and after["requested_cpu_cores"] == 0
    # A removed node has no type and no utilisation: a share of nothing is not 0 %.
    assert "instance_type" not in after and "requested_cpu_percent" not in after
    moved = drain.evidence["moved_pods"]
    assert moved == before["workload_pods"] == len(drain.action.moves) == 2
    assert moved == sum(d["moved_pods"] for d in after["destination_nodes"])
    assert drain.evidence["destinations"] == ["big"]


def test_before_and_after_use_the_same_key_for_the_same_quantity() -> None:
    for rec in every_recommendation():
        before, after = set(rec.evidence["before"]), set(rec.evidence["after"])
        if isinstance(rec.action, ReplaceNodeType):
            assert before == after, rec.target
        else:
            assert after - before == {"destination_nodes"}, rec.target
            assert before - after == {
                "instance_type",
                "capacity_type",
                "allocatable_estimated",
                "requested_cpu_percent",
                "requested_memory_percent",
            }


def _numbers(evidence: dict[str, Any], where: str = "") -> Iterator[tuple[str, object]]:
    for key, value in evidence.items():
        if isinstance(value, dict):
            yield from _numbers(value, f"{where}{key}.")
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    yield from _numbers(item, f"{where}{key}[].")
        else:
            yield f"{where}{key}", value


def test_every_number_in_the_evidence_names_its_unit() -> None:
    for rec in every_recommendation():
        for path, value in _numbers(rec.evidence):
            key = path.rsplit(".", 1)[-1]
            if isinstance(value, int | float) and not isinstance(value, bool):
                assert key == "pods" or key.endswith(UNITS) or key in UNITLESS, path
            if "usd" in key:
                assert key.endswith(MONEY) and isinstance(value, str), path
                Decimal(value)


def _plain(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return type(value) in (str, int, float, bool)


def test_evidence_is_plain_json_all_the_way_down() -> None:
    for rec in every_recommendation():
        assert _plain(rec.evidence), rec.target
        assert json.loads(json.dumps(rec.evidence)) == rec.evidence


_DRAIN = re.compile(r"runs (\d+) pods? using ([\d.]+)% of its CPU and ([\d.]+)% of its memory")
_EMPTY = re.compile(r"runs no workload pods, only (\d+) DaemonSet")
_FILLED = re.compile(r"runs (\d+) pods? now and will run (\d+) \((\d+) moved in by this plan\) needing ([\d.]+) CPU")
_KEPT = re.compile(r"runs (\d+) pods? needing ([\d.]+) CPU")
_PRICES = re.compile(r"for \$([\d,.]+)/month instead of \$([\d,.]+)")


def test_the_rationale_states_the_same_pod_counts_and_numbers_as_the_evidence() -> None:
    recs = every_recommendation()
    assert {type(r.action) for r in recs} == {DrainAndRemoveNode, ReplaceNodeType}
    assert any(_FILLED.search(r.rationale) for r in recs) and any(_EMPTY.search(r.rationale) for r in recs)
    for rec in recs:
        _rationale_matches_evidence(rec)


def _rationale_matches_evidence(rec: Recommendation) -> None:
    ev, before, after = rec.evidence, rec.evidence["before"], rec.evidence["after"]
    if isinstance(rec.action, DrainAndRemoveNode):
        if empty := _EMPTY.search(rec.rationale):
            assert int(empty[1]) == before["daemonset_pods"] and before["workload_pods"] == 0
            return
        drain = _DRAIN.search(rec.rationale)
        assert drain, rec.rationale
        assert int(drain[1]) == before["workload_pods"] == ev["moved_pods"]
        assert float(drain[2]) == before["requested_cpu_percent"]
        assert float(drain[3]) == before["requested_memory_percent"]
        return
    if filled := _FILLED.search(rec.rationale):
        assert int(filled[1]) == before["workload_pods"]
        assert int(filled[2]) == after["workload_pods"] == ev["moved_pods"]
        assert int(filled[3]) == ev["received_pods"] > 0
        cpu = filled[4]
    else:
        kept = _KEPT.search(rec.rationale)
        assert kept, rec.rationale
        assert int(kept[1]) == before["workload_pods"] == after["workload_pods"]
        assert ev["received_pods"] == 0
        cpu = kept[2]
    assert cpu == f"{after['requested_cpu_cores']:.2f}"
    prices = _PRICES.search(rec.rationale)
    assert prices, rec.rationale
    assert Decimal(prices[1].replace(",", "")) == Decimal(after["cost_monthly_usd"])
    assert Decimal(prices[2].replace(",", "")) == Decimal(before["cost_monthly_usd"])
