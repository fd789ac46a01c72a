"""`cloudoptim db ...`: schema migrations."""

from __future__ import annotations

import typer

from cli.common import run_or_exit, settings_or_exit
from app.db import make_engine, upgrade
from app.db.engine import safe_url
from app.db.migrate import current_revision, head_revision

group = typer.Typer(help="Database schema.", no_args_is_help=True)


@group.command("upgrade")
def upgrade_cmd() -> None:
    """Create or upgrade the schema to the newest revision (safe to run twice)."""
    settings = settings_or_exit()
    engine = run_or_exit(lambda: make_engine(settings.database_url))
    before = current_revision(engine)
    after = upgrade(engine)
    url = safe_url(settings.database_url)
    if before == after:
        typer.echo(f"{url}: already at revision {after}")
    else:
        typer.echo(f"{url}: upgraded from {before or 'empty'} to {after}")


@group.command("current")
def current_cmd() -> None:
    """Show the schema revision of the database and the newest one available."""
    settings = settings_or_exit()
    engine = run_or_exit(lambda: make_engine(settings.database_url))
    typer.echo(f"current: {current_revision(engine) or 'empty'}; head: {head_revision()}")
