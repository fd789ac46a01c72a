"""Inventory report for `cloudoptim inventory`: counts and monthly cost per cluster and account.

Accounts are de-duplicated by account id and region, since clusters in one region share them.
Money is a decimal string in the report so JSON consumers never see a float.
"""

from __future__ import annotations

from typing import Any

from app.services.costing import account_cost, cluster_cost
from engines.contract import PriceBook
from engines.snapshot_aws import Snapshot


def inventory_report(snapshots: list[Snapshot], prices: PriceBook) -> dict[str, Any]:
    clusters: list[dict[str, Any]] = []
    accounts: dict[tuple[str, str], dict[str, Any]] = {}
    errors: list[str] = []
    for snap in snapshots:
        errors += [f"{e.source}: {e.message}" for e in snap.errors]
        if snap.cluster is not None:
            cost = cluster_cost(prices, snap.cluster)
            errors += cost.unpriced
            clusters.append({
                "name": snap.cluster.name, "region": snap.cluster.region, "nodes": len(snap.cluster.nodes),
                "pods": len(snap.cluster.pods), "monthly_cost": str(cost.monthly),
            })  # fmt: skip
        acct = snap.account
        if acct is not None and (acct.account_id, acct.region) not in accounts:
            cost = account_cost(prices, acct)
            errors += cost.unpriced
            accounts[(acct.account_id, acct.region)] = {
                "account_id": acct.account_id, "region": acct.region,
                "instances": len(acct.instances),
                "instances_outside_clusters": sum(1 for i in acct.instances if i.cluster is None),
                "volumes": len(acct.volumes),
                "unattached_volumes": sum(1 for v in acct.volumes if not v.attachments),
                "monthly_cost": str(cost.monthly),
            }  # fmt: skip
    return {"clusters": clusters, "accounts": list(accounts.values()), "errors": errors}
