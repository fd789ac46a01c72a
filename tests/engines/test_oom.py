"""The OOMKilled remediation engine on one case at a time: each triage class on a series shaped
like it, the sizing formula and caps, the request rule, the cost sign, and what the executor writes."""

from __future__ import annotations

from datetime import timedelta

from engines.actions import SetRequestsLimits
from engines.contract import Recommendation, ScanResult
from engines.oom import OomRemediationEngine
from engines.snapshot import Container, KubeEvent, TerminationRecord
from executor.k8s_resources import desired_resources, resource_problems, spec_values
from tests.engines.test_oom_helpers import (
    MIB,
    NOW,
    growth,
    node,
    one,
    owner,
    reasons,
    scan,
    snapshot,
    spike,
    steady,
    usage,
)

TARGET = "workload/shop/Deployment/web/app"


def only(result: ScanResult) -> Recommendation:
    recs = result.recommendations
    assert len(recs) == 1, result.skipped
    rec: Recommendation = recs[0]
    assert isinstance(rec.action, SetRequestsLimits)
    return rec


def limit_mib(rec: Recommendation) -> float:
    assert isinstance(rec.action, SetRequestsLimits) and rec.action.memory_limit is not None
    return rec.action.memory_limit / MIB


def test_steady_peaks_at_the_limit_get_the_vpa_bump_and_a_higher_request() -> None:
    rec = only(scan(one("web", steady)))
    assert rec.evidence["triage"]["class"] == "limit-too-low"
    # max(512 + 100, 512 x 1.2 = 614.4) rounded up to whole MiB.
    assert limit_mib(rec) == 615
    assert isinstance(rec.action, SetRequestsLimits) and rec.action.memory_request is not None
    assert 480 * MIB <= rec.action.memory_request <= rec.action.memory_limit  # type: ignore[operator]
    assert (rec.risk, rec.target, rec.cluster) == ("low", TARGET, "prod-east")
    assert rec.evidence["sizing"]["formula"] == "max(max(limit, peak) + 100 MiB, max(limit, peak) x 1.2)"


def test_a_spike_gets_the_larger_spike_factor_and_keeps_its_request() -> None:
    rec = only(scan(one("web", spike)))
    assert rec.evidence["triage"]["class"] == "spike"
    assert limit_mib(rec) == 768  # 512 x 1.5
    assert isinstance(rec.action, SetRequestsLimits) and rec.action.memory_request == 256 * MIB
    assert rec.risk == "medium"


def test_steady_growth_is_called_a_leak_and_gets_no_raise_by_default() -> None:
    result = scan(one("web", growth))
    assert result.recommendations == []
    reason = reasons(result)[TARGET]
    assert "likely memory leak" in reason and "MiB/hour" in reason and "fix the leak" in reason


def test_a_leak_gets_a_high_risk_raise_with_its_evidence_when_turned_on() -> None:
    rec = only(scan(one("web", growth), recommend_for_leaks=True))
    assert (rec.risk, rec.evidence["triage"]["class"]) == ("high", "leak")
    assert rec.evidence["triage"]["growing_stretches"] and rec.confidence <= 0.3
    assert "leak" in rec.rationale


def test_a_crash_loop_with_no_usage_still_gets_a_limit_from_the_limit_and_restarts() -> None:
    rec = only(scan(one("web", None, restarts=20)))
    assert rec.evidence["triage"]["class"] == "crash-loop"
    assert limit_mib(rec) == 1024  # 512 x crash_loop_factor 2
    assert rec.evidence["restarts"] == 20


def test_a_single_kill_with_no_usage_is_bumped_from_the_limit_not_doubled() -> None:
    rec = only(scan(one("web", None, restarts=1)))
    assert rec.evidence["triage"]["class"] == "no-usage"
    assert limit_mib(rec) == 615


def test_a_node_pressure_eviction_is_not_answered_with_a_bigger_limit() -> None:
    wl, pods = owner("web", oom=False)
    evicted = KubeEvent(namespace="shop", involved_kind="Pod", involved_name=pods[0].name, reason="Evicted",
                        message="The node was low on resource: memory.", last_seen=NOW - timedelta(hours=1))
    result = scan(snapshot(pods, [wl], events=(evicted,)))
    assert result.recommendations == []
    reason = reasons(result)[TARGET]
    assert "node memory pressure" in reason and "not this container's limit" in reason


def test_an_eviction_remembered_in_the_history_for_a_gone_pod_is_node_pressure_too() -> None:
    wl, pods = owner("web", oom=False)
    gone = TerminationRecord(namespace="shop", pod="web-7d9f8b6c4-old1z", container="app", reason="Evicted",
                             occurred_at=NOW - timedelta(days=2), owner_kind="Deployment", owner_name="web")
    result = scan(snapshot(pods, [wl], terminations=(gone,)))
    assert "node memory pressure" in reasons(result)[TARGET]


def test_a_raise_costs_money_so_its_savings_are_negative_and_its_purpose_is_reliability() -> None:
    rec = only(scan(one("web", steady)))
    assert rec.purpose == "reliability"
    assert rec.projected_monthly_cost > rec.current_monthly_cost
    assert rec.monthly_savings < 0
    # m5.xlarge $0.192/h split 4 vCPU x 7.46 : 16 GiB -> $3.06 per GiB-month; 2 replicas x 0.5 GiB.
    assert str(rec.current_monthly_cost) == "3.06"
    assert rec.evidence["cost"]["replicas"][0]["usd_per_gib_month"] == "3.06"


def test_a_higher_cpu_to_ram_ratio_makes_memory_cheaper() -> None:
    default = only(scan(one("web", steady)))
    cheap = only(scan(one("web", steady), cpu_to_ram_cost_ratio=20.0))
    assert cheap.current_monthly_cost < default.current_monthly_cost


