"""`cloudoptim data ...`: inspect (`info`) and refresh (`refresh`) the price data files.

`info` lists every price file with the copy in use (refreshed in the data directory, or shipped
with the package) and its checksum. `refresh` prints one line per source; when a download fails
the copy in use stays, and the exit code is 1 if nothing at all was refreshed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from cli.common import EXIT_FAILED, error, run_or_exit, say, settings_or_exit, warn

group = typer.Typer(help="Price data (on-demand, Spot Advisor, instance types, EBS, inter-AZ).", no_args_is_help=True)


def _copy_in_use(name: str, pricing_dir: Path) -> str:
    from app.pricing import files

    path = files.locate(name, pricing_dir)
    if path.parent == files.shipped_dir():
        return "the shipped copy"
    stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"the copy refreshed {stamp}"


@group.command("info")
def info_cmd() -> None:
    """Show every price file in use (refreshed or shipped), its checksum, and the regions priced."""
    from app.pricing import files, load_price_book

    settings = settings_or_exit()
    book = run_or_exit(lambda: load_price_book(settings.pricing_dir))  # proves the files load together
    shipped = files.shipped_checksums()
    for name in files.PRICE_FILES:
        path = files.locate(name, settings.pricing_dir)
        digest = files.sha256_of(path)
        if path.parent == files.shipped_dir():
            origin = "shipped" + ("" if shipped.get(name) == digest else ", CHECKSUM DIFFERS FROM SHA256SUMS")
        else:
            origin = _copy_in_use(name, settings.pricing_dir).removeprefix("the copy ")
        refreshable = "" if name in files.REFRESHABLE else ", not refreshed online"
        typer.echo(f"{name}: {path} ({origin}{refreshable}) sha256={digest[:16]}…")
    typer.echo(f"regions with on-demand prices: {len(book.regions())}")


@group.command("refresh")
def refresh_cmd(
    spot_only: bool = typer.Option(False, "--spot-only", help="Only refresh the Spot Advisor feed."),
) -> None:
    """Download fresh Spot Advisor and on-demand prices, validate them, keep the current copy on failure.

    Exit code 0 when at least one file was refreshed, 1 when none was (offline, no AWS
    credentials for the Price List API...), 2 when the resulting price data is unusable.
    """
    from app.pricing.refresh import boto3_price_list_fetcher, check_catalog, refresh_ondemand, refresh_spot_advisor
    from app.settings import ensure_data_dir

    settings = settings_or_exit()
    run_or_exit(lambda: ensure_data_dir(settings))
    dest, timeout = settings.pricing_dir, settings.pricing.download_timeout_s
    outcomes = [refresh_spot_advisor(settings.pricing.spot_advisor_url, dest, timeout)]
    if not spot_only:
        outcomes.append(refresh_ondemand(settings.aws.regions, dest, lambda r: boto3_price_list_fetcher(r, timeout)))
    for outcome in outcomes:
        if outcome.updated:
            say(f"{outcome.name}: updated ({outcome.message})")
        else:
            warn(f"{outcome.name}: not refreshed: {outcome.message}; {_copy_in_use(outcome.name, dest)} stays in use")
    problem = check_catalog(dest)
    if problem:
        error(problem)
    if not any(o.updated for o in outcomes):
        error("nothing was refreshed; the price data in use is unchanged", EXIT_FAILED)
