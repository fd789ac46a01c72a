"""Cluster registry use-cases: add/update/remove the clusters CloudOptim reads.

Called by `cloudoptim clusters`, `cloudoptim demo` (sandbox clusters) and the Clusters and nodes page.
A registration is checked before it is stored (known region, existing kubeconfig and context),
because a typo found only at the next scheduled scan is a silent gap in the estate. Removing a
cluster deletes what only describes it and keeps the record of what was done and saved.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

from kubernetes import config
from kubernetes.config.config_exception import ConfigException
from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel, col, delete, select

from app.db import session_scope
from app.db.models import Cluster, Node
from app.db.tables_recs import CostSaving, Execution, Recommendation, ScanRun
from app.pricing import PriceCatalog, load_price_book

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class ClusterError(ValueError):
    """A cluster registration or removal that cannot be accepted."""


@dataclass(frozen=True)
class ClusterRemoval:
    """What `remove_cluster` deleted and what it kept (executions and savings lose only the link)."""

    name: str
    recommendations: int
    scan_runs: int
    nodes: int
    executions_kept: int
    savings_kept: int

    def summary(self) -> str:
        """One line for the CLI and the UI, e.g. "removed prod: 12 recommendations, 5 scan runs
        deleted; 2 executions kept"."""
        deleted = f"{_n(self.recommendations, 'recommendation')}, {_n(self.scan_runs, 'scan run')}"
        if self.nodes:
            deleted += f", {_n(self.nodes, 'node')}"
        kept = [_n(self.executions_kept, "execution")]
        if self.savings_kept:
            kept.append(_n(self.savings_kept, "savings entry", "savings entries"))
        return f"removed {self.name}: {deleted} deleted; {', '.join(kept)} kept"


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


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
    replace: bool = False,
    check_context: bool = True,
    prices: PriceCatalog | None = None,
) -> Cluster:
    """Store a new cluster; an existing name is an error unless `replace=True` (then it is updated
    in place, keeping its history). `check_context=False` skips reading the kubeconfig's contexts
    (the file must still exist); `prices` is the catalog whose regions are accepted."""
    _validate(name, context, region, kubeconfig, usage_source, traffic_source, check_context, prices)
    try:
        with session_scope(engine) as session:
            cluster = session.exec(select(Cluster).where(Cluster.name == name)).first()
            if cluster is not None and not replace:
                raise ClusterError(
                    f"cluster {name} already exists (context {cluster.context}); pass --replace to change it"
                )
            cluster = cluster or Cluster(name=name, region=region)
            cluster.context, cluster.region, cluster.kubeconfig_path = context, region, kubeconfig
            cluster.is_sandbox, cluster.account_id = is_sandbox, account_id
            cluster.usage_source, cluster.traffic_source = usage_source, traffic_source
            session.add(cluster)
            session.flush()
            session.refresh(cluster)
            return cluster
    except IntegrityError as exc:  # another process registered the same name just now
        raise ClusterError(f"cluster {name} already exists; pass --replace to change it") from exc


def _validate(
    name: str, context: str, region: str, kubeconfig: str, usage_source: str, traffic_source: str,
    check_context: bool, prices: PriceCatalog | None,
) -> None:  # fmt: skip
    if not _NAME.match(name):
        raise ClusterError(f"invalid cluster name {name!r}: use lowercase letters, digits and '-'")
    regions = (prices or load_price_book()).regions()
    if region not in regions:
        close = difflib.get_close_matches(region, regions, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}?" if close else f"known regions: {', '.join(regions)}"
        raise ClusterError(f"unknown AWS region {region!r} (not in the price catalog); {hint}")
    if not context.strip():
        raise ClusterError("a kubeconfig context is required")
    if kubeconfig:
        _check_kubeconfig(Path(kubeconfig).expanduser(), context, check_context)
    if usage_source and not usage_source.startswith(("http://", "https://")) and not Path(usage_source).exists():
        raise ClusterError(f"usage source {usage_source!r} is neither a Prometheus URL nor an existing file")
    if traffic_source and not traffic_source.startswith(("http://", "https://")) and not Path(traffic_source).exists():
        raise ClusterError(f"traffic source {traffic_source!r} is neither a Prometheus URL nor an existing file")


def _check_kubeconfig(path: Path, context: str, check_context: bool) -> None:
    # Only a given path is checked: an empty one means the settings' or default kubeconfig, which
    # is resolved at scan time by the collector.
    if not path.is_file():
        raise ClusterError(f"kubeconfig {path} does not exist")
    if not check_context:
        return
    try:
        contexts, _active = config.list_kube_config_contexts(config_file=str(path))  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as exc:
        raise ClusterError(f"cannot read kubeconfig {path}: {exc}") from exc
    names = sorted(str(c.get("name")) for c in contexts or [])
    if context not in names:
        close = difflib.get_close_matches(context, names, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ClusterError(f"context {context!r} not found in {path}; {hint}available: {', '.join(names) or 'none'}")


def remove_cluster(engine: Engine, name: str) -> ClusterRemoval:
    """Delete the cluster with its nodes, snapshots, recommendations and scan runs (the schema's
    ON DELETE CASCADE); its executions and savings stay, unlinked but still naming the cluster."""
    with session_scope(engine) as session:
        cluster = session.exec(select(Cluster).where(Cluster.name == name)).first()
        if cluster is None:
            known = session.exec(select(Cluster.name).order_by(Cluster.name)).all()
            raise ClusterError(f"no cluster named {name!r} (registered: {', '.join(known) or 'none'})")
        cid = cluster.id

        def count(table: type[SQLModel]) -> int:
            column = table.cluster_id  # type: ignore[attr-defined]
            return int(session.exec(select(func.count()).select_from(table).where(column == cid)).one())

        removal = ClusterRemoval(
            name=name, recommendations=count(Recommendation), scan_runs=count(ScanRun), nodes=count(Node),
            executions_kept=count(Execution), savings_kept=count(CostSaving),
        )  # fmt: skip
        # Rows written before cluster_name existed (or by a writer that left it empty) learn it now,
        # while the link still says which cluster they belong to.
        for table in (Execution, CostSaving):
            session.exec(
                update(table)
                .where(col(table.cluster_id) == cid, col(table.cluster_name) == "")
                .values(cluster_name=name)
            )
        session.exec(delete(Cluster).where(col(Cluster.id) == cid))
        return removal
