"""Bad input never gives a raise built on garbage: NaN, negative, absurd and empty series, gaps,
unknown owners, containers without a limit, absurd limits, naive times and unpriced nodes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

from engines.oom import OomRemediationEngine
from engines.snapshot import KubeEvent, Pod, TerminationRecord
from engines.snapshot_aws import Snapshot
from tests.engines.test_oom_helpers import (
    GIB,
    MIB,
    NOW,
    POINTS,
    node,
    owner,
    reasons,
    scan,
    snapshot,
    steady,
    usage,
)

TARGET = "workload/shop/Deployment/web/app"


def with_series(values: Sequence[float | None], **kw: object) -> Snapshot:
    wl, pods = owner("web", **kw)  # type: ignore[arg-type]
    return snapshot(pods, [wl], series=tuple(usage(p, list(values)) for p in pods))


def test_a_series_of_nan_is_refused_not_sized() -> None:
    result = scan(with_series([math.nan] * POINTS))
    assert result.recommendations == []
    assert "unusable" in reasons(result)[TARGET] and "nan" in reasons(result)[TARGET]


def test_negative_samples_beyond_the_allowed_share_are_refused() -> None:
    values = [(-1.0 if i % 3 == 0 else 400.0 * MIB) for i in range(POINTS)]
    result = scan(with_series(values))  # type: ignore[arg-type]
    assert result.recommendations == [] and "negative" in reasons(result)[TARGET]


def test_samples_larger_than_any_node_are_refused() -> None:
    result = scan(with_series([1e18] * POINTS))
    assert result.recommendations == [] and "above node memory" in reasons(result)[TARGET]


def test_a_few_bad_samples_are_dropped_and_counted_in_the_evidence() -> None:
    values = steady(512)
    values[10], values[20], values[30] = math.nan, -5.0, math.inf
    result = scan(with_series(values))
    rec = result.recommendations[0]
    # Two replicas share the series: NaN and inf count as "nan".
    assert rec.evidence["triage"]["dropped_samples"] == {"nan": 4, "negative": 2}
    assert rec.evidence["triage"]["class"] == "limit-too-low"


def test_an_empty_or_all_missing_series_falls_back_to_the_limit_with_a_lower_confidence() -> None:
    for values in ([], [None] * POINTS):
        rec = scan(with_series(values, restarts=1)).recommendations[0]
        assert rec.evidence["triage"]["class"] == "no-usage"
        assert rec.confidence <= 0.5 and rec.action.memory_limit == 615 * MIB  # type: ignore[union-attr]


def test_a_gappy_series_is_classified_from_the_samples_it_has() -> None:
    values = [v if i % 4 == 0 else None for i, v in enumerate(steady(512))]
    rec = scan(with_series(values)).recommendations[0]
    assert rec.evidence["triage"]["missing_samples"] == 2 * 3 * POINTS // 4
    assert rec.evidence["triage"]["class"] == "limit-too-low"


def test_a_container_without_a_memory_limit_gets_a_skip_naming_the_node_oom_killer() -> None:
    result = scan(with_series(steady(512), limit_mib=None))
    assert result.recommendations == [] and "has no memory limit" in reasons(result)[TARGET]


def test_an_absurd_limit_is_refused() -> None:
    wl, pods = owner("web", limit_mib=1)
    wl = wl.model_copy(update={"containers": (wl.containers[0].model_copy(update={"memory_limit": 10**15}),)})
    result = scan(snapshot(pods, [wl]))
    assert result.recommendations == [] and "not a usable value" in reasons(result)[TARGET]


def test_a_bare_pod_or_a_job_is_refused_by_name_once() -> None:
    _, pods = owner("web")
    bare = pods[0].model_copy(update={"owner_kind": None, "owner_name": None, "name": "debug"})
    job = pods[0].model_copy(update={"owner_kind": "Job", "owner_name": "nightly", "name": "nightly-abc"})
    event = KubeEvent(namespace="shop", involved_kind="Pod", involved_name="debug", reason="OOMKilling",
                      last_seen=NOW - timedelta(hours=1))
    result = scan(snapshot([bare, job], [], events=(event,)))
    assert result.recommendations == []
    assert sorted(reasons(result)) == ["pod/shop/debug/app", "pod/shop/nightly-abc/app"]
    assert "no known owner" in reasons(result)["pod/shop/debug/app"]


def test_a_history_record_of_an_unknown_pod_without_owner_is_refused() -> None:
    rec = TerminationRecord(namespace="shop", pod="ghost-1", container="app", reason="OOMKilled",
                            occurred_at=NOW - timedelta(days=1))
    result = scan(snapshot([], [], terminations=(rec,)))
    assert list(reasons(result)) == ["pod/shop/ghost-1/app"]


def test_an_owner_without_running_pods_cannot_be_priced() -> None:
    rec = TerminationRecord(namespace="shop", pod="web-7d9f8b6c4-old1z", container="app", reason="OOMKilled",
                            occurred_at=NOW - timedelta(days=1), owner_kind="Deployment", owner_name="web")
    wl, _ = owner("web")
    result = scan(snapshot([], [wl], terminations=(rec,)))
    assert result.recommendations == [] and "no running pod" in reasons(result)[TARGET]


def test_a_node_of_an_unknown_type_is_refused_with_the_price_book_reason() -> None:
    wl, pods = owner("web")
    result = scan(snapshot(pods, [wl], nodes=[node(itype="x9z.huge")]))
    assert result.recommendations == [] and "cannot be priced" in reasons(result)[TARGET]


def test_naive_termination_times_are_read_as_utc() -> None:
    wl, pods = owner("web", last_oom=(NOW - timedelta(hours=2)).replace(tzinfo=None))
    rec = scan(snapshot(pods, [wl])).recommendations[0]
    assert rec.evidence["last_oom_at"] == (NOW - timedelta(hours=2)).isoformat()


def test_a_kill_without_a_time_still_counts() -> None:
    wl, pods = owner("web", last_oom=None)
    rec = scan(snapshot(pods, [wl])).recommendations[0]
    assert rec.evidence["oom_kills"] == 1 and rec.evidence["last_oom_at"] is None


def test_nodes_without_sizes_still_bound_samples_by_the_largest_instance() -> None:
    bare = node().model_copy(update={"capacity": node().capacity.model_copy(update={"memory": 0}),
                                     "allocatable": node().allocatable.model_copy(update={"memory": 0})})
    wl, pods = owner("web")
    rec = scan(snapshot(pods, [wl], series=tuple(usage(p, steady(512)) for p in pods), nodes=[bare]))
    assert rec.recommendations[0].evidence["sizing"]["capped_by"] == []


def test_no_cluster_and_an_empty_cluster_give_nothing() -> None:
    engine_result = scan(Snapshot(collected_at=NOW))
    assert engine_result.recommendations == [] and engine_result.skipped == []
    assert scan(snapshot([], [])).skipped == []
    assert OomRemediationEngine.Settings().max_limit_gib * GIB > 0


def test_healthy_pods_are_not_mentioned() -> None:
    wl, pods = owner("web", oom=False)
    other: list[Pod] = pods
    assert scan(snapshot(other, [wl])).skipped == []


def test_a_limit_of_a_few_bytes_is_called_a_typo_not_raised() -> None:
    wl, pods = owner("web")
    wl = wl.model_copy(update={"containers": (wl.containers[0].model_copy(update={"memory_limit": 512}),)})
    result = scan(snapshot(pods, [wl]))
    assert result.recommendations == [] and "runc needs at least" in reasons(result)[TARGET]
