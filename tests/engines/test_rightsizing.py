"""The rightsizing engine on small plain-data clusters: pooling, policies, HPA, bad data, pricing."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from engines.actions import SetRequestsLimits
from engines.contract import Recommendation, ScanResult
from engines.rightsizing import Policy, RightsizingSettings
from engines.snapshot import Autoscaler
from executor.k8s_resources import desired_resources, spec_values
from tests.engines.test_rightsizing_helpers import (
    DAY,
    MIB,
    container,
    daily,
    node,
    pod,
    run,
    series,
    skip_reason,
    snapshot,
    steady,
    target,
    usage,
    workload,
)


def act(rec: Recommendation) -> SetRequestsLimits:
    assert isinstance(rec.action, SetRequestsLimits)
    return rec.action


def only(result: ScanResult) -> Recommendation:
    assert len(result.recommendations) == 1, (result.recommendations, result.skipped)
    return result.recommendations[0]


def web(days: float = 14, cpu: float = 0.2, mem_mib: float = 600, **pod_extra: object) -> ScanResult:
    c, m = steady(cpu, mem_mib, days)
    pods = [pod("web-1", "web", **pod_extra), pod("web-2", "web", node_name="node-b", **pod_extra)]  # type: ignore[arg-type]
    return run(snapshot(pods, [usage("web-1", c, m), usage("web-2", c, m)]))


def test_an_over_requested_deployment_gets_smaller_requests_priced_as_a_saving() -> None:
    rec = only(web())
    assert act(rec).kind == "set-requests-limits"
    assert act(rec).workload_kind == "Deployment" and act(rec).workload_name == "web"
    assert act(rec).cpu_request == 0.24  # p95 of a 0.2-0.24 daily cycle, to 1m
    assert act(rec).memory_request == 759 * MIB  # 660 MiB peak + 15 %, to 1 MiB
    assert act(rec).memory_limit == act(rec).memory_request
    assert rec.purpose == "saving" and rec.monthly_savings > 0
    assert rec.evidence["replicas"] == 2


def test_the_requests_value_is_replicas_times_requests_at_the_node_rates_shown() -> None:
    rec = only(web())
    rates = rec.evidence["rates"]
    per_core, per_gib = Decimal(rates["per_core_hour_usd"]), Decimal(rates["per_gib_hour_usd"])
    want = (per_core * 1 + per_gib * 2) * 730 * 2  # current: 1 core, 2 GiB, two pods
    assert abs(rec.current_monthly_cost - want) < Decimal("0.05")
    # The split keeps the node's whole price: allocatable cores and GiB at the rates sum to it.
    node_month = per_core * Decimal("3.92") + per_gib * 14
    assert abs(node_month - Decimal("0.192")) < Decimal("0.0001")  # m5.xlarge us-east-1 on-demand


def test_the_node_level_saving_comes_from_bin_packing_and_is_the_same_for_every_rec() -> None:
    c, m = steady()
    pods = [pod("web-1", "web"), pod("api-1", "api", node_name="node-b")]
    result = run(snapshot(pods, [usage("web-1", c, m), usage("api-1", c, m)]))
    assert len(result.recommendations) == 2
    levels = {r.evidence["node_level_monthly_saving"] for r in result.recommendations}
    assert len(levels) == 1
    level = result.recommendations[0].evidence["node_level"]
    assert Decimal(level["binpack_saving_after"]) - Decimal(level["binpack_saving_before"]) == Decimal(levels.pop())
    assert "node-level saving" in result.recommendations[0].rationale.lower()


def test_samples_of_all_pods_of_an_owner_are_pooled_per_container_name() -> None:
    quiet, _ = steady(0.1)
    busy, m = steady(0.4)
    pods = [pod("web-1", "web"), pod("web-2", "web")]
    rec = only(run(snapshot(pods, [usage("web-1", quiet, m), usage("web-2", busy, m)])))
    assert rec.evidence["history"]["pods"] == 2 and rec.evidence["history"]["cpu_samples"] == 2 * 14 * DAY
    assert 0.4 < (act(rec).cpu_request or 0) <= 0.48  # the busy pod's p90s, not the quiet one's


def test_the_risk_curve_on_one_to_a_hundred_is_hand_checkable() -> None:
    # 100 samples of 0.01..1.00 cores and 10..1000 MiB (memory above the floor from 250 MiB up).
    cpu = [i / 100 for i in range(1, 101)]
    mem = [i * 10 * MIB for i in range(1, 101)]
    tiny = Policy(history_days=1, memory_recent_days=1, min_history_days=0.3, memory_buffer=0.0)
    settings = RightsizingSettings(namespace_policies={"shop": tiny})
    rec = only(run(snapshot([pod("web-1", "web")], [usage("web-1", cpu, mem)]), settings))
    curve = rec.evidence["risk_curve"]["cpu"]
    assert [(p["label"], p["value"], p["exceed_share"]) for p in curve["points"]] == [
        ("p50", 0.505, 0.5), ("p90", 0.901, 0.1), ("p95", 0.9505, 0.05), ("p99", 0.9901, 0.01), ("max", 1.0, 0.0)]
    assert curve["chosen"]["label"] == "p95" and curve["chosen"]["value"] == 0.951  # rounded up to 1m
    assert curve["chosen"]["exceed_share"] == 0.05  # 0.96..1.00 are above 951m
    mem_curve = rec.evidence["risk_curve"]["memory"]
    assert mem_curve["chosen"]["label"] == "max" and mem_curve["chosen"]["value"] == 1000 * MIB
    assert mem_curve["points"][0]["value"] == 505 * MIB and mem_curve["points"][0]["exceed_share"] == 0.5


def test_an_hpa_on_cpu_keeps_the_cpu_request_and_sizes_memory() -> None:
    c, m = steady()
    hpa = Autoscaler(name="web", namespace="shop", target_kind="Deployment", target_name="web", resources=("cpu",))
    rec = only(run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)], hpas=[hpa])))
    assert act(rec).cpu_request == 1.0 and act(rec).memory_request == 759 * MIB
    assert rec.evidence["risk_curve"]["cpu"]["held"] is True
    assert "HorizontalPodAutoscaler scales on CPU" in rec.rationale


def test_an_hpa_on_cpu_skips_the_workload_when_the_setting_says_skip() -> None:
    c, m = steady()
    hpa = Autoscaler(name="web", namespace="shop", target_kind="Deployment", target_name="web", resources=("cpu",))
    result = run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)], hpas=[hpa]),
                 RightsizingSettings(hpa_same_resource="skip"))
    assert not result.recommendations
    assert "HorizontalPodAutoscaler scaling on cpu" in skip_reason(result, "workload/shop/Deployment/web")


def test_too_little_history_is_a_skip_with_the_hours_not_a_guess() -> None:
    result = web(days=1)
    assert not result.recommendations
    assert "only 24.0 hours of usage history, 3 days needed" in skip_reason(result, target("web"))


@pytest.mark.parametrize(("name", "cpu", "mem", "reason"), [
    ("empty", (), (), "has no usage history"),
    ("all-nan", (math.nan,) * (5 * DAY), (math.nan,) * (5 * DAY), "every usage sample is missing, negative or not a number"),
    ("all-none", (None,) * (5 * DAY), (None,) * (5 * DAY), "every usage sample is missing"),
    ("negative", (-0.5,) * (5 * DAY), (-1.0,) * (5 * DAY), "every usage sample is missing, negative"),
    ("gappy", tuple(0.2 if i % 3 == 0 else None for i in range(5 * DAY)),
     tuple(600.0 * MIB if i % 3 == 0 else None for i in range(5 * DAY)), "usage history is gappy: 33% of 5-minute slots"),
])
def test_bad_series_are_skipped_with_a_clear_reason(name: str, cpu: tuple[float | None, ...],
                                                    mem: tuple[float | None, ...], reason: str) -> None:
    use = [] if name == "empty" else [usage("web-1", cpu, mem)]
    other_c, other_m = steady()
    result = run(snapshot([pod("web-1", "web"), pod("api-1", "api")], [*use, usage("api-1", other_c, other_m)]))
    assert reason in skip_reason(result, target("web"))
    assert [r.target for r in result.recommendations] == [target("api")]


def test_negative_samples_from_counter_resets_are_dropped_not_sized() -> None:
    c, m = steady()
    broken = tuple(-3.0 if i % 50 == 0 else v for i, v in enumerate(c))
    rec = only(run(snapshot([pod("web-1", "web")], [usage("web-1", broken, m)])))
    assert act(rec).cpu_request == 0.24


def test_confidence_is_lower_with_less_history() -> None:
    full = only(web(days=14)).confidence
    short = only(web(days=4)).confidence
    assert full == 1.0
    assert 0.4 < short < full


def test_annotations_override_the_percentile_and_buffer() -> None:
    c, m = steady()
    spec = workload("web", annotations={"cloudoptim.io/rightsizing-cpu-percentile": "50",
                                        "cloudoptim.io/rightsizing-memory-buffer": "30%"})
    rec = only(run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)], workloads=[spec])))
    assert act(rec).cpu_request == 0.22  # the cycle's median
    assert act(rec).memory_request == math.ceil(660 * 1.3) * MIB
    assert "annotations" in rec.evidence["policy"]["source"]


@pytest.mark.parametrize(("annotation", "value"), [
    ("cloudoptim.io/rightsizing-cpu-percentile", "p999"), ("cloudoptim.io/rightsizing-memory-buffer", "lots"),
    ("cloudoptim.io/rightsizing-cpu-percentile", "nan"), ("cloudoptim.io/rightsizing", "maybe"),
])
def test_a_bad_annotation_value_is_a_skip_naming_the_annotation_and_value(annotation: str, value: str) -> None:
    c, m = steady()
    spec = workload("web", annotations={annotation: value})
    result = run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)], workloads=[spec]))
    assert not result.recommendations
    assert f"{annotation}={value!r}" in skip_reason(result, "workload/shop/Deployment/web")


def test_an_opted_out_workload_is_skipped() -> None:
    c, m = steady()
    spec = workload("web", annotations={"cloudoptim.io/rightsizing": "off"})
    result = run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)], workloads=[spec]))
    assert "opted out" in skip_reason(result, "workload/shop/Deployment/web")


def test_a_namespace_policy_replaces_the_default() -> None:
    c, m = steady()
    settings = RightsizingSettings(namespace_policies={"shop": Policy(cpu_percentile=50, cpu_buffer=0.5)})
    rec = only(run(snapshot([pod("web-1", "web")], [usage("web-1", c, m)]), settings))
    assert act(rec).cpu_request == 0.33  # 0.22 * 1.5
    assert rec.evidence["policy"]["source"] == "namespace shop policy"


def test_the_cpu_limit_keeps_its_ratio_to_the_request() -> None:
    c, m = steady()
    spec = container(cpu=1.0, cpu_limit=2.0, mem_mib=2048, mem_limit_mib=4096)
    rec = only(run(snapshot([pod("web-1", "web", spec)], [usage("web-1", c, m)])))
    assert act(rec).cpu_limit == 0.48
    assert act(rec).memory_limit == act(rec).memory_request


def test_an_oom_killed_container_does_not_get_less_memory() -> None:
    c, m = steady()
    spec = container(mem_mib=1024, mem_limit_mib=1024, restart_count=3, last_termination_reason="OOMKilled")
    rec = only(run(snapshot([pod("web-1", "web", spec)], [usage("web-1", c, m)])))
    assert act(rec).memory_request == 1024 * MIB
    assert rec.risk == "high" and rec.confidence < 0.7
    assert "OOM-killed" in rec.rationale


def test_an_under_requested_container_gets_a_raise_marked_reliability() -> None:
    rec = only(web(cpu=2.0, mem_mib=3000))
    assert rec.purpose == "reliability" and rec.monthly_savings < 0
    assert 2.3 < (act(rec).cpu_request or 0) <= 2.4


def test_a_container_already_near_its_size_is_skipped_as_right_sized() -> None:
    c, m = steady()
    spec = container(cpu=0.24, mem_mib=759, cpu_limit=1.0)  # the limits differ from the policy's: no matter
    result = run(snapshot([pod("web-1", "web", spec)], [usage("web-1", c, m)]))
    assert "already right-sized" in skip_reason(result, target("web"))


def test_statefulsets_and_daemonsets_are_sized_at_the_owner_and_loose_pods_skipped() -> None:
    c, m = steady()
    pods = [pod("db-0", "db", kind="StatefulSet"), pod("agent-x", "agent", kind="DaemonSet"),
            pod("migrate-1", "migrate", kind="Job")]
    result = run(snapshot(pods, [usage("db-0", c, m), usage("agent-x", c, m), usage("migrate-1", c, m)]))
    assert sorted(r.target for r in result.recommendations) == [
        target("agent", kind="DaemonSet"), target("db", kind="StatefulSet")]
    assert "owned by a Job" in skip_reason(result, "pod/shop/migrate-1")


def test_the_action_values_are_what_the_executor_writes() -> None:
    rec = only(web())
    new = desired_resources({"requests": {"cpu": "1", "memory": "2Gi"}}, spec_values(rec.action))  # type: ignore[arg-type]
    assert new == {"requests": {"cpu": "240m", "memory": "759Mi"}, "limits": {"memory": "759Mi"}}


def test_a_snapshot_without_usage_or_prices_is_skipped_at_cluster_level() -> None:
    assert "no container usage history" in skip_reason(run(snapshot([pod("web-1", "web")], [])), "cluster/prod-east")
    c, m = steady()
    unpriced = snapshot([pod("web-1", "web")], [usage("web-1", c, m)], nodes=[node("node-a", "m5.nonsense")])
    assert "could be priced" in skip_reason(run(unpriced), "workload/shop/Deployment/web")


def test_history_older_than_the_window_is_ignored() -> None:
    old_peak = series(daily(0.2, 0.04), 14)
    spike = tuple(3.0 if i < DAY else v for i, v in enumerate(old_peak))  # a peak 13-14 days ago
    mem = series(lambda i: (4000.0 if i < DAY else 600.0) * MIB, 14)
    rec = only(run(snapshot([pod("web-1", "web")], [usage("web-1", spike, mem)])))
    assert act(rec).memory_request == math.ceil(600 * 1.15) * MIB  # 7-day window
    assert rec.evidence["risk_curve"]["memory"]["chosen"]["exceed_share"] > 0  # ... and the curve shows the old peak
    assert rec.risk == "high"


def test_the_floor_never_raises_a_request_already_below_it_when_usage_is_lower_still() -> None:
    c, m = steady(0.2, 40)  # 40-44 MiB of memory, under the 100 MiB floor and the 64 MiB request
    spec = container(cpu=1.0, mem_mib=64, mem_limit_mib=64)
    rec = only(run(snapshot([pod("web-1", "web", spec)], [usage("web-1", c, m)])))
    assert act(rec).memory_request == 64 * MIB and act(rec).cpu_request == 0.24
    unset = only(run(snapshot([pod("web-1", "web", container(cpu=1.0, mem_mib=None))], [usage("web-1", c, m)])))
    assert act(unset).memory_request == 100 * MIB  # with no request to keep, the 100 MiB floor applies
