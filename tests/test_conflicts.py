"""Cross-engine conflicts: which recommendations change the same node, instance, volume, workload or
Service (pure), that a scan stores the links, and that totals count each target once."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.db.models import Cluster
from app.db.tables_recs import Recommendation as RecRow
from app.pricing import load_price_book
from app.services.conflicts import (
    SavingRow,
    link_conflicts,
    node_instances,
    overlap,
    physical_targets,
    savings_total,
)
from app.services.overview import cluster_summaries, open_savings_total
from app.services.scans import scan_and_store
from engines.actions import (
    ActionSpec,
    DrainAndRemoveNode,
    ModifyVolumeType,
    MoveToSpot,
    SetPreferredAffinity,
    SetRequestsLimits,
    SetTrafficDistribution,
    SnapshotAndDeleteVolume,
    StopInstance,
)
from engines.binpack import BinPackEngine
from engines.contract import Engine as DecisionEngine
from engines.contract import Recommendation, ScanContext, ScanResult
from engines.registry import EngineRegistry
from engines.snapshot_aws import Snapshot
from tests.framework.estate import wasteful_snapshot


def _rec(engine: str, action: ActionSpec, saving: str, cluster: str | None = "prod-east") -> Recommendation:
    return Recommendation(engine=engine, cluster=cluster, target=f"{action.kind}/x", action=action,
                          current_monthly_cost=Decimal(saving), projected_monthly_cost=Decimal(0), rationale="r")  # fmt: skip


def _links(recs: list[Recommendation]) -> dict[str, list[str]]:
    return {r.fingerprint: r.conflicts_with for r in recs}


def test_draining_a_node_and_moving_it_to_spot_conflict_both_ways() -> None:
    drain = _rec("binpack", DrainAndRemoveNode(node="n1"), "140.16")
    spot = _rec("spot", MoveToSpot(node="n1", from_type="m5.xlarge", to_types=("m5a.xlarge",)), "90.00")
    other = _rec("spot", MoveToSpot(node="n2", from_type="m5.xlarge", to_types=("m5a.xlarge",)), "90.00")
    linked = _links(link_conflicts([drain, spot, other]))
    assert linked == {drain.fingerprint: [spot.fingerprint], spot.fingerprint: [drain.fingerprint],
                      other.fingerprint: []}  # fmt: skip


def test_two_recommendations_of_the_same_engine_on_one_node_are_not_conflicts() -> None:
    a = _rec("binpack", DrainAndRemoveNode(node="n1"), "10")
    b = _rec("binpack", MoveToSpot(node="n1", from_type="m5.xlarge", to_types=("m5a.xlarge",)), "5")
    assert all(not r.conflicts_with for r in link_conflicts([a, b]))


def test_a_stop_instance_meets_a_drain_of_that_node_through_the_snapshot_s_instance_ids() -> None:
    snapshot = wasteful_snapshot()
    drain = _rec("binpack", DrainAndRemoveNode(node="node-0"), "140.16")
    stop = _rec("ghost", StopInstance(instance_id="i-node-0"), "140.16", cluster=None)
    assert node_instances(snapshot)["node-0"] == "i-node-0"
    assert all(not r.conflicts_with for r in link_conflicts([drain, stop]))  # without the node list: unknown
    linked = _links(link_conflicts([drain, stop], node_instances(snapshot)))
    assert linked[drain.fingerprint] == [stop.fingerprint] and linked[stop.fingerprint] == [drain.fingerprint]


def test_the_action_s_own_instance_id_links_a_node_to_an_instance_without_a_node_list() -> None:
    spot = _rec("spot", MoveToSpot(node="n1", instance_id="i-1", from_type="m5.large", to_types=("m5a.large",)), "30")
    stop = _rec("ghost", StopInstance(instance_id="i-1"), "60")
    assert link_conflicts([spot, stop])[0].conflicts_with == [stop.fingerprint]


def test_volume_workload_and_service_actions_conflict_on_the_same_thing_only() -> None:
    delete = _rec("ebs", SnapshotAndDeleteVolume(volume_id="vol-1"), "8")
    retype = _rec("ebs-types", ModifyVolumeType(volume_id="vol-1", from_type="gp2", to_type="gp3"), "2")
    elsewhere = _rec("ebs-types", ModifyVolumeType(volume_id="vol-2", from_type="gp2", to_type="gp3"), "2")
    rightsize = _rec("rightsizing", SetRequestsLimits(namespace="shop", workload_kind="Deployment",
                                                      workload_name="web", container="main", cpu_request=0.5), "20")  # fmt: skip
    affinity = _rec("cross-az", SetPreferredAffinity(namespace="shop", workload_kind="Deployment", workload_name="web",
                                                     peer_namespace="shop", peer_labels={"app": "db"}), "4")  # fmt: skip
    service = _rec("cross-az", SetTrafficDistribution(namespace="shop", service="web"), "3")
    linked = _links(link_conflicts([delete, retype, elsewhere, rightsize, affinity, service]))
    assert linked[delete.fingerprint] == [retype.fingerprint] and linked[elsewhere.fingerprint] == []
    assert linked[rightsize.fingerprint] == [affinity.fingerprint]
    assert linked[service.fingerprint] == []


def test_nodes_of_the_same_name_in_two_clusters_are_different_targets() -> None:
    a = _rec("binpack", DrainAndRemoveNode(node="n1"), "10", cluster="prod-east")
    b = _rec("spot", MoveToSpot(node="n1", from_type="m5.large", to_types=("m5a.large",)), "5", cluster="staging")
    assert physical_targets(a) != physical_targets(b)
    assert all(not r.conflicts_with for r in link_conflicts([a, b]))


def test_linking_keeps_fingerprints_and_lists_links_sorted() -> None:
    recs = [_rec(e, DrainAndRemoveNode(node="n1"), s) for e, s in (("a", "1"), ("b", "2"), ("c", "3"))]
    linked = link_conflicts(recs)
    assert [r.fingerprint for r in linked] == [r.fingerprint for r in recs]
    for rec in linked:
        others = sorted(r.fingerprint for r in recs if r.engine != rec.engine)
        assert rec.conflicts_with == others


def test_a_total_counts_each_conflict_group_once_at_its_largest_saving_and_says_why() -> None:
    rows = [SavingRow("drain", Decimal("140.16"), ["spot"]), SavingRow("spot", Decimal("90.00"), ["drain"]),
            SavingRow("alone", Decimal("10.00"))]  # fmt: skip
    total = savings_total(rows)
    assert (total.gross, total.counted) == (Decimal("240.16"), Decimal("150.16"))
    assert total.note == ("2 recommendations overlap on 1 target: the total counts each target once, at its "
                          "largest saving, so it is $90.00 lower than the sum")  # fmt: skip


def test_a_chain_of_conflicts_is_one_group_and_links_to_rows_not_totalled_are_ignored() -> None:
    chain = [SavingRow("a", Decimal(5), ["b"]), SavingRow("b", Decimal(7), ["a", "c"]), SavingRow("c", Decimal(3), ["b"])]
    assert overlap(chain).groups == 1 and overlap(chain).excess == Decimal(8)
    dismissed_peer = [SavingRow("a", Decimal(5), ["gone"])]
    assert savings_total(dismissed_peer).counted == Decimal(5) and savings_total(dismissed_peer).note is None


class _NoSettings(BaseModel):
    pass


class _SpotEveryNode(DecisionEngine[_NoSettings]):
    """A second engine for the scan tests: proposes Spot for every node at a fixed saving."""

    name = "test-spot"
    title = "Spot for every node (test)"
    Settings = _NoSettings

    def scan(self, snapshot: Snapshot, ctx: ScanContext[_NoSettings]) -> ScanResult:
        assert snapshot.cluster is not None
        return ScanResult(recommendations=[
            Recommendation(engine=self.name, cluster=snapshot.cluster.name, target=f"node/{n.name}",
                           action=MoveToSpot(node=n.name, from_type=n.instance_type or "", to_types=("m5a.xlarge",)),
                           current_monthly_cost=Decimal("140.16"), projected_monthly_cost=Decimal("50.00"),
                           rationale="test")
            for n in snapshot.cluster.nodes
        ])  # fmt: skip


def _cluster(engine: Engine) -> int:
    with Session(engine) as s:
        row = Cluster(name="prod-east", region="us-east-1")
        s.add(row)
        s.commit()
        assert row.id is not None
        return row.id


def test_a_scan_stores_symmetric_conflicts_between_engines_and_the_overview_counts_each_node_once(
    engine: Engine,
) -> None:
    cid = _cluster(engine)
    registry = EngineRegistry([BinPackEngine, _SpotEveryNode])
    out = scan_and_store(engine, wasteful_snapshot(), registry, load_price_book(), cluster_id=cid)
    drains = {r.action.node: r for r in out.recommendations if r.engine == "binpack"}  # type: ignore[union-attr]
    spots = {r.action.node: r for r in out.recommendations if r.engine == "test-spot"}  # type: ignore[union-attr]
    assert drains and len(spots) == 4
    with Session(engine) as s:
        stored = {r.fingerprint: r.conflicts_with for r in s.exec(select(RecRow))}
    for node, drain in drains.items():
        assert stored[drain.fingerprint] == [spots[node].fingerprint] == drain.conflicts_with
        assert stored[spots[node].fingerprint] == [drain.fingerprint]
    gross = sum((r.monthly_savings for r in out.recommendations), Decimal(0))
    best = sum((max(d.monthly_savings, spots[n].monthly_savings) for n, d in drains.items()), Decimal(0))
    best += sum((s.monthly_savings for n, s in spots.items() if n not in drains), Decimal(0))
    total = open_savings_total(cluster_summaries(engine))
    assert (total.gross, total.counted) == (gross, best) and best < gross
    assert total.note is not None and f"{2 * len(drains)} recommendations overlap on {len(drains)} targets" in total.note


def test_a_reliability_change_that_costs_more_is_left_out_of_the_total_and_named_in_the_note() -> None:
    rows = [SavingRow("drain", Decimal("140.16")), SavingRow("oom", Decimal("-12.50"), (), "reliability")]
    total = savings_total(rows)
    assert (total.gross, total.counted, total.reliability, total.reliability_cost) == (
        Decimal("140.16"), Decimal("140.16"), 1, Decimal("12.50"))  # fmt: skip
    assert total.note == ("1 reliability change (preventing failures such as OOM kills) costs $12.50 per month "
                          "and is not in the total")  # fmt: skip


def test_the_overview_leaves_stored_reliability_rows_out_of_a_cluster_s_open_savings(engine: Engine) -> None:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        for fp, saving, purpose in (("drain", "100.00", "saving"), ("oom", "-7.25", "reliability")):
            s.add(RecRow(fingerprint=fp, engine="e", cluster_id=cluster.id, target="t", action_kind="k",
                         current_monthly_cost=Decimal(0), projected_monthly_cost=Decimal(0),
                         monthly_savings=Decimal(saving), purpose=purpose))  # fmt: skip
        s.commit()
    (summary,) = cluster_summaries(engine)
    assert summary.open_savings == Decimal("100.00")
    assert (summary.savings.reliability, summary.savings.reliability_cost) == (1, Decimal("7.25"))
    assert summary.savings.note is not None and "not in the total" in summary.savings.note
