"""The cross-AZ engine on plain data: what it recommends, how it prices, and why it refuses."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest

from app.pricing import load_price_book
from engines.actions import SetPreferredAffinity, SetTrafficDistribution
from engines.crossaz.matrix import Destination, cross_share
from engines.crossaz.report import DAYS_PER_MONTH, monthly_cost
from engines.money import quantize
from engines.snapshot_aws import Snapshot, SourceError
from tests.engines.test_crossaz_helpers import (
    GIB,
    NOW,
    edge,
    mixed_estate,
    scan,
    service,
    skip_reasons,
    snapshot,
    workload,
)


def by_target(snap: Snapshot, **settings: object) -> dict[str, object]:
    return {r.target: r for r in scan(snap, **settings).recommendations}


def test_a_cross_zone_gb_costs_the_price_file_rate_in_each_direction() -> None:
    price = load_price_book().inter_az_per_gb("us-east-1")
    assert price == Decimal("0.01")
    # 1 GiB/day for a month = 30.4167 GiB, billed out of one AZ and into the other.
    assert monthly_cost(GIB, price) == quantize(DAYS_PER_MONTH * Decimal("0.02"))


def test_the_cross_zone_share_follows_the_client_and_endpoint_zones() -> None:
    dest = Destination("service", "shop", "api", {"us-east-1a": 1, "us-east-1b": 3}, {"app": "api"})

    assert cross_share(Counter({"us-east-1a": 1}), dest, False) == pytest.approx(0.75)
    assert cross_share(Counter({"us-east-1a": 1, "us-east-1c": 1}), dest, False) == pytest.approx((0.75 + 1) / 2)
    assert cross_share(Counter({"us-east-1a": 1, "us-east-1c": 1}), dest, True) == pytest.approx(0.5)


def test_a_service_with_endpoints_in_every_client_zone_gets_traffic_distribution_with_its_saving() -> None:
    rec = scan(mixed_estate()).recommendations
    api = next(r for r in rec if r.target == "service/shop/api")
    assert api.action == SetTrafficDistribution(namespace="shop", service="api", value="PreferClose")
    # web (a, b, c) -> api (a, b, c): 210 GiB/day, two thirds cross zones; same-zone routing removes it all.
    assert api.current_monthly_cost == monthly_cost(210 * GIB * 2 / 3, Decimal("0.01"))
    assert api.projected_monthly_cost == 0 and api.monthly_savings == api.current_monthly_cost
    assert api.risk == "low" and api.evidence["endpoints_by_zone"] == {"us-east-1a": 1, "us-east-1b": 1, "us-east-1c": 1}
    assert api.evidence["top_pairs"][0]["client"] == "shop/web"
    assert api.evidence["inter_az_usd_per_gb_each_direction"] == "0.01"
    assert "$85.17/month" in api.rationale and api.monthly_savings == Decimal("85.17")


def test_a_cross_namespace_edge_reaches_the_service_of_the_destination_namespace() -> None:
    recs = by_target(mixed_estate())
    assert "service/identity/auth" in recs


def test_clients_crowding_a_zone_with_few_endpoints_make_the_recommendation_medium_risk() -> None:
    images = by_target(mixed_estate())["service/shop/images"]
    assert images.risk == "medium" and images.evidence["overloaded_zones"] == ["us-east-1a"]  # type: ignore[attr-defined]
    assert "check their headroom" in images.rationale  # type: ignore[attr-defined]


def test_a_zone_without_endpoints_skips_the_service_with_the_reason_and_co_locates_the_chatty_client() -> None:
    result = scan(mixed_estate())
    reasons = skip_reasons(result)
    assert reasons["service/shop/db"][0].startswith(
        "zones us-east-1b, us-east-1c have clients but no endpoints: PreferClose would still send them across")
    api = next(r for r in result.recommendations if r.target == "workload/shop/api")
    assert api.action == SetPreferredAffinity(namespace="shop", workload_kind="Deployment", workload_name="api",
                                              peer_namespace="shop", peer_labels={"app": "db"})
    assert api.projected_monthly_cost == 0 and api.monthly_savings == monthly_cost(100 * GIB, Decimal("0.01"))
    assert api.evidence["why_not_traffic_distribution"].startswith("Zones us-east-1b, us-east-1c have clients")


def test_pod_to_pod_traffic_without_a_service_is_co_located() -> None:
    worker = by_target(mixed_estate())["workload/shop/worker"]
    assert worker.action.peer_labels == {"app": "search"}  # type: ignore[attr-defined]


def test_a_daemonset_client_is_not_given_affinity_and_the_skip_says_why() -> None:
    reasons = skip_reasons(scan(mixed_estate()))
    assert "shop/agent is DaemonSet, not a Deployment or StatefulSet" in reasons["service/shop/collector"][0]


def test_a_service_that_already_prefers_close_is_skipped_and_a_small_residual_is_not_co_located() -> None:
    reasons = skip_reasons(scan(mixed_estate()))
    assert reasons["service/shop/cache"] == [
        "Service shop/cache already has trafficDistribution PreferClose (cross-zone cost $6.08/month); 1 client(s) "
        "would save less than $10/month by co-location (largest: shop/web $6.08)"]
    lower = by_target(mixed_estate(), chatty_pair_min_monthly_usd=Decimal("5"))
    assert "workload/shop/web" in lower


@pytest.mark.parametrize("target, fragment", [
    ("service/shop/payments-ext", "is ExternalName"),
    ("service/shop/legacy", "has no selector"),
    ("service/shop/ghost", "has no running endpoints"),
    ("service/shop/reports", "is opted out (cloudoptim.io/opt-out)"),
    ("service/shop/tiny", "below the $1/month floor"),
    ("service/shop/idle", "no traffic to this Service"),
])
def test_every_service_not_recommended_is_skipped_with_the_reason(target: str, fragment: str) -> None:
    reasons = skip_reasons(scan(mixed_estate()))
    assert fragment in reasons[target][0]


def test_edges_naming_unknown_workloads_are_counted_in_one_skip_per_kind_not_one_per_edge() -> None:
    parts = [workload("web", "ab"), workload("api", "ab")]
    edges = [edge(f"client-{i}", "api", 1) for i in range(3000)] + [edge("web", f"svc-{i}", 1) for i in range(3000)]
    result = scan(snapshot(parts, [service("api")], edges))
    cluster = skip_reasons(result)["cluster/prod"]
    assert len(cluster) == 2 and result.recommendations == []
    assert cluster[0].startswith("3000 traffic edge(s) (3000 GiB/day) name a client workload with no pods")
    assert cluster[0].endswith("and 2995 more")
    assert cluster[1].startswith("3000 traffic edge(s) (3000 GiB/day) name a destination that is neither")


def test_no_traffic_data_is_a_clear_skip_naming_the_failed_source() -> None:
    snap = snapshot([workload("web", "ab")], [service("web")], [])
    failed = snap.model_copy(update={"errors": (SourceError(source="prometheus-traffic:http://p:9090",
                                                             message="the query returned no series"),)})
    reason = skip_reasons(scan(failed))["cluster/prod"][0]
    assert reason.startswith("no traffic data") and "the query returned no series" in reason


def test_an_empty_snapshot_and_an_unknown_region_are_skips_never_a_price_guess() -> None:
    assert skip_reasons(scan(Snapshot(collected_at=NOW)))["snapshot"][0].startswith("the snapshot has no Kubernetes")
    snap = snapshot([workload("web", "ab"), workload("api", "ab")], [service("api")], [edge("web", "api", 100)],
                    region="mars-north-1")
    result = scan(snap)
    assert result.recommendations == []
    assert skip_reasons(result)["cluster/prod"][0].startswith("no inter-AZ transfer price for region mars-north-1")


def test_savings_scale_linearly_with_the_bytes_to_the_cent() -> None:
    small = by_target(snapshot([workload("web", "ab"), workload("api", "ab")], [service("api")],
                               [edge("web", "api", 100)]))["service/shop/api"]
    large = by_target(snapshot([workload("web", "ab"), workload("api", "ab")], [service("api")],
                               [edge("web", "api", 200)]))["service/shop/api"]
    assert abs(large.monthly_savings - 2 * small.monthly_savings) <= Decimal("0.01")  # type: ignore[attr-defined]
