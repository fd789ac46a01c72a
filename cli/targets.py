"""Resolve what `scan` and `inventory` look at: registered clusters, or a temporary sandbox.

`resolve` checks everything it can (option conflicts, settings, unknown cluster names) before it
starts any work. With `--sandbox` a Sandbox is started in a temporary directory with its own
throwaway SQLite database (your real database is not touched), its clusters are registered
there, and everything is stopped and removed afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cli.common import error, open_db_or_exit, say, settings_or_exit

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.db.models import Cluster
    from app.settings import Settings
    from sandbox.sandbox import Sandbox


@dataclass
class Target:
    settings: Settings
    db: Engine
    clusters: list[Cluster]


def check_exclusive(use_sandbox: bool, cluster_names: list[str]) -> None:
    if use_sandbox and cluster_names:
        error("use either --sandbox or --cluster, not both")


def register_sandbox_clusters(db: Engine, sandbox: Sandbox, settings: Settings) -> list[Cluster]:
    """Register (or re-register: a new demo run replaces the last one's) every sandbox cluster."""
    from app.pricing import load_price_book
    from app.services.clusters import register_cluster

    prices = load_price_book(settings.pricing_dir)
    return [
        register_cluster(
            db, name=name, context=info.context, region="us-east-1", kubeconfig=str(sandbox.kubeconfig_path),
            is_sandbox=True, usage_source=str(sandbox.usage_path(name)), traffic_source=str(sandbox.traffic_path(name)),
            replace=True, prices=prices,
        )  # fmt: skip
        for name, info in sandbox.clusters.items()
    ]


def _registered(db: Engine, cluster_names: list[str]) -> list[Cluster]:
    from sqlmodel import Session, select

    from app.db.models import Cluster

    with Session(db) as session:
        rows = list(session.exec(select(Cluster).order_by(Cluster.name)))
    known = {c.name: c for c in rows}
    missing = [n for n in dict.fromkeys(cluster_names) if n not in known]
    if missing:
        error(f"unknown cluster {', '.join(missing)} (registered: {', '.join(known) or 'none'})")
    if cluster_names:
        return [known[n] for n in dict.fromkeys(cluster_names)]
    if not rows:
        error("no clusters registered; use --sandbox or `cloudoptim clusters add`")
    return rows


@contextmanager
def resolve(use_sandbox: bool, cluster_names: list[str]) -> Iterator[Target]:
    """The settings, database and clusters to work on; every refusal happens before any work."""
    check_exclusive(use_sandbox, cluster_names)
    settings = settings_or_exit()
    if not use_sandbox:
        db = open_db_or_exit(settings)
        try:
            yield Target(settings, db, _registered(db, cluster_names))
        finally:
            db.dispose()
        return
    from app.settings import DbSettings
    from sandbox.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="cloudoptim-sandbox-") as tmp:
        say("starting a temporary sandbox (local AWS and Kubernetes APIs)…")
        # The user's settings (already validated) with a throwaway data dir and SQLite database.
        settings = settings.model_copy(update={"data_dir": Path(tmp) / "data", "db": DbSettings()})
        with Sandbox(Path(tmp) / "sandbox") as sandbox:
            os.environ.update(sandbox.aws_env)  # process edge: boto3 in the collectors uses it
            db = open_db_or_exit(settings)
            try:
                yield Target(settings, db, register_sandbox_clusters(db, sandbox, settings))
            finally:
                db.dispose()
