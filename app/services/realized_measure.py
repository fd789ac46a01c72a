"""What an applied execution saves now, measured from the latest stored snapshot and the price book.

Pure: no database, no clients, no clock. `app.services.realized_savings` picks the measure for
an execution's action kind, feeds it the execution (action, pre-image, result, times) and the
cluster's last snapshot, and writes the answer to the savings ledger. Node actions are measured
here: the removed node (priced from its pre-image labels or its EC2 record) must be gone from the
cluster and its instance no longer running, and any node that joined since and now runs the
evicted pods' controllers counts against the saving; a replaced node saves its price minus the
replacement's real price. Workload and AWS actions are in `app.services.realized_other`. A gap
(the node is back, a price is missing) is `realized=None` with a note that says so: never a
silent zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from app.collectors.k8s_convert import capacity_type
from engines.contract import PriceBook
from engines.costs import node_hourly, type_hourly
from engines.money import ZERO, monthly_from_hourly
from engines.snapshot import CapacityType, ClusterState, Node
from engines.snapshot_aws import AccountState, Instance, Snapshot

RUNNING_STATES = ("pending", "running")


@dataclass(frozen=True)
class Applied:
    """One succeeded, real (not dry-run) apply whose ledger row is open, as stored."""

    execution_id: int
    action_kind: str
    action: Mapping[str, Any]
    pre_image: Mapping[str, Any]
    result: Mapping[str, Any]
    started_at: datetime
    finished_at: datetime
    region: str
    expected: Decimal


@dataclass(frozen=True)
class Measured:
    """The monthly saving measured now (None = not measured), and in words how or why not."""

    realized: Decimal | None
    notes: str


Measure = Callable[[Applied, Snapshot, PriceBook], Measured]


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def no_cluster_state() -> Measured:
    return Measured(None, "not measured: the scan has no Kubernetes state (see the cluster's source errors)")


# --- nodes -----------------------------------------------------------------------------------


def find_node(cluster: ClusterState, name: str | None, instance_id: str | None) -> Node | None:
    for node in cluster.nodes:
        if node.name == name or (instance_id and node.instance_id == instance_id):
            return node
    return None


def find_instance(account: AccountState | None, instance_id: str | None) -> Instance | None:
    if account is None or not instance_id:
        return None
    return next((i for i in account.instances if i.instance_id == instance_id), None)


def removed_type(pre: Mapping[str, Any], record: Instance | None) -> tuple[str | None, CapacityType]:
    """The removed node's instance type and market: its pre-image, else its EC2 record."""
    labels = pre.get("labels") or {}
    itype = pre.get("instance_type") or labels.get("node.kubernetes.io/instance-type") \
        or labels.get("beta.kubernetes.io/instance-type") or (record.instance_type if record else None)  # fmt: skip
    market = pre.get("capacity_type")
    if market not in ("spot", "on-demand"):
        market = capacity_type(labels) if labels else (record.lifecycle if record else "on-demand")
    return itype, market


def new_capacity(cluster: ClusterState, controllers: list[Mapping[str, str]], since: datetime) -> list[Node]:
    """Nodes that joined since `since` and run pods of the evicted pods' controllers: the capacity
    the drain may have caused (an autoscaler launching one for them)."""
    owners = {(c.get("namespace"), c.get("kind"), c.get("name")) for c in controllers}
    hosting = {p.node_name for p in cluster.pods if (p.namespace, p.controller_kind, p.controller_name) in owners}
    return [n for n in cluster.nodes if n.name in hosting and n.created_at is not None and n.created_at >= since]


def _price_note(node: str, itype: str, market: str, hourly: Decimal) -> str:
    return f"{node} ({itype} {market}, ${hourly}/h)"


