"""The office-hours engine's decisions: which namespaces get a schedule, the office hours found
(in local time, across a DST change), the idle test, the saving worked out by hand, HPA and CronJob
handling, and every reason for not scheduling."""

from __future__ import annotations

import re
from decimal import Decimal

from engines.actions import ScheduleScale
from engines.contract import Recommendation
from engines.money import quantize
from engines.office_hours import OfficeHoursSettings
from engines.snapshot import Autoscaler, Namespace
from tests.engines.test_office_hours_golden import BERLIN_NOW, berlin, estate
from tests.engines.test_office_hours_helpers import (
    Shape,
    node,
    one_namespace,
    pod,
    run,
    skip_reason,
    snapshot,
    usage,
    workload,
)

# The syntax the engine must emit: "<days> HH:MM-HH:MM <IANA tz>" periods, comma-separated.
UPTIME = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))? \d\d:\d\d-\d\d:\d\d [A-Za-z_/+-]+"
                    r"(, (Mon|Tue|Wed|Thu|Fri|Sat|Sun)(-(Mon|Tue|Wed|Thu|Fri|Sat|Sun))? \d\d:\d\d-\d\d:\d\d [A-Za-z_/+-]+)*$")


def only(recs: list[Recommendation], name: str) -> Recommendation:
    found = [r for r in recs if isinstance(r.action, ScheduleScale) and r.action.workload_name == name]
    assert len(found) == 1, [r.target for r in recs]
    return found[0]


def action(rec: Recommendation) -> ScheduleScale:
    assert isinstance(rec.action, ScheduleScale)
    return rec.action


def test_an_idle_dev_namespace_gets_a_schedule_with_office_hours_found_in_its_history() -> None:
    rec = only(run(one_namespace("team-dev", Shape(0.4, 0.005))).recommendations, "web")
    spec = action(rec)
    # Active 09:00-17:00 on weekdays, padded by one hour on each side.
    assert spec.uptime == "Mon-Fri 08:00-18:00 UTC" and UPTIME.match(spec.uptime)
    assert (spec.scale_down_cron, spec.scale_up_cron, spec.replicas_off, spec.timezone) == ("", "", 0, "UTC")
    assert rec.evidence["hours_off_per_week"] == 168 - 5 * 10
    assert rec.evidence["office_hours_source"] == "found in the history"
    assert rec.engine == "office-hours" and rec.target == "workload/team-dev/web"


def test_the_saving_is_replica_hours_off_times_requests_at_the_node_per_core_and_per_gib_price() -> None:
    rec = only(run(one_namespace("team-dev", Shape(0.4, 0.005))).recommendations, "web")
    # m5.xlarge us-east-1 on-demand $0.192/h, 4 vCPU, 16 GiB. OpenCost ratio: CPU weight 4 x 0.031611
    # = 0.126444, memory weight 16 x 0.004237 = 0.067792, so CPU gets 0.126444 / 0.194236 of the price.
    per_core = Decimal("0.192") * Decimal("0.126444") / Decimal("0.194236") / 4  # = $0.031247/vCPU-hour
    per_gib = Decimal("0.192") * Decimal("0.067792") / Decimal("0.194236") / 16  # = $0.004188/GiB-hour
    replica = Decimal("0.5") * per_core + 1 * per_gib  # 0.5 vCPU + 1 GiB = $0.019812/hour
    hours_off_per_month = Decimal(118) * 730 / 168  # 118 hours off a week; a month is 730 hours
    assert rec.monthly_savings == quantize(2 * replica * hours_off_per_month) == Decimal("20.32")
    assert rec.current_monthly_cost == quantize(2 * replica * 730) == Decimal("28.93")
    assert rec.evidence["replica_hours_saved_per_month"] == str(round(2 * hours_off_per_month, 2))
    assert "upper bound" in rec.rationale


def test_the_node_level_saving_is_what_bin_packing_gains_at_night_for_the_hours_off() -> None:
    rec = only(run(one_namespace("team-dev", Shape(0.4, 0.005))).recommendations, "web")
    day, night = Decimal(rec.evidence["binpack_monthly_saving_now"]), Decimal(rec.evidence["binpack_monthly_saving_with_scheduled_pods_gone"])
    # With both pods gone the only node is empty and bin packing removes it ($0.192 x 730 = $140.16).
    assert night == Decimal("140.16") and night > day
    node_level = Decimal(rec.evidence["node_level_saving_when_whole_nodes_can_go_at_night"])
    assert node_level == quantize((night - day) * 118 / 168)
    assert f"${node_level}/month" in rec.rationale


