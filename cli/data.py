"""`cloudoptim data ...`: inspect and refresh the price data."""

from __future__ import annotations

import typer

from cli.common import err_console, run_or_exit, settings_or_exit
from app.pricing import load_price_book
from app.pricing.files import sha256_of
from app.pricing.refresh import boto3_price_list_fetcher, check_catalog, refresh_ondemand, refresh_spot_advisor

group = typer.Typer(help="Price data (on-demand, Spot Advisor, EBS, inter-AZ).", no_args_is_help=True)


@group.command("info")
def info_cmd() -> None:
    """Show which price files are in use and their checksums."""
    settings = settings_or_exit()
    book = run_or_exit(lambda: load_price_book(settings.pricing_dir))
    for name, path in sorted(book.sources.items()):
        typer.echo(f"{name}: {path} sha256={sha256_of(path)[:16]}…")
    typer.echo(f"regions with on-demand prices: {len(book.regions())}")


@group.command("refresh")
def refresh_cmd(
    spot_only: bool = typer.Option(False, "--spot-only", help="Only refresh the Spot Advisor feed."),
) -> None:
    """Download fresh prices, validate them, and keep the current copy when that fails."""
    settings = settings_or_exit()
    dest = settings.pricing_dir
    outcomes = [refresh_spot_advisor(settings.pricing.spot_advisor_url, dest, settings.pricing.download_timeout_s)]
    if not spot_only:
        outcomes.append(refresh_ondemand(settings.aws.regions, dest, boto3_price_list_fetcher))
    for outcome in outcomes:
        mark = "[green]updated[/]" if outcome.updated else "[yellow]unchanged[/]"
        err_console.print(f"{outcome.name}: {mark} — {outcome.message}", highlight=False)
    problem = check_catalog(dest)
    if problem:
        err_console.print(f"[bold red]error:[/] {problem}")
        raise typer.Exit(2)
