"""`cloudoptim scan`: collect, run the engines, store and print the recommendations.

Each cluster goes through `app.services.pipeline.scan_cluster`, the pipeline the worker and the
demo use, so a CLI scan is recorded and judged (succeeded, partial, failed) the same way.
Options are checked (engines, clusters, settings) before a sandbox starts or anything is read.
The total counts each target once where recommendations of different engines conflict, and says
so (`app.services.conflicts`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import EXIT_FAILED, Fmt, console, error, run_or_exit, say, warn

if TYPE_CHECKING:
    from app.services.conflicts import SavingsTotal
    from app.services.pipeline import ClusterScan
    from cli.tables import ScanLine
    from engines.registry import EngineRegistry


def scan(
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Start a temporary sandbox and use it.")] = False,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", help="Registered cluster (repeatable).")] = None,
    engine: Annotated[list[str] | None, typer.Option("--engine", help="Engine name (repeatable).")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
    explain: Annotated[bool, typer.Option("--explain", help="Also show skipped targets and why.")] = False,
) -> None:
    """Collect, run the engines, store and print the recommendations.

    Every cluster's scan ends succeeded, partial (a source or an engine failed: the failures
    are printed as warnings, the last good data of a failed source, or nothing, was used, and
    nothing is marked obsolete) or failed (every source or every engine failed). Exit code: 0
    when every scan succeeded or was partial, 1 when any cluster's scan failed, 2 for bad
    options, settings or an unknown cluster.
    """
    from cli.targets import check_exclusive, resolve

    check_exclusive(sandbox, cluster or [])
    registry = _registry_or_exit(engine or [])
    results: list[ClusterScan] = []
    with resolve(sandbox, cluster or []) as target:
        from app.db.states import ScanTrigger
        from app.pricing import load_price_book
        from app.services.pipeline import scan_cluster
        from cli.common import quiet_logging

        quiet_logging(target.settings)
        prices = run_or_exit(lambda: load_price_book(target.settings.pricing_dir))
        for row in target.clusters:
            say(f"scanning {row.name}…")
            result = scan_cluster(target.db, target.settings, row, prices=prices, registry=registry,
                                  engine_names=engine or None, trigger=ScanTrigger.CLI)  # fmt: skip
            report_scan(result)
            results.append(result)
    _print(results, fmt, explain)
    failed = [r.cluster for r in results if not r.ok]
    if failed:
        error(f"the scan of {', '.join(failed)} failed (see above)", EXIT_FAILED)


def _registry_or_exit(names: list[str]) -> EngineRegistry:
    from engines.registry import RegistryError, default_registry

    try:
        registry = default_registry()
        registry.select(names)
    except RegistryError as exc:
        error(str(exc))
    return registry


def problems(result: ClusterScan) -> list[str]:
    """The failed sources (with any stale data used) and failed engines of one scan."""
    lines = [f"{e.source}: {e.message}" for e in result.source_errors]
    lines += [f"engine {o.engine}: {o.error}" for o in result.outcomes if o.error]
    if result.error and not lines:
        lines.append(result.error)
    return lines


def report_scan(result: ClusterScan) -> None:
    """One status line per cluster on stderr, whatever the format, then each problem."""
    from app.db.states import ScanStatus

    recs = sum(len(o.result.recommendations) for o in result.outcomes)
    line = f"{result.cluster}: scan {result.status} ({recs} recommendation{'' if recs == 1 else 's'}, run {result.scan_run_id})"
    if result.status is ScanStatus.SUCCEEDED:
        say(line)
    elif result.status is ScanStatus.PARTIAL:
        warn(line)
    else:
        say(f"{result.cluster}: scan failed (run {result.scan_run_id})", style="bold red")
    for problem in problems(result):
        say(f"  {problem}")


def _scan_lines(results: list[ClusterScan]) -> list[ScanLine]:
    from cli.tables import ScanLine

    return [ScanLine(r.cluster, str(r.status), sum(len(o.result.recommendations) for o in r.outcomes), problems(r))
            for r in results]  # fmt: skip


def scan_total(results: list[ClusterScan]) -> SavingsTotal:
    """Savings of every scanned cluster, each conflicting target counted once (links never cross clusters)."""
    from app.services.conflicts import SavingRow, SavingsTotal, savings_total

    # Account-level engines (ghost probe, EBS) see the same region from every cluster of it: one
    # fingerprint is one recommendation, however many cluster scans found it.
    rows = {r.fingerprint: SavingRow(r.fingerprint, r.monthly_savings, r.conflicts_with, r.purpose)
            for result in results for o in result.outcomes for r in o.result.recommendations}  # fmt: skip
    return savings_total(rows.values()) if rows else SavingsTotal()


def total_line(total: SavingsTotal) -> str | None:
    """The de-duplicated total and why it is lower than the sum; None when nothing overlaps."""
    if total.note is None:
        return None
    if not total.overlap.groups:
        return f"Total: ${total.counted:,.2f} per month ({total.note})."
    return f"Total counting each target once: ${total.counted:,.2f} per month ({total.note})."


def _print(results: list[ClusterScan], fmt: Fmt, explain: bool) -> None:
    from app.services.recommendations import record_from_recommendation, render

    records: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for result in results:
        for outcome in result.outcomes:
            records += [record_from_recommendation(r) for r in outcome.result.recommendations]
            skipped += [{"engine": outcome.engine, "cluster": result.cluster, "target": s.target, "reason": s.reason}
                        for s in outcome.result.skipped]  # fmt: skip
    records = list({r["fingerprint"]: r for r in records}.values())  # one row per recommendation
    skipped = list({(s["engine"], s["target"], s["reason"]): s for s in skipped}.values())
    records.sort(key=lambda r: (-Decimal(str(r["monthly_savings"])), r["fingerprint"]))
    if fmt is Fmt.table:
        from cli.tables import print_recommendations, print_scans, print_skipped

        out = console()
        print_scans(out, _scan_lines(results))
        print_recommendations(out, records, overlapping=scan_total(results).note is not None)
        if line := total_line(scan_total(results)):
            from rich.text import Text

            out.print(Text(line))
        if explain:
            print_skipped(out, skipped)
    elif explain and fmt is Fmt.json:
        scans = [{"cluster": r.cluster, "status": str(r.status), "scan_run_id": r.scan_run_id, "problems": problems(r)}
                 for r in results]  # fmt: skip
        total = scan_total(results)
        totals = {"monthly_savings": str(total.counted), "sum_of_rows": str(total.gross), "note": total.note}
        typer.echo(json.dumps({"scans": scans, "recommendations": json.loads(render(records, "json", full=True)),
                               "skipped": skipped, "total": totals}, indent=2))  # fmt: skip
    else:
        typer.echo(render(records, fmt.value, full=fmt is not Fmt.csv), nl=False)
        if line := total_line(scan_total(results)):
            say(line)  # stderr: the rows on stdout stay machine-readable
