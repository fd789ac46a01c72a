"""`cloudoptim clusters ...`: register the clusters CloudOptim reads (kubeconfig context + region)."""

from __future__ import annotations

import typer
from sqlmodel import Session, select

from app.bootstrap import open_database
from cli.common import err_console, run_or_exit, settings_or_exit
from app.db.models import Cluster
from app.services.clusters import ClusterError, register_cluster, remove_cluster

group = typer.Typer(help="Connected clusters.", no_args_is_help=True)


@group.command("add")
def add_cmd(
    name: str = typer.Argument(help="Name shown in CloudOptim."),
    context: str = typer.Option(..., help="kubeconfig context of the cluster."),
    region: str = typer.Option(..., help="AWS region the cluster's nodes run in."),
    kubeconfig: str = typer.Option("", help="kubeconfig path (default: settings / ~/.kube/config)."),
    usage: str = typer.Option("", help="Usage history: a Prometheus URL, or a usage CSV file or directory."),
    traffic: str = typer.Option("", help="Service traffic matrix CSV (namespace,source,destination,bytes_per_day)."),
) -> None:
    """Register a cluster (or update its context/region/sources)."""
    settings = settings_or_exit()
    engine = run_or_exit(lambda: open_database(settings))
    try:
        cluster = register_cluster(engine, name=name, context=context, region=region, kubeconfig=kubeconfig,
                                   usage_source=usage, traffic_source=traffic)  # fmt: skip
    except ClusterError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    typer.echo(f"registered {cluster.name} (context {cluster.context}, {cluster.region})")


@group.command("list")
def list_cmd() -> None:
    """List registered clusters."""
    settings = settings_or_exit()
    engine = run_or_exit(lambda: open_database(settings))
    with Session(engine) as session:
        rows = session.exec(select(Cluster).order_by(Cluster.name)).all()
    if not rows:
        typer.echo("no clusters registered; try `cloudoptim demo` or `cloudoptim clusters add`")
    for c in rows:
        typer.echo(f"{c.name}\t{c.context}\t{c.region}\t{'sandbox' if c.is_sandbox else ''}")


@group.command("remove")
def remove_cmd(name: str) -> None:
    """Forget a cluster and its stored nodes and snapshots."""
    settings = settings_or_exit()
    engine = run_or_exit(lambda: open_database(settings))
    try:
        remove_cluster(engine, name)
    except ClusterError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    typer.echo(f"removed {name}")
