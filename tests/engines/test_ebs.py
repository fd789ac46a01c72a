"""The EBS cleanup engine on plain data: which volumes get snapshot-then-delete or gp2-to-gp3, the
figures against the shipped price files, and a clear skip for every volume it leaves alone."""

from __future__ import annotations

from decimal import Decimal

from engines.actions import ModifyVolumeType, SnapshotAndDeleteVolume
from engines.ebs import EbsCleanupSettings
from engines.snapshot_aws import Snapshot, Volume
from tests.engines.test_ebs_helpers import NOW, attached, run, skip_reason, snapshot, unattached

PV_TAGS = {"kubernetes.io/created-for/pv/name": "pvc-4f2a9c1e", "kubernetes.io/created-for/pvc/name": "data-es-0",
           "kubernetes.io/created-for/pvc/namespace": "logging"}


class GpThreeDearer:
    """A price book where gp3 storage costs more than gp2 (plain data; raises like the real one)."""

    def ebs_gb_month(self, region: str, volume_type: str) -> Decimal:
        table = {"gp2": Decimal("0.10"), "gp3": Decimal("0.11")}
        if region != "us-east-1" or volume_type not in table:
            raise LookupError(f"unknown EBS volume type {volume_type!r} in {region}")
        return table[volume_type]

    def ebs_dimension_price(self, region: str, volume_type: str, dimension: str) -> Decimal:
        raise LookupError(f"no {dimension} price for EBS {volume_type} in {region}")

    def __getattr__(self, name: str) -> None:
        raise LookupError(name)


def test_a_volume_unattached_past_the_grace_period_gets_snapshot_then_delete_at_the_file_price() -> None:
    result = run(snapshot(unattached("vol-old", "gp2", 100, days=30)))
    [rec] = result.recommendations
    assert rec.action == SnapshotAndDeleteVolume(volume_id="vol-old") and rec.target == "volume/vol-old"
    assert (rec.current_monthly_cost, rec.projected_monthly_cost, rec.monthly_savings) == (
        Decimal("10.00"), Decimal("0"), Decimal("10.00"))
    assert rec.engine == "ebs-cleanup" and rec.risk == "low" and rec.confidence == 0.9
    assert result.skipped == []


def test_the_evidence_gives_the_snapshot_size_and_says_its_cost_is_not_priced() -> None:
    [rec] = run(snapshot(unattached("vol-old", "io1", 200, days=90, iops=3000))).recommendations
    ev = rec.evidence
    assert rec.current_monthly_cost == Decimal("25.00") + Decimal("195.00")  # 200 GiB x 0.125 + 3000 IOPS x 0.065
    assert ev["snapshot_size_gib_upper_bound"] == 200 and ev["snapshot_cost_monthly_usd"] is None
    assert "no EBS snapshot price" in ev["snapshot_cost_note"] and "incremental" in ev["snapshot_size_note"]
    assert ev["current_cost_parts"]["provisioned_iops"].startswith("$195.00 (3000 IOPS")
    assert (ev["unattached_days"], ev["grace_period_days"], ev["unattached_source"]) == (90, 14, "cloudtrail")
    assert "snapshot" in rec.rationale and "not priced" in rec.rationale and "$220.00" in rec.rationale


def test_a_volume_younger_than_the_grace_period_is_skipped_with_its_age() -> None:
    result = run(snapshot(unattached("vol-new", days=5, source="first-seen")))
    assert result.recommendations == []
    assert skip_reason(result, "vol-new") == "vol-new unattached for 5 days, grace period 14 days (first-seen)"


def test_the_grace_period_is_a_setting() -> None:
    result = run(snapshot(unattached("vol-new", days=5)), EbsCleanupSettings(grace_period_days=3))
    assert len(result.recommendations) == 1


def test_a_volume_tagged_keep_is_skipped_with_the_reason() -> None:
    result = run(snapshot(unattached("vol-k", days=300, tags={"Do-Not-Delete": "yes"})))
    assert result.recommendations == []
    assert skip_reason(result, "vol-k") == "vol-k is unattached but tagged Do-Not-Delete=yes, a keep tag: not deleted"


def test_a_keep_tag_set_to_false_does_not_keep_and_key_value_entries_match_only_that_value() -> None:
    settings = EbsCleanupSettings(keep_tags=["keep", "retention=forever"])
    result = run(snapshot(unattached("vol-f", days=30, tags={"keep": "false"}),
                          unattached("vol-r", days=30, tags={"retention": "30d"}),
                          unattached("vol-v", days=30, tags={"Retention": "Forever"})), settings)
    assert sorted(r.target for r in result.recommendations) == ["volume/vol-f", "volume/vol-r"]
    assert "tagged Retention=Forever" in skip_reason(result, "vol-v")


def test_an_unknown_region_or_type_is_skipped_never_priced_from_a_guess() -> None:
    result = run(snapshot(unattached("vol-mars", region="mars-north-1", zone="mars-north-1a"),
                          unattached("vol-gp9", "gp9"), unattached("vol-io", "io1", iops=None)))
    assert result.recommendations == []
    assert skip_reason(result, "vol-mars") == "vol-mars cannot be priced: unknown region 'mars-north-1' (no EBS prices)"
    assert skip_reason(result, "vol-gp9") == "vol-gp9 cannot be priced: unknown EBS volume type 'gp9' in us-east-1"
    assert "without provisioned IOPS cannot be priced" in skip_reason(result, "vol-io")


