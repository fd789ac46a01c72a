"""`cloudoptim clusters ...`: register the clusters CloudOptim reads (kubeconfig context + region).

`add` refuses what would only fail at the next scan: an unknown region, a missing kubeconfig, a
context the kubeconfig does not have, and a name already in use (unless `--replace`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import error, open_db_or_exit, run_or_exit, settings_or_exit

group = typer.Typer(help="Connected clusters.", no_args_is_help=True)


def _default_kubeconfig(configured: str) -> Path:
    """The file the collector reads when a cluster has no kubeconfig of its own."""
    if configured:
        return Path(configured).expanduser()
    env = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(env or "~/.kube/config").expanduser()


def _check_default_context(path: Path, context: str) -> None:
    # register_cluster checks a given --kubeconfig; without one the default file is checked here.
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    if not path.is_file():
        error(f"no --kubeconfig given and the default kubeconfig {path} does not exist "
              "(pass --kubeconfig, or --no-check-context to register it anyway)")  # fmt: skip
    try:
        contexts, _active = config.list_kube_config_contexts(config_file=str(path))  # type: ignore[no-untyped-call]
    except (ConfigException, OSError, ValueError) as exc:
        error(f"cannot read kubeconfig {path}: {exc}")
    names = sorted(str(c.get("name")) for c in contexts or [])
    if context not in names:
        error(f"context {context!r} not found in {path}; available: {', '.join(names) or 'none'}")


@group.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Name shown in CloudOptim.")],
    context: Annotated[str, typer.Option(help="kubeconfig context of the cluster.")],
    region: Annotated[str, typer.Option(help="AWS region the cluster's nodes run in (must have prices).")],
    kubeconfig: Annotated[str, typer.Option(help="kubeconfig path (default: settings / ~/.kube/config).")] = "",
    usage: Annotated[str, typer.Option(help="Usage history: a Prometheus URL, or a usage CSV file or directory.")] = "",
    traffic: Annotated[
        str, typer.Option(help="Service traffic matrix CSV (namespace,source,destination,bytes_per_day).")
    ] = "",
    replace: Annotated[bool, typer.Option("--replace", help="Update the cluster if the name is registered.")] = False,
    check_context: Annotated[
        bool, typer.Option(help="Check now that the kubeconfig has the context (off: check at the first scan).")
    ] = True,
) -> None:
    """Register a cluster; with --replace, update an existing one (its history is kept)."""
    from app.pricing import load_price_book
    from app.services.clusters import ClusterError, register_cluster
    from app.settings import close_matches

    settings = settings_or_exit()
    prices = run_or_exit(lambda: load_price_book(settings.pricing_dir))
    if region not in prices.regions():
        error(f"--region: unknown AWS region {region!r} (no prices for it){close_matches(region, prices.regions())}")
    if not kubeconfig and check_context:
        _check_default_context(_default_kubeconfig(settings.k8s.kubeconfig), context)
    engine = open_db_or_exit(settings)
    try:
        cluster = register_cluster(
            engine, name=name, context=context, region=region, kubeconfig=kubeconfig, usage_source=usage,
            traffic_source=traffic, replace=replace, check_context=check_context, prices=prices,
        )  # fmt: skip
    except ClusterError as exc:
        error(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"registered {cluster.name} (context {cluster.context}, {cluster.region})")


@group.command("list")
def list_cmd() -> None:
    """List registered clusters: name, context, region, and 'sandbox' for demo clusters."""
    from sqlmodel import Session, select

    from app.db.models import Cluster

    settings = settings_or_exit()
    engine = open_db_or_exit(settings)
    with Session(engine) as session:
        rows = session.exec(select(Cluster).order_by(Cluster.name)).all()
    engine.dispose()
    if not rows:
        typer.echo("no clusters registered; try `cloudoptim demo` or `cloudoptim clusters add`")
    for c in rows:
        typer.echo(f"{c.name}\t{c.context}\t{c.region}\t{'sandbox' if c.is_sandbox else ''}")


@group.command("remove")
def remove_cmd(name: Annotated[str, typer.Argument(help="Registered cluster name.")]) -> None:
    """Forget a cluster: its nodes, snapshots, recommendations and scan runs (executions are kept)."""
    from app.services.clusters import ClusterError, remove_cluster

    settings = settings_or_exit()
    engine = open_db_or_exit(settings)
    try:
        removal = remove_cluster(engine, name)
    except ClusterError as exc:
        error(str(exc))
    finally:
        engine.dispose()
    typer.echo(removal.summary())
