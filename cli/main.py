"""`cloudoptim` root command: --version and the command groups (db, data, clusters, ui, worker)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from app import __version__
from app.bootstrap import configure_logging, open_database
from cli import clusters, data, db, demo, scan
from cli.common import err_console, run_or_exit, settings_or_exit, ui_command

cli = typer.Typer(
    name="cloudoptim",
    help="Self-hosted, agentless cost optimizer for Kubernetes on AWS.",
    no_args_is_help=True,
    add_completion=False,
)
cli.add_typer(db.group, name="db")
cli.add_typer(data.group, name="data")
cli.add_typer(clusters.group, name="clusters")
cli.command("scan")(scan.scan)
cli.command("inventory")(scan.inventory)
cli.command("demo")(demo.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cloudoptim {__version__}")
        raise typer.Exit()


@cli.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """CloudOptim finds Kubernetes and AWS savings, explains them, applies them and proves them."""


@cli.command()
def ui(
    host: Annotated[str | None, typer.Option(help="Listen address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8501).")] = None,
) -> None:
    """Start the web UI (Streamlit)."""
    settings = settings_or_exit()
    run_or_exit(lambda: open_database(settings).dispose())  # migrate before the first page view
    cmd = ui_command(host, port)
    address, listen_port = cmd[cmd.index("--server.address") + 1], cmd[cmd.index("--server.port") + 1]
    err_console.print(f"CloudOptim UI on http://{address}:{listen_port}")
    # Replace this process with Streamlit rather than running it as a child: a SIGTERM to
    # `cloudoptim ui` (a service manager, a test, Ctrl-C) then reaches the server itself and
    # can never leave an orphaned Streamlit behind.
    os.execve(cmd[0], cmd, os.environ.copy())


@cli.command()
def worker() -> None:
    """Run the background worker (scheduled scans, Spot interruption poller, executor)."""
    from background.worker import Worker, WorkerAlreadyRunning

    settings = settings_or_exit()
    configure_logging(settings)
    engine = run_or_exit(lambda: open_database(settings))
    try:
        Worker(settings, engine).run()
    except WorkerAlreadyRunning as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def main() -> None:
    cli()