def removed_node(applied: Applied, snapshot: Snapshot, prices: PriceBook) -> Measured:
    """drain-and-remove-node: the node's price is gone, less any new node its pods moved onto."""
    cluster = snapshot.cluster
    if cluster is None:
        return no_cluster_state()
    pre, result = applied.pre_image, applied.result
    name = str(applied.action.get("node") or pre.get("node"))
    instance_id = result.get("instance_id") or pre.get("instance_id") or applied.action.get("instance_id")
    back = find_node(cluster, name, instance_id)
    if back is not None:
        return Measured(None, f"not measured: node {back.name} (instance {back.instance_id or 'unknown'}) is in the "
                              "cluster again, so its price is not gone")  # fmt: skip
    record = find_instance(snapshot.account, instance_id)
    if record is not None and record.state in RUNNING_STATES:
        return Measured(ZERO, f"node {name} left the cluster but its instance {instance_id} is {record.state} and "
                              "billed: nothing is saved")  # fmt: skip
    itype, market = removed_type(pre, record)
    if not itype:
        return Measured(None, f"not measured: the instance type of node {name} is not recorded (no instance-type "
                              "label in the pre-image, no EC2 record)")  # fmt: skip
    hourly = type_hourly(prices, applied.region, itype, market).hourly
    saved = monthly_from_hourly(hourly)
    gone = f"node {_price_note(name, itype, market, hourly)} is gone"
    gone += f" and instance {instance_id} no longer runs" if instance_id else ""
    if snapshot.account is None and instance_id:
        gone += " (EC2 state not collected: measured from the cluster)"
    added = new_capacity(cluster, list(pre.get("controllers") or []), applied.started_at)
    if not added:
        return Measured(saved, f"{gone}; its pods run on nodes that were already there: saves ${saved}/month")
    extra = ZERO
    notes = []
    for node in added:
        node_price = node_hourly(prices, node.region or applied.region, node)
        extra += monthly_from_hourly(node_price.hourly)
        notes.append(_price_note(node.name, str(node.instance_type), node.capacity_type, node_price.hourly))
    return Measured(saved - extra, f"{gone}; new node(s) {', '.join(notes)} joined since and run its pods' "
                                   f"workloads: ${saved} - ${extra} = ${saved - extra}/month")  # fmt: skip


def replaced_node(applied: Applied, snapshot: Snapshot, prices: PriceBook) -> Measured:
    """replace-node-type and move-to-spot: the old node's price minus its replacement's real one."""
    cluster = snapshot.cluster
    if cluster is None:
        return no_cluster_state()
    pre, result = applied.pre_image, applied.result
    old_name, old_id = str(pre.get("node") or applied.action.get("node")), pre.get("instance_id")
    back = find_node(cluster, old_name, old_id)
    if back is not None:
        return Measured(None, f"not measured: the replaced node {back.name} is in the cluster again")
    new_name, new_id = result.get("new_node"), result.get("new_instance_id")
    new = find_node(cluster, new_name, new_id)
    if new is None:
        return Measured(None, f"not measured: the replacement node {new_name or new_id or '(unknown)'} is not in the "
                              "cluster any more (interrupted or scaled down), so what replaced it is unknown")  # fmt: skip
    itype, market = removed_type(pre, find_instance(snapshot.account, old_id))
    if not itype:
        return Measured(None, f"not measured: the instance type of node {old_name} is not recorded")
    old_hourly = type_hourly(prices, applied.region, itype, market).hourly
    new_price = node_hourly(prices, new.region or applied.region, new)
    saved = monthly_from_hourly(old_hourly) - monthly_from_hourly(new_price.hourly)
    return Measured(saved, f"node {_price_note(old_name, itype, market, old_hourly)} is gone; its replacement "
                           f"{_price_note(new.name, str(new.instance_type), new.capacity_type, new_price.hourly)} "
                           f"runs ({new_price.source} price): saves ${saved}/month")  # fmt: skip


MEASURES: dict[str, Measure] = {
    "drain-and-remove-node": removed_node,
    "replace-node-type": replaced_node,
    "move-to-spot": replaced_node,
}
