"""The ghost-probe engine on plain data: gates, the idle window, stop before terminate, prices, confidence."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from engines.actions import StopInstance, TerminateInstance
from engines.ghost import GhostProbeEngine, GhostProbeSettings
from engines.snapshot_aws import DailyMetric, Snapshot, SourceError
from tests.engines.test_binpack_helpers import NOW
from tests.engines.test_ghost_helpers import days, instance, reasons, root, scan, snapshot


def test_the_engine_describes_itself_and_every_setting() -> None:
    assert GhostProbeEngine.name == "ghost-probe" and GhostProbeEngine.title
    assert (GhostProbeEngine.__doc__ or "").strip()
    assert all((f.description or "").strip() for f in GhostProbeSettings.model_fields.values())


def test_a_snapshot_without_an_account_or_instances_gives_nothing() -> None:
    assert scan(Snapshot(collected_at=NOW)).model_dump() == {"recommendations": [], "skipped": []}
    assert scan(snapshot([])).model_dump() == {"recommendations": [], "skipped": []}


def test_an_idle_running_instance_is_proposed_for_a_stop_that_keeps_only_its_storage_billing() -> None:
    result = scan(snapshot([instance("i-0idle", "m5.large")]))
    (rec,) = result.recommendations
    assert rec.action == StopInstance(instance_id="i-0idle") and rec.target == "instance/i-0idle"
    # m5.large us-east-1 is $0.096/h in the price book; its 30 GB gp2 root volume is $0.10/GB-month.
    assert rec.current_monthly_cost == Decimal("70.08") + Decimal("3.00")
    assert rec.projected_monthly_cost == Decimal("3.00") and rec.monthly_savings == Decimal("70.08")
    assert rec.risk == "low" and rec.confidence == 1.0
    assert rec.evidence["costs"]["on_demand_hourly_usd"] == "0.096"
    assert rec.evidence["window"]["low_days"] == 14 and "keep billing $3.00/month" in rec.rationale
    assert result.skipped == []


def test_a_busy_instance_is_skipped_as_in_use_with_its_peak_cpu() -> None:
    result = scan(snapshot([instance("i-0busy", daily=days(cpu=55.0))]))
    assert result.recommendations == []
    assert reasons(result)["instance/i-0busy"] == (
        "i-0busy is in use: only 0 of 14 measured days were low (at least 4 needed); peak CPU 110.0 %"
    )


def test_high_network_alone_makes_a_day_busy() -> None:
    result = scan(snapshot([instance("i-0net", daily=days(network_mb=50.0))]))
    assert "in use" in reasons(result)["instance/i-0net"]


def test_four_low_days_of_fourteen_pass_trusted_advisor_but_the_confidence_says_no() -> None:
    busy = tuple(range(4, 14))  # ten busy days, four quiet ones
    result = scan(snapshot([instance("i-0mostly", daily=days(busy=busy))]))
    assert result.recommendations == []
    reason = reasons(result)["instance/i-0mostly"]
    assert "idle on 4 of 14 days but the confidence 0.29 is below 0.4" in reason
    assert "idle_days_share 4 of 14 measured days low" in reason


def test_days_without_data_and_partial_days_are_not_counted_and_the_evidence_says_so() -> None:
    daily = [d for d in days(skip=(3, 4, 5))]
    daily[0] = DailyMetric(day=daily[0].day, hours=6, cpu_avg=1.0, cpu_max=2.0, network_bytes=1e5)
    daily[1] = DailyMetric(day=daily[1].day, hours=24, cpu_avg=None, network_bytes=1e5)
    result = scan(snapshot([instance("i-0gap", daily=tuple(daily))]))
    (rec,) = result.recommendations
    window = rec.evidence["window"]
    assert window["measured_days"] == 9 and window["days_without_data"] == 3
    assert window["partial_days_dropped"] == ["2026-04-18 (6 h)"]
    assert window["days_missing_cpu_or_network"] == ["2026-04-19"]
    assert (
        "(9 of 14 days were measured; 3 days without CloudWatch data and 2 days only partly measured were not counted)"
        in rec.rationale
    )
    # coverage 9/14 weighs 0.20: 1 - 0.2 * 5/14 = 0.93
    assert rec.confidence == 0.93


def test_a_partly_measured_day_is_scaled_to_a_full_day_before_the_network_threshold() -> None:
    quiet_half_day = DailyMetric(day=NOW.date(), hours=12, cpu_avg=1.0, network_bytes=3e6)
    daily = tuple(
        DailyMetric(day=d.day - timedelta(days=1), hours=24, cpu_avg=1.0, network_bytes=1e5) for d in days(13)
    )
    result = scan(snapshot([instance("i-0half", daily=(*daily, quiet_half_day))]))
    last = result.recommendations[0].evidence["window"]["days"][-1]
    assert last == {"day": "2026-05-01", "hours": 12, "cpu_avg_percent": 1.0, "cpu_max_percent": None,
                    "network_mb_per_day": 6.0, "low": False}  # fmt: skip


def test_too_few_measured_days_give_a_clear_skip_naming_the_count() -> None:
    result = scan(snapshot([instance("i-0young", daily=days(3)), instance("i-0none", daily=())]))
    assert reasons(result) == {
        "instance/i-0none": "i-0none: not enough CloudWatch data (0 of 14 days; 14 without data, 0 partial days not "
        "counted; at least 7 measured days are needed)",
        "instance/i-0young": "i-0young: not enough CloudWatch data (3 of 14 days; 11 without data, 0 partial days "
        "not counted; at least 7 measured days are needed)",
    }


def test_a_cloudwatch_outage_is_named_in_the_skip() -> None:
    error = SourceError(source="aws:us-east-1:cloudwatch", message="cannot reach the endpoint")
    result = scan(snapshot([instance("i-0blind", daily=())], errors=(error,)))
    assert reasons(result)["instance/i-0blind"].endswith("CloudWatch could not be read: cannot reach the endpoint")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tags": {"eks:cluster-name": "prod"}, "cluster": "prod"}, "is a node of cluster prod (from its tags)"),
        ({"tags": {"aws:autoscaling:groupName": "web-asg"}}, "belongs to Auto Scaling group web-asg"),
        ({"tags": {"karpenter.sh/nodepool": "default"}}, "is managed by Karpenter (tag karpenter.sh/nodepool=default)"),
        ({"tags": {"cloudoptim.io/keep": "true"}}, "is opted out with tag cloudoptim.io/keep=true"),
        ({"tags": {"cloudoptim.io/opt-out": "yes"}}, "is opted out with tag cloudoptim.io/opt-out=yes"),
        ({"lifecycle": "spot"}, "is a Spot instance: a one-time Spot instance cannot be stopped"),
        ({"state": "pending"}, "is pending; only running (stop) and stopped (terminate) instances are judged"),
    ],
)
def test_instances_with_an_owner_or_an_opt_out_are_skipped_with_the_reason(fields: dict, expected: str) -> None:  # type: ignore[type-arg]
    result = scan(snapshot([instance("i-0gate", **fields)]))
    assert result.recommendations == [] and expected in reasons(result)["instance/i-0gate"]


def test_a_node_of_a_connected_cluster_is_skipped_by_its_provider_id_match() -> None:
    result = scan(snapshot([instance("i-0node")], nodes=("i-0node",)))
    assert "node of a connected cluster (its providerID matches)" in reasons(result)["instance/i-0node"]


def test_an_opt_out_tag_set_to_false_does_not_opt_out() -> None:
    assert scan(snapshot([instance("i-0in", tags={"cloudoptim.io/keep": "false"})])).recommendations


def test_a_target_group_halves_the_confidence_raises_the_risk_and_names_the_group() -> None:
    groups = ("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/abc",)
    (rec,) = scan(snapshot([instance("i-0lb", target_groups=groups)])).recommendations
    assert rec.confidence == 0.5 and rec.risk == "high"
    assert rec.evidence["penalties"] == [{"penalty": f"registered in target group {groups[0]}", "factor": 0.5}]
    assert groups[0] in rec.rationale


def test_owner_tags_a_public_ip_extra_enis_and_data_volumes_lower_the_confidence() -> None:
    busy_box = instance("i-0owned", tags={"Team": "data", "env": "prod"}, public_ip="54.1.2.3",
                        network_interfaces=("eni-1", "eni-2"))  # fmt: skip
    volumes = [root("i-0owned"), root("i-0owned", size=100, vtype="gp3", vid="vol-data")]
    result = scan(snapshot([busy_box], volumes))
    assert result.recommendations == []
    reason = reasons(result)["instance/i-0owned"]
    # only coverage (0.20) and age (0.15) still argue for a ghost
    assert "confidence 0.35 is below 0.4" in reason and "no_owner_tag (Team=data)" in reason


def test_a_public_ip_makes_a_stop_medium_risk_because_the_address_is_released() -> None:
    (rec,) = scan(snapshot([instance("i-0pub", public_ip="54.1.2.3")])).recommendations
    assert rec.risk == "medium" and "releases its auto-assigned public IP 54.1.2.3" in rec.rationale


def test_a_long_stopped_instance_is_proposed_for_termination_saving_its_storage() -> None:
    stopped = instance("i-0old", state="stopped", state_since=NOW - timedelta(days=400))
    vols = [root("i-0old", size=30), root("i-0old", size=200, vtype="gp3", vid="vol-data", iops=4000)]
    (rec,) = scan(snapshot([stopped], vols)).recommendations
    assert rec.action == TerminateInstance(instance_id="i-0old") and rec.risk == "high"
    # 30 GB gp2 x 0.10 + 200 GB gp3 x 0.08 + 1000 IOPS above the free 3000 x 0.005
    assert rec.current_monthly_cost == Decimal("3.00") + Decimal("16.00") + Decimal("5.00")
    assert rec.projected_monthly_cost == Decimal("0.00")
    assert "cannot be undone" in rec.rationale and rec.evidence["stopped_days"] == 400.0


def test_a_running_instance_is_never_terminated_and_a_recently_stopped_one_waits() -> None:
    recent = instance("i-0recent", state="stopped", state_since=NOW - timedelta(days=5))
    result = scan(snapshot([instance("i-0run"), recent]))
    assert [r.action.kind for r in result.recommendations] == ["stop-instance"]
    assert "stopped for 5 days, fewer than 30" in reasons(result)["instance/i-0recent"]


def test_a_stopped_instance_with_an_unknown_stop_time_is_skipped_and_says_so() -> None:
    result = scan(snapshot([instance("i-0when", state="stopped")]))
    assert "stopped since an unknown time" in reasons(result)["instance/i-0when"]


def test_a_stopped_instance_without_volumes_saves_nothing_and_is_skipped() -> None:
    result = scan(snapshot([instance("i-0bare", state="stopped", state_since=NOW - timedelta(days=90))], []))
    assert "would save nothing measurable" in reasons(result)["instance/i-0bare"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"itype": "zz9.mega"}, "unknown instance type 'zz9.mega' in us-east-1 (no on-demand price)"),
        ({"region": "mars-east-1"}, "unknown region 'mars-east-1' (no on-demand prices)"),
        ({"platform": "Windows"}, "no Windows on-demand price for m5.large in the price book"),
    ],
)
def test_what_the_price_book_cannot_price_is_skipped_never_guessed(fields: dict, expected: str) -> None:  # type: ignore[type-arg]
    result = scan(snapshot([instance("i-0odd", **fields)]))
    assert result.recommendations == []
    assert "cannot be priced from the price book" in reasons(result)["instance/i-0odd"]
    assert expected in reasons(result)["instance/i-0odd"]


def test_an_unknown_volume_type_skips_the_instance_instead_of_pricing_it_without_storage() -> None:
    result = scan(snapshot([instance("i-0vol")], [root("i-0vol", vtype="gp9")]))
    assert "unknown EBS volume type 'gp9' in us-east-1" in reasons(result)["instance/i-0vol"]


def test_the_settings_move_the_thresholds() -> None:
    snap = snapshot([instance("i-0mid", daily=days(cpu=15.0))])
    assert scan(snap).recommendations == []
    assert scan(snap, cpu_threshold_percent=20.0).recommendations


def test_inconsistent_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="min_low_days cannot exceed window_days"):
        GhostProbeSettings(window_days=3, min_low_days=4, min_measured_days=2)


def test_a_scan_time_given_in_another_zone_judges_the_same_utc_days() -> None:
    from datetime import timezone

    snap = snapshot([instance("i-0tz", daily=days(skip=(0,)))])
    east = NOW.astimezone(timezone(timedelta(hours=14)))  # already the next calendar day there
    assert scan(snap, now=east).model_dump_json() == scan(snap).model_dump_json()
