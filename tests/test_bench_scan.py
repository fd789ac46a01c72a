"""Smoke test of the scan benchmark's large generated estate at its --quick sizes: the sizes asked
for, a consistent estate (pods on its nodes, volumes on its instances, a Service behind every
traffic destination), the same estate for the same seed, and a row per registered engine. No
timing assertions."""

from __future__ import annotations

import pytest

from app.pricing import load_price_book
from bench.large_estate import QUICK, large_snapshot
from bench.scan import large
from engines.registry import default_registry
from engines.snapshot_aws import Snapshot


@pytest.fixture(scope="module")
def estate() -> Snapshot:
    return large_snapshot(load_price_book(), QUICK, seed=7)


def test_the_quick_estate_has_the_sizes_asked_for(estate: Snapshot) -> None:
    assert estate.cluster is not None and estate.account is not None
    assert len(estate.cluster.nodes) == QUICK.nodes
    assert len(estate.cluster.pods) == QUICK.pods
    assert len(estate.cluster.workloads) == QUICK.workloads == len(estate.cluster.services)
    assert len(estate.account.instances) == QUICK.instances + QUICK.nodes  # the nodes' own are listed too
    assert len(estate.account.volumes) == QUICK.volumes
    assert len(estate.traffic) == QUICK.edges == QUICK.workloads * QUICK.peers


def test_the_estate_is_consistent_as_a_collector_would_build_it(estate: Snapshot) -> None:
    assert estate.cluster is not None and estate.account is not None
    nodes = {n.name for n in estate.cluster.nodes}
    assert all(p.node_name in nodes for p in estate.cluster.pods if p.node_name)
    assert all(p.owner_name and p.containers[0].cpu_request for p in estate.cluster.pods)
    instances = {i.instance_id for i in estate.account.instances}
    assert set(estate.account.cluster_node_instances) == {n.instance_id for n in estate.cluster.nodes} <= instances
    attached = [a.instance_id for v in estate.account.volumes for a in v.attachments]
    assert attached and set(attached) <= instances
    unattached = [v for v in estate.account.volumes if not v.attachments]
    assert unattached and all(v.state == "available" and v.unattached_since for v in unattached)
    services = {(s.namespace, s.name) for s in estate.cluster.services}
    assert all((e.destination_namespace, e.destination) in services and e.source != e.destination for e in estate.traffic)
    assert len({(e.source, e.destination) for e in estate.traffic}) == len(estate.traffic)
    pools = {(n.instance_type, n.zone) for n in estate.cluster.nodes}
    assert {(h.instance_type, h.zone) for h in estate.spot_history} == pools


def test_the_same_seed_builds_the_same_estate_and_another_seed_does_not(estate: Snapshot) -> None:
    prices = load_price_book()
    assert large_snapshot(prices, QUICK, seed=7).model_dump_json() == estate.model_dump_json()
    assert large_snapshot(prices, QUICK, seed=8).model_dump_json() != estate.model_dump_json()


def test_the_quick_large_part_reports_collection_every_engine_and_the_totals() -> None:
    rows = large(quick=True)
    names = default_registry(include_installed=False).names()
    assert [r["part"] for r in rows] == ["collect", *(f"engine {n}" for n in names), f"all {len(names)} engines"]
    assert rows[0]["nodes"] == QUICK.nodes and rows[0]["traffic_edges"] == QUICK.edges
    assert all(r["error"] == "" for r in rows[1:-1]), rows
    total = rows[-1]
    assert total["recommendations"] == sum(r["recommendations"] for r in rows[1:-1])
    assert total["peak_rss_mib"] > 0 and total["baseline_seconds"] > 0 and "peak_measure" in total
