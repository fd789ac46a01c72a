"""`cloudoptim scan` and `cloudoptim inventory`: collect, run engines, print the results."""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.common import err_console
from cli.targets import resolve
from app.pricing import load_price_book
from app.services.collect import collect_cluster
from app.services.inventory import inventory_report
from app.services.recommendations import record_from_recommendation, render
from app.services.scans import scan_and_store
from engines.registry import RegistryError, default_registry


class Fmt(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    yaml = "yaml"


SandboxOpt = Annotated[bool, typer.Option("--sandbox", help="Start a temporary sandbox and use it.")]
ClusterOpt = Annotated[list[str] | None, typer.Option("--cluster", help="Registered cluster (repeatable).")]


def scan(
    sandbox: SandboxOpt = False,
    cluster: ClusterOpt = None,
    engine: Annotated[list[str] | None, typer.Option("--engine", help="Engine name (repeatable).")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format.")] = Fmt.table,
    explain: Annotated[bool, typer.Option("--explain", help="Also show skipped targets and why.")] = False,
) -> None:
    """Collect, run the engines, store and print the recommendations."""
    try:
        registry = default_registry()
        registry.select(engine)
    except RegistryError as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None
    records: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    with resolve(sandbox, cluster or []) as target:
        prices = load_price_book(target.settings.pricing_dir)
        for row in target.clusters:
            err_console.print(f"scanning {row.name}…")
            snapshot = collect_cluster(target.db, target.settings, row, prices)
            for err in snapshot.errors:
                err_console.print(f"[yellow]warning:[/] {err.source}: {err.message}", highlight=False)
            outcome = scan_and_store(target.db, snapshot, registry, prices, cluster_id=row.id,
                                     engine_names=engine, trigger="cli")  # fmt: skip
            records += [record_from_recommendation(r) for r in outcome.recommendations]
            skipped += [{"engine": e, "cluster": row.name, "target": s.target, "reason": s.reason}
                        for e, s in outcome.skipped]  # fmt: skip
            for o in outcome.outcomes:
                if o.error:
                    err_console.print(f"[bold red]engine {o.engine} failed:[/] {o.error}", highlight=False)
    records.sort(key=lambda r: (-r["monthly_savings"], r["fingerprint"]))
    if fmt is Fmt.table:
        _print_table(records, skipped if explain else None)
    elif explain and fmt is Fmt.json:
        typer.echo(json.dumps({"recommendations": json.loads(render(records, "json", full=True)),
                               "skipped": skipped}, indent=2))  # fmt: skip
    else:
        typer.echo(render(records, fmt.value, full=fmt is not Fmt.csv), nl=False)


def _print_table(records: list[dict[str, Any]], skipped: list[dict[str, str]] | None) -> None:
    console = Console(soft_wrap=False)
    table = Table(title=f"{len(records)} recommendations")
    for col in ("Engine", "Cluster", "Target", "Action", "Saving/mo", "Risk", "Rationale"):
        table.add_column(col, justify="right" if col == "Saving/mo" else "left")
    for r in records:
        table.add_row(r["engine"], r["cluster"] or "", r["target"], r["action"], f"${r['monthly_savings']:,.2f}",
                      r["risk"], r["rationale"])  # fmt: skip
    console.print(table)
    total = sum((r["monthly_savings"] for r in records), Decimal(0))
    console.print(f"Total: ${total:,.2f} per month")
    if skipped is not None:
        st = Table(title=f"{len(skipped)} skipped")
        for col in ("Engine", "Cluster", "Target", "Reason"):
            st.add_column(col)
        for s in skipped:
            st.add_row(s["engine"], s["cluster"], s["target"], s["reason"])
        console.print(st)


def inventory(
    sandbox: SandboxOpt = False,
    cluster: ClusterOpt = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="table or json.")] = Fmt.table,
) -> None:
    """Print what was collected: clusters, nodes, pods, instances, volumes and monthly cost."""
    with resolve(sandbox, cluster or []) as target:
        prices = load_price_book(target.settings.pricing_dir)
        snapshots = [collect_cluster(target.db, target.settings, row, prices) for row in target.clusters]
    report = inventory_report(snapshots, prices)
    for err in report["errors"]:
        err_console.print(f"[yellow]warning:[/] {err}", highlight=False)
    if fmt is Fmt.json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    if fmt is not Fmt.table:
        err_console.print("[bold red]error:[/] inventory supports --format table or json")
        raise typer.Exit(2)
    console = Console(soft_wrap=False)
    ct = Table(title="Clusters")
    for col in ("Cluster", "Region", "Nodes", "Pods", "Monthly cost"):
        ct.add_column(col)
    for c in report["clusters"]:
        ct.add_row(c["name"], c["region"], str(c["nodes"]), str(c["pods"]), f"${Decimal(c['monthly_cost']):,.2f}")
    console.print(ct)
    at = Table(title="AWS accounts")
    for col in ("Region", "Instances", "Outside clusters", "Volumes", "Unattached", "Monthly cost"):
        at.add_column(col)
    for a in report["accounts"]:
        at.add_row(a["region"], str(a["instances"]), str(a["instances_outside_clusters"]), str(a["volumes"]),
                   str(a["unattached_volumes"]), f"${Decimal(a['monthly_cost']):,.2f}")  # fmt: skip
    console.print(at)