def test_the_raise_is_capped_by_the_increase_factor_and_marked() -> None:
    rec = only(scan(one("web", None, restarts=20), crash_loop_factor=8.0, max_increase_factor=3.0))
    assert limit_mib(rec) == 1536
    assert rec.evidence["sizing"]["capped_by"] == ["max_increase_factor"]
    assert rec.risk == "medium" and "capped by max_increase_factor" in rec.rationale


def test_a_limit_already_at_the_largest_node_gets_a_skip_not_a_smaller_limit() -> None:
    snap = one("web", None, restarts=20, limit_mib=15 * 1024)
    result = scan(snap)
    assert result.recommendations == []
    assert "leave no room above the current limit" in reasons(result)[TARGET]


def test_the_action_states_every_value_so_the_executor_keeps_cpu_and_writes_whole_mib() -> None:
    rec = only(scan(one("web", spike)))
    assert isinstance(rec.action, SetRequestsLimits)
    old = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    new = desired_resources(old, spec_values(rec.action))
    assert new == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "768Mi"}}
    assert resource_problems(spec_values(rec.action)) == []


def test_kills_from_the_history_and_kernel_events_are_counted_with_their_times() -> None:
    wl, pods = owner("web")
    earlier = [TerminationRecord(namespace="shop", pod=pods[1].name, container="app", reason="OOMKilled",
                                 exit_code=137, occurred_at=NOW - timedelta(days=d)) for d in (3, 6)]
    stale = TerminationRecord(namespace="shop", pod=pods[1].name, container="app", reason="OOMKilled",
                              occurred_at=NOW - timedelta(days=40))
    kernel = KubeEvent(namespace="shop", involved_kind="Pod", involved_name=pods[0].name, reason="OOMKilling",
                       count=2, last_seen=NOW - timedelta(hours=2))
    series = tuple(usage(p, steady(512)) for p in pods)
    rec = only(scan(snapshot(pods, [wl], series=series, terminations=(stale, *earlier), events=(kernel,))))
    assert rec.evidence["oom_kills"] == 3 and rec.evidence["kernel_oom_events"] == 2
    assert rec.evidence["last_oom_at"] == (NOW - timedelta(hours=2)).isoformat()
    assert len(rec.evidence["oom_kill_times"]) == 3
    assert rec.evidence["triage"]["daily_peaks_mib"][0]["peak_mib"] > 450


def test_an_old_kill_outside_the_window_is_ignored() -> None:
    result = scan(one("web", steady, last_oom=NOW - timedelta(days=30)))
    assert result.recommendations == [] and result.skipped == []


def test_min_oom_kills_holds_back_a_single_kill() -> None:
    result = scan(one("web", steady), min_oom_kills=2)
    assert "fewer than the 2 required" in reasons(result)[TARGET]


def test_statefulsets_and_daemonsets_are_recommended_at_their_owner() -> None:
    sts, sts_pods = owner("db", kind="StatefulSet", replicas=1)
    ds, ds_pods = owner("agent", kind="DaemonSet", replicas=2, ns="kube-system", container="agent")
    recs = scan(snapshot([*sts_pods, *ds_pods], [sts, ds])).recommendations
    assert sorted(r.target for r in recs) == ["workload/kube-system/DaemonSet/agent/agent",
                                              "workload/shop/StatefulSet/db/app"]


def test_a_pod_on_a_spot_node_is_priced_from_the_spot_price() -> None:
    spot = node().model_copy(update={"capacity_type": "spot"})
    wl, pods = owner("web")
    on_demand = only(scan(snapshot(pods, [wl])))
    on_spot = only(scan(snapshot(pods, [wl], nodes=[spot])))
    assert on_spot.current_monthly_cost < on_demand.current_monthly_cost


def test_the_engine_has_the_documented_name_and_title() -> None:
    assert (OomRemediationEngine.name, OomRemediationEngine.title) == ("oom-remediation", "OOMKilled remediation")


def test_a_kill_seen_as_a_status_and_as_a_stored_event_seconds_apart_counts_once() -> None:
    wl, pods = owner("web", last_oom=NOW - timedelta(hours=2))
    echo = TerminationRecord(namespace="shop", pod=pods[0].name, container="", reason="OOMKilling",
                             occurred_at=NOW - timedelta(hours=2) + timedelta(seconds=3))
    earlier = echo.model_copy(update={"occurred_at": NOW - timedelta(days=1)})
    rec = only(scan(snapshot(pods, [wl], terminations=(earlier, echo))))
    assert rec.evidence["oom_kills"] == 2


def test_an_event_of_a_two_container_pod_is_put_on_the_killed_container_only() -> None:
    wl, pods = owner("web")
    sidecar = Container(name="proxy", memory_limit=128 * MIB)
    pods = [p.model_copy(update={"containers": (*p.containers, sidecar)}) for p in pods]
    kernel = KubeEvent(namespace="shop", involved_kind="Pod", involved_name=pods[0].name, reason="OOMKilling",
                       count=4, last_seen=NOW - timedelta(hours=2))
    result = scan(snapshot(pods, [wl], events=(kernel,)))
    assert [r.target for r in result.recommendations] == [TARGET] and result.skipped == []
    assert result.recommendations[0].evidence["oom_kills"] == 4


def test_the_usage_of_every_replica_counts_even_without_workload_fields() -> None:
    wl, pods = owner("web")
    series = usage(pods[1], steady(512)).model_copy(update={"workload_kind": None, "workload_name": None})
    rec = only(scan(snapshot(pods, [wl], series=(series,))))
    assert rec.evidence["triage"]["class"] == "limit-too-low"
