"""Cluster registry use-cases: add/update/remove the clusters CloudOptim reads.

Called by `cloudoptim clusters`, `cloudoptim demo` (sandbox clusters) and the Settings page.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import select

from app.db import session_scope
from app.db.models import Cluster

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class ClusterError(ValueError):
    """A cluster registration that cannot be accepted."""


def register_cluster(
    engine: Engine,
    *,
    name: str,
    context: str,
    region: str,
    kubeconfig: str = "",
    is_sandbox: bool = False,
    account_id: str = "",
    usage_source: str = "",
    traffic_source: str = "",
) -> Cluster:
    if not _NAME.match(name):
        raise ClusterError(f"invalid cluster name {name!r}: use lowercase letters, digits and '-'")
    if not _REGION.match(region):
        raise ClusterError(f"invalid AWS region {region!r} (for example us-east-1)")
    if not context.strip():
        raise ClusterError("a kubeconfig context is required")
    if usage_source and not usage_source.startswith(("http://", "https://")) and not Path(usage_source).exists():
        raise ClusterError(f"usage source {usage_source!r} is neither a Prometheus URL nor an existing file")
    if traffic_source and not Path(traffic_source).exists():
        raise ClusterError(f"traffic file {traffic_source!r} does not exist")
    with session_scope(engine) as session:
        cluster = session.exec(select(Cluster).where(Cluster.name == name)).first() or Cluster(
            name=name, region=region
        )
        cluster.context, cluster.region, cluster.kubeconfig_path = context, region, kubeconfig
        cluster.is_sandbox, cluster.account_id = is_sandbox, account_id
        cluster.usage_source, cluster.traffic_source = usage_source, traffic_source
        session.add(cluster)
        session.flush()
        session.refresh(cluster)
        return cluster


def remove_cluster(engine: Engine, name: str) -> None:
    with session_scope(engine) as session:
        cluster = session.exec(select(Cluster).where(Cluster.name == name)).first()
        if cluster is None:
            raise ClusterError(f"no cluster named {name!r}")
        session.delete(cluster)
