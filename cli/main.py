"""`cloudoptim` root command: --version, the command groups (db, data, clusters, executions) and the
commands (scan, inventory, demo, apply, permissions, ui, worker).

Startup time matters here (every command and `--help` pays it): the modules imported below are
light by design and import the core inside their command functions.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from app import __version__
from cli import apply, clusters, data, db, demo, executions, inventory, models, permissions, scan, users
from cli.common import EXIT_FAILED, error, open_db_or_exit, run_or_exit, say, settings_or_exit, ui_command, ui_url

cli = typer.Typer(
    name="cloudoptim",
    help="Self-hosted, agentless cost optimizer for Kubernetes on AWS.",
    epilog="Exit codes: 0 done (warnings may be printed), 1 the work failed, 2 bad options, settings or data.",
    no_args_is_help=True,
    add_completion=False,
    # Markdown joins the hard-wrapped lines of a docstring into paragraphs; "rich" keeps them.
    rich_markup_mode="markdown",
)
cli.add_typer(db.group, name="db")
cli.add_typer(data.group, name="data")
cli.add_typer(clusters.group, name="clusters")
cli.add_typer(executions.group, name="executions")
cli.add_typer(models.group, name="models")
cli.add_typer(users.group, name="users")
cli.command("scan")(scan.scan)
cli.command("inventory")(inventory.inventory)
cli.command("demo")(demo.demo)
cli.command("apply")(apply.apply)
cli.command("permissions")(permissions.permissions)


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
    open_db_or_exit(settings).dispose()  # migrate before the first page view
    cmd = ui_command(settings, host, port)
    say(f"CloudOptim UI on {ui_url(cmd)}")
    # Replace this process with Streamlit rather than running it as a child: a SIGTERM to
    # `cloudoptim ui` (a service manager, a test, Ctrl-C) then reaches the server itself and
    # can never leave an orphaned Streamlit behind.
    os.execve(cmd[0], cmd, os.environ.copy())


@cli.command()
def worker(
    check: Annotated[
        bool, typer.Option("--check", help="Do not start: exit 0 if a running worker's heartbeat is fresh, else 1.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Exit (code 2) when another worker runs on the database, "
                                             "instead of waiting as a standby.")
    ] = False,
) -> None:
    """Run the background worker (scheduled scans, Spot interruption poller, executor).

    One worker runs per database; a second one waits as a standby and takes over when the first
    stops (--no-wait: exit instead). With --check, for process managers: reads the liveness file the worker writes every 30 s
    (CLOUDOPTIM_WORKER__LIVENESS_FILE, default worker.alive in the data directory) and exits 0
    when it is younger than three heartbeats, 1 otherwise.
    """
    settings = settings_or_exit()
    if check:
        from background.liveness import check as check_liveness
        from background.liveness import liveness_path

        state = check_liveness(liveness_path(settings))
        if not state.alive:
            error(state.message, code=EXIT_FAILED)
        say(state.message)
        return
    from app.settings import ensure_data_dir
    from background.logs import configure
    from background.worker import Worker, WorkerAlreadyRunning

    run_or_exit(lambda: ensure_data_dir(settings))  # the worker's lock file lives there
    configure(settings)
    engine = open_db_or_exit(settings)
    try:
        Worker(settings, engine, standby=not no_wait).run()
    except WorkerAlreadyRunning as exc:
        error(str(exc))


def main() -> None:
    cli()
