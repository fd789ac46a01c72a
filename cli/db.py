"""`cloudoptim db ...`: schema migrations (`upgrade` creates or migrates, `current` only looks)."""

from __future__ import annotations

import typer

from cli.common import open_db_or_exit, run_or_exit, settings_or_exit

group = typer.Typer(help="Database schema.", no_args_is_help=True)


@group.command("upgrade")
def upgrade_cmd() -> None:
    """Create or upgrade the schema to the newest revision (safe to run twice)."""
    from app.db import upgrade
    from app.db.engine import safe_url
    from app.db.migrate import current_revision

    settings = settings_or_exit()
    engine = open_db_or_exit(settings, migrate=False)
    before = current_revision(engine)
    after = run_or_exit(lambda: upgrade(engine))
    url = safe_url(settings.database_url)
    if before == after:
        typer.echo(f"{url}: already at revision {after}")
    else:
        typer.echo(f"{url}: upgraded from {before or 'empty'} to {after}")


@group.command("current")
def current_cmd() -> None:
    """Show the schema revision of the database and the newest one available (creates nothing)."""
    from app.db import make_engine
    from app.db.migrate import current_revision, head_revision

    settings = settings_or_exit()
    # read_only: a mistyped data directory or URL is reported, never created as an empty database.
    engine = run_or_exit(lambda: make_engine(settings.database_url, read_only=True,
                                             busy_timeout_ms=settings.db.busy_timeout_ms))  # fmt: skip
    try:
        typer.echo(f"current: {current_revision(engine) or 'empty'}; head: {head_revision()}")
    finally:
        engine.dispose()