def test_an_hpa_managed_deployment_gets_its_minimum_lowered_to_one_and_only_the_replicas_above_one_priced() -> None:
    result = run(estate())
    api, web = only(result.recommendations, "api"), only(result.recommendations, "web")
    assert action(api).replicas_off == 1
    assert api.evidence["hpa_min_replicas_off"] == 1 and api.evidence["hpa_min_replicas"] == 3
    # api replicas request 0.25 vCPU + 0.5 GiB, half of a web replica; HPA minimum 3 -> 2 replicas saved,
    # so the saving equals one web replica's: web saves 2 replicas of twice the price.
    assert api.monthly_savings == quantize(web.monthly_savings / 2)
    assert "minReplicas from 3 to 1" in api.rationale


def test_an_hpa_whose_minimum_is_already_one_is_skipped_as_saving_nothing() -> None:
    snap = one_namespace("team-dev", Shape(0.4, 0.005))
    assert snap.cluster is not None
    hpa = Autoscaler(name="web", namespace="team-dev", target_kind="Deployment", target_name="web", min_replicas=1, max_replicas=4)
    snap = snap.model_copy(update={"cluster": snap.cluster.model_copy(update={"hpas": (hpa,)})})
    result = run(snap)
    assert result.recommendations == []
    assert "minimum is already 1" in skip_reason(result, "workload/team-dev/web")


def test_a_cronjob_is_suspended_and_priced_by_the_pod_hours_its_jobs_ran_off_hours() -> None:
    rec = only(run(estate()).recommendations, "report")
    assert action(rec).workload_kind == "CronJob" and action(rec).replicas_off == 0
    # One one-hour job pod at 02:00 UTC every day: 7 pod-hours a week, all off hours, on m5.xlarge
    # nodes with 0.5 vCPU + 1 GiB requested ($0.019812/hour as above).
    assert rec.evidence["job_pod_hours_per_week_off_hours"] == 7.0
    assert rec.monthly_savings == Decimal("0.60") == rec.current_monthly_cost  # 7 x 730 / 168 x 0.019812


def test_a_namespace_busy_at_night_is_skipped_naming_the_hours_it_is_busy() -> None:
    result = run(estate())
    reason = skip_reason(result, "namespace/batch-dev")
    assert "busy at night" in reason and "Mon-Sun 01:00-04:00" in reason
    assert not [r for r in result.recommendations if action(r).namespace == "batch-dev"]


def test_a_namespace_busy_at_weekends_is_skipped_naming_the_days() -> None:
    shape = Shape(0.4, 0.005, extra=tuple((day, hour, 0.4) for day in (5, 6) for hour in range(10, 14)))
    reason = skip_reason(run(one_namespace("team-dev", shape)), "namespace/team-dev")
    assert "outside the office days" in reason and "Sat-Sun 10:00-14:00" in reason


def test_a_namespace_somewhat_busy_at_night_fails_the_idle_test_and_names_the_hours() -> None:
    # Two pods at 0.4 cores each by day (in-hours median 0.8): 0.075 each at night is below the
    # activity threshold (25 % of 0.8) but at 0.15 cores not below 10 % of the 1.0 requested cores.
    reason = skip_reason(run(one_namespace("team-dev", Shape(0.4, 0.075))), "namespace/team-dev")
    assert "busy outside office hours (Mon-Fri 08:00-18:00 UTC)" in reason
    assert "idle limit 0.100 cores" in reason and "Mon-Fri 00:00-08:00" in reason


def test_a_namespace_idle_all_week_is_not_scheduled() -> None:
    reason = skip_reason(run(one_namespace("team-dev", Shape(0.0, 0.0))), "namespace/team-dev")
    assert "idle all week" in reason


def test_office_hours_are_found_in_local_time_across_a_dst_change() -> None:
    rec = only(run(berlin(), now=BERLIN_NOW).recommendations, "web")
    assert action(rec).uptime == "Mon-Fri 08:00-18:00 Europe/Berlin" and action(rec).timezone == "Europe/Berlin"
    # Read in UTC, the same 09:00-17:00 Berlin days run 07:00-15:00 before the change and 08:00-16:00 after.
    snap = berlin()
    assert snap.cluster is not None
    plain = snap.model_copy(update={"cluster": snap.cluster.model_copy(update={"namespaces": (Namespace(name="web-dev"),)})})
    utc = only(run(plain, now=BERLIN_NOW).recommendations, "web")
    assert action(utc).uptime == "Mon-Fri 06:00-17:00 UTC"


def test_the_default_window_and_the_holidays_country_come_from_settings() -> None:
    settings = OfficeHoursSettings(find_office_hours=False, default_office_hours="Mon-Fri 07:00-20:00", holidays_country="DE-BY")
    spec = action(only(run(one_namespace("team-dev", Shape(0.4, 0.005)), settings).recommendations, "web"))
    assert spec.uptime == "Mon-Fri 07:00-20:00 UTC" and spec.holidays == "DE-BY"


def test_a_production_label_wins_over_a_non_production_name() -> None:
    result = run(one_namespace("shop-dev", Shape(0.4, 0.005), labels={"environment": "Production"}))
    assert result.recommendations == [] and "is production" in skip_reason(result, "namespace/shop-dev")


