"""The bin-packing engine never changes a node's capacity type: on-demand to Spot is the Spot optimizer's."""

from __future__ import annotations

from app.pricing import load_price_book
from engines.actions import ReplaceNodeType
from engines.binpack import BinPackEngine, BinPackSettings
from engines.contract import ScanContext
from engines.snapshot_aws import Snapshot
from tests.engines.test_binpack_helpers import NOW, cluster, daemon, node, pod


def _oversized_cluster() -> Snapshot:
    """Over-sized nodes pinned by a pod each (hostname selector keeps them from being drained):
    the engine can only replace them, and a Spot type would be far cheaper than any on-demand one."""
    nodes = [node("od-big", "m5.4xlarge"), node("spot-big", "m5.4xlarge", capacity_type="spot")]
    pods = [daemon(f"ds-{n.name}", n.name) for n in nodes]
    pods += [
        pod(f"app-{n.name}", n.name, 1.0, 2, node_selector={"kubernetes.io/hostname": n.name}) for n in nodes
    ]
    return Snapshot(collected_at=NOW, cluster=cluster(nodes, pods))


def test_no_binpack_recommendation_changes_the_capacity_type_even_with_the_retired_spot_setting() -> None:
    settings = BinPackSettings.model_validate({"consider_spot": True})  # a row stored before the change
    ctx = ScanContext(prices=load_price_book(), now=NOW, settings=settings)
    snapshot = _oversized_cluster()
    assert snapshot.cluster is not None
    capacity = {n.name: n.capacity_type for n in snapshot.cluster.nodes}
    recs = BinPackEngine().scan(snapshot, ctx).recommendations
    replaced = [r.action for r in recs if isinstance(r.action, ReplaceNodeType)]
    assert {a.node for a in replaced} == {"od-big", "spot-big"}
    assert all(a.capacity_type == capacity[a.node] for a in replaced)
    assert all(r.action.kind != "move-to-spot" for r in recs)


def test_the_binpack_settings_no_longer_offer_a_spot_switch() -> None:
    assert "consider_spot" not in BinPackSettings.model_fields
    assert "consider_spot" not in BinPackSettings.model_validate({"consider_spot": False}).model_dump()