def test_a_volume_whose_unattached_age_is_unknown_is_skipped_and_the_cloudtrail_reason_is_given() -> None:
    reason = "CloudTrail LookupEvents failed (permission denied (AccessDeniedException): ...)"
    result = run(snapshot(unattached("vol-u", days=None), cloudtrail=reason))
    assert result.recommendations == []
    assert "since when is not known yet (CloudTrail LookupEvents failed" in skip_reason(result, "vol-u")


def test_first_seen_age_is_said_to_be_a_lower_bound_and_cloudtrail_trouble_is_in_the_evidence() -> None:
    reason = "CloudTrail LookupEvents failed (HTTP 500: 500 Internal Server Error)"
    [rec] = run(snapshot(unattached("vol-fs", days=20, source="first-seen"), cloudtrail=reason)).recommendations
    assert rec.evidence["cloudtrail_unavailable"] == reason
    assert "may have been unattached for longer" in rec.evidence["unattached_source_means"]
    assert "at least, since CloudOptim first saw it" in rec.rationale and rec.confidence == 0.8


def test_a_volume_made_for_a_kubernetes_pv_is_riskier_less_certain_and_says_the_pv_was_not_checked() -> None:
    [rec] = run(snapshot(unattached("vol-pv", days=120, tags=PV_TAGS))).recommendations
    k8s = rec.evidence["kubernetes"]
    assert k8s["persistent_volume"] == "pvc-4f2a9c1e" and k8s["persistent_volume_checked"] is False
    assert rec.risk == "medium" and rec.confidence == 0.75  # 0.9 + 0.05 (8 grace periods old) - 0.2
    assert "PersistentVolume pvc-4f2a9c1e" in rec.rationale


def test_an_attached_gp2_volume_gets_gp3_with_the_saving() -> None:
    [rec] = run(snapshot(attached("vol-gp2", "gp2", 100))).recommendations
    assert rec.action == ModifyVolumeType(volume_id="vol-gp2", from_type="gp2", to_type="gp3")
    assert (rec.current_monthly_cost, rec.projected_monthly_cost, rec.monthly_savings) == (
        Decimal("10.00"), Decimal("8.00"), Decimal("2.00"))
    assert rec.risk == "low" and rec.evidence["extra_performance_to_set"] is False


def test_a_large_gp2_volume_is_priced_as_gp3_with_the_iops_and_throughput_that_match_it() -> None:
    [rec] = run(snapshot(attached("vol-big", "gp2", 2000, iops=6000))).recommendations
    assert (rec.current_monthly_cost, rec.projected_monthly_cost) == (Decimal("200.00"), Decimal("180.00"))
    assert rec.evidence["gp3_iops"] == 6000 and rec.evidence["gp3_throughput_mibps"] == 250
    assert rec.risk == "medium" and "set 6000 IOPS and 250 MiB/s" in rec.rationale


def test_a_gp2_volume_whose_gp3_match_costs_more_is_skipped_with_both_prices() -> None:
    result = run(snapshot(attached("vol-gp2", "gp2", 100)), prices=GpThreeDearer())  # type: ignore[arg-type]
    assert result.recommendations == []
    assert skip_reason(result, "vol-gp2") == ("vol-gp2 as gp3 with 3000 IOPS and 125 MiB/s (matching gp2) costs "
                                              "$11.00 a month, not less than $10.00 as gp2")


def test_savings_below_the_floor_are_skipped_with_the_figure() -> None:
    result = run(snapshot(attached("vol-root", "gp2", 8), unattached("vol-tiny", "sc1", 10, days=60)))
    assert result.recommendations == []
    assert skip_reason(result, "vol-root") == "vol-root would save $0.16 a month as gp3, below the $1 savings floor"
    assert skip_reason(result, "vol-tiny") == "vol-tiny costs $0.15 a month, below the $1 savings floor"


def test_attached_volumes_of_other_types_and_odd_states_are_skipped_with_a_reason() -> None:
    creating = Volume(volume_id="vol-c", volume_type="gp3", size_gb=10, state="creating", zone="us-east-1a",
                      region="us-east-1")
    result = run(snapshot(attached("vol-io", "io1", 100, iops=1000), creating))
    assert result.recommendations == []
    assert "attached and io1" in skip_reason(result, "vol-io")
    assert skip_reason(result, "vol-c") == "vol-c is creating, neither unattached nor in use"


def test_gp3_recommendations_can_be_switched_off() -> None:
    result = run(snapshot(attached("vol-gp2")), EbsCleanupSettings(recommend_gp3=False))
    assert result.recommendations == [] and "recommendations are off" in skip_reason(result, "vol-gp2")


def test_a_snapshot_without_an_account_or_volumes_gives_a_clear_skip() -> None:
    assert [s.target for s in run(Snapshot(collected_at=NOW)).skipped] == ["account"]
    assert run(snapshot()).skipped[0].reason == "no EBS volumes in us-east-1"


def test_the_output_is_deterministic_and_does_not_depend_on_volume_order() -> None:
    vols = [unattached("vol-b"), attached("vol-a"), unattached("vol-c", days=2)]
    first = run(snapshot(*vols)).model_dump_json()
    assert first == run(snapshot(*reversed(vols))).model_dump_json()