def test_system_and_product_namespaces_are_never_scheduled_whatever_their_labels() -> None:
    for name in ("kube-system", "kube-public", "kube-node-lease", "cloudoptim"):
        result = run(one_namespace(name, Shape(0.4, 0.005)))
        assert result.recommendations == [] and "protected" in skip_reason(result, f"namespace/{name}")


def test_a_namespace_without_a_non_production_mark_is_left_alone() -> None:
    result = run(one_namespace("payments", Shape(0.4, 0.005), labels={"team": "pay"}))
    assert "not marked non-production" in skip_reason(result, "namespace/payments")
    assert run(one_namespace("staging-payments", Shape(0.4, 0.005), labels={"team": "pay"})).recommendations


def test_opted_out_namespaces_and_workloads_are_skipped() -> None:
    result = run(one_namespace("team-dev", Shape(0.4, 0.005), annotations={"cloudoptim.io/opt-out": "true"}))
    assert "opted out" in skip_reason(result, "namespace/team-dev")
    snap = one_namespace("team-dev", Shape(0.4, 0.005))
    assert snap.cluster is not None
    wl = snap.cluster.workloads[0].model_copy(update={"annotations": {"cloudoptim.io/opt-out": "yes"}})
    result = run(snap.model_copy(update={"cluster": snap.cluster.model_copy(update={"workloads": (wl,)})}))
    assert result.recommendations == [] and "opted out" in skip_reason(result, "workload/team-dev/web")


def test_already_scheduled_and_excluded_workloads_are_skipped() -> None:
    result = run(estate())
    assert "already scheduled" in skip_reason(result, "workload/shop-staging/legacy")
    assert "excluded with label cloudoptim.io/exclude=true" in skip_reason(result, "workload/shop-staging/debug")


def test_an_unknown_timezone_annotation_skips_the_namespace_with_the_reason() -> None:
    result = run(one_namespace("team-dev", Shape(0.4, 0.005), annotations={"cloudoptim.io/timezone": "Europe/Atlantis"}))
    assert result.recommendations == []
    assert "'Europe/Atlantis' is not an IANA timezone" in skip_reason(result, "namespace/team-dev")


def test_too_little_history_is_skipped_with_the_number_of_days() -> None:
    reason = skip_reason(run(estate()), "namespace/qa-tools")
    assert "only 3.0 days of usage history; at least 7" in reason


def test_a_workload_on_a_node_the_price_book_does_not_know_is_skipped_not_guessed() -> None:
    snap = one_namespace("team-dev", Shape(0.4, 0.005))
    assert snap.cluster is not None
    odd = node("n1", itype="m5.imaginary")
    result = run(snap.model_copy(update={"cluster": snap.cluster.model_copy(update={"nodes": (odd,)})}))
    assert result.recommendations == []
    assert "cannot be priced from the price book" in skip_reason(result, "workload/team-dev/web")


def test_a_pod_without_usage_series_makes_the_namespace_coverage_fall_short() -> None:
    # Only one of two pods has usage from the first week on: a missing pod must not look idle.
    ns, shape = "team-dev", Shape(0.4, 0.005)
    series = (usage(ns, "web-1", shape, owner="web"), usage(ns, "web-2", shape, owner="web", days=7))
    pods = (pod(ns, "web-1", "Deployment", "web", "n1"), pod(ns, "web-2", "Deployment", "web", "n1"))
    snap = snapshot(nodes=(node("n1"),), pods=pods, workloads=(workload("Deployment", ns, "web", 2),),
                    namespaces=(Namespace(name=ns, labels={"env": "dev"}),), series=series)  # fmt: skip
    # web-2 starts halfway: its series spans only its own life, so the history stays fully measured.
    assert run(snap).recommendations
    holes = series[1].model_copy(update={"cpu_cores": series[1].cpu_cores[:10] + (None,) * 1500 + series[1].cpu_cores[1510:]})
    result = run(snap.model_copy(update={"usage": (series[0], holes)}))
    assert "usage history has gaps" in skip_reason(result, f"namespace/{ns}")


def test_the_environment_may_come_from_the_products_namespace_annotation() -> None:
    # The sandbox marks its staging namespaces this way (annotation cloudoptim.io/environment: staging).
    snap = one_namespace("teastore", Shape(0.4, 0.005), labels={"team": "qa"},
                         annotations={"cloudoptim.io/environment": "staging"})  # fmt: skip
    rec = only(run(snap).recommendations, "web")
    assert rec.evidence["non_production_because"] == "annotation cloudoptim.io/environment=staging"
    prod = one_namespace("teastore", Shape(0.4, 0.005), labels={"team": "qa"},
                         annotations={"cloudoptim.io/environment": "prod"})  # fmt: skip
    assert "is production" in skip_reason(run(prod), "namespace/teastore")
