"""Facts the ghost-probe engine needs from the database: which instances are nodes of a cluster.

Called by the scan pipeline before engines run, to set `AccountState.cluster_node_instances`: an
instance whose id is the providerID of a node of any registered cluster (as the latest scan of
that cluster stored it in the `nodes` table) belongs to that cluster, even when its tags do not
say so, and the ghost probe must leave it to the node engines. Reads only; one query.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.db.models import Cluster, Node


def cluster_node_instances(db: Engine) -> tuple[str, ...]:
    """Instance ids of the nodes of every registered cluster, sorted and without duplicates.

    `nodes.instance_id` is parsed from each node's providerID (aws:///<zone>/<instance id>) by the
    Kubernetes collector; nodes without one (not on EC2, or not yet provisioned) are left out.
    """
    stmt = (
        select(Node.instance_id)
        .join(Cluster, col(Node.cluster_id) == col(Cluster.id))
        .where(col(Node.instance_id).is_not(None), col(Node.instance_id) != "")
        .distinct()
    )
    with Session(db) as session:
        return tuple(sorted(str(i) for i in session.exec(stmt) if i))
