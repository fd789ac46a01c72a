"""`cloudoptim inventory`: collect and print what is there, per cluster and per AWS account.

Collection only (no engines): `app.services.collect.collect_cluster` per cluster, then
`app.services.inventory.inventory_report`. Every cluster asked for appears in the output with its
collection status, including one whose cluster state could not be read at all.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.common import EXIT_FAILED, Fmt, console, error, run_or_exit, say, warn

if TYPE_CHECKING:
    from app.db.models import Cluster
    from engines.snapshot_aws import Snapshot


CSV_COLUMNS = ["kind", "name", "region", "account_id", "status", "nodes", "pods", "instances",
               "instances_outside_clusters", "volumes", "unattached_volumes", "monthly_cost", "errors"]  # fmt: skip


def inventory(
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Start a temporary sandbox and use it.")] = False,
    cluster: Annotated[list[str] | None, typer.Option("--cluster", help="Registered cluster (repeatable).")] = None,
    fmt: Annotated[Fmt, typer.Option("--format", help="Output format (csv: one row per cluster and per account).")] = Fmt.table,
) -> None:
    """Print what was collected: clusters, nodes, pods, instances, volumes and monthly cost.

    Each cluster has a status: succeeded, partial (a source failed; its last good data, or
    nothing, was used) or failed (its Kubernetes state could not be read). json and yaml give
    {clusters, accounts, errors}; csv gives one flat row per cluster (kind=cluster) and per AWS
    account (kind=account) with the columns kind, name, region, account_id, status, nodes, pods,
    instances, instances_outside_clusters, volumes, unattached_volumes, monthly_cost, errors.

    Exit code: 0 when every cluster was read (partial included), 1 when any cluster failed, 2
    for bad options, settings or an unknown cluster.
    """
    from app.pricing import load_price_book
    from app.services.collect import collect_cluster
    from app.services.inventory import inventory_report
    from cli.common import quiet_logging
    from cli.targets import resolve

    with resolve(sandbox, cluster or []) as target:
        quiet_logging(target.settings)
        prices = run_or_exit(lambda: load_price_book(target.settings.pricing_dir))
        collected = []
        for row in target.clusters:
            say(f"collecting {row.name}…")
            collected.append((row, collect_cluster(target.db, target.settings, row, prices)))
    report = inventory_report([snap for _row, snap in collected], prices)
    report["clusters"] = cluster_entries(collected, report["clusters"])
    for err in report["errors"]:
        warn(err)
    if fmt is Fmt.json:
        typer.echo(json.dumps(report, indent=2, default=str))
    elif fmt is Fmt.yaml:
        import yaml

        typer.echo(yaml.safe_dump(json.loads(json.dumps(report, default=str)), sort_keys=False), nl=False)
    elif fmt is Fmt.csv:
        typer.echo(to_csv(report), nl=False)
    else:
        from cli.tables import print_inventory

        print_inventory(console(), report)
    failed = [c["name"] for c in report["clusters"] if c["status"] == "failed"]
    if failed:
        error(f"could not read cluster {', '.join(failed)} (see the errors above)", EXIT_FAILED)


def cluster_entries(collected: list[tuple[Cluster, Snapshot]], reported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The report's cluster rows plus status and errors, and a row for every cluster not read."""
    from app.db.states import ScanStatus

    by_name = {c["name"]: c for c in reported}
    out = []
    for row, snap in collected:
        entry = by_name.get(row.name) or {"name": row.name, "region": row.region, "nodes": None, "pods": None,
                                          "monthly_cost": None}  # fmt: skip
        if snap.cluster is None:
            status = ScanStatus.FAILED
        else:
            status = ScanStatus.PARTIAL if snap.errors else ScanStatus.SUCCEEDED
        out.append({**entry, "status": str(status),
                    "errors": [{"source": e.source, "message": e.message} for e in snap.errors]})  # fmt: skip
    return out


def to_csv(report: dict[str, Any]) -> str:
    """One flat row per cluster and per account; money with two decimals, errors joined by '; '."""
    from decimal import Decimal

    def cents(value: Any) -> str:
        return "" if value is None else str(Decimal(str(value)).quantize(Decimal("0.01")))

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for c in report["clusters"]:
        errors = "; ".join(f"{e['source']}: {e['message']}" for e in c["errors"])
        writer.writerow({**c, "kind": "cluster", "monthly_cost": cents(c["monthly_cost"]), "errors": errors})
    for a in report["accounts"]:
        writer.writerow({**a, "kind": "account", "name": a["account_id"], "status": "",
                         "monthly_cost": cents(a["monthly_cost"]), "errors": ""})  # fmt: skip
    return out.getvalue()
