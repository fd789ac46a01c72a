"""Resolve what `scan` and `inventory` look at: registered clusters, or a temporary sandbox.

With `--sandbox` a Sandbox is started in a temporary directory with its own throwaway SQLite
database (your real database is not touched), its clusters are registered there, and everything
is stopped and removed afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.bootstrap import open_database
from cli.common import err_console, run_or_exit, settings_or_exit
from app.db.models import Cluster
from app.services.clusters import register_cluster
from app.settings import Settings, load_settings


@dataclass
class Target:
    settings: Settings
    db: Engine
    clusters: list[Cluster]


def register_sandbox_clusters(db: Engine, sandbox: object) -> list[Cluster]:
    """Register every sandbox cluster with its kubeconfig context, usage and traffic files."""
    from sandbox.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    return [
        register_cluster(
            db, name=name, context=info.context, region="us-east-1", kubeconfig=str(sandbox.kubeconfig_path),
            is_sandbox=True, usage_source=str(sandbox.usage_path(name)), traffic_source=str(sandbox.traffic_path(name)),
        )  # fmt: skip
        for name, info in sandbox.clusters.items()
    ]


@contextmanager
def resolve(use_sandbox: bool, cluster_names: list[str]) -> Iterator[Target]:
    if use_sandbox and cluster_names:
        err_console.print("[bold red]error:[/] use either --sandbox or --cluster, not both")
        raise typer.Exit(2)
    if not use_sandbox:
        settings = settings_or_exit()
        db = run_or_exit(lambda: open_database(settings))
        with Session(db) as session:
            rows = list(session.exec(select(Cluster).order_by(Cluster.name)))
        if cluster_names:
            known = {c.name: c for c in rows}
            missing = [n for n in cluster_names if n not in known]
            if missing:
                err_console.print(f"[bold red]error:[/] unknown cluster {', '.join(missing)} "
                                  f"(registered: {', '.join(known) or 'none'})")  # fmt: skip
                raise typer.Exit(2)
            rows = [known[n] for n in cluster_names]
        if not rows:
            err_console.print("[bold red]error:[/] no clusters registered; use --sandbox or `cloudoptim clusters add`")
            raise typer.Exit(2)
        yield Target(settings, db, rows)
        return
    from sandbox.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="cloudoptim-sandbox-") as tmp:
        err_console.print("starting a temporary sandbox (local AWS and Kubernetes APIs)…")
        with Sandbox(Path(tmp) / "sandbox") as sandbox:
            os.environ.update(sandbox.aws_env)  # process edge: boto3 in the collectors uses it
            settings = load_settings(data_dir=Path(tmp) / "data", db={"url": ""})
            db = open_database(settings)
            try:
                yield Target(settings, db, register_sandbox_clusters(db, sandbox))
            finally:
                db.dispose()
